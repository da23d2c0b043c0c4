"""Time per training update of the embedding decoder (with its regulariser)
against the linear one, in one process, alternating (docs/benchmarks.md,
"Cost of the embedding decoder").

    OMP_NUM_THREADS=1 python -m benchmarks.decoder_cost --n-docs 2000 --updates 30 --runs 5

Builds the benchmark's setting (tiny frozen tok2vec, 10,000 topic words, 20
topics and clusters) on the first N raw 20 Newsgroups training posts, once per
decoder, and times `nlp.update` on batches of 64; prints the median seconds
per update of each and their ratio.
"""
import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import spacy  # noqa: E402
import torch  # noqa: E402
from spacy.training import Example  # noqa: E402
from thinc.api import Adam  # noqa: E402

from benchmarks.data import load_20ng  # noqa: E402
from benchmarks.memory_growth import TOK2VEC  # noqa: E402  (the benchmark's tiny frozen tok2vec)
from benchmarks.run_textvae import build_nlp  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ng20-dir", type=Path, default=Path("../shared/data/20newsgroups"))
    p.add_argument("--n-docs", type=int, default=2000)
    p.add_argument("--updates", type=int, default=30, help="updates per timed run")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=64)
    args = p.parse_args()
    torch.set_num_threads(1)
    train_split, _ = load_20ng(args.ng20_dir)
    texts = train_split.text[: args.n_docs]
    setups = {}
    for decoder in ("linear", "embedding"):
        spacy.util.fix_random_seed(0)
        nlp = build_nlp(20, 20, {}, {"grad_factor": 0.0, "decoder": decoder}, TOK2VEC)
        examples = [Example(d, d) for d in nlp.tokenizer.pipe(texts)]
        t0 = time.perf_counter()
        nlp.initialize(lambda: examples)
        init_s = time.perf_counter() - t0
        setups[decoder] = (nlp, examples, Adam(0.002, L2=0.0, grad_clip=0.0), init_s)
    times = {name: [] for name in setups}
    for run in range(args.runs + 1):  # the first round warms up
        for name, (nlp, examples, sgd, _) in setups.items():
            t0 = time.perf_counter()
            for i in range(args.updates):
                start = ((run * args.updates + i) * args.batch_size) % len(examples)
                nlp.update(examples[start : start + args.batch_size], sgd=sgd)
            if run:
                times[name].append((time.perf_counter() - t0) / args.updates)
    med = {name: statistics.median(v) for name, v in times.items()}
    print(f"{len(texts)} posts, batch {args.batch_size}, {args.updates} updates x {args.runs} runs, torch threads 1")
    print("| decoder | initialize s | s per update (median) | runs |")
    print("|---|---:|---:|---|")
    for name, v in times.items():
        print(f"| {name} | {setups[name][3]:.1f} | {med[name]:.4f} | {', '.join(f'{x:.4f}' for x in v)} |")
    print(f"ratio embedding / linear: {med['embedding'] / med['linear']:.2f}")


if __name__ == "__main__":
    main()
