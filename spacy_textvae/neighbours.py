"""Each training document's nearest neighbours, by its bag of words or by its
frozen encoder's pooled vectors, and the cluster assignments the model last
gave them: the targets of the neighbour-consistency term in training (SCAN,
Van Gansbeke et al. 2020).

Documents that share rare words, or that a sentence encoder places close
together, tend to share a theme. The ELBO scores each document alone; the
consistency term also asks a document's cluster to agree with its
neighbours', which the bag of words of one short text cannot say.

Numpy and scipy only: the component mines the neighbours once per training
run, at `initialize`, and the table then lives beside the model (it is never
saved: it belongs to one run's training corpus).
"""
from typing import Dict, List, Sequence, Union

import numpy
from scipy import sparse

# Rows of the similarity matrix computed at once: bounds its (rows × block) memory.
_QUERY_ROWS = 512
# Two bags of words this similar are the same text (reposts, quoted titles):
# as each other's neighbour they would only repeat what the encoder already sees.
_DUPLICATE_COSINE = 1.0 - 1e-6


def tfidf_rows(counts: sparse.csr_matrix) -> sparse.csr_matrix:
    """Unit-length sublinear tf-idf rows: log(1 + count) × (log(N / df) + 1).

    counts (sparse.csr_matrix): (n_docs, n_vocab) word counts.
    RETURNS (sparse.csr_matrix): float32 (n_docs, n_vocab), rows of norm 1
        (or 0 for docs without words).
    """
    counts = sparse.csr_matrix(counts, dtype="float32")
    n_docs = max(counts.shape[0], 1)
    df = numpy.bincount(counts.indices, minlength=counts.shape[1]).astype("float64")
    idf = numpy.log(n_docs / numpy.maximum(df, 1.0)) + 1.0
    weights = counts.copy()
    weights.data = (numpy.log1p(weights.data) * idf[weights.indices]).astype("float32")
    norms = numpy.sqrt(numpy.asarray(weights.multiply(weights).sum(axis=1)).ravel())
    scale = numpy.where(norms > 0, 1.0 / numpy.maximum(norms, 1e-12), 0.0).astype("float32")
    return sparse.diags(scale).dot(weights).tocsr()


def unit_rows(vectors: numpy.ndarray) -> numpy.ndarray:
    """Dense rows scaled to length 1 (rows of zeros stay zero).

    vectors (numpy.ndarray): (n_docs, width) document vectors.
    RETURNS (numpy.ndarray): float32 (n_docs, width).
    """
    vectors = numpy.asarray(vectors, dtype="float32")
    norms = numpy.linalg.norm(vectors, axis=1, keepdims=True)
    return numpy.where(norms > 0, vectors / numpy.maximum(norms, 1e-12), 0.0).astype("float32")


def mine_neighbours(
    rows: Union[sparse.csr_matrix, numpy.ndarray], k: int, *, block_size: int = 20000, seed: int = 0
) -> numpy.ndarray:
    """The k most similar other documents of each document by cosine, searched
    within seeded random blocks of at most `block_size` documents, so that the
    cost grows linearly with the corpus.

    rows (Union[sparse.csr_matrix, numpy.ndarray]): (n_docs, width) unit-length
        rows: `tfidf_rows` of word counts, or `unit_rows` of dense vectors.
    k (int): Neighbours per document.
    block_size (int): Documents searched together.
    seed (int): Seed of the partition into blocks.
    RETURNS (numpy.ndarray): int64 (n_docs, k) document indices, most similar
        first; -1 where a document has fewer than k neighbours of positive
        similarity (duplicates of the document do not count).
    """
    X = sparse.csr_matrix(rows, dtype="float32") if sparse.issparse(rows) else numpy.asarray(rows, dtype="float32")
    n_docs = X.shape[0]
    out = numpy.full((n_docs, k), -1, dtype="int64")
    if n_docs < 2 or k < 1:
        return out
    order = numpy.random.default_rng(seed).permutation(n_docs)
    n_blocks = -(-n_docs // block_size)
    for block in numpy.array_split(order, n_blocks):
        block = numpy.sort(block)
        Xb = X[block]
        XbT = Xb.T.tocsc() if sparse.issparse(Xb) else numpy.ascontiguousarray(Xb.T)
        for start in range(0, len(block), _QUERY_ROWS):
            sims = Xb[start : start + _QUERY_ROWS] @ XbT
            sims = sims.toarray() if sparse.issparse(sims) else numpy.asarray(sims)
            # The document itself and its duplicates are not neighbours, nor are
            # documents that share nothing with it. The diagonal is cleared
            # apart: float32 rounding can leave a self-similarity just below 1.
            sims[sims >= _DUPLICATE_COSINE] = 0.0
            query = numpy.arange(start, start + len(sims))
            sims[query - start, query] = 0.0
            n = min(k, len(block) - 1)
            top = numpy.argpartition(-sims, n - 1, axis=1)[:, :n] if n > 0 else numpy.zeros((len(sims), 0), "int64")
            top_sims = numpy.take_along_axis(sims, top, axis=1)
            ranked = numpy.argsort(-top_sims, axis=1, kind="stable")
            top = numpy.take_along_axis(top, ranked, axis=1)
            top_sims = numpy.take_along_axis(top_sims, ranked, axis=1)
            found = numpy.where(top_sims > 0, block[top], -1)
            out[block[start : start + _QUERY_ROWS], :n] = found
    return out


class NeighbourTable:
    """The training documents' neighbours and the cluster assignments last seen
    for each document, by document key.

    keys (Sequence[bytes]): Each training document's key (see `doc_key`).
    neighbours (numpy.ndarray): int64 (n_docs, k) from `mine_neighbours`.
    n_clusters (int): Number of clusters.
    """

    def __init__(self, keys: Sequence[bytes], neighbours: numpy.ndarray, n_clusters: int) -> None:
        self.rows: Dict[bytes, int] = {}
        for i, key in enumerate(keys):
            # A text that occurs twice keeps its first row.
            self.rows.setdefault(key, i)
        # Neighbours point at their text's row: a later copy's row is never updated.
        canonical = numpy.asarray([self.rows[key] for key in keys] + [-1], dtype="int64")
        self.neighbours = canonical[numpy.asarray(neighbours, dtype="int64")]
        self.n_clusters = int(n_clusters)
        self.assignments = numpy.zeros((len(keys), self.n_clusters), dtype="float32")
        self.reset()

    def __len__(self) -> int:
        return int(self.neighbours.shape[0])

    def reset(self) -> None:
        """Forget every assignment (all clusters alike: such a target has no
        gradient, so a document counts only once its neighbours were seen)."""
        self.assignments[:] = 1.0 / self.n_clusters

    def rows_of(self, keys: List[bytes]) -> numpy.ndarray:
        """RETURNS (numpy.ndarray): int64 (len(keys),) table rows; -1 for docs
        that are not training docs of this run."""
        return numpy.asarray([self.rows.get(key, -1) for key in keys], dtype="int64")

    def targets(self, rows: numpy.ndarray) -> numpy.ndarray:
        """The mean assignment of each document's neighbours.

        rows (numpy.ndarray): int64 table rows, -1 for unknown docs.
        RETURNS (numpy.ndarray): float32 (len(rows), n_clusters), rows summing
            to 1 (the even share where a document has no known neighbour).
        """
        targets = numpy.full((len(rows), self.n_clusters), 1.0 / self.n_clusters, dtype="float32")
        known = rows >= 0
        if not known.any():
            return targets
        nbrs = self.neighbours[rows[known]]
        valid = nbrs >= 0
        gathered = self.assignments[numpy.where(valid, nbrs, 0)] * valid[..., None]
        n_valid = valid.sum(axis=1)
        has = n_valid > 0
        mean = gathered.sum(axis=1)[has] / n_valid[has, None]
        idx = numpy.flatnonzero(known)[has]
        targets[idx] = mean.astype("float32")
        return targets

    def remember(self, rows: numpy.ndarray, assignments: numpy.ndarray) -> None:
        """Store the model's latest cluster assignments of these documents."""
        known = rows >= 0
        self.assignments[rows[known]] = numpy.asarray(assignments, dtype="float32")[known]
