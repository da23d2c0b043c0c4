"""The pooling layer: forward and backprop in every mode, empty docs."""
import numpy
import pytest
from thinc.api import NumpyOps

from spacy_textvae import TextVAEError
from spacy_textvae.layers import POOLING_MODES, build_pooling

OPS = NumpyOps()


def token_vectors(lengths, width=3, seed=0):
    rng = numpy.random.default_rng(seed)
    return [rng.normal(size=(n, width)).astype("float32") for n in lengths]


@pytest.mark.parametrize("mode", POOLING_MODES)
def test_forward_values(mode):
    Xs = token_vectors([2, 4, 1])
    layer = build_pooling(mode)
    layer.initialize(X=Xs)
    Y = layer.predict(Xs)
    means = numpy.stack([x.mean(0) for x in Xs])
    maxes = numpy.stack([x.max(0) for x in Xs])
    expected = {"mean": means, "max": maxes, "mean_max": numpy.hstack([means, maxes])}[mode]
    numpy.testing.assert_allclose(Y, expected, rtol=1e-6)
    assert layer.get_dim("nO") == expected.shape[1] and layer.get_dim("nI") == 3


@pytest.mark.parametrize("mode", POOLING_MODES)
def test_backprop_matches_finite_differences(mode):
    Xs = token_vectors([3, 2], width=2, seed=1)
    layer = build_pooling(mode)
    layer.initialize(X=Xs)
    Y, backprop = layer(Xs, is_train=True)
    dY = numpy.random.default_rng(2).normal(size=Y.shape).astype("float32")
    dXs = backprop(dY)
    assert [d.shape for d in dXs] == [x.shape for x in Xs]
    eps = 1e-3
    for i, x in enumerate(Xs):
        for idx in numpy.ndindex(*x.shape):
            plus = [v.copy() for v in Xs]
            minus = [v.copy() for v in Xs]
            plus[i][idx] += eps
            minus[i][idx] -= eps
            numeric = float(((layer.predict(plus) - layer.predict(minus)) * dY).sum()) / (2 * eps)
            assert abs(numeric - float(dXs[i][idx])) < 1e-2, (i, idx)


@pytest.mark.parametrize("mode", POOLING_MODES)
def test_empty_docs_pool_to_zeros(mode):
    Xs = token_vectors([2, 0, 3])
    layer = build_pooling(mode)
    layer.initialize(X=Xs)
    Y, backprop = layer(Xs, is_train=True)
    assert numpy.all(Y[1] == 0) and numpy.all(numpy.isfinite(Y))
    dXs = backprop(numpy.ones_like(Y))
    assert dXs[1].shape == (0, 3)
    # A batch where no doc has a token.
    empty = [numpy.zeros((0, 3), dtype="float32")] * 2
    Y, backprop = layer(empty, is_train=True)
    assert Y.shape[0] == 2 and numpy.all(Y == 0)
    assert [d.shape for d in backprop(numpy.ones_like(Y))] == [(0, 3), (0, 3)]


def test_unknown_mode():
    with pytest.raises(TextVAEError, match=r"pooling must be one of .*not 'median'"):
        build_pooling("median")
