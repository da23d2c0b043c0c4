"""Seeded topics: the `seed_words` setting anchors topic k on the k-th list of
words, while the other topics stay free.

The anchor is a training term, not a change to the model: `seed_strength`
times −log of the share of each seed word that its topic owns among all
topics (the decoder's per-word weights over topics, see
`Decoder.seed_anchor`). The seeded topic learns to hold its seeds, other
topics learn to leave them, and inference is the trained model's alone. With
the embedding decoder the topic's point also starts at the mean of its seed
words' embeddings. The seeds come from the config in force, also when a
pipeline is loaded; seed words are always in the topic vocabulary
(`initialize` adds those its filters would drop).
"""
from typing import Any, List, Sequence, Tuple

import numpy

from .errors import TextVAEError
from .vocab import TopicVocab


def check_seed_words(seed_words: Any, n_topics: int, strength: Any, name: str) -> List[List[str]]:
    """The `seed_words` and `seed_strength` settings, checked.

    seed_words (Any): A list of lists of words, one list per seeded topic.
    n_topics (int): The number of topics.
    strength (Any): The seed strength.
    name (str): The component's name, for messages.
    RETURNS (List[List[str]]): The seed lists.
    """
    where = f"Set [components.{name}] seed_words"
    if not isinstance(seed_words, (list, tuple)) or not all(
        isinstance(words, (list, tuple)) and words and all(isinstance(w, str) and w for w in words)
        for words in seed_words
    ):
        raise TextVAEError(
            f"seed_words must be a list of non-empty lists of words, e.g. [[\"goal\", \"match\"], "
            f"[\"orbit\", \"launch\"]], not {seed_words!r}. {where}."
        )
    if len(seed_words) > n_topics:
        raise TextVAEError(
            f"seed_words has {len(seed_words)} lists but there are only {n_topics} topics: {where} "
            "to at most n_topics lists, or raise n_topics."
        )
    if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0 <= strength < float("inf"):
        raise TextVAEError(f"seed_strength must be a number >= 0, not {strength!r}. Set [components.{name}] seed_strength.")
    return [[str(w) for w in words] for words in seed_words]


def all_seed_words(seed_words: Sequence[Sequence[str]]) -> List[str]:
    """RETURNS (List[str]): every seed word once, in order."""
    return list(dict.fromkeys(w for words in seed_words for w in words))


def seed_cells(vocab: TopicVocab, seed_words: Sequence[Sequence[str]], name: str) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """The (topic, vocabulary column) cells of the seed words.

    vocab (TopicVocab): A built topic vocabulary.
    seed_words (Sequence[Sequence[str]]): The checked seed lists.
    name (str): The component's name, for messages.
    RETURNS (Tuple[numpy.ndarray, numpy.ndarray]): int64 topics and columns.
    """
    column = {w: i for i, w in enumerate(vocab.words)}
    missing = [w for w in all_seed_words(seed_words) if w not in column]
    if missing:
        raise TextVAEError(
            f"The seed words {missing} are not in the '{name}' component's topic vocabulary: it was "
            "trained without them. Train it with these seed_words (initialize adds them), or remove them."
        )
    topics = [k for k, words in enumerate(seed_words) for _ in words]
    cols = [column[w] for words in seed_words for w in words]
    return numpy.asarray(topics, dtype="int64"), numpy.asarray(cols, dtype="int64")
