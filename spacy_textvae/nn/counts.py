"""A batch's bag of words as its nonzero cells, and per-document sums over them.

A dense (batch × vocabulary) count matrix is almost all zeros: the encoder's
input and the reconstruction loss need only the nonzero cells, so memory
grows with the words in the batch, not with batch × vocabulary.
"""
from typing import NamedTuple

import torch
from torch import Tensor
from torch.nn import functional as F


class SparseCounts(NamedTuple):
    """The nonzero (doc, word) cells of a batch's counts, in document order.

    rows: (nnz,) int64 document of each cell, non-decreasing.
    cols: (nnz,) int64 vocabulary column of each cell.
    values: (nnz,) float32 counts.
    offsets: (batch,) int64 position of each document's first cell in the others.
    """

    rows: Tensor
    cols: Tensor
    values: Tensor
    offsets: Tensor

    @property
    def n_docs(self) -> int:
        """RETURNS (int): The number of documents (rows of the dense matrix)."""
        return int(self.offsets.shape[0])


def sparse_counts(counts: Tensor) -> SparseCounts:
    """The nonzero cells of a dense count matrix.

    counts (Tensor): (batch, n_vocab) counts.
    RETURNS (SparseCounts): Its cells, on its device.
    """
    rows, cols = counts.nonzero(as_tuple=True)
    offsets = torch.searchsorted(rows, torch.arange(counts.shape[0], device=counts.device))
    return SparseCounts(rows, cols, counts[rows, cols].float(), offsets)


def segment_sum(x: Tensor, offsets: Tensor) -> Tensor:
    """Per-document sums of values given per cell (cells in document order).

    x (Tensor): (nnz,) values.
    offsets (Tensor): (batch,) position of each document's first cell.
    RETURNS (Tensor): (batch,) sums; 0 for documents without cells.
    """
    # embedding_bag sums each bag in order: deterministic on CPU and GPU,
    # unlike an atomic index_add.
    index = torch.arange(x.shape[0], device=x.device)
    return F.embedding_bag(index, x.unsqueeze(1), offsets, mode="sum").squeeze(1)


def weighted_rows_sum(weights: Tensor, counts: SparseCounts, cell_weights: Tensor) -> Tensor:
    """Σ_w cell_weight(d, w) · weights[w] for each document: a sparse
    (batch × vocabulary) by (vocabulary × width) product.

    weights (Tensor): (n_vocab, width).
    counts (SparseCounts): The cells.
    cell_weights (Tensor): (nnz,) a weight per cell.
    RETURNS (Tensor): (batch, width).
    """
    return F.embedding_bag(
        counts.cols, weights.contiguous(), counts.offsets, mode="sum", per_sample_weights=cell_weights.to(weights.dtype)
    )
