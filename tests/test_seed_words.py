"""Seeded topics: seed_words anchors the first topics, the others stay free."""
import numpy
import pytest
import spacy

from .conftest import SMALL_CONFIG, train

SEEDS = [["goal", "striker", "goalkeeper"], ["oven", "bread", "baked"]]


@pytest.fixture(scope="module")
def seeded(corpus):
    texts, _ = corpus
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("textvae", config={**SMALL_CONFIG, "seed_words": SEEDS})
    train(nlp, texts)
    return nlp, pipe


def test_seeded_topics_hold_their_seeds(seeded):
    nlp, pipe = seeded
    top = pipe.topic_words(10)
    for k, words in enumerate(SEEDS):
        assert set(words) <= set(top[k]), (k, top[k])
    # The anchored topics are what their seeds' docs are about.
    assert nlp("The striker scored a goal and the goalkeeper saved a penalty.")._.topics.argmax() == 0
    assert nlp("She baked bread in a hot oven with butter.")._.topics.argmax() == 1


def test_unseeded_topics_get_no_prior(seeded):
    _, pipe = seeded
    bonus = pipe.torch_module.decoder.seed_bonus.cpu().numpy()
    assert (bonus[len(SEEDS):] == 0).all()
    assert numpy.count_nonzero(bonus) == sum(len(w) for w in SEEDS)


def test_seeds_come_from_the_config_at_load(seeded, tmp_path):
    nlp, pipe = seeded
    nlp.to_disk(tmp_path / "seeded")
    text = "The striker scored a goal."
    loaded = spacy.load(tmp_path / "seeded")
    numpy.testing.assert_allclose(loaded(text)._.topics, nlp(text)._.topics, atol=1e-6)
    # The prior is a setting, not saved state: without it the outputs change.
    plain = spacy.load(tmp_path / "seeded", config={"components": {"textvae": {"seed_words": []}}})
    assert plain.get_pipe("textvae").torch_module.decoder.seed_bonus is None
    assert not numpy.allclose(plain.get_pipe("textvae").topic_word_matrix(), pipe.topic_word_matrix(), atol=1e-4)
    with pytest.raises(ValueError, match="not in the 'textvae' component's topic vocabulary"):
        spacy.load(tmp_path / "seeded", config={"components": {"textvae": {"seed_words": [["sailing"]]}}})


def test_filtered_seed_words_are_forced_in_and_absent_ones_refused(corpus):
    texts, _ = corpus
    nlp = spacy.blank("en")
    # max_df drops the common words: the seed keeps "goal".
    pipe = nlp.add_pipe("textvae", config={**SMALL_CONFIG, "max_df": 0.1, "seed_words": [["goal"]]})
    train(nlp, texts[:30], epochs=1)
    vocab = pipe.topic_vocab
    assert vocab.words[-1] == "goal" and vocab.doc_freqs[-1] > 0.1 * vocab.n_docs
    nlp = spacy.blank("en")
    nlp.add_pipe("textvae", config={**SMALL_CONFIG, "seed_words": [["sailing", "goal"]]})
    with pytest.raises(ValueError, match=r"\['sailing'\] never occur"):
        train(nlp, texts[:30], epochs=1)


@pytest.mark.parametrize("seeds", [[["a"]] * 7, [[]], [["goal", 3]], "goal"])
def test_bad_seed_words_are_refused(seeds):
    nlp = spacy.blank("en")
    with pytest.raises(ValueError, match="seed_words"):
        nlp.add_pipe("textvae", config={**SMALL_CONFIG, "seed_words": seeds})
