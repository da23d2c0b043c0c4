"""Topic-word rankings: FREX and relevance on hand-made p(word | topic)."""
import numpy
import pytest

from spacy_textvae.topic_words import frex_scores, relevance_scores

# Two topics over five words. "the" is the most probable word of both topics;
# "goal" and "vote" are each frequent in one topic only; "offside" and
# "ballot" are exclusive but rare.
WORDS = ["the", "goal", "vote", "offside", "ballot"]
PROBS = numpy.array(
    [
        [0.50, 0.35, 0.01, 0.13, 0.01],
        [0.50, 0.01, 0.35, 0.01, 0.13],
    ]
)


def top(scores: numpy.ndarray, k: int, n: int) -> list:
    return [WORDS[j] for j in numpy.argsort(-scores[k], kind="stable")[:n]]


def test_frex_prefers_frequent_and_exclusive_words():
    scores = frex_scores(numpy.log(PROBS), 0.5)
    assert scores.shape == PROBS.shape and scores.dtype == numpy.float32
    assert (scores > 0).all() and (scores <= 1).all()
    # The shared word is most probable in both topics, but not their best name.
    assert top(scores, 0, 1) == ["goal"] and top(scores, 1, 1) == ["vote"]
    # "goal": first of 5 by exclusivity (rank 5/5), second by probability (4/5).
    assert scores[0, WORDS.index("goal")] == pytest.approx(1.0 / (0.5 / 1.0 + 0.5 / 0.8))
    # Probability alone puts the shared word first in both topics ...
    by_prob = frex_scores(numpy.log(PROBS), 0.0)
    assert top(by_prob, 0, 1) == top(by_prob, 1, 1) == ["the"]
    # ... and the two topics' top-2 lists then overlap; with more weight on
    # exclusivity the rare exclusive words overtake it and they do not.
    assert set(top(by_prob, 0, 2)) & set(top(by_prob, 1, 2)) == {"the"}
    exclusive = frex_scores(numpy.log(PROBS), 0.7)
    assert top(exclusive, 0, 2) == ["goal", "offside"] and top(exclusive, 1, 2) == ["vote", "ballot"]


def test_frex_is_stable_for_tiny_probabilities():
    log_probs = numpy.log(PROBS)
    log_probs[:, 3] = -800.0  # exp() underflows to 0 here
    scores = frex_scores(log_probs, 0.5)
    assert numpy.isfinite(scores).all()


def test_relevance_endpoints():
    log_probs = numpy.log(PROBS)
    log_freq = numpy.log(PROBS.mean(0))
    numpy.testing.assert_allclose(relevance_scores(log_probs, log_freq, 1.0), log_probs, rtol=1e-6)
    numpy.testing.assert_allclose(
        relevance_scores(log_probs, log_freq, 0.0), log_probs - log_freq[None, :], rtol=1e-5
    )


@pytest.mark.parametrize("weight", [-0.1, 1.1])
def test_weights_outside_unit_interval_raise(weight):
    with pytest.raises(ValueError, match="exclusivity"):
        frex_scores(numpy.log(PROBS), weight)
    with pytest.raises(ValueError, match="relevance"):
        relevance_scores(numpy.log(PROBS), numpy.zeros(5), weight)
