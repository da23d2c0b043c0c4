"""Neighbours by the bag of words or a frozen encoder's vectors
(`spacy_textvae.neighbours`) and the neighbour-consistency term in training."""
import sys

import numpy
import pytest
import spacy
from scipy import sparse

from spacy_textvae.errors import TextVAEError
from spacy_textvae.neighbours import NeighbourTable, mine_neighbours, tfidf_rows, unit_rows

from .conftest import SMALL_CONFIG, make_corpus, make_examples, train


def _counts(rows, n_vocab=8):
    dense = numpy.zeros((len(rows), n_vocab), dtype="float32")
    for i, words in enumerate(rows):
        for w in words:
            dense[i, w] += 1
    return sparse.csr_matrix(dense)


def test_tfidf_rows_have_unit_length_or_zero():
    X = tfidf_rows(_counts([[0, 1], [1, 1, 2], [], [3]]))
    norms = numpy.sqrt(numpy.asarray(X.multiply(X).sum(axis=1)).ravel())
    numpy.testing.assert_allclose(norms, [1, 1, 0, 1], atol=1e-6)


def test_neighbours_share_words_and_skip_self_duplicates_and_strangers():
    # Docs 0-2 share words 0/1, docs 3-4 words 4/5; doc 5 repeats doc 0; doc 6 has no word.
    counts = _counts([[0, 1], [0, 1, 2], [1, 2], [4, 5], [4, 5, 6], [0, 1], []])
    nbrs = mine_neighbours(tfidf_rows(counts), k=2)
    assert nbrs.shape == (7, 2)
    for i, row in enumerate(nbrs):
        assert i not in row
    assert set(nbrs[0]) <= {1, 2} and set(nbrs[1]) <= {0, 2, 5}
    # Its duplicate (doc 5) is not a neighbour of doc 0, nor doc 0 of doc 5.
    assert 5 not in nbrs[0] and 0 not in nbrs[5]
    # Docs 3 and 4 have one neighbour each (they share words with no other doc).
    assert nbrs[3].tolist() == [4, -1] and nbrs[4].tolist() == [3, -1]
    assert nbrs[6].tolist() == [-1, -1]


def test_neighbours_are_searched_within_blocks():
    rng = numpy.random.default_rng(0)
    counts = sparse.csr_matrix(rng.poisson(0.5, size=(300, 20)).astype("float32"))
    nbrs = mine_neighbours(tfidf_rows(counts), k=3, block_size=100, seed=1)
    order = numpy.random.default_rng(1).permutation(300)
    block_of = numpy.empty(300, dtype="int64")
    for b, members in enumerate(numpy.array_split(order, 3)):
        block_of[members] = b
    found = nbrs >= 0
    assert found.mean() > 0.9
    rows = numpy.repeat(numpy.arange(300)[:, None], 3, axis=1)
    assert (block_of[nbrs[found]] == block_of[rows[found]]).all()
    # Most similar first.
    X = tfidf_rows(counts)
    sims = numpy.asarray([[X[i].dot(X[j].T).toarray()[0, 0] if j >= 0 else -1 for j in row] for i, row in enumerate(nbrs)])
    assert (numpy.diff(sims, axis=1) <= 1e-6).all()


def test_dense_neighbours_skip_self_and_duplicates_most_similar_first():
    rng = numpy.random.default_rng(0)
    centres = rng.normal(size=(3, 16))
    vectors = numpy.repeat(centres, 4, axis=0) + 0.1 * rng.normal(size=(12, 16))
    vectors = numpy.vstack([vectors, vectors[:1] * 3.0])  # doc 12: doc 0 again, longer
    X = unit_rows(vectors)
    numpy.testing.assert_allclose(numpy.linalg.norm(X, axis=1), 1.0, atol=1e-6)
    numpy.testing.assert_array_equal(unit_rows(numpy.zeros((2, 3))), numpy.zeros((2, 3)))
    nbrs = mine_neighbours(X, k=3)
    assert nbrs.shape == (13, 3) and (nbrs >= 0).all()
    for i, row in enumerate(nbrs):
        assert i not in row
    # Each doc's neighbours are the other docs round its centre; doc 0 and its copy are not each other's.
    theme = numpy.append(numpy.repeat(numpy.arange(3), 4), 0)
    assert (theme[nbrs] == theme[:, None]).all()
    assert 12 not in nbrs[0] and 0 not in nbrs[12]
    sims = numpy.take_along_axis(X @ X.T, nbrs, axis=1)
    assert (numpy.diff(sims, axis=1) <= 1e-6).all()


def test_table_targets_are_the_neighbours_mean_assignment():
    keys = [b"a", b"b", b"c", b"a"]  # the last doc repeats the first
    neighbours = numpy.array([[1, 2], [3, -1], [-1, -1], [1, 2]])
    table = NeighbourTable(keys, neighbours, n_clusters=2)
    numpy.testing.assert_allclose(table.targets(numpy.array([0, 1, 2, -1])), numpy.full((4, 2), 0.5))
    table.remember(numpy.array([0, 1, 2]), numpy.array([[1.0, 0.0], [0.0, 1.0], [0.2, 0.8]]))
    targets = table.targets(table.rows_of([b"a", b"b", b"c", b"zzz"]))
    # "a": mean of b and c; "b": its neighbour is the copy of "a", read from a's row.
    numpy.testing.assert_allclose(targets, [[0.1, 0.9], [1.0, 0.0], [0.5, 0.5], [0.5, 0.5]], atol=1e-6)
    numpy.testing.assert_allclose(targets.sum(1), 1.0, atol=1e-6)
    table.reset()
    numpy.testing.assert_allclose(table.targets(numpy.array([0, 1])), numpy.full((2, 2), 0.5))


def test_consistency_term_pulls_assignments_towards_the_targets():
    torch = pytest.importorskip("torch")
    from spacy_textvae.nn.vae import neighbour_consistency

    logits = torch.zeros(6, 3, requires_grad=True)
    targets = torch.eye(3)[[0, 0, 1, 1, 2, 2]]
    optimizer = torch.optim.SGD([logits], lr=1.0)
    for _ in range(20):
        optimizer.zero_grad()
        neighbour_consistency(torch.softmax(logits, 1), targets).mean().backward()
        optimizer.step()
    assert (torch.softmax(logits, 1).argmax(1) == torch.tensor([0, 0, 1, 1, 2, 2])).all()
    # An even target says nothing: only the batch entropy moves γ, and not away
    # from an even batch.
    even = torch.full((6, 3), 1 / 3)
    gamma = torch.softmax(torch.randn(6, 3), 1).requires_grad_(True)
    neighbour_consistency(gamma, even).sum().backward()
    balanced = torch.full((6, 3), 1 / 3, requires_grad=True)
    neighbour_consistency(balanced, even).sum().backward()
    assert float(balanced.grad.std()) < 1e-6


def test_training_with_neighbours_mines_them_and_separates_themes():
    texts, labels = make_corpus()
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("textvae", config={**SMALL_CONFIG, "n_clusters": 3, "neighbour_weight": 0.1})
    history = train(nlp, texts)
    table = pipe._neighbours
    assert table is not None and len(table) == len(texts)
    found = table.neighbours[:, 0] >= 0
    assert found.all()
    label = numpy.asarray(labels)
    assert (label[table.neighbours[:, 0]] == label).mean() > 0.9
    assert history[-1] < history[0]
    from sklearn.metrics import normalized_mutual_info_score

    clusters = [doc._.cluster for doc in nlp.pipe(texts)]
    assert normalized_mutual_info_score(labels, clusters) > 0.5
    # Training-run state only: the saved model is the same size with or without it.
    loaded = spacy.blank("en")
    loaded.add_pipe("textvae", config={**SMALL_CONFIG, "n_clusters": 3, "neighbour_weight": 0.1})
    loaded.from_bytes(nlp.to_bytes())
    assert loaded.get_pipe("textvae")._neighbours is None
    for a, b in zip(nlp.pipe(texts[:10]), loaded.pipe(texts[:10])):
        numpy.testing.assert_array_equal(a._.cluster_probs, b._.cluster_probs)


FROZEN = {"model": {"grad_factor": 0.0}}


def test_encoder_neighbours_come_from_the_one_encoder_pass(monkeypatch):
    """With a frozen encoder, initialize encodes each training doc once (for the
    neighbours, into the run's cache), and training reads the cache."""
    from spacy_textvae.layers.encoder_cache import EncoderCache
    from spacy_textvae.layers.textvae_model import _encoder_cache

    texts, labels = make_corpus(n_per_theme=10)
    nlp = spacy.blank("en")
    config = {**SMALL_CONFIG, **FROZEN, "neighbour_weight": 0.1, "neighbour_features": "encoder"}
    pipe = nlp.add_pipe("textvae", config=config)
    # The corpus is encoded a batch at a time (a transformer's memory grows with the batch).
    monkeypatch.setattr(sys.modules["spacy_textvae.layers.textvae_model"], "ENCODE_CHUNK", 7)
    batches = []
    get = EncoderCache.get
    monkeypatch.setattr(EncoderCache, "get", lambda self, docs, encode: batches.append(len(docs)) or get(self, docs, encode))
    nlp.initialize(lambda: make_examples(nlp, texts))
    assert sum(batches) == len(texts) and max(batches) == 7
    encoded = []
    monkeypatch.setattr(EncoderCache, "_append", lambda self, keys, vectors: encoded.append(len(keys)))
    cache = _encoder_cache(pipe.model, is_train=True)
    assert cache is not None and len(cache) == len(set(texts))
    table = pipe._neighbours
    assert (table.neighbours >= 0).all()
    # Mean-pooled fixed embeddings still place same-theme docs together.
    label = numpy.asarray(labels)
    assert (label[table.neighbours[:, 0]] == label).mean() > 0.8
    optimizer = nlp.resume_training()
    examples = make_examples(nlp, texts)
    for batch in spacy.util.minibatch(examples, size=8):
        nlp.update(batch, sgd=optimizer)
    assert encoded == [] and len(cache) == len(set(texts))


def test_encoder_neighbours_need_a_frozen_encoder():
    texts, _ = make_corpus(n_per_theme=3)
    nlp = spacy.blank("en")
    nlp.add_pipe("textvae", config={**SMALL_CONFIG, "neighbour_weight": 0.1, "neighbour_features": "encoder"})
    with pytest.raises(TextVAEError, match="neighbour_features = \"words\", or freeze the encoder"):
        nlp.initialize(lambda: make_examples(nlp, texts))


def test_no_neighbours_are_mined_when_the_term_is_off():
    texts, _ = make_corpus(n_per_theme=5)
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("textvae", config=SMALL_CONFIG)
    nlp.initialize(lambda: make_examples(nlp, texts))
    assert pipe._neighbours is None


@pytest.mark.parametrize(
    "setting", [{"neighbour_weight": -1.0}, {"n_neighbours": 0}, {"neighbour_features": "tfidf"}]
)
def test_bad_neighbour_settings_say_what_to_set(setting):
    nlp = spacy.blank("en")
    name = next(iter(setting))
    with pytest.raises(TextVAEError, match=f"{name}.*Set \\[components.textvae\\] {name}"):
        nlp.add_pipe("textvae", config={**SMALL_CONFIG, **setting})
