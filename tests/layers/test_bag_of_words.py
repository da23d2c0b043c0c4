"""The bag-of-words layer: counts over its vocabulary, saved with the model."""
import numpy
import spacy

from spacy_textvae.layers import bag_of_words
from spacy_textvae.vocab import TopicVocab

TEXTS = ["Apples and pears, apples again.", "Pears grow on trees.", "", "Trees and apples."]


def make_vocab() -> TopicVocab:
    return TopicVocab(attr="LOWER", min_df=1, max_df=1.0, max_size=100, remove_stop_words=True, extra_stop_words=())


def test_counts_match_the_vocabulary():
    nlp = spacy.blank("en")
    docs = [nlp.make_doc(t) for t in TEXTS]
    vocab = make_vocab().build(docs)
    layer = bag_of_words(vocab)
    counts = layer.predict(docs)
    assert counts.shape == (len(docs), len(vocab)) and counts.dtype == numpy.float32
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
    numpy.testing.assert_array_equal(other.predict(docs), layer.predict(docs))
