"""Docs → bag-of-words counts over the topic vocabulary."""
from typing import Any, Callable, List, Optional, Tuple

from spacy.tokens import Doc
from thinc.api import Model, deserialize_attr, serialize_attr
from thinc.types import Floats2d

from ..vocab import TopicVocab


def bag_of_words(vocab: Optional[TopicVocab]) -> Model[List[Doc], Floats2d]:
    """Count each doc's topic-vocabulary words (a hash → column lookup over
    `doc.to_array`, no per-token Python). The layer owns the vocabulary: it is
    saved and loaded with the model.

    vocab (Optional[TopicVocab]): The vocabulary, built later by `TopicVocab.build`;
        None until the component hands it over (`set_topic_vocab`).
    RETURNS (Model[List[Doc], Floats2d]): (n_docs, n_vocab) float32 counts;
        nothing flows back.
    """
    return Model("textvae_bag_of_words", forward, attrs={"vocab": vocab})


def forward(model: Model, docs: List[Doc], is_train: bool) -> Tuple[Floats2d, Callable]:
    counts = model.ops.asarray2f(model.attrs["vocab"].counts(docs))
    return counts, lambda d_counts: docs


@serialize_attr.register(TopicVocab)
def _serialize_vocab(_: TopicVocab, value: TopicVocab, name: str, model: Model) -> bytes:
    return value.to_bytes()


@deserialize_attr.register(TopicVocab)
def _deserialize_vocab(current: TopicVocab, value: Any, name: str, model: Model) -> TopicVocab:
    # Loaded in place: whoever holds this vocabulary sees the loaded words.
    return current.from_bytes(value)
