"""spacy-textvae.LatentFeatures.v1: textvae's annotations as a textcat's features."""
import json

import numpy
import pytest
import spacy
from spacy.cli.train import train as spacy_train
from spacy.training import Example
from spacy.util import registry
from thinc.api import Softmax, chain

import spacy_textvae  # noqa: F401  (registers the layer)
from spacy_textvae.project.corpus import preprocess_corpus
from spacy_textvae.project.demo_corpus import generate_demo_docs

from ..test_configs import CONFIG_DIR


def test_reads_latent_and_topics(trained):
    nlp, _ = trained
    layer = registry.resolve({"x": {"@architectures": "spacy-textvae.LatentFeatures.v1", "n_topics": 6}})["x"]
    docs = list(nlp.pipe(["The rocket reached orbit.", "The chef baked bread."]))
    out = layer.predict(docs)
    assert out.shape == (2, 12) and out.dtype == numpy.float32
    numpy.testing.assert_array_equal(out[0], numpy.concatenate([docs[0]._.latent, docs[0]._.topics]))
    only = registry.resolve(
        {"x": {"@architectures": "spacy-textvae.LatentFeatures.v1", "n_topics": 6, "features": ["topics"]}}
    )["x"]
    numpy.testing.assert_array_equal(only.predict(docs)[1], docs[1]._.topics)


def test_unannotated_docs_and_wrong_width_raise(trained):
    nlp, _ = trained
    layer = registry.resolve({"x": {"@architectures": "spacy-textvae.LatentFeatures.v1", "n_topics": 6}})["x"]
    with pytest.raises(ValueError, match="annotating_components"):
        layer.predict([nlp.make_doc("The rocket reached orbit.")])
    wrong = registry.resolve({"x": {"@architectures": "spacy-textvae.LatentFeatures.v1", "n_topics": 5}})["x"]
    with pytest.raises(ValueError, match="n_topics"):
        wrong.predict([nlp("The rocket reached orbit.")])
    with pytest.raises(ValueError, match="features"):
        registry.resolve({"x": {"@architectures": "spacy-textvae.LatentFeatures.v1", "n_topics": 6, "features": ["x"]}})


def test_a_classifier_learns_from_the_features(trained, corpus):
    nlp, _ = trained
    texts, labels = corpus
    docs = list(nlp.pipe(texts))
    classes = sorted(set(labels))
    Y = numpy.eye(len(classes), dtype="float32")[[classes.index(label) for label in labels]]
    layer = registry.resolve({"x": {"@architectures": "spacy-textvae.LatentFeatures.v1", "n_topics": 6}})["x"]
    model = chain(layer, Softmax())
    model.initialize(X=docs[:10], Y=Y[:10])
    from thinc.api import Adam

    opt = Adam(0.05)
    train_docs, test_docs = docs[:60], docs[60:]
    for _ in range(100):
        guess, backprop = model.begin_update(train_docs)
        backprop((guess - Y[:60]) / len(train_docs))
        model.finish_update(opt)
    accuracy = float((model.predict(test_docs).argmax(1) == Y[60:].argmax(1)).mean())
    assert accuracy >= 0.8


@pytest.fixture(scope="module")
def labelled_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("textcat_corpus")
    records = list(generate_demo_docs(n_docs=60, seed=3, themes=["space", "cooking", "finance"]))
    src = root / "demo.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf8")
    preprocess_corpus(src, root / "train.spacy", root / "dev.spacy", dev_share=0.25, progress=False)
    return root


def test_textcat_features_config_trains(labelled_corpus, tmp_path):
    overrides = {
        "paths.train": str(labelled_corpus / "train.spacy"),
        "paths.dev": str(labelled_corpus / "dev.spacy"),
        "training.max_steps": 6,
        "training.eval_frequency": 3,
        "components.textvae.n_topics": 4,
        "components.textvae.n_clusters": 4,
        "components.textvae.prior_fit_epochs": 0.01,
        "training.batcher.size": 16,
    }
    spacy_train(CONFIG_DIR / "textcat_features.cfg", tmp_path / "out", use_gpu=-1, overrides=overrides)
    nlp = spacy.load(tmp_path / "out" / "model-last")
    doc = nlp("The rocket reached orbit and the market fell.")
    assert doc._.topics.shape == (4,)
    assert set(doc.cats) == {"space", "cooking", "finance"}
    assert abs(sum(doc.cats.values()) - 1.0) < 1e-4
    # The textcat reads the latent (changing it changes the prediction) and
    # learns from the bag of words too.
    textcat = nlp.get_pipe("textcat")
    sparse = [n for n in textcat.model.walk() if n.name == "sparse_linear"]
    assert sparse and numpy.abs(sparse[0].get_param("W")).sum() > 0
    before = textcat.model.predict([doc]).copy()
    doc._.latent = doc._.latent + 10.0
    assert not numpy.allclose(textcat.model.predict([doc]), before)
