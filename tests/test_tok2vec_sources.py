"""The model reads token vectors from any upstream source: its own tok2vec
(default), a shared tok2vec through a listener, a transformer listener, or a
transformer inside the component."""
import numpy
import pytest
import spacy
import torch
from spacy.training import Example

from .conftest import build_tiny_bert, make_corpus

SHARED_TOK2VEC_CONFIG = """
[nlp]
lang = "en"
pipeline = ["tok2vec", "textvae"]

[components]

[components.tok2vec]
factory = "tok2vec"

[components.tok2vec.model]
@architectures = "spacy.Tok2Vec.v2"

[components.tok2vec.model.embed]
@architectures = "spacy.MultiHashEmbed.v2"
width = 32
attrs = ["NORM", "PREFIX", "SUFFIX", "SHAPE"]
rows = [1000, 500, 500, 500]
include_static_vectors = false

[components.tok2vec.model.encode]
@architectures = "spacy.MaxoutWindowEncoder.v2"
width = 32
depth = 1
window_size = 1
maxout_pieces = 2

[components.textvae]
factory = "textvae"
n_topics = 6
n_clusters = 3
kl_warmup_epochs = 2.0

[components.textvae.model]
@architectures = "spacy-textvae.TextVAE.v4"
grad_factor = GRAD_FACTOR

[components.textvae.model.tok2vec]
@architectures = "spacy.Tok2VecListener.v1"
width = 32
upstream = "tok2vec"
"""


@pytest.mark.parametrize("grad_factor", [1.0, 0.0])
def test_shared_tok2vec_listener(grad_factor):
    spacy.util.fix_random_seed(0)
    config = spacy.util.load_config_from_str(SHARED_TOK2VEC_CONFIG.replace("GRAD_FACTOR", str(grad_factor)))
    nlp = spacy.util.load_model_from_config(config, auto_fill=True, validate=True)
    texts, _ = make_corpus(n_per_theme=8)
    examples = [Example(nlp.make_doc(t), nlp.make_doc(t)) for t in texts]
    optimizer = nlp.initialize(lambda: examples)
    params_before = {(node.id, n): node.get_param(n).copy() for node in nlp.get_pipe("tok2vec").model.walk()
                     for n in node.param_names if node.has_param(n)}
    for i in range(3):
        losses = nlp.update(examples[i * 8:(i + 1) * 8], sgd=optimizer)
        assert numpy.isfinite(losses["textvae"])
    params_after = {(node.id, n): node.get_param(n) for node in nlp.get_pipe("tok2vec").model.walk()
                    for n in node.param_names if node.has_param(n)}
    changed = any(not numpy.allclose(params_before[k], params_after[k]) for k in params_before)
    # The tok2vec learns from textvae only when its gradient is not detached.
    assert changed == (grad_factor != 0.0)
    doc = nlp(texts[0])
    assert doc._.topics.shape == (6,) and abs(float(doc._.topics.sum()) - 1) < 1e-5
    assert doc.tensor.shape == (len(doc), 32)


TRF_CONFIG = """
[nlp]
lang = "en"
pipeline = ["transformer", "textvae"]

[components]

[components.transformer]
factory = "transformer"
max_batch_items = 4096

[components.transformer.model]
@architectures = "spacy-transformers.TransformerModel.v3"
name = "MODEL_PATH"
tokenizer_config = {"use_fast": true}
mixed_precision = false

[components.transformer.model.get_spans]
@span_getters = "spacy-transformers.strided_spans.v1"
window = 64
stride = 48

[components.textvae]
factory = "textvae"
n_topics = 6
n_clusters = 3
kl_warmup_epochs = 2.0

[components.textvae.model]
@architectures = "spacy-textvae.TextVAE.v4"
grad_factor = 1.0

[components.textvae.model.tok2vec]
@architectures = "spacy-transformers.TransformerListener.v1"
grad_factor = 1.0
upstream = "transformer"

[components.textvae.model.tok2vec.pooling]
@layers = "reduce_mean.v1"
"""


def test_transformer_listener(tmp_path, monkeypatch):
    pytest.importorskip("spacy_transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    spacy.util.fix_random_seed(0)
    words = {w.lower().strip(".,") for t in make_corpus(n_per_theme=5)[0] for w in t.split()}
    model_path = build_tiny_bert(tmp_path / "bert", words)
    config = spacy.util.load_config_from_str(TRF_CONFIG.replace("MODEL_PATH", str(model_path)))
    nlp = spacy.util.load_model_from_config(config, auto_fill=True, validate=True)
    texts, _ = make_corpus(n_per_theme=5)
    examples = [Example(nlp.make_doc(t), nlp.make_doc(t)) for t in texts]
    optimizer = nlp.initialize(lambda: examples)
    for i in range(2):
        losses = nlp.update(examples[i * 8:(i + 1) * 8], sgd=optimizer)
        assert numpy.isfinite(losses["textvae"]) and numpy.isfinite(losses["transformer"])
    docs = list(nlp.pipe(texts[:4]))
    for doc in docs:
        assert doc._.latent.shape == (6,) and numpy.isfinite(doc._.latent).all()
        assert abs(float(doc._.topics.sum()) - 1) < 1e-5
    nlp.to_disk(tmp_path / "pipeline")
    nlp2 = spacy.load(tmp_path / "pipeline")
    for a, b in zip(docs, nlp2.pipe(texts[:4])):
        numpy.testing.assert_allclose(a._.latent, b._.latent, atol=1e-5)


EMBEDDED_TRF_CONFIG = """
[nlp]
lang = "en"
pipeline = ["textvae"]

[components]

[components.textvae]
factory = "textvae"
n_topics = 6
n_clusters = 3
kl_warmup_epochs = 2.0

[components.textvae.model]
@architectures = "spacy-textvae.TextVAE.v4"
grad_factor = GRAD_FACTOR
dropout = 0.0
word_dropout = 0.0
pooling = "mean"

[components.textvae.model.tok2vec]
@architectures = "spacy-transformers.Tok2VecTransformer.v3"
name = "MODEL_PATH"
grad_factor = 1.0
tokenizer_config = {"use_fast": true}

[components.textvae.model.tok2vec.get_spans]
@span_getters = "spacy-transformers.strided_spans.v1"
window = 64
stride = 48

[components.textvae.model.tok2vec.pooling]
@layers = "reduce_mean.v1"
"""


def torch_parameters(model):
    return [p for node in model.walk() for shim in node.shims for p in shim._model.parameters()]


@pytest.fixture(scope="module")
def tiny_bert_for_corpus(tmp_path_factory):
    pytest.importorskip("spacy_transformers")
    words = {w.lower().strip(".,") for t in make_corpus(n_per_theme=5)[0] for w in t.split()}
    return build_tiny_bert(tmp_path_factory.mktemp("bert"), words)


@pytest.mark.parametrize("grad_factor", [0.0, 1.0])
def test_embedded_transformer(tiny_bert_for_corpus, tmp_path, monkeypatch, grad_factor):
    """A transformer inside the component (configs/trf.cfg): frozen (grad_factor 0)
    it runs in inference mode in training (no dropout, weights unchanged);
    trainable, it learns; either way save/load gives identical outputs."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spacy.util.fix_random_seed(0)
    config_str = EMBEDDED_TRF_CONFIG.replace("MODEL_PATH", str(tiny_bert_for_corpus))
    config = spacy.util.load_config_from_str(config_str.replace("GRAD_FACTOR", str(grad_factor)))
    nlp = spacy.util.load_model_from_config(config, auto_fill=True, validate=True)
    texts, _ = make_corpus(n_per_theme=5)
    examples = [Example(nlp.make_doc(t), nlp.make_doc(t)) for t in texts]
    optimizer = nlp.initialize(lambda: examples)
    model = nlp.get_pipe("textvae").model
    trf = model.get_ref("tok2vec")
    weights_before = [p.detach().clone() for p in torch_parameters(trf)]
    assert weights_before
    # Two training-mode passes over the same docs (the VAE has no dropout here):
    # only the transformer's own dropout could make them differ.
    docs = [eg.predicted for eg in examples[:8]]
    first = model.begin_update(docs)[0].latent.copy()
    second = model.begin_update(docs)[0].latent
    assert numpy.allclose(first, second) == (grad_factor == 0.0)
    for i in range(2):
        losses = nlp.update(examples[i * 8:(i + 1) * 8], sgd=optimizer)
        assert numpy.isfinite(losses["textvae"])
    weights_after = torch_parameters(trf)
    unchanged = all(torch.equal(a, b) for a, b in zip(weights_before, weights_after))
    assert unchanged == (grad_factor == 0.0)
    out = list(nlp.pipe(texts[:4]))
    nlp.to_disk(tmp_path / "pipeline")
    nlp2 = spacy.load(tmp_path / "pipeline")
    for a, b in zip(out, nlp2.pipe(texts[:4])):
        numpy.testing.assert_allclose(a._.latent, b._.latent, atol=1e-5)
        assert a._.cluster == b._.cluster
