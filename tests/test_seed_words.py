"""Seeded topics: seed_words anchors the first topics, the others stay free."""
import numpy
import pytest
import spacy
import torch

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


def test_the_anchor_ties_the_seeded_topics_to_their_seeds(seeded, corpus):
    nlp, pipe = seeded
    decoder = pipe.torch_module.decoder
    column = {w: i for i, w in enumerate(pipe.topic_vocab.words)}
    cells = sorted(zip(decoder.seed_topics.tolist(), decoder.seed_columns.tolist()))
    assert cells == sorted((k, column[w]) for k, words in enumerate(SEEDS) for w in words)
    # The seeded topics own their seeds, far more than any topic of an
    # unseeded model owns a whole seed list.
    with torch.no_grad():
        owned = decoder.topic_words.assignment_log_probs(decoder.seed_columns).exp()
    owned = owned[decoder.seed_topics, torch.arange(len(cells))].numpy()
    # At least twice an even share among the topics.
    assert owned.min() > 2.0 / SMALL_CONFIG["n_topics"], owned
    texts, _ = corpus
    plain = spacy.blank("en")
    plain_pipe = plain.add_pipe("textvae", config=SMALL_CONFIG)
    train(plain, texts)
    plain_column = {w: i for i, w in enumerate(plain_pipe.topic_vocab.words)}
    with torch.no_grad():
        plain_owned = plain_pipe.torch_module.decoder.topic_words.assignment_log_probs(
            torch.tensor([plain_column[w] for words in SEEDS for w in words])
        ).exp().numpy()
    start = numpy.cumsum([0] + [len(words) for words in SEEDS])
    best = [plain_owned[:, start[i] : start[i + 1]].min(1).max() for i in range(len(SEEDS))]
    assert max(best) < owned.min(), (best, owned)


def test_seeds_shape_training_only(seeded, tmp_path):
    nlp, pipe = seeded
    nlp.to_disk(tmp_path / "seeded")
    text = "The striker scored a goal."
    loaded = spacy.load(tmp_path / "seeded")
    numpy.testing.assert_allclose(loaded(text)._.topics, nlp(text)._.topics, atol=1e-6)
    assert loaded.get_pipe("textvae").torch_module.decoder.seed_topics is not None
    # Nothing is added at inference: without the setting the outputs are the same.
    plain = spacy.load(tmp_path / "seeded", config={"components": {"textvae": {"seed_words": []}}})
    assert plain.get_pipe("textvae").torch_module.decoder.seed_topics is None
    numpy.testing.assert_allclose(plain(text)._.topics, nlp(text)._.topics, atol=1e-6)
    numpy.testing.assert_array_equal(plain.get_pipe("textvae").topic_word_matrix(), pipe.topic_word_matrix())
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
