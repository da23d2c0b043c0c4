"""Inference overhead of textvae: documents per second through `nlp.pipe` with and
without the component, in the same process, alternating runs, medians.

    python benchmarks/speed.py --texts /work/shared/data/20newsgroups/test.jsonl.gz --n-docs 2000
"""
import argparse
import gzip
import json
import random
import statistics
import time
from pathlib import Path
from typing import List

import spacy
import torch
from spacy.training import Example


def read_texts(path: Path, n: int) -> List[str]:
    opener = gzip.open if path.suffix == ".gz" else open
    texts = []
    with opener(path, "rt", encoding="utf8") as f:
        for line in f:
            texts.append(json.loads(line)["text"])
    random.Random(0).shuffle(texts)
    return texts[:n]


def build(texts: List[str], with_textvae: bool, train_steps: int):
    spacy.util.fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("tok2vec")
    if with_textvae:
        nlp.add_pipe("textvae", config={"kl_warmup_steps": 10, "prior_fit_step": 5})
    examples = [Example(nlp.make_doc(t), nlp.make_doc(t)) for t in texts]
    optimizer = nlp.initialize(lambda: examples)
    for i in range(train_steps):
        nlp.update(examples[(i * 64) % len(examples):][:64], sgd=optimizer)
    return nlp


def docs_per_second(nlp, texts: List[str], batch_size: int) -> float:
    start = time.perf_counter()
    for _ in nlp.pipe(texts, batch_size=batch_size):
        pass
    return len(texts) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--texts", type=Path, default=Path("/work/shared/data/20newsgroups/test.jsonl.gz"))
    parser.add_argument("--n-docs", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    texts = read_texts(args.texts, args.n_docs)
    with_vae = build(texts, True, 20)
    # The same pipeline without the component: tok2vec alone (the baseline a user already runs).
    baseline = build(texts, False, 0)
    rates = {"tok2vec": [], "tok2vec+textvae": []}
    docs_per_second(with_vae, texts[:200], args.batch_size)  # warm-up
    for _ in range(args.runs):
        rates["tok2vec"].append(docs_per_second(baseline, texts, args.batch_size))
        rates["tok2vec+textvae"].append(docs_per_second(with_vae, texts, args.batch_size))
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"{len(texts)} docs, {args.runs} runs, batch {args.batch_size}, torch threads {args.threads}")
    print("| pipeline | docs/s (median) | runs |")
    print("|---|---:|---|")
    for k, v in rates.items():
        print(f"| {k} | {med[k]:.0f} | {', '.join(f'{x:.0f}' for x in v)} |")
    print(f"overhead ratio (baseline / with textvae): {med['tok2vec'] / med['tok2vec+textvae']:.2f}")


if __name__ == "__main__":
    main()
