"""doc.vector / doc.similarity / span.vector / span.similarity from the latent,
through the user hooks the component sets."""
import pickle
import warnings

import numpy
import pytest
import spacy
from spacy.tokens import Doc, DocBin

from spacy_textvae import add_similarity_hooks

from .conftest import SMALL_CONFIG, train


def test_doc_vector_is_the_latent_without_warnings(trained):
    nlp, _ = trained
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        doc = nlp("The rocket carried the satellite into orbit around the planet.")
        other = nlp("The chef baked bread in a hot oven with butter.")
        same = nlp("Astronauts aboard the station photographed the distant galaxy and the moon.")
        numpy.testing.assert_array_equal(doc.vector, doc._.latent)
        assert doc.has_vector
        assert doc.vector_norm == pytest.approx(float(numpy.linalg.norm(doc._.latent)), rel=1e-5)
        assert doc.similarity(doc) == pytest.approx(1.0, abs=1e-5)
        expected = float(doc._.latent @ other._.latent / (numpy.linalg.norm(doc._.latent) * numpy.linalg.norm(other._.latent)))
        assert doc.similarity(other) == pytest.approx(expected, abs=1e-5)
        # Two space texts are closer than a space and a cooking text.
        assert doc.similarity(same) > doc.similarity(other)


def test_span_vector_follows_the_span_topics(trained):
    nlp, _ = trained
    doc = nlp("The rocket carried the satellite into orbit. The chef baked bread and fried garlic in olive oil.")
    space, cooking = list(doc.sents) if doc.has_annotation("SENT_START") else (doc[:8], doc[8:])
    space_doc = nlp("The rocket carried the satellite into orbit.")
    cooking_doc = nlp("The chef baked bread and fried garlic in olive oil.")
    assert space.vector.shape == doc._.latent.shape
    assert numpy.isfinite(space.vector).all()
    # softmax(span.vector) is the mean of its words' topics, the doc's proportions divided out.
    profiles = numpy.stack([t._.topic_probs for t in space if t._.topic_probs is not None]) / doc._.topics
    probs = (profiles / profiles.sum(axis=1, keepdims=True)).mean(axis=0)
    softmax = numpy.exp(space.vector - space.vector.max())
    numpy.testing.assert_allclose(softmax / softmax.sum(), probs, atol=2e-3)
    assert space.similarity(space_doc) > space.similarity(cooking_doc)
    assert cooking.similarity(cooking_doc) > cooking.similarity(space_doc)
    assert space.similarity(cooking) < space.similarity(space)
    # A span without topic words takes the doc's latent.
    numpy.testing.assert_array_equal(doc[-1:].vector, doc._.latent)


def test_hooks_survive_bytes_and_docbin(trained):
    nlp, _ = trained
    doc = nlp("The striker scored a late goal for the team.")
    other = nlp("The goalkeeper saved a penalty in the final minute.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # W109: spaCy does not save user hooks
        restored = Doc(nlp.vocab).from_bytes(doc.to_bytes())
    # The latent comes back, the hooks do not (spaCy does not save them): no crash.
    numpy.testing.assert_array_equal(restored._.latent, doc._.latent)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert restored.similarity(other) == 0.0 or "vector" in restored.user_hooks
    add_similarity_hooks(restored)
    assert restored.similarity(other) == pytest.approx(doc.similarity(other), abs=1e-6)
    docbin = DocBin(store_user_data=True, docs=[doc, other])
    back = list(DocBin().from_bytes(docbin.to_bytes()).get_docs(nlp.vocab))
    for d in back:
        add_similarity_hooks(d)
    assert back[0].similarity(back[1]) == pytest.approx(doc.similarity(other), abs=1e-6)
    assert back[0][0:3].vector.shape == doc._.latent.shape
    # Pickling (nlp.pipe with n_process > 1) carries hooks that hold no model.
    bare = restored
    assert len(pickle.dumps(doc)) < len(pickle.dumps(bare)) + 2_000
    numpy.testing.assert_array_equal(pickle.loads(pickle.dumps(doc)).vector, doc.vector)


def test_comparing_with_an_unannotated_object_warns_and_gives_zero(trained):
    nlp, _ = trained
    doc = nlp("The rocket reached orbit.")
    plain = spacy.blank("en")("The rocket reached orbit.")
    with pytest.warns(UserWarning, match="textvae"):
        assert doc.similarity(plain) == 0.0
    with pytest.warns(UserWarning, match="textvae"):
        assert doc.similarity(doc[0]) == 0.0


@pytest.mark.parametrize("setting,vectors,expected", [
    ("auto", False, True), ("auto", True, False), (True, True, True), (False, False, False)
])
def test_setting(corpus, setting, vectors, expected):
    texts, _ = corpus
    nlp = spacy.blank("en")
    if vectors:
        nlp.vocab.set_vector("rocket", numpy.ones((4,), dtype="float32"))
    nlp.add_pipe("textvae", config={**SMALL_CONFIG, "similarity_hooks": setting})
    train(nlp, texts[:40], epochs=1)
    doc = nlp("The rocket reached orbit.")
    assert ("similarity" in doc.user_hooks) == expected
    if expected:
        numpy.testing.assert_array_equal(doc.vector, doc._.latent)
    elif vectors:
        assert doc.vector.shape == (4,)


def test_auto_leaves_other_components_hooks(corpus):
    texts, _ = corpus
    nlp = spacy.blank("en")

    @spacy.Language.component("other_hooks_for_test")
    def other_hooks(doc):
        doc.user_hooks["vector"] = lambda d: numpy.ones((3,), dtype="float32")
        return doc

    nlp.add_pipe("other_hooks_for_test")
    nlp.add_pipe("textvae", config=SMALL_CONFIG)
    train(nlp, texts[:40], epochs=1)
    doc = nlp("The rocket reached orbit.")
    assert doc.vector.shape == (3,)


def test_bad_setting_is_refused():
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match="similarity_hooks"):
        nlp.add_pipe("textvae", config={"similarity_hooks": "yes"})


def test_span_vectors_keep_the_latent_width_after_a_merge(corpus):
    texts, _ = corpus
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("textvae", config=SMALL_CONFIG)
    train(nlp, texts)
    pipe.merge_topics([[0, 1]])
    text = "The rocket carried the satellite into orbit. The chef baked bread and fried garlic in olive oil."
    doc = nlp(text)
    span = doc[:8]
    assert doc._.topics.shape == (pipe.n_topics - 1,)
    assert span.vector.shape == doc._.latent.shape
    # The merged share is split evenly between topics 0 and 1.
    softmax = numpy.exp(span.vector - span.vector.max())
    softmax /= softmax.sum()
    assert softmax[0] == pytest.approx(softmax[1], rel=1e-4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert doc.similarity(span) != 0.0
    pipe.unmerge_topics()
    assert nlp(text)[:8].vector.shape == doc._.latent.shape
