"""The topic vocabulary: filtering, document frequencies, lookups, serialisation."""
import numpy
import pytest
import spacy

from spacy_textvae import TextVAEError
from spacy_textvae.vocab import TopicVocab


def make_vocab(**settings) -> TopicVocab:
    """A vocabulary with the factory's settings, changed by `settings`."""
    defaults = dict(attr="LOWER", min_df=2, max_df=0.7, max_size=10000, remove_stop_words=True, extra_stop_words=())
    return TopicVocab(**{**defaults, **settings})


@pytest.fixture(scope="module")
def nlp():
    return spacy.blank("en")


TEXTS = [
    "Apples and apples and pears.",
    "The apple pie is sweet, 42 pies!",
    "Pears grow on trees; trees grow slowly.",
    "A b c of the and",
]


def test_build_filters_and_orders(nlp):
    vocab = make_vocab(min_df=1, max_df=1.0).build(nlp.make_doc(t) for t in TEXTS)
    assert "the" not in vocab.words and "and" not in vocab.words  # stop words
    assert "42" not in vocab.words and "b" not in vocab.words  # not alphabetic / too short
    # Most frequent first, ties alphabetical: pears (df 2) leads.
    assert vocab.words[0] == "pears" and vocab.words[1:3] == ["apple", "apples"]
    dfs = dict(zip(vocab.words, vocab.doc_freqs))
    assert dfs["apples"] == 1 and dfs["pears"] == 2 and dfs["trees"] == 1
    counts = dict(zip(vocab.words, vocab.word_counts))
    assert counts["apples"] == 2 and counts["trees"] == 2
    assert list(vocab.doc_freqs) == sorted(vocab.doc_freqs, reverse=True)


def test_min_df_max_df_and_size(nlp):
    docs = [nlp.make_doc(t) for t in TEXTS]
    assert make_vocab(min_df=2, max_df=1.0).build(docs).words == ["pears"]
    assert "pears" not in make_vocab(min_df=1, max_df=0.4).build(docs).words
    assert len(make_vocab(min_df=1, max_df=1.0, max_size=3).build(docs)) == 3
    kept = make_vocab(min_df=1, max_df=1.0, remove_stop_words=False).build(docs).words
    assert "the" in kept
    assert "pears" not in make_vocab(min_df=1, max_df=1.0, extra_stop_words=["pears"]).build(docs).words


def test_counts_and_columns(nlp):
    docs = [nlp.make_doc(t) for t in TEXTS]
    vocab = make_vocab(min_df=1, max_df=1.0).build(docs)
    counts = vocab.counts(docs + [nlp.make_doc(""), nlp.make_doc("PEARS pears")])
    assert counts.shape == (6, len(vocab)) and counts.dtype == numpy.float32
    col = vocab.words.index("pears")
    assert counts[0, col] == 1 and counts[2, col] == 1 and counts[5, col] == 2
    assert counts[4].sum() == 0
    assert vocab.tokens_of(docs[2]) == ["pears", "grow", "trees", "trees", "grow", "slowly"]


def test_roundtrip(nlp):
    docs = [nlp.make_doc(t) for t in TEXTS]
    vocab = make_vocab(min_df=1, max_df=1.0).build(docs)
    loaded = make_vocab().from_bytes(vocab.to_bytes())
    assert loaded.words == vocab.words
    numpy.testing.assert_array_equal(loaded.counts(docs).toarray(), vocab.counts(docs).toarray())
    with pytest.raises(TextVAEError, match="The saved topic vocabulary is not valid JSON"):
        make_vocab().from_bytes(vocab.to_bytes()[:20])


def test_errors(nlp):
    with pytest.raises(ValueError, match="zero documents"):
        make_vocab().build([])
    with pytest.raises(ValueError, match="min_df"):
        make_vocab(min_df=10).build([nlp.make_doc(t) for t in TEXTS])
    with pytest.raises(ValueError, match="vocab_attr"):
        make_vocab(attr="POS")
