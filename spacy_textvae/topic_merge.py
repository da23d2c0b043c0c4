"""Merging topics: a map from the VAE's K topics to fewer, and what the
merged topics are.

The VAE keeps its K latent topics; a merge map `m` (K ints, m[k] the merged
topic of topic k) folds them into K' < K: a document's merged proportions are
the sums of its members' proportions, and a merged topic's word distribution
is the uniform mixture of its members' distributions,
p(w | g) = (1 / |g|) Σ_{k ∈ g} p(w | k). Uniform, not weighted by prevalence:
the map is all that is saved, and a merge then does not depend on which docs
happened to be at hand.
"""
from typing import Any, List, Optional, Sequence

import numpy

from .errors import TextVAEError


def merge_assignment(groups: Sequence[Sequence[int]], n_topics: int) -> numpy.ndarray:
    """The map from `n_topics` topics to merged ones: each group becomes one
    topic, each topic in no group stays on its own. Merged topics are numbered
    in the order of their smallest member, so unmerged topics keep their order.

    groups (Sequence[Sequence[int]]): Topics to merge, e.g. [[0, 3], [1, 4, 5]].
    n_topics (int): The number of topics the ids refer to.
    RETURNS (numpy.ndarray): int64 (n_topics,), values 0 .. n_merged − 1.
    """
    if isinstance(groups, (str, bytes)) or not isinstance(groups, Sequence):
        raise TextVAEError(
            f"merge_topics takes a list of groups of topic ids, e.g. [[0, 3], [1, 4]], not {groups!r}."
        )
    owner = numpy.arange(n_topics)
    seen: dict = {}
    for i, group in enumerate(groups):
        if isinstance(group, (str, bytes)) or not isinstance(group, Sequence) or len(group) == 0:
            raise TextVAEError(
                f"Group {i} of merge_topics is {group!r}: each group must be a non-empty list of "
                "topic ids, e.g. [[0, 3], [1, 4]]."
            )
        for topic in group:
            if isinstance(topic, bool) or not isinstance(topic, (int, numpy.integer)):
                raise TextVAEError(f"Topic id {topic!r} in group {i} is not an integer. Pass topic ids 0 .. {n_topics - 1}.")
            topic = int(topic)
            if not 0 <= topic < n_topics:
                raise TextVAEError(
                    f"Unknown topic {topic} in group {i}: the pipeline has topics 0 .. {n_topics - 1}. "
                    "Pass ids of its current topics (after any earlier merge)."
                )
            if topic in seen and seen[topic] != i:
                raise TextVAEError(
                    f"Topic {topic} is in two groups ({seen[topic]} and {i}). Put each topic in one group "
                    "only; to merge both groups, join them into one."
                )
            seen[topic] = i
        members = [int(t) for t in group]
        owner[members] = min(members)
    # Renumber by smallest member: numpy.unique sorts the representatives.
    _, assignment = numpy.unique(owner, return_inverse=True)
    return assignment.astype("int64")


def compose(previous: Optional[numpy.ndarray], assignment: numpy.ndarray) -> numpy.ndarray:
    """RETURNS (numpy.ndarray): the map from the VAE's topics through an
    earlier map (None: none) and then `assignment`."""
    if previous is None:
        return assignment.copy()
    return assignment[previous]


def fold_matrix(merge_map: numpy.ndarray) -> numpy.ndarray:
    """RETURNS (numpy.ndarray): float32 (K, K') 0/1 matrix, proportions @ it
    gives the merged proportions."""
    n_merged = int(merge_map.max()) + 1 if len(merge_map) else 0
    fold = numpy.zeros((len(merge_map), n_merged), dtype="float32")
    fold[numpy.arange(len(merge_map)), merge_map] = 1.0
    return fold


def merged_log_probs(log_probs: numpy.ndarray, merge_map: numpy.ndarray) -> numpy.ndarray:
    """log p(w | g) of the merged topics: log of the uniform mixture of the
    members' word distributions.

    log_probs (numpy.ndarray): (K, V) log p(word | topic).
    merge_map (numpy.ndarray): (K,) merged topic of each topic.
    RETURNS (numpy.ndarray): float32 (K', V).
    """
    order = numpy.argsort(merge_map, kind="stable")
    sizes = numpy.bincount(merge_map)
    starts = numpy.concatenate([[0], numpy.cumsum(sizes)[:-1]])
    lp = numpy.asarray(log_probs, dtype="float64")[order]
    merged = numpy.logaddexp.reduceat(lp, starts, axis=0) - numpy.log(sizes)[:, None]
    return merged.astype("float32")


def expand_topics(topics: numpy.ndarray, merge_map: numpy.ndarray) -> numpy.ndarray:
    """Proportions over the merged topics spread back over the VAE's topics,
    each merged topic's share split evenly among its members (the inverse of
    folding for documents whose members are equally present).

    topics (numpy.ndarray): (..., K') merged proportions.
    RETURNS (numpy.ndarray): float64 (..., K).
    """
    sizes = numpy.bincount(merge_map).astype("float64")
    topics = numpy.asarray(topics, dtype="float64")
    return topics[..., merge_map] / sizes[merge_map]


def check_merge_map(value: Any, name: str) -> List[int]:
    """A saved merge map, checked: a list of K ints whose values are 0 .. K' − 1, each used.

    value (Any): The parsed JSON value.
    name (str): The component's name, for messages.
    RETURNS (List[int]): The map.
    """
    ok = isinstance(value, list) and len(value) > 0 and all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value
    )
    if ok:
        used = sorted(set(value))
        ok = used == list(range(len(used)))
    if not ok:
        raise TextVAEError(
            f"The saved topic merge map of the '{name}' component is damaged: {value!r} is not a list "
            "of topic ids 0 .. n − 1, each used. Re-save the pipeline (after merge_topics), or "
            "re-train it."
        )
    return list(value)
