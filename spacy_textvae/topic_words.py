"""Ranking a topic model's words: which words name a topic.

Both rankings take the decoder's log p(word | topic) as the trained model
applies it (see `TextVAE.topic_word_matrix`) and return one score per topic and
word; a topic's words are its highest-scoring ones.
"""
from typing import List, Sequence, Tuple

import numpy

from .errors import TextVAEError

TOPIC_WORD_RANKINGS = ("frex", "relevance")


def frex_scores(log_probs: numpy.ndarray, exclusivity: float = 0.5) -> numpy.ndarray:
    """FREX (Bischof & Airoldi 2012; `labelTopics` in the R package stm): the
    weighted harmonic mean of a word's rank within the topic by exclusivity,
    p(w | k) / Σ_j p(w | j), and by probability, p(w | k). Both ranks are
    empirical CDFs in (0, 1], so a word needs to be both frequent in the topic
    and specific to it; probability alone names several topics with the same
    common words, exclusivity alone with rare ones.

    log_probs (numpy.ndarray): (n_topics, n_vocab) log p(word | topic).
    exclusivity (float): Weight of exclusivity in [0, 1] (stm's default 0.5).
    RETURNS (numpy.ndarray): float32 (n_topics, n_vocab) scores in (0, 1].
    """
    check_weight("exclusivity", exclusivity)
    log_probs = numpy.asarray(log_probs, dtype="float64")
    # log p(w | k) − log Σ_j p(w | j), stable for very small probabilities.
    log_excl = log_probs - numpy.logaddexp.reduce(log_probs, axis=0, keepdims=True)
    excl_rank = _ecdf_rank(log_excl)
    prob_rank = _ecdf_rank(log_probs)
    frex = 1.0 / (exclusivity / excl_rank + (1.0 - exclusivity) / prob_rank)
    return frex.astype("float32")


def relevance_scores(
    log_probs: numpy.ndarray, log_frequencies: numpy.ndarray, relevance: float = 0.6
) -> numpy.ndarray:
    """Relevance (Sievert & Shirley 2014): λ·log p(w | k) + (1 − λ)·log lift,
    lift = p(w | k) / p(w) with p(w) the word's corpus frequency. λ = 1 ranks by
    probability (frequent words, coherent but shared between topics), λ = 0 by
    lift (distinctive, rarer words).

    log_probs (numpy.ndarray): (n_topics, n_vocab) log p(word | topic).
    log_frequencies (numpy.ndarray): (n_vocab,) log relative corpus frequency.
    relevance (float): λ in [0, 1].
    RETURNS (numpy.ndarray): float32 (n_topics, n_vocab) scores.
    """
    check_weight("relevance", relevance)
    log_freq = numpy.asarray(log_frequencies, dtype="float32")[None, :]
    return numpy.asarray(log_probs, dtype="float32") - numpy.float32(1.0 - relevance) * log_freq


def ranking_scores(
    log_probs: numpy.ndarray,
    log_frequencies: numpy.ndarray,
    *,
    ranking: str,
    exclusivity: float,
    relevance: float,
) -> numpy.ndarray:
    """Scores of one ranking: FREX with weight `exclusivity`, or relevance with λ = `relevance`.

    log_probs (numpy.ndarray): (n_topics, n_vocab) log p(word | topic).
    log_frequencies (numpy.ndarray): (n_vocab,) log relative corpus frequency (relevance only).
    ranking (str): "frex" or "relevance".
    RETURNS (numpy.ndarray): float32 (n_topics, n_vocab) scores.
    """
    check_ranking("topic_word_ranking", ranking)
    if ranking == "frex":
        return frex_scores(log_probs, exclusivity)
    return relevance_scores(log_probs, log_frequencies, relevance)


def top_words(
    log_probs: numpy.ndarray, scores: numpy.ndarray, words: Sequence[str], top_n: int
) -> List[List[Tuple[str, float]]]:
    """Each topic's `top_n` highest-scoring words with p(word | topic).

    RETURNS (List[List[Tuple[str, float]]]): One list per topic, best first.
    """
    probs = numpy.exp(log_probs)
    top_n = min(top_n, scores.shape[1])
    order = numpy.argsort(-scores, axis=1, kind="stable")[:, :top_n]
    return [[(words[j], float(probs[k, j])) for j in row] for k, row in enumerate(order)]


def _ecdf_rank(scores: numpy.ndarray) -> numpy.ndarray:
    """Each entry's rank within its row as a share of the row, in (0, 1]
    (1 = the row's largest)."""
    ranks = numpy.argsort(numpy.argsort(scores, axis=1, kind="stable"), axis=1, kind="stable")
    return (ranks + 1.0) / scores.shape[1]


def check_weight(name: str, value: float) -> None:
    """Raise a TextVAEError naming `name` unless 0 <= value <= 1."""
    if not 0.0 <= value <= 1.0:
        raise TextVAEError(f"{name} must be in [0, 1], not {value}.")


def check_ranking(name: str, value: str) -> None:
    """Raise a TextVAEError naming the setting `name` unless `value` is a known ranking."""
    if value not in TOPIC_WORD_RANKINGS:
        raise TextVAEError(f"{name} must be one of {TOPIC_WORD_RANKINGS}, not {value!r}.")
