"""Resident memory of a textvae training run, epoch by epoch (README, "Memory in
long CPU runs").

    OMP_NUM_THREADS=1 python -m benchmarks.memory_growth --n-docs 1000 --epochs 40
    MALLOC_MMAP_THRESHOLD_=65536 OMP_NUM_THREADS=1 python -m benchmarks.memory_growth --n-docs 1000 --epochs 40

Trains the benchmark's setting (tiny frozen tok2vec, batch 64, Adam 2e-3) on the
first N raw 20 Newsgroups training posts and prints the resident set size after
each epoch.
"""
import argparse
import gc
import os
import random
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import spacy  # noqa: E402
import torch  # noqa: E402
from spacy.training import Example  # noqa: E402
from thinc.api import Adam  # noqa: E402

from benchmarks.data import load_20ng  # noqa: E402

TOK2VEC = {"@architectures": "spacy.HashEmbedCNN.v2", "pretrained_vectors": None, "width": 16,
           "depth": 1, "embed_size": 1000, "window_size": 1, "maxout_pieces": 3,
           "subword_features": False}


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
    train, _ = load_20ng(args.ng20_dir)
    nlp = spacy.blank("en")
    nlp.add_pipe("textvae", config={"model": {"@architectures": "spacy-textvae.TextVAE.v1",
                                              "grad_factor": 0.0, "tok2vec": TOK2VEC}})
    docs = [nlp.make_doc(text) for text in list(train.text)[: args.n_docs]]
    examples = [Example(doc, doc) for doc in docs]
    nlp.initialize(lambda: examples)
    sgd = Adam(2e-3, L2=0.0, grad_clip=0.0, use_averages=False)
    rng = random.Random(0)
    print(f"after initialize: {rss_mb():.0f} MB", flush=True)
    for epoch in range(args.epochs):
        rng.shuffle(examples)
        losses: dict = {}
        for i in range(0, len(examples), args.batch_size):
            nlp.update(examples[i: i + args.batch_size], sgd=sgd, losses=losses)
        gc.collect()
        print(f"epoch {epoch}: {rss_mb():.0f} MB", flush=True)


if __name__ == "__main__":
    main()
