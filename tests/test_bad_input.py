"""Odd input gives documented results or clear errors, never NaN."""
import numpy
import pytest
import spacy
from spacy.training import Example

from .conftest import SMALL_CONFIG

ODD_TEXTS = [
    "",
    "   \n\t ",
    "the and of to a in is it",  # only stop words
    "!!! ??? ... ,,, ;;;",
    "\U0001F600\U0001F680\U0001F355",
    "Привет мир, как дела сегодня",  # another script, no topic words
    "x",
]


def check_doc(doc):
    k, c = SMALL_CONFIG["n_topics"], SMALL_CONFIG["n_clusters"]
    assert doc._.latent.shape == (k,) and numpy.isfinite(doc._.latent).all()
    assert numpy.isfinite(doc._.topics).all() and abs(float(doc._.topics.sum()) - 1) < 1e-5
    assert numpy.isfinite(doc._.cluster_probs).all() and abs(float(doc._.cluster_probs.sum()) - 1) < 1e-5
    assert 0 <= doc._.cluster < c


@pytest.mark.parametrize("text", ODD_TEXTS)
def test_odd_texts_give_finite_outputs(trained, text):
    nlp, _ = trained
    check_doc(nlp(text))


def test_odd_texts_in_a_batch_are_not_dropped(trained, corpus):
    nlp, _ = trained
    texts = ODD_TEXTS + corpus[0][:3]
    docs = list(nlp.pipe(texts, batch_size=len(texts)))
    assert len(docs) == len(texts)
    for doc in docs:
        check_doc(doc)


def test_empty_docs_score_without_nan(trained):
    nlp, _ = trained
    pipe = nlp.get_pipe("textvae")
    assert pipe.perplexity([nlp.make_doc(""), nlp.make_doc("the of and")]) is None


def test_very_long_document(trained, corpus):
    nlp, _ = trained
    text = " ".join(corpus[0])
    text = (text * (200_000 // len(text) + 1))[:200_000]
    check_doc(nlp(text))


def test_update_with_odd_texts_stays_finite(corpus):
    nlp = spacy.blank("en")
    nlp.add_pipe("textvae", config=SMALL_CONFIG)
    examples = [Example(nlp.make_doc(t), nlp.make_doc(t)) for t in corpus[0][:30]]
    optimizer = nlp.initialize(lambda: examples)
    odd = [Example(nlp.make_doc(t), nlp.make_doc(t)) for t in ODD_TEXTS]
    for batch in (odd, odd[:1], examples[:8] + odd):
        losses = nlp.update(batch, sgd=optimizer)
        assert numpy.isfinite(losses["textvae"])
    check_doc(nlp(corpus[0][0]))


def test_update_on_empty_batch_is_a_no_op(trained):
    nlp, _ = trained
    losses = nlp.get_pipe("textvae").update([])
    assert losses == {"textvae": 0.0}


def test_initialize_without_documents():
    nlp = spacy.blank("en")
    nlp.add_pipe("textvae")
    with pytest.raises(ValueError, match=r"initialize\(\) got zero training documents"):
        nlp.initialize(lambda: [])


def test_initialize_with_empty_vocabulary():
    nlp = spacy.blank("en")
    nlp.add_pipe("textvae", config={"min_df": 50})
    examples = [Example(nlp.make_doc(t), nlp.make_doc(t)) for t in ["a short text", "another one"]]
    with pytest.raises(ValueError, match="min_df"):
        nlp.initialize(lambda: examples)


@pytest.mark.parametrize(
    "config,match",
    [
        ({"n_topics": 1}, "n_topics"),
        ({"n_clusters": 0}, "n_clusters"),
        ({"cluster_temperature": 0.0}, "cluster_temperature"),
        ({"cluster_temperature": 1.5}, "cluster_temperature"),
        ({"model": {"cluster_means": "kmeans"}}, "cluster_means must be one of"),
        ({"topic_word_ranking": "tfidf"}, "topic_word_ranking"),
        ({"topic_word_exclusivity": -0.1}, "topic_word_exclusivity"),
        ({"topic_word_relevance": 1.5}, "topic_word_relevance"),
        ({"vocab_attr": "POS"}, "vocab_attr"),
        ({"model": {"dropout": 1.5}}, "dropout must be in"),
        ({"model": {"word_dropout": 1.0}}, "word_dropout"),
        ({"model": {"decoder": "mlp"}}, "decoder"),
        ({"model": {"word_embedding_width": 0}}, "word_embedding_width"),
        ({"model": {"decoder_temperature": 0.0}}, "decoder_temperature"),
        ({"model": {"ecr_weight": -1.0}}, "ecr_weight"),
    ],
)
def test_bad_settings_raise(config, match):
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match=match):
        nlp.add_pipe("textvae", config=config)


def test_mixed_precision_needs_gpu(corpus):
    nlp = spacy.blank("en")
    nlp.add_pipe("textvae", config={**SMALL_CONFIG, "model": {"mixed_precision": True}})
    examples = [Example(nlp.make_doc(t), nlp.make_doc(t)) for t in corpus[0][:10]]
    with pytest.raises(ValueError, match="GPU"):
        nlp.initialize(lambda: examples)
