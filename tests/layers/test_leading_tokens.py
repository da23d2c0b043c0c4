"""Reading only the first tokens of each doc (spacy-textvae.Tok2VecTransformer.v2's
`max_tokens`): the wrapped layer sees truncated docs, the pooled vector is
that of the doc's opening, the bag of words still counts every token, and a
saved pipeline round-trips. The transformer is the tiny offline BERT of conftest.py."""
import numpy
import pytest
import spacy
from spacy.training import Example
from thinc.api import Model

from spacy_textvae.errors import TextVAEError
from spacy_textvae.layers.leading_tokens import leading_docs, with_leading_tokens

from ..conftest import build_tiny_bert, make_corpus
from .test_safe_transformer import SAFE_TRF_CONFIG


def _recorder():
    """A token-vector layer that records the docs it is given: one row per token, its index."""
    seen = []

    def forward(model, docs, is_train):
        seen.append([len(doc) for doc in docs])
        out = [numpy.arange(len(doc), dtype="float32").reshape(-1, 1) for doc in docs]
        return out, lambda d: docs

    return Model("recorder", forward, dims={"nO": 1}), seen


def test_leading_tokens_truncates_long_docs_only():
    nlp = spacy.blank("en")
    docs = [nlp.make_doc("a b c d e f g"), nlp.make_doc("a b"), nlp.make_doc("")]
    inner, seen = _recorder()
    layer = with_leading_tokens(inner, 3)
    layer.initialize(X=docs)
    out = layer.predict(docs)
    assert seen[-1] == [3, 2, 0]
    assert [len(x) for x in out] == [3, 2, 0]
    assert out[0].ravel().tolist() == [0.0, 1.0, 2.0]
    truncated = leading_docs(docs, 3)
    assert [t.text for t in truncated[0]] == ["a", "b", "c"] and truncated[1] is docs[1]
    assert leading_docs(docs, 0) == docs


def test_zero_reads_whole_docs():
    nlp = spacy.blank("en")
    docs = [nlp.make_doc("a b c d e f g")]
    inner, seen = _recorder()
    layer = with_leading_tokens(inner, 0)
    assert [len(x) for x in layer.predict(docs)] == [7]


@pytest.mark.parametrize("bad", [-1, 2.5])
def test_bad_max_tokens_is_explained(bad):
    inner, _ = _recorder()
    with pytest.raises(TextVAEError, match="max_tokens"):
        with_leading_tokens(inner, bad)


def test_v2_pools_the_opening_and_counts_the_whole_doc(tmp_path, monkeypatch):
    pytest.importorskip("spacy_transformers")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    texts, _ = make_corpus(n_per_theme=4)
    words = {w.lower().strip(".,") for t in texts for w in t.split()}
    bert = build_tiny_bert(tmp_path / "bert", words)
    config_str = (
        SAFE_TRF_CONFIG.replace("MODEL_PATH", str(bert))
        .replace("spacy-textvae.Tok2VecTransformer.v1", "spacy-textvae.Tok2VecTransformer.v2")
        .replace('name = "', 'max_tokens = 5\nname = "')
    )
    spacy.util.fix_random_seed(0)
    nlp = spacy.util.load_model_from_config(spacy.util.load_config_from_str(config_str), auto_fill=True, validate=True)
    examples = [Example(nlp.make_doc(t), nlp.make_doc(t)) for t in texts]
    optimizer = nlp.initialize(lambda: examples)
    nlp.update(examples[:6], sgd=optimizer)
    pipe = nlp.get_pipe("textvae")
    tok2vec = pipe.model.get_ref("tok2vec")
    long_doc = nlp.make_doc(texts[0] + " " + texts[1])
    assert len(long_doc) > 5
    assert [len(x) for x in tok2vec.predict([long_doc])] == [5]
    # The opening alone gives the same pooled vector: the rest is not read.
    same_opening = nlp.make_doc(long_doc[:5].text + " " + texts[2])
    pooled = [pipe.model.get_ref("pooling").predict(tok2vec.predict([d])) for d in (long_doc, same_opening)]
    numpy.testing.assert_allclose(pooled[0], pooled[1], rtol=1e-5, atol=1e-6)
    # ...but the bag of words, and so the topics, still see every token.
    a, b = nlp(long_doc.text), nlp(same_opening.text)
    assert not numpy.allclose(a._.topics, b._.topics)
    nlp.to_disk(tmp_path / "pipeline")
    loaded = spacy.load(tmp_path / "pipeline")
    numpy.testing.assert_array_equal(loaded(long_doc.text)._.latent, a._.latent)
