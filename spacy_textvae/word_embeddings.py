"""Word embeddings learned from the training documents themselves, for the
embedding decoder (ETM / ECRTM): positive pointwise mutual information of word
pairs within a window, factorised by a truncated SVD (Levy, Goldberg & Dagan
2015). Nothing is downloaded, so any language and any vocabulary works."""
from itertools import islice
from typing import Iterable, Sequence

import numpy
from scipy import sparse
from scipy.sparse.linalg import svds

from .errors import TextVAEError

# Below this vocabulary size a dense SVD is cheaper and exact.
_DENSE_SVD_MAX = 2000


def cooccurrence_counts(columns: Sequence[numpy.ndarray], n_vocab: int, window: int = 10) -> sparse.csr_matrix:
    """Symmetric counts of word pairs at most `window - 1` tokens apart in
    the same document (gensim's boolean sliding window spans `window` tokens).

    columns (Sequence[numpy.ndarray]): Vocabulary column of each token, per doc, in order.
    n_vocab (int): Vocabulary size.
    window (int): Window length in tokens.
    RETURNS (sparse.csr_matrix): (n_vocab, n_vocab) counts, zero diagonal.
    """
    lengths = numpy.asarray([len(c) for c in columns], dtype="int64")
    if lengths.sum() == 0:
        return sparse.csr_matrix((n_vocab, n_vocab), dtype="float64")
    tokens = numpy.concatenate([numpy.asarray(c, dtype="int64") for c in columns])
    doc_ids = numpy.repeat(numpy.arange(len(columns)), lengths)
    counts = sparse.csr_matrix((n_vocab, n_vocab), dtype="float64")
    for offset in range(1, max(window, 2)):
        same_doc = doc_ids[offset:] == doc_ids[:-offset]
        left, right = tokens[:-offset][same_doc], tokens[offset:][same_doc]
        if not len(left):
            break
        pairs = sparse.coo_matrix((numpy.ones(len(left)), (left, right)), shape=(n_vocab, n_vocab))
        counts = counts + pairs.tocsr()
    counts = counts + counts.T
    counts.setdiag(0)
    counts.eliminate_zeros()
    return counts.tocsr()


def ppmi(counts: sparse.csr_matrix, context_smoothing: float = 0.75) -> sparse.csr_matrix:
    """Positive PMI with context-distribution smoothing (Levy et al. 2015).

    counts (sparse.csr_matrix): Co-occurrence counts.
    context_smoothing (float): Exponent on the context counts.
    RETURNS (sparse.csr_matrix): The PPMI matrix, same sparsity or sparser.
    """
    coo = counts.tocoo()
    row_sums = numpy.asarray(counts.sum(axis=1)).ravel()
    ctx = numpy.asarray(counts.sum(axis=0)).ravel() ** context_smoothing
    if not len(coo.data):
        return counts.astype("float64")
    pmi = numpy.log(coo.data * ctx.sum() / (row_sums[coo.row] * ctx[coo.col]))
    keep = pmi > 0
    return sparse.csr_matrix((pmi[keep], (coo.row[keep], coo.col[keep])), shape=counts.shape)


def cooccurrence_embeddings(
    columns: Iterable[numpy.ndarray], n_vocab: int, width: int = 100, window: int = 10,
    chunk_size: int = 2000,
) -> numpy.ndarray:
    """Unit-length word embeddings from the documents: PPMI over a sliding
    window, truncated SVD with the singular values' square root as weights.
    Deterministic for the same documents.

    columns (Iterable[numpy.ndarray]): Vocabulary column of each token, per doc, in order
        (`TopicVocab.columns`); read once, `chunk_size` docs at a time.
    n_vocab (int): Vocabulary size.
    width (int): Embedding width. A vocabulary smaller than that gives zero columns.
    window (int): Window length in tokens.
    chunk_size (int): Docs counted at a time (bounds the memory of the pair arrays).
    RETURNS (numpy.ndarray): float32 (n_vocab, width); a word that never
        co-occurs with another gets the zero vector.
    """
    if width < 1:
        raise TextVAEError(f"The word-embedding width must be >= 1, not {width}.")
    counts = sparse.csr_matrix((n_vocab, n_vocab), dtype="float64")
    columns = iter(columns)
    while True:
        chunk = list(islice(columns, chunk_size))
        if not chunk:
            break
        counts = counts + cooccurrence_counts(chunk, n_vocab, window)
    return embeddings_from_counts(counts, width)


def embeddings_from_counts(counts: sparse.csr_matrix, width: int) -> numpy.ndarray:
    """Unit-length embeddings from co-occurrence counts (PPMI, truncated SVD).

    counts (sparse.csr_matrix): (n_vocab, n_vocab) symmetric counts.
    width (int): Embedding width.
    RETURNS (numpy.ndarray): float32 (n_vocab, width).
    """
    n_vocab = counts.shape[0]
    matrix = ppmi(counts)
    out = numpy.zeros((n_vocab, width), dtype="float64")
    rank = min(width, n_vocab - 1) if n_vocab > _DENSE_SVD_MAX else min(width, n_vocab)
    if matrix.nnz == 0 or rank < 1:
        return out.astype("float32")
    if n_vocab <= _DENSE_SVD_MAX:
        U, S, _ = numpy.linalg.svd(matrix.toarray(), full_matrices=False)
        U, S = U[:, :rank], S[:rank]
    else:
        # A fixed start vector: ARPACK's default is random, and the same corpus
        # should give the same model.
        v0 = numpy.full(n_vocab, 1.0 / numpy.sqrt(n_vocab))
        U, S, _ = svds(matrix, k=rank, v0=v0)
        order = numpy.argsort(-S)
        U, S = U[:, order], S[order]
    # Fix each component's sign (SVD leaves it arbitrary) for reproducibility.
    signs = numpy.sign(U[numpy.abs(U).argmax(axis=0), numpy.arange(U.shape[1])])
    signs[signs == 0] = 1.0
    out[:, :rank] = U * signs * numpy.sqrt(S)
    norms = numpy.linalg.norm(out, axis=1, keepdims=True)
    return (out / numpy.maximum(norms, 1e-12)).astype("float32")
