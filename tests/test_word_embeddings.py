"""Word embeddings from the training docs (PPMI + SVD) for the embedding decoder."""
import numpy

from spacy_textvae.word_embeddings import cooccurrence_counts, cooccurrence_embeddings, ppmi


def themed_columns(n_docs=200, seed=0):
    # Words 0-9 only ever appear with each other, 10-19 likewise; word 20 never
    # appears; word 21 appears alone in one-word docs only.
    rng = numpy.random.default_rng(seed)
    docs = []
    for i in range(n_docs):
        base = 0 if i % 2 == 0 else 10
        docs.append(rng.integers(base, base + 10, size=30))
    docs.append(numpy.array([21]))
    return docs


def test_counts_follow_the_window():
    cols = [numpy.array([0, 1, 2, 3]), numpy.array([3, 0])]
    counts = cooccurrence_counts(cols, 4, window=2).toarray()  # neighbours only
    expected = numpy.zeros((4, 4))
    for a, b in [(0, 1), (1, 2), (2, 3), (3, 0)]:
        expected[a, b] += 1
        expected[b, a] += 1
    numpy.testing.assert_array_equal(counts, expected)
    # No pair crosses a document boundary (3 | 3 is not counted), and no word pairs with itself.
    assert numpy.all(numpy.diag(cooccurrence_counts(cols, 4, window=10).toarray()) == 0)


def test_ppmi_is_positive_and_finite():
    counts = cooccurrence_counts(themed_columns(), 22)
    matrix = ppmi(counts)
    assert numpy.all(matrix.data > 0) and numpy.all(numpy.isfinite(matrix.data))


def test_embeddings_separate_words_that_never_meet():
    emb = cooccurrence_embeddings(themed_columns(), 22, width=8)
    assert emb.shape == (22, 8) and emb.dtype == numpy.float32
    norms = numpy.linalg.norm(emb, axis=1)
    numpy.testing.assert_allclose(norms[:20], 1.0, rtol=1e-5)
    # Words that never co-occur with anything get the zero vector, not NaN.
    assert numpy.all(emb[20] == 0) and numpy.all(emb[21] == 0)
    sims = emb[:20] @ emb[:20].T
    within = numpy.mean([sims[i, j] for i in range(20) for j in range(20) if i != j and i // 10 == j // 10])
    across = numpy.mean([sims[i, j] for i in range(20) for j in range(20) if i // 10 != j // 10])
    assert within > across + 0.5


def test_embeddings_are_deterministic_and_chunking_does_not_matter():
    cols = themed_columns()
    a = cooccurrence_embeddings(cols, 22, width=8)
    b = cooccurrence_embeddings(iter(cols), 22, width=8, chunk_size=7)
    numpy.testing.assert_allclose(a, b, atol=1e-5)


def test_large_vocabulary_takes_the_sparse_svd():
    rng = numpy.random.default_rng(0)
    n_vocab = 2500  # above the dense-SVD limit
    cols = [rng.integers(0, n_vocab, size=60) for _ in range(400)]
    a = cooccurrence_embeddings(cols, n_vocab, width=16)
    b = cooccurrence_embeddings(cols, n_vocab, width=16)
    assert a.shape == (n_vocab, 16) and numpy.all(numpy.isfinite(a))
    numpy.testing.assert_array_equal(a, b)


def test_empty_and_tiny_inputs():
    assert numpy.all(cooccurrence_embeddings([numpy.zeros(0, "int64")], 5, width=4) == 0)
    # Narrower vocabulary than the width: the extra columns are zero.
    emb = cooccurrence_embeddings([numpy.array([0, 1, 2, 0, 1, 2])] * 3, 3, width=8)
    assert emb.shape == (3, 8) and numpy.all(emb[:, 3:] == 0)
