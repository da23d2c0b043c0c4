"""Saving and loading: identical outputs, extensions that travel with docs,
clear errors for damaged directories."""

import numpy
import pytest
import spacy
from spacy.tokens import Doc, DocBin

from .conftest import SMALL_CONFIG


def assert_same_outputs(docs_a, docs_b):
    for a, b in zip(docs_a, docs_b):
        numpy.testing.assert_allclose(a._.latent, b._.latent, atol=1e-5)
        numpy.testing.assert_allclose(a._.topics, b._.topics, atol=1e-5)
        numpy.testing.assert_allclose(a._.cluster_probs, b._.cluster_probs, atol=1e-5)
        assert a._.cluster == b._.cluster


def test_to_disk_spacy_load_identical(trained, corpus, tmp_path):
    nlp, _ = trained
    texts, _ = corpus
    nlp.to_disk(tmp_path / "model")
    nlp2 = spacy.load(tmp_path / "model")
    assert_same_outputs(list(nlp.pipe(texts)), list(nlp2.pipe(texts)))
    assert nlp2.get_pipe("textvae").topic_words(10) == nlp.get_pipe("textvae").topic_words(10)
    # The weights are a pickle-free msgpack of arrays.
    model_file = (tmp_path / "model" / "textvae" / "model").read_bytes()
    assert b"torch._utils" not in model_file and b"\x80\x02" not in model_file[:2]


def test_topic_word_ranking_is_a_load_time_setting(trained, tmp_path):
    nlp, _ = trained
    nlp.to_disk(tmp_path / "model")
    override = {"components": {"textvae": {"topic_word_ranking": "relevance", "topic_word_relevance": 1.0}}}
    nlp2 = spacy.load(tmp_path / "model", config=override)
    pipe, pipe2 = nlp.get_pipe("textvae"), nlp2.get_pipe("textvae")
    assert pipe2.topic_word_ranking == "relevance"
    assert pipe2.topic_words(10) == pipe.topic_words(10, relevance=1.0)
    assert pipe2.topic_words(10) != pipe.topic_words(10)


def test_to_bytes_from_bytes_identical(trained, corpus):
    nlp, _ = trained
    texts, _ = corpus
    data = nlp.to_bytes()
    nlp2 = spacy.blank("en")
    nlp2.add_pipe("textvae", config=SMALL_CONFIG)
    nlp2.from_bytes(data)
    assert_same_outputs(list(nlp.pipe(texts[:20])), list(nlp2.pipe(texts[:20])))
    assert nlp2.get_pipe("textvae").topic_words(10) == nlp.get_pipe("textvae").topic_words(10)


def test_extensions_travel_with_docs(trained, corpus):
    nlp, _ = trained
    texts, _ = corpus
    docs = list(nlp.pipe(texts[:5]))
    doc_bin = DocBin(store_user_data=True, docs=docs)
    loaded = list(DocBin(store_user_data=True).from_bytes(doc_bin.to_bytes()).get_docs(nlp.vocab))
    assert_same_outputs(docs, loaded)
    one = Doc(nlp.vocab).from_bytes(docs[0].to_bytes())
    assert_same_outputs(docs[:1], [one])
    assert type(one._.cluster) is int and one._.topics.dtype == numpy.float32


def test_pipe_multiprocess(trained, corpus):
    nlp, _ = trained
    texts, _ = corpus
    single = list(nlp.pipe(texts[:12]))
    multi = list(nlp.pipe(texts[:12], n_process=2, batch_size=4))
    assert len(multi) == 12
    assert_same_outputs(single, multi)


def test_missing_file_clear_error(trained, tmp_path):
    nlp, _ = trained
    nlp.to_disk(tmp_path / "model")
    (tmp_path / "model" / "textvae" / "topic_vocab").unlink()
    with pytest.raises(ValueError, match="topic_vocab.*missing"):
        spacy.load(tmp_path / "model")


@pytest.mark.parametrize("part", ["model", "cfg", "topic_vocab"])
def test_damaged_file_clear_error(trained, tmp_path, part):
    nlp, _ = trained
    nlp.to_disk(tmp_path / "model")
    path = tmp_path / "model" / "textvae" / part
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(ValueError, match=r"\[textvae\]"):
        spacy.load(tmp_path / "model")


def test_mismatched_weights_clear_error(trained, tmp_path):
    """Weights saved for another vocabulary size do not load silently."""
    nlp, _ = trained
    nlp.to_disk(tmp_path / "model")
    cfg_path = tmp_path / "model" / "textvae" / "cfg"
    cfg = spacy.util.srsly.read_json(cfg_path)
    cfg["n_vocab"] += 3
    spacy.util.srsly.write_json(cfg_path, cfg)
    with pytest.raises(ValueError, match=r"\[textvae\]"):
        spacy.load(tmp_path / "model")


def test_word_embeddings_are_saved_with_the_weights(trained, tmp_path):
    # The default embedding decoder's word vectors come from the training docs at
    # initialize(); a loaded pipeline must get them from disk, not recompute them.
    nlp, _ = trained
    module = nlp.get_pipe("textvae").torch_module
    assert module.has_embedding_decoder and float(module.word_embeddings.abs().sum()) > 0
    nlp.to_disk(tmp_path / "model")
    loaded = spacy.load(tmp_path / "model").get_pipe("textvae").torch_module
    assert numpy.array_equal(loaded.word_embeddings.numpy(), module.word_embeddings.numpy())


def test_v1_architecture_still_trains_saves_and_loads(corpus, tmp_path):
    # Pipelines saved before TextVAE.v2 name the v1 architecture: it must keep
    # working, with its linear (ProdLDA) decoder and no word dropout.
    from .conftest import train

    texts, _ = corpus
    nlp = spacy.blank("en")
    model = {
        "@architectures": "spacy-textvae.TextVAE.v1",
        "hidden_width": 32,
        "tok2vec": {
            "@architectures": "spacy.HashEmbedCNN.v2", "pretrained_vectors": None, "width": 16,
            "depth": 1, "embed_size": 500, "window_size": 1, "maxout_pieces": 2, "subword_features": False,
        },
    }
    nlp.add_pipe("textvae", config={**SMALL_CONFIG, "model": model})
    history = train(nlp, texts, epochs=6)
    assert history[-1] < history[0]
    module = nlp.get_pipe("textvae").torch_module
    assert not module.has_embedding_decoder and module.word_dropout == 0.0
    nlp.to_disk(tmp_path / "v1")
    nlp2 = spacy.load(tmp_path / "v1")
    assert_same_outputs(list(nlp.pipe(texts[:20])), list(nlp2.pipe(texts[:20])))
