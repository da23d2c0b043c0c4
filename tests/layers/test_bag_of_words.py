"""The bag-of-words layer: counts over its vocabulary, saved with the model."""
import numpy
import spacy

from thinc.api import NumpyOps

from spacy_textvae.layers import bag_of_words
from spacy_textvae.layers.bag_of_words import BagOfWords
from spacy_textvae.vocab import TopicVocab

TEXTS = ["Apples and pears, apples again.", "Pears grow on trees.", "", "Trees and apples."]


def make_vocab() -> TopicVocab:
    return TopicVocab(attr="LOWER", min_df=1, max_df=1.0, max_size=100, remove_stop_words=True, extra_stop_words=())


def test_counts_match_the_vocabulary():
    nlp = spacy.blank("en")
    docs = [nlp.make_doc(t) for t in TEXTS]
    vocab = make_vocab().build(docs)
    layer = bag_of_words(vocab)
    bag = layer.predict(docs)
    counts = bag.to_dense(numpy)
    assert counts.shape == (len(docs), len(vocab)) and counts.dtype == numpy.float32
    numpy.testing.assert_array_equal(bag.n_words, counts.sum(1))
    assert bag.offsets.tolist() == [0, 2, 5, 5] and bag.rows.tolist() == sorted(bag.rows.tolist())
    col = {w: i for i, w in enumerate(vocab.words)}
    assert counts[0, col["apples"]] == 2 and counts[0, col["pears"]] == 1
    assert counts[2].sum() == 0
    assert counts[3, col["trees"]] == 1


def test_vocabulary_round_trips_in_place():
    nlp = spacy.blank("en")
    docs = [nlp.make_doc(t) for t in TEXTS]
    layer = bag_of_words(make_vocab().build(docs))
    target = make_vocab()
    other = bag_of_words(target)
    other.from_bytes(layer.to_bytes())
    # Loaded into the same object, so whoever holds it sees the words.
    assert other.attrs["vocab"] is target
    assert target.words == layer.attrs["vocab"].words
    numpy.testing.assert_array_equal(other.predict(docs).to_dense(numpy), layer.predict(docs).to_dense(numpy))


def test_empty_docs_and_no_words():
    nlp = spacy.blank("en")
    docs = [nlp.make_doc(t) for t in TEXTS]
    layer = bag_of_words(make_vocab().build(docs))
    bag = layer.predict([nlp.make_doc(""), nlp.make_doc("zzz qqq"), nlp.make_doc("")])
    assert len(bag) == 3 and bag.values.shape == (0,) and bag.n_words.tolist() == [0, 0, 0]
    assert bag.to_dense(numpy).sum() == 0


def test_dense_round_trip():
    rng = numpy.random.default_rng(0)
    dense = rng.poisson(0.3, size=(7, 11)).astype("float32")
    dense[2] = 0
    bag = BagOfWords.from_dense(dense, NumpyOps())
    numpy.testing.assert_array_equal(bag.to_dense(numpy), dense)
    numpy.testing.assert_array_equal(bag.n_words, dense.sum(1))
