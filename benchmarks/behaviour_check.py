"""Train textvae through the public API with a fixed seed and save what it
gives (latents, topics, cluster probabilities, topic words), so that two
versions of the package can be compared output for output.

    python -m benchmarks.behaviour_check demo OUT.npz
    python -m benchmarks.behaviour_check 20ng OUT.npz --ng20 PATH/train.jsonl.gz
    python -m benchmarks.behaviour_check compare A.npz B.npz
"""
import argparse
import gzip
import json
import random
import sys
from pathlib import Path
from typing import List

import numpy
import spacy
from spacy.training import Example


def _texts(kind: str, ng20: str, n: int) -> List[str]:
    if kind == "demo":
        path = Path(__file__).resolve().parent.parent / "assets" / "demo.jsonl"
        rows = [json.loads(line) for line in path.read_text(encoding="utf8").splitlines() if line.strip()]
    else:
        with gzip.open(ng20, "rt", encoding="utf8") as f:
            rows = [json.loads(line) for line in f]
        rows = [r for r in rows if r["text"].strip()]
        random.Random(0).shuffle(rows)
    return [r["text"] for r in rows[:n]]


def run(kind: str, out: str, ng20: str, n: int, epochs: int) -> None:
    texts = _texts(kind, ng20, n)
    spacy.util.fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("textvae", config={"n_topics": 8, "n_clusters": 8, "kl_warmup_epochs": 3.0})
    examples = [Example(nlp.make_doc(t), nlp.make_doc(t)) for t in texts]
    optimizer = nlp.initialize(lambda: examples)
    rng = random.Random(0)
    losses_seen = []
    for _ in range(epochs):
        rng.shuffle(examples)
        for batch in spacy.util.minibatch(examples, size=64):
            losses = {}
            nlp.update(batch, sgd=optimizer, losses=losses)
            losses_seen.append(losses["textvae"])
    docs = list(nlp.pipe(texts[:500], batch_size=128))
    pipe = nlp.get_pipe("textvae")
    words = pipe.topic_words(10)
    numpy.savez(
        out,
        latent=numpy.stack([d._.latent for d in docs]),
        topics=numpy.stack([d._.topics for d in docs]),
        cluster_probs=numpy.stack([d._.cluster_probs for d in docs]),
        losses=numpy.asarray(losses_seen),
        topic_words=numpy.asarray([" ".join(w) for w in words]),
    )
    print(f"saved {out}: {len(docs)} docs, {len(losses_seen)} updates, last loss {losses_seen[-1]:.4f}")
    for w in words:
        print("  ", " ".join(w))


def compare(a: str, b: str) -> int:
    A, B = numpy.load(a), numpy.load(b)
    worst = 0.0
    for key in ("latent", "topics", "cluster_probs", "losses"):
        diff = float(numpy.abs(A[key] - B[key]).max())
        same = numpy.array_equal(A[key], B[key])
        worst = max(worst, diff)
        print(f"{key:14s} max |a - b| = {diff:.3g} {'(bit-identical)' if same else ''}")
    same_words = list(A["topic_words"]) == list(B["topic_words"])
    print(f"topic words identical: {same_words}")
    return 0 if same_words and worst <= 1e-6 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=("demo", "20ng", "compare"))
    parser.add_argument("paths", nargs="+")
    parser.add_argument("--ng20", default="")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    if args.kind == "compare":
        return compare(*args.paths)
    run(args.kind, args.paths[0], args.ng20, args.n, args.epochs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
