"""Docs → sparse bag-of-words counts over the topic vocabulary."""
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Tuple

import numpy
from spacy.tokens import Doc
from thinc.api import Model, Ops, deserialize_attr, serialize_attr
from thinc.types import Floats1d, Floats2d, Ints1d

from ..vocab import TopicVocab


@dataclass
class BagOfWords:
    """A batch's counts as their nonzero (doc, word) cells, in document order
    (arrays on the ops' device).

    rows: (nnz,) int64 document of each cell, non-decreasing.
    cols: (nnz,) int64 vocabulary column of each cell.
    values: (nnz,) float32 counts.
    offsets: (n_docs,) int64 position of each document's first cell.
    n_words: (n_docs,) float32 in-vocabulary words per document.
    n_vocab: the size of the vocabulary.
    """

    rows: Ints1d
    cols: Ints1d
    values: Floats1d
    offsets: Ints1d
    n_words: Floats1d
    n_vocab: int

    def __len__(self) -> int:
        return int(self.offsets.shape[0])

    @classmethod
    def from_dense(cls, counts: Floats2d, ops: Ops) -> "BagOfWords":
        """The cells of a dense (n_docs, n_vocab) count matrix (for tests and callers
        that hold dense counts).

        counts (Floats2d): The counts.
        ops (Ops): The ops whose device the arrays go to.
        RETURNS (BagOfWords): The cells.
        """
        dense = ops.to_numpy(counts)
        rows, cols = numpy.nonzero(dense)
        return cls(
            rows=ops.asarray1i(rows, dtype="int64"),
            cols=ops.asarray1i(cols, dtype="int64"),
            values=ops.asarray1f(dense[rows, cols].astype("float32")),
            offsets=ops.asarray1i(numpy.searchsorted(rows, numpy.arange(dense.shape[0])), dtype="int64"),
            n_words=ops.asarray1f(dense.sum(axis=1, dtype="float64").astype("float32")),
            n_vocab=int(dense.shape[1]),
        )

    def to_dense(self, xp: Any) -> Floats2d:
        """RETURNS (Floats2d): The (n_docs, n_vocab) float32 count matrix (for tests
        and inspection: the model never builds it)."""
        dense = xp.zeros((len(self), self.n_vocab), dtype="float32")
        dense[self.rows, self.cols] = self.values
        return dense


def bag_of_words(vocab: Optional[TopicVocab]) -> Model[List[Doc], BagOfWords]:
    """Count each doc's topic-vocabulary words (a hash → column lookup over
    `doc.to_array`, no per-token Python), as sparse cells: memory grows with
    the words in the batch, not with batch × vocabulary. The layer owns the
    vocabulary: it is saved and loaded with the model.

    vocab (Optional[TopicVocab]): The vocabulary, built later by `TopicVocab.build`;
        None until the component hands it over (`set_topic_vocab`).
    RETURNS (Model[List[Doc], BagOfWords]): The counts; nothing flows back.
    """
    return Model("textvae_bag_of_words", forward, attrs={"vocab": vocab})


def forward(model: Model, docs: List[Doc], is_train: bool) -> Tuple[BagOfWords, Callable]:
    csr = model.attrs["vocab"].counts(docs)
    ops = model.ops
    indptr = numpy.asarray(csr.indptr, dtype="int64")
    rows = numpy.repeat(numpy.arange(len(docs), dtype="int64"), numpy.diff(indptr))
    values = numpy.asarray(csr.data, dtype="float32")
    # Whole-number counts: their running sum in float64 is exact.
    running = numpy.concatenate([[0.0], numpy.cumsum(values, dtype="float64")])
    n_words = running[indptr[1:]] - running[indptr[:-1]]
    bag = BagOfWords(
        rows=ops.asarray1i(rows, dtype="int64"),
        cols=ops.asarray1i(csr.indices, dtype="int64"),
        values=ops.asarray1f(values),
        offsets=ops.asarray1i(indptr[:-1], dtype="int64"),
        n_words=ops.asarray1f(n_words.astype("float32")),
        n_vocab=int(csr.shape[1]),
    )
    return bag, lambda d_counts: docs


@serialize_attr.register(TopicVocab)
def _serialize_vocab(_: TopicVocab, value: TopicVocab, name: str, model: Model) -> bytes:
    return value.to_bytes()


@deserialize_attr.register(TopicVocab)
def _deserialize_vocab(current: TopicVocab, value: Any, name: str, model: Model) -> TopicVocab:
    # Loaded in place: whoever holds this vocabulary sees the loaded words.
    return current.from_bytes(value)
