"""Time per training update of `configs/cpu.cfg` with the CPU fast paths of
the training step against the forms they replace, in one process,
alternating (docs/benchmarks.md, "Cost of a training update").

    OMP_NUM_THREADS=1 python -m benchmarks.update_cost --n-docs 3000 --updates 40 --runs 5

The fast paths, each exact: the ECR regulariser's Sinkhorn iterations as
float64 scaling vectors instead of log-domain logsumexps, and the finite
checks after every step as one float64 sum per tensor instead of
isfinite().all(). The baseline swaps the old forms in for its own updates.
Builds the shipped config on the first N raw 20 Newsgroups training posts,
initialises it once, and times `nlp.update` on batches of 64, alternating
the two; prints the median seconds per update of each and their ratio.
"""
import argparse
import contextlib
import os
import statistics
import time
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

os.environ.setdefault("OMP_NUM_THREADS", "1")

import spacy  # noqa: E402
import torch  # noqa: E402
from spacy.language import Language  # noqa: E402
from spacy.training import Example  # noqa: E402
from thinc.api import Adam, Optimizer  # noqa: E402

from benchmarks.data import load_20ng  # noqa: E402
from spacy_textvae.nn import decoders, transport, vae  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _isfinite_all(tensors: List[torch.Tensor]) -> bool:
    return not tensors or bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all())


@contextlib.contextmanager
def baseline() -> Iterator[None]:
    """The log-domain Sinkhorn and isfinite().all() checks, for the updates inside."""
    fast_plan, fast_check = decoders.sinkhorn_plan, vae.all_finite
    decoders.sinkhorn_plan = transport._log_domain_plan
    vae.all_finite = _isfinite_all
    try:
        yield
    finally:
        decoders.sinkhorn_plan, vae.all_finite = fast_plan, fast_check


BASELINE = "log-domain Sinkhorn, isfinite checks"
SHIPPED = "as shipped"


def setup(config_path: Path, texts: List[str], warmup_epochs: int = 3) -> Tuple[Language, List[Example], Optimizer]:
    """The config's pipeline, initialised on the texts and trained for a few
    epochs: past the prior fit and the neighbour term's start, as most of a
    training run is. RETURNS (nlp, examples, optimizer)."""
    config = spacy.util.load_config(config_path)
    nlp = spacy.util.load_model_from_config(config, auto_fill=True)
    examples = [Example(d, d) for d in nlp.tokenizer.pipe(texts)]
    spacy.util.fix_random_seed(0)
    nlp.initialize(lambda: examples)
    sgd = Adam(0.002, L2=0.0, grad_clip=1.0)
    batch_size = _batch_size(nlp)
    for i in range(warmup_epochs * len(examples) // batch_size):
        start = (i * batch_size) % len(examples)
        nlp.update(examples[start : start + batch_size], sgd=sgd)
    return nlp, examples, sgd


def _batch_size(nlp: Language) -> int:
    return int(nlp.config["training"]["batcher"]["size"])


def alternate(nlp: Language, examples: List[Example], sgd: Optimizer, updates: int, runs: int) -> Dict[str, List[float]]:
    """Seconds per update of the baseline and the shipped step, alternating,
    after one warm-up round. RETURNS ({setup: [s per update of each run]})."""
    batch_size = _batch_size(nlp)
    times: Dict[str, List[float]] = {BASELINE: [], SHIPPED: []}
    step = 0
    for run in range(runs + 1):
        for name in times:
            with baseline() if name == BASELINE else contextlib.nullcontext():
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
    nlp, examples, sgd = setup(args.config, list(train_split.text[: args.n_docs]))
    times = alternate(nlp, examples, sgd, args.updates, args.runs)
    med = {name: statistics.median(v) for name, v in times.items()}
    print(f"{len(examples)} posts, {args.config.name}, batch {_batch_size(nlp)}, {args.updates} updates x "
          f"{args.runs} runs, torch threads 1")
    print("| training step | s per update (median) | runs |")
    print("|---|---:|---|")
    for name, v in times.items():
        print(f"| {name} | {med[name]:.4f} | {', '.join(f'{x:.4f}' for x in v)} |")
    print(f"ratio as shipped / baseline: {med[SHIPPED] / med[BASELINE]:.2f}")


if __name__ == "__main__":
    main()
