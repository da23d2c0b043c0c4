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
from typing import Dict, List, Optional

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


LISTENER = {
    "@architectures": "spacy-textvae.TextVAE.v2",
    "tok2vec": {"@architectures": "spacy.Tok2VecListener.v1", "width": 96, "upstream": "tok2vec"},
}


def build(texts: List[str], textvae: Optional[str], train_steps: int):
    """textvae: None (tok2vec alone), "own" (textvae with its own tok2vec) or
    "listener" (textvae reading the pipeline's tok2vec)."""
    spacy.util.fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("tok2vec")
    if textvae is not None:
        config = {"kl_warmup_steps": 10, "prior_fit_step": 5}
        if textvae == "listener":
            config["model"] = LISTENER
        nlp.add_pipe("textvae", config=config)
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


def timing_parser(description: Optional[str], n_docs: int) -> argparse.ArgumentParser:
    """The options these timing scripts share: texts, how many, runs, threads."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--texts", type=Path, default=Path("/work/shared/data/20newsgroups/test.jsonl.gz"))
    parser.add_argument("--n-docs", type=int, default=n_docs)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    return parser


def main() -> None:
    parser = timing_parser(__doc__, n_docs=2000)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    texts = read_texts(args.texts, args.n_docs)
    # The baseline is the pipeline a user already runs: tok2vec alone.
    pipelines = {
        "tok2vec": build(texts, None, 0),
        "tok2vec + textvae (own tok2vec)": build(texts, "own", 20),
        "tok2vec + textvae (listener)": build(texts, "listener", 20),
    }
    rates: Dict[str, List[float]] = {name: [] for name in pipelines}
    for nlp in pipelines.values():
        docs_per_second(nlp, texts[:200], args.batch_size)  # warm-up
    for _ in range(args.runs):  # alternate, so drift in machine load hits all alike
        for name, nlp in pipelines.items():
            rates[name].append(docs_per_second(nlp, texts, args.batch_size))
    med = {k: statistics.median(v) for k, v in rates.items()}
    print(f"{len(texts)} docs, {args.runs} runs, batch {args.batch_size}, torch threads {args.threads}")
    print("| pipeline | docs/s (median) | runs |")
    print("|---|---:|---|")
    for k, v in rates.items():
        print(f"| {k} | {med[k]:.0f} | {', '.join(f'{x:.0f}' for x in v)} |")
    for name in list(pipelines)[1:]:
        print(f"overhead ratio ({name}): {med['tok2vec'] / med[name]:.2f}")


if __name__ == "__main__":
    main()
