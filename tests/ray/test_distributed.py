"""The gradient-averaging optimizer and the step synchronisation, on plain
torch.distributed (gloo) without Ray: one process gives exactly thinc's own
update, and two processes agree on skipping a step and on stopping."""
import numpy
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from thinc.api import SGD, Adam, Linear, PyTorchWrapper

from spacy_textvae.errors import TextVAEError
from spacy_textvae.ray.distributed import AllReduceOptimizer, synchronised


@pytest.fixture
def process_group(tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'pg'}", rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def models():
    """Two identical small models, a thinc layer and a wrapped torch one."""
    torch.manual_seed(0)
    module = torch.nn.Linear(4, 3)
    pair = []
    for _ in range(2):
        thinc_layer = Linear(3, 4)
        thinc_layer.initialize(X=numpy.ones((2, 4), "f"))
        wrapped = PyTorchWrapper(torch.nn.Linear(4, 3))
        wrapped.shims[0]._model.load_state_dict(module.state_dict())
        pair.append((thinc_layer, wrapped))
    pair[1][0].set_param("W", pair[0][0].get_param("W").copy())
    pair[1][0].set_param("b", pair[0][0].get_param("b").copy())
    return pair


def step(layers, optimizer, X, wrapped_step=None):
    for model in layers:
        Y, backprop = model.begin_update(X)
        backprop(numpy.ones_like(Y))
        model.finish_update(optimizer)
    if wrapped_step is not None:
        wrapped_step()


def test_one_process_is_thinc_optimizer(process_group):
    direct, averaged = models()
    plain = Adam(0.01, grad_clip=1.0)
    wrapper = AllReduceOptimizer(Adam(0.01, grad_clip=1.0))
    X = numpy.random.RandomState(0).randn(5, 4).astype("f")
    for _ in range(3):
        step(direct, plain, X, plain.step_schedules)
        step(averaged, wrapper, X, wrapper.step_schedules)
    for a, b in zip(direct, averaged):
        for name in ("W", "b"):
            if a.has_param(name):
                numpy.testing.assert_array_equal(a.get_param(name), b.get_param(name))
    for pa, pb in zip(direct[1].shims[0]._model.parameters(), averaged[1].shims[0]._model.parameters()):
        assert torch.equal(pa, pb)
    # The weights moved, and the gradients were zeroed as thinc's optimizer zeroes them.
    assert not numpy.array_equal(models()[0][0].get_param("W"), averaged[0].get_param("W"))
    assert not averaged[0].get_grad("W").any()


def test_needs_a_process_group():
    wrapper = AllReduceOptimizer(Adam(0.01))
    with pytest.raises(TextVAEError, match="process group"):
        wrapper.step_schedules()


def _two_workers(rank, path, results):
    dist.init_process_group("gloo", init_method=f"file://{path}", rank=rank, world_size=2)
    try:
        weights = numpy.zeros(3, "f")
        wrapper = AllReduceOptimizer(Adam(0.1))
        # Worker 1 skipped its batch: it calls the optimizer for nothing.
        if rank == 0:
            wrapper((1, "W"), weights, numpy.ones(3, "f"))
        wrapper.step_schedules()
        skipped = bool((weights == 0).all())
        # Both update the next step, with the mean of their gradients.
        wrapper((1, "W"), weights, numpy.full(3, float(rank + 1), "f"))
        wrapper.step_schedules()
        # Shards of 3 and 5 batches: both stop after 3.
        n = len(list(synchronised(range(3 if rank == 0 else 5))))
        results[rank] = (skipped, weights.tolist(), n)
    finally:
        dist.destroy_process_group()


def test_two_workers_skip_together_and_stop_together(tmp_path):
    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_two_workers, args=(str(tmp_path / "pg"), results), nprocs=2, join=True)
        (skip0, w0, n0), (skip1, w1, n1) = results[0], results[1]
    assert skip0 and skip1
    assert w0 == w1 and all(v != 0 for v in w0)
    assert n0 == n1 == 3


def _mean_loss_steps(layer, optimizer, X, steps):
    """Optimizer steps on the mean of the outputs (a loss averaged over the batch, as textvae's is)."""
    for _ in range(steps):
        Y, backprop = layer.begin_update(X)
        backprop(numpy.ones_like(Y) / X.shape[0])
        layer.finish_update(optimizer)
        optimizer.step_schedules()
    return layer.get_param("W")


def _layer():
    layer = Linear(3, 4, init_W=lambda ops, shape: ops.asarray(numpy.arange(12, dtype="f").reshape(shape) / 10))
    layer.initialize(X=numpy.ones((2, 4), "f"))
    return layer


def _half_batches(rank, path, results):
    dist.init_process_group("gloo", init_method=f"file://{path}", rank=rank, world_size=2)
    try:
        X = numpy.random.RandomState(0).randn(8, 4).astype("f") ** 2
        W = _mean_loss_steps(_layer(), AllReduceOptimizer(SGD(0.5, grad_clip=0.0, L2=0.0)), X[rank * 4 : rank * 4 + 4], 3)
        results[rank] = W.tolist()
    finally:
        dist.destroy_process_group()


def test_two_half_batches_update_as_the_whole_batch(tmp_path):
    """Two workers with 4 examples each make the update one process makes with
    all 8: the averaged gradient of a mean loss is the global batch's."""
    with mp.Manager() as manager:
        results = manager.dict()
        mp.spawn(_half_batches, args=(str(tmp_path / "pg"), results), nprocs=2, join=True)
        w0, w1 = numpy.asarray(results[0]), numpy.asarray(results[1])
    X = numpy.random.RandomState(0).randn(8, 4).astype("f") ** 2
    # Plain SGD, whose step scales with the gradient (Adam's hardly does).
    whole = _mean_loss_steps(_layer(), SGD(0.5, grad_clip=0.0, L2=0.0), X, 3)
    numpy.testing.assert_array_equal(w0, w1)
    numpy.testing.assert_allclose(w0, whole, atol=1e-6)
