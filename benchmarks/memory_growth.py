"""Resident memory of a textvae training run, epoch by epoch (docs/benchmarks.md,
"Memory in long CPU runs").

    OMP_NUM_THREADS=1 python -m benchmarks.memory_growth --n-docs 1000 --epochs 40
    MALLOC_MMAP_THRESHOLD_=65536 OMP_NUM_THREADS=1 python -m benchmarks.memory_growth --n-docs 1000 --epochs 40
    LD_PRELOAD=/usr/lib/x86_64-linux-gnu/libjemalloc.so.2 OMP_NUM_THREADS=1 python -m benchmarks.memory_growth --n-docs 1000 --epochs 40

(Wrap each in `/usr/bin/time -f %e` for the wall time.)

Trains the benchmark's setting (tiny frozen tok2vec, batch 64, Adam 2e-3) on the
first N raw 20 Newsgroups training posts and prints the resident set size after
each epoch.
"""
import argparse
import os
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

from benchmarks.data import load_20ng  # noqa: E402
from benchmarks.run_textvae import build_nlp, train  # noqa: E402

# The benchmark's tiny frozen tok2vec (project.yml, benchmark-textvae).
TOK2VEC = {"width": 16, "depth": 1, "embed_size": 1000, "subword_features": False}


def rss_mb() -> float:
    """Resident set size of this process in MB (Linux)."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ng20-dir", type=Path, default=Path("../shared/data/20newsgroups"))
    p.add_argument("--n-docs", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=64)
    args = p.parse_args()
    torch.set_num_threads(1)
    train_split, _ = load_20ng(args.ng20_dir)
    nlp = build_nlp(20, 20, {}, {"grad_factor": 0.0}, TOK2VEC)
    docs = [nlp.make_doc(text) for text in list(train_split.text)[: args.n_docs]]
    # The eval hook reports the resident size after every epoch but the last.
    train(nlp, docs, args.epochs, args.batch_size, 2e-3, 0, 0.0, 0.9,
          eval_fn=lambda: {"rss_mb": round(rss_mb())}, eval_every=1)
    print(f"after epoch {args.epochs}: {rss_mb():.0f} MB", flush=True)


if __name__ == "__main__":
    main()
