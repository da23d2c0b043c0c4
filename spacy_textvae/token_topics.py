"""Topics of single words: which topic explains each topic-vocabulary word of a
document, given the document's topic proportions.

p(k | w, d) ∝ θ_dk · p(w | k): the posterior of the topic that generated word w
in document d under a mixture of the topics' word distributions.
"""
from typing import List, Optional, Tuple

import numpy
from spacy.tokens import Doc, Span

from .vocab import TopicVocab


def token_topic_probs(
    topics: numpy.ndarray, topic_log_probs: numpy.ndarray, doc_ids: numpy.ndarray, columns: numpy.ndarray
) -> numpy.ndarray:
    """p(k | w, d) for every attributed token.

    topics (numpy.ndarray): (n_docs, n_topics) topic proportions θ.
    topic_log_probs (numpy.ndarray): (n_topics, n_vocab) log p(word | topic).
    doc_ids (numpy.ndarray): (n_tokens,) each token's doc.
    columns (numpy.ndarray): (n_tokens,) each token's vocabulary column.
    RETURNS (numpy.ndarray): float32 (n_tokens, n_topics), rows summing to 1.
    """
    if not len(doc_ids):
        return numpy.zeros((0, topics.shape[1]), dtype="float32")
    scores = numpy.log(numpy.maximum(topics[doc_ids], 1e-30)) + topic_log_probs[:, columns].T
    scores -= scores.max(axis=1, keepdims=True)
    probs = numpy.exp(scores)
    return (probs / probs.sum(axis=1, keepdims=True)).astype("float32")


def topic_runs(
    doc_ids: numpy.ndarray, positions: numpy.ndarray, top: numpy.ndarray
) -> Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray, numpy.ndarray]:
    """Merge adjacent tokens of one doc with the same top topic into runs.

    doc_ids, positions, top (numpy.ndarray): (n_tokens,) each token's doc, index
        in its doc and top topic, in token order.
    RETURNS (Tuple[numpy.ndarray, ...]): each run's doc, start token, end token
        (exclusive) and topic.
    """
    if not len(doc_ids):
        empty = numpy.zeros((0,), dtype="int64")
        return empty, empty, empty, empty
    new_run = numpy.ones(len(doc_ids), dtype=bool)
    new_run[1:] = (doc_ids[1:] != doc_ids[:-1]) | (positions[1:] != positions[:-1] + 1) | (top[1:] != top[:-1])
    starts = numpy.flatnonzero(new_run)
    ends = numpy.append(starts[1:], len(doc_ids)) - 1
    return doc_ids[starts], positions[starts], positions[ends] + 1, top[starts]


def annotate_token_topics(
    docs: List[Doc],
    topics: numpy.ndarray,
    topic_log_probs: numpy.ndarray,
    labels: List[str],
    vocab: TopicVocab,
    user_data_key: Tuple[str, str],
    spans_key: str,
    fold: Optional[numpy.ndarray] = None,
) -> None:
    """Attribute each topic-vocabulary word of the docs to the topics, kept
    compactly (token positions and float16 probabilities in
    `doc.user_data[user_data_key]`), and put one span per run of adjacent words
    with the same top topic in `doc.spans[spans_key]`, labelled `labels[k]`.

    topics (numpy.ndarray): (n_docs, n_topics) the docs' topic proportions.
    topic_log_probs (numpy.ndarray): (n_topics, n_vocab) log p(word | topic).
    fold (Optional[numpy.ndarray]): (n_topics, n_merged) 0/1 map of merged
        topics: a word's merged-topic probabilities are the sums of its
        members' (p(g | w, d) = Σ_{k ∈ g} p(k | w, d)), and `labels` are the
        merged topics'.
    """
    doc_ids, positions, cols = vocab.token_columns(docs)
    probs = token_topic_probs(topics, topic_log_probs, doc_ids, cols)
    if fold is not None:
        probs = probs @ fold
    top = probs.argmax(axis=1) if len(probs) else numpy.zeros((0,), dtype="int64")
    run_docs, run_starts, run_ends, run_topics = topic_runs(doc_ids, positions, top)
    bounds = numpy.searchsorted(doc_ids, numpy.arange(len(docs) + 1))
    run_bounds = numpy.searchsorted(run_docs, numpy.arange(len(docs) + 1))
    for i, doc in enumerate(docs):
        a, b = bounds[i], bounds[i + 1]
        doc.user_data[user_data_key] = (positions[a:b].astype("int32"), probs[a:b].astype("float16"))
        r = slice(run_bounds[i], run_bounds[i + 1])
        doc.spans[spans_key] = [
            Span(doc, int(start), int(end), label=labels[int(k)])
            for start, end, k in zip(run_starts[r], run_ends[r], run_topics[r])
        ]
