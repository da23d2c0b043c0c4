"""Time per training update of `configs/cpu.cfg` against the forms of the
training step it replaced, in one process, alternating (docs/benchmarks.md,
"Cost of a training update").

    OMP_NUM_THREADS=1 python -m benchmarks.update_cost --n-docs 3000 --updates 40 --runs 5

The replaced forms, each the same computation:
- the encoder's first layer as one (hidden × [pooled; vocabulary]) matrix
  (`TextVAE.v3`), whose vocabulary columns the sparse product read through a
  transposed copy, its gradient coming back the same way;
- the finite checks after every step as one float64 sum per tensor, instead
  of a float32 sum (float64 only where that overflows);
- before that, the ECR regulariser's Sinkhorn iterations as log-domain
  logsumexps instead of float64 scaling vectors, and the finite checks as
  isfinite().all().
Builds the shipped config on the first N raw 20 Newsgroups training posts,
initialises it, trains a few epochs, and times `nlp.update` on batches of the
config's size with the config's optimizer, alternating the setups; prints the
median seconds per update of each and their ratios to the first.
"""
import argparse
import contextlib
import os
import statistics
import time
from pathlib import Path
from typing import Any, Callable, ContextManager, Dict, Iterator, List, Optional, Tuple

os.environ.setdefault("OMP_NUM_THREADS", "1")

import spacy  # noqa: E402
import torch  # noqa: E402
from spacy.language import Language  # noqa: E402
from spacy.training import Example  # noqa: E402
from spacy.util import registry  # noqa: E402
from thinc.api import Optimizer  # noqa: E402
from torch import Tensor, nn  # noqa: E402

from benchmarks.data import load_20ng  # noqa: E402
from spacy_textvae.nn import decoders, transport, vae  # noqa: E402
from spacy_textvae.nn.counts import SparseCounts, weighted_rows_sum  # noqa: E402
from spacy_textvae.nn.encoder import Encoder  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _isfinite_all(tensors: List[torch.Tensor]) -> bool:
    return not tensors or bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all())


def _float64_sums_all(tensors: List[torch.Tensor]) -> bool:
    return not tensors or bool(torch.isfinite(torch.stack([t.sum(dtype=torch.float64) for t in tensors])).all())


@contextlib.contextmanager
def replaced(plan: Optional[Callable[..., Any]] = None, check: Optional[Callable[..., bool]] = None) -> Iterator[None]:
    """The Sinkhorn plan and the finite check given, for the updates inside."""
    shipped_plan, shipped_check = decoders.sinkhorn_plan, vae.all_finite
    decoders.sinkhorn_plan = plan or shipped_plan
    vae.all_finite = check or shipped_check
    try:
        yield
    finally:
        decoders.sinkhorn_plan, vae.all_finite = shipped_plan, shipped_check


def old_sinkhorn_and_checks() -> ContextManager[None]:
    """The log-domain Sinkhorn and isfinite().all() checks."""
    return replaced(transport._log_domain_plan, _isfinite_all)


def float64_checks() -> ContextManager[None]:
    """The finite checks as one float64 sum per tensor."""
    return replaced(check=_float64_sums_all)


class JoinedFirstLayerEncoder(Encoder):
    """The encoder with its first layer as one (hidden × [pooled; vocabulary])
    matrix, as `TextVAE.v3` held it."""

    def first_layer(self, pooled: Tensor, counts: SparseCounts) -> Tensor:
        first = self.hidden[0]
        n_inputs = 0 if self.input_norm is None else self.input_norm.normalized_shape[0]
        h = first.bias.expand(counts.n_docs, -1)
        if self.input_norm is not None:
            h = h + self.input_norm(pooled) @ first.weight[:, :n_inputs].t()
        return h + weighted_rows_sum(first.weight[:, n_inputs:].t(), counts, torch.log1p(counts.values))


def join_first_layer(nlp: Language) -> None:
    """Give the pipeline's encoder the joined first layer, with the same weights."""
    encoder = nlp.get_pipe("textvae").torch_module.encoder
    first = encoder.hidden[0]
    joined = torch.cat([first.weight.data, encoder.word_weight.data.t()], dim=1)
    del encoder.word_weight
    encoder.word_weight = None
    encoder.__class__ = JoinedFirstLayerEncoder
    first.weight = nn.Parameter(joined)
    first.in_features = joined.shape[1]


BASELINE = "log-domain Sinkhorn, isfinite checks, joined first layer"
JOINED = "joined first layer, float64-sum checks"
SHIPPED = "as shipped"
SETUPS = (BASELINE, JOINED, SHIPPED)


def setup(config_path: Path, texts: List[str], warmup_epochs: int = 3) -> Tuple[Language, List[Example], Optimizer]:
    """The config's pipeline, initialised on the texts and trained for a few
    epochs with the config's optimizer: past the prior fit and the neighbour
    term's start, as most of a training run is. RETURNS (nlp, examples, optimizer)."""
    config = spacy.util.load_config(config_path)
    nlp = spacy.util.load_model_from_config(config, auto_fill=True)
    examples = [Example(d, d) for d in nlp.tokenizer.pipe(texts)]
    spacy.util.fix_random_seed(0)
    nlp.initialize(lambda: examples)
    sgd = _optimizer(nlp)
    batch_size = _batch_size(nlp)
    for i in range(warmup_epochs * len(examples) // batch_size):
        start = (i * batch_size) % len(examples)
        nlp.update(examples[start : start + batch_size], sgd=sgd)
    return nlp, examples, sgd


def setups(
    config_path: Path, texts: List[str], warmup_epochs: int = 3
) -> Tuple[Dict[str, Tuple[Language, Optimizer, Any]], List[Example]]:
    """Each setup's pipeline (the joined one with an optimizer of its own,
    whose moments fit the joined shape) and the context its updates run in,
    all from the same trained state. RETURNS ({name: (nlp, optimizer, context)}, examples)."""
    shipped, examples, sgd = setup(config_path, texts, warmup_epochs)
    joined, _, _ = setup(config_path, texts, warmup_epochs)
    join_first_layer(joined)
    joined_sgd = _optimizer(joined)
    return {
        BASELINE: (joined, joined_sgd, old_sinkhorn_and_checks),
        JOINED: (joined, joined_sgd, float64_checks),
        SHIPPED: (shipped, sgd, contextlib.nullcontext),
    }, examples


def _optimizer(nlp: Language) -> Optimizer:
    return registry.resolve({"optimizer": nlp.config["training"]["optimizer"]})["optimizer"]


def _batch_size(nlp: Language) -> int:
    return int(nlp.config["training"]["batcher"]["size"])


def alternate(
    runs_of: Dict[str, Tuple[Language, Optimizer, Any]], examples: List[Example], updates: int, runs: int
) -> Dict[str, List[float]]:
    """Seconds per update of each setup, alternating, after one warm-up round.
    RETURNS ({setup: [s per update of each run]})."""
    times: Dict[str, List[float]] = {name: [] for name in runs_of}
    step = 0
    for run in range(runs + 1):
        for name, (nlp, sgd, context) in runs_of.items():
            batch_size = _batch_size(nlp)
            with context():
                t0 = time.perf_counter()
                for _ in range(updates):
                    start = (step * batch_size) % len(examples)
                    nlp.update(examples[start : start + batch_size], sgd=sgd)
                    step += 1
                if run:
                    times[name].append((time.perf_counter() - t0) / updates)
    return times


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ng20-dir", type=Path, default=ROOT.parent / "shared" / "data" / "20newsgroups")
    p.add_argument("--config", type=Path, default=ROOT / "configs" / "cpu.cfg")
    p.add_argument("--n-docs", type=int, default=3000)
    p.add_argument("--updates", type=int, default=40, help="updates per timed run")
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    torch.set_num_threads(1)
    train_split, _ = load_20ng(args.ng20_dir)
    runs_of, examples = setups(args.config, list(train_split.text[: args.n_docs]))
    times = alternate(runs_of, examples, args.updates, args.runs)
    med = {name: statistics.median(v) for name, v in times.items()}
    print(f"{len(examples)} posts, {args.config.name}, batch {_batch_size(runs_of[SHIPPED][0])}, "
          f"{args.updates} updates x {args.runs} runs, torch threads 1")
    print("| training step | s per update (median) | / first | runs |")
    print("|---|---:|---:|---|")
    for name, v in times.items():
        print(f"| {name} | {med[name]:.4f} | {med[name] / med[BASELINE]:.2f} | {', '.join(f'{x:.4f}' for x in v)} |")
    print(f"ratio as shipped / {JOINED}: {med[SHIPPED] / med[JOINED]:.2f}")

if __name__ == "__main__":
    main()
