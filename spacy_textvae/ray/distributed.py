"""Keeping N copies of a pipeline identical under torch.distributed: an
optimizer that averages every gradient across the workers before thinc's own
optimizer step, and the synchronisation of the state that the optimizer does
not own (batch-norm statistics, the VAE's latent buffer, its fitted prior).

Every worker runs the same steps in the same order, so the collectives here
match one to one across workers."""
import hashlib
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

import numpy
import torch
import torch.distributed as dist
from spacy.language import Language
from thinc.api import Optimizer, PyTorchShim
from thinc.util import torch2xp, xp2torch

from ..errors import TextVAEError

_Pending = Tuple[Tuple[int, str], Any, Any]


def _world() -> int:
    if not dist.is_available() or not dist.is_initialized():
        raise TextVAEError(
            "The gradient-averaging optimizer needs a torch.distributed process group: "
            "run it under Ray Train (spacy_textvae.ray.train) or call torch.distributed.init_process_group first."
        )
    return dist.get_world_size()


def collective_device() -> torch.device:
    """RETURNS (torch.device): where the process group's tensors live (NCCL
    reduces CUDA tensors only; gloo, CPU ones)."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


class AllReduceOptimizer(Optimizer):
    """Thinc's optimizer, with each step's gradients averaged across the
    workers first. Calls made while the pipeline finishes its update are only
    recorded (the gradient is copied and zeroed, as thinc's optimizer zeroes
    it); `step_schedules`, which spaCy's training loop calls once per step
    after every component's `finish_update`, averages them in one collective
    and runs the wrapped optimizer on each parameter in place. A step that any
    worker skipped (a batch with non-finite values) is skipped on all.

    optimizer (Optimizer): The optimizer of the config, which does the updates.
    on_step (Optional[Callable[[], None]]): Run after each step's updates (state sync).
    """

    def __init__(self, optimizer: Optimizer, on_step: Optional[Callable[[], None]] = None) -> None:
        # The base class's slots stay empty: the wrapped optimizer holds the state.
        self._inner = optimizer
        self._on_step = on_step
        self._pending: List[_Pending] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(object.__getattribute__(self, "_inner"), name)

    @property  # type: ignore[override]
    def averages(self) -> Any:
        return self._inner.averages

    @property  # type: ignore[override]
    def learn_rate(self) -> Any:
        return self._inner.learn_rate

    def __call__(self, key: Tuple[int, str], weights: Any, gradient: Any, *, lr_scale: float = 1.0) -> Tuple[Any, Any]:
        if lr_scale != 1.0:
            raise TextVAEError(f"lr_scale={lr_scale} is not supported by the gradient-averaging optimizer.")
        if len(gradient) >= 1:
            self._pending.append((key, weights, gradient.copy()))
        gradient *= 0
        return weights, gradient

    def step_schedules(self) -> None:
        pending, self._pending = self._pending, []
        world = _world()
        counts = torch.tensor([len(pending), -len(pending)], dtype=torch.int64, device=collective_device())
        dist.all_reduce(counts, op=dist.ReduceOp.MIN)
        if int(counts[0]) == -int(counts[1]):
            if pending:
                self._apply(pending, world)
        # Otherwise some worker skipped its batch: no worker updates this step.
        if self._on_step is not None:
            self._on_step()
        self._inner.step_schedules()

    def _apply(self, pending: List[_Pending], world: int) -> None:
        grads = [xp2torch(g).reshape(-1) for _, _, g in pending]
        flat = torch.cat([g.float() for g in grads]).to(collective_device())
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat /= world
        offset = 0
        for (key, weights, gradient), g in zip(pending, grads):
            n = g.numel()
            averaged = torch2xp(flat[offset : offset + n].reshape(gradient.shape).to(device=g.device, dtype=g.dtype))
            offset += n
            # thinc's optimizer reads `averaged` and writes it; copy so the
            # flat buffer's memory is not shared between parameters.
            updated, _ = self._inner(key, weights, averaged.copy())
            if updated is not weights:
                weights[...] = updated


def torch_modules(nlp: Language) -> List[torch.nn.Module]:
    """RETURNS (List[torch.nn.Module]): the torch modules of the pipeline's models, in pipeline order."""
    modules: List[torch.nn.Module] = []
    seen = set()
    for _, proc in nlp.pipeline:
        model = getattr(proc, "model", None)
        if model in (None, True, False):
            continue
        for node in model.walk():
            for shim in node.shims:
                module = getattr(shim, "_model", None)
                if isinstance(shim, PyTorchShim) and module is not None and id(module) not in seen:
                    seen.add(id(module))
                    modules.append(module)
    return modules


def thinc_params(nlp: Language) -> Iterator[Tuple[str, Any]]:
    """Every thinc parameter of the pipeline, as (name, array), in a fixed order."""
    for comp_name, proc in nlp.pipeline:
        model = getattr(proc, "model", None)
        if model in (None, True, False):
            continue
        for i, node in enumerate(model.walk()):
            for name in node.param_names:
                if node.has_param(name):
                    yield f"{comp_name}.{i}.{node.name}.{name}", node.get_param(name)


def weights_digest(nlp: Language) -> str:
    """RETURNS (str): a SHA-256 of every thinc parameter and every torch
    parameter and buffer of the pipeline (identical weights, identical digest)."""
    h = hashlib.sha256()
    for name, array in thinc_params(nlp):
        h.update(name.encode("utf8"))
        h.update(numpy.ascontiguousarray(_to_numpy(array)).tobytes())
    for module in torch_modules(nlp):
        for name, tensor in module.state_dict(keep_vars=False).items():
            h.update(name.encode("utf8"))
            h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def _to_numpy(array: Any) -> numpy.ndarray:
    return array.get() if hasattr(array, "get") else numpy.asarray(array)


@torch.no_grad()
def broadcast_weights(nlp: Language, src: int = 0) -> None:
    """Give every worker the weights of worker `src` (all parameters and buffers)."""
    for _, array in thinc_params(nlp):
        tmp = xp2torch(array).clone().to(collective_device())
        dist.broadcast(tmp, src)
        array[...] = torch2xp(tmp.to(xp2torch(array).device))
    for module in torch_modules(nlp):
        for tensor in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(tensor.data, src)
        if hasattr(module, "buffer_count"):
            count = torch.tensor([module.buffer_count], dtype=torch.int64, device=collective_device())
            dist.broadcast(count, src)
            module.buffer_count = int(count)


class StateSync:
    """After each step, makes equal across workers what the optimizer does not
    update: batch-norm running statistics (averaged, as the statistics of the
    global batch would be), the VAE's buffer of recent posterior means (every
    worker's new rows, in rank order, as one process would have stored the
    global batch), the documents-seen count the schedules read (the sum over
    workers), and the mixture prior with the textvae step count (worker
    0's: the prior is fitted and repaired from the buffer inside the update,
    before this sync, so workers' fits can differ by their last batch).

    nlp (Language): The pipeline.
    """

    def __init__(self, nlp: Language) -> None:
        self.nlp = nlp
        self.modules = torch_modules(nlp)
        self.counts = [getattr(m, "buffer_count", 0) for m in self.modules]
        self.docs_seen = {name: cfg["docs_seen"] for name, cfg in self._states() if "docs_seen" in cfg}

    def _states(self) -> Iterator[Tuple[str, Dict[str, Any]]]:
        """The learned training state of the textvae components (their `cfg`)."""
        for name, proc in self.nlp.pipeline:
            cfg = getattr(proc, "cfg", None)
            if getattr(proc, "is_trainable", False) and isinstance(cfg, dict) and "prior_fitted" in cfg:
                yield name, cfg

    @torch.no_grad()
    def __call__(self) -> None:
        world = dist.get_world_size()
        for i, module in enumerate(self.modules):
            self._sync_batch_norm(module, world)
            if hasattr(module, "latent_buffer"):
                self._sync_latents(module, i)
            prior = getattr(module, "prior", None)
            if prior is not None:
                for tensor in list(prior.parameters()) + list(prior.buffers()):
                    dist.broadcast(tensor.data, 0)
        self._sync_component_state()

    def _sync_batch_norm(self, module: torch.nn.Module, world: int) -> None:
        floats, ints = [], []
        for m in module.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and m.track_running_stats:
                floats += [m.running_mean, m.running_var]
                ints.append(m.num_batches_tracked)
        if not floats:
            return
        flat = torch.cat([t.reshape(-1).float() for t in floats])
        dist.all_reduce(flat, op=dist.ReduceOp.SUM)
        flat /= world
        offset = 0
        for t in floats:
            t.copy_(flat[offset : offset + t.numel()].reshape(t.shape))
            offset += t.numel()
        for t in ints:
            dist.all_reduce(t, op=dist.ReduceOp.MAX)

    def _sync_latents(self, module: torch.nn.Module, i: int) -> None:
        buffer = module.latent_buffer
        size = buffer.shape[0]
        before = self.counts[i]
        n = min(module.buffer_count - before, size)
        rows = buffer[(torch.arange(n, device=buffer.device) + before) % size]
        sizes = [torch.zeros(1, dtype=torch.int64, device=collective_device()) for _ in range(dist.get_world_size())]
        dist.all_gather(sizes, torch.tensor([n], dtype=torch.int64, device=collective_device()))
        most = max(int(s) for s in sizes)
        padded = torch.zeros(most, buffer.shape[1], dtype=buffer.dtype, device=buffer.device)
        padded[:n] = rows
        gathered = [torch.zeros_like(padded) for _ in sizes]
        dist.all_gather(gathered, padded)
        new = torch.cat([g[: int(s)] for g, s in zip(gathered, sizes)])[-size:]
        idx = (torch.arange(new.shape[0], device=buffer.device) + before) % size
        buffer[idx] = new
        module.buffer_count = before + int(sum(int(s) for s in sizes))
        self.counts[i] = module.buffer_count

    def _sync_component_state(self) -> None:
        # The schedules count documents seen: those of all workers, as one
        # process training on the global batch counts them.
        for name, cfg in self._states():
            if name in self.docs_seen:
                delta = torch.tensor([int(cfg["docs_seen"]) - self.docs_seen[name]], dtype=torch.int64, device=collective_device())
                dist.all_reduce(delta, op=dist.ReduceOp.SUM)
                cfg["docs_seen"] = self.docs_seen[name] = self.docs_seen[name] + int(delta)
            state = torch.tensor([int(cfg["step"]), int(bool(cfg["prior_fitted"]))], dtype=torch.int64, device=collective_device())
            dist.broadcast(state, 0)
            cfg["step"], cfg["prior_fitted"] = int(state[0]), bool(state[1])


def synchronised(batches: Iterable[Any]) -> Iterator[Any]:
    """Yield from `batches` while every worker still has a batch: workers whose
    shards give different numbers of batches stop together instead of waiting
    forever in a collective for a worker that has finished."""
    iterator = iter(batches)
    while True:
        item = next(iterator, None)
        flag = torch.tensor([0 if item is None else 1], dtype=torch.int64, device=collective_device())
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        if not int(flag):
            return
        yield item


def mean_across_workers(value: float) -> float:
    """RETURNS (float): the mean of `value` over the workers."""
    t = torch.tensor([float(value)], dtype=torch.float64, device=collective_device())
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return float(t) / dist.get_world_size()


def all_equal(text: str) -> bool:
    """RETURNS (bool): whether every worker passed the same string."""
    values: List[Optional[str]] = [None] * dist.get_world_size()
    dist.all_gather_object(values, text)
    return len(set(values)) == 1
