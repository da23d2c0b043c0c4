"""Memory and time of a training update with a fixed transformer: the
transformer inside textvae (`configs/trf.cfg`: Tok2VecTransformer, textvae
grad_factor 0, so it runs in inference mode) against a separate "transformer"
component with a TransformerListener (both grad_factors 0: the transformer
still runs its forward pass with autograd and its backward pass).

Each setup runs in its own process (peak resident memory is per process),
alternating, `--runs` times; medians are reported.

    HF_HUB_OFFLINE=1 python -m benchmarks.trf_memory --transformer PATH_OR_NAME \\
        --n-docs 16 --chars 1500 --updates 3 --runs 3
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

TRF_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "trf.cfg"

def build(setup: str, transformer: str):
    import spacy

    import spacy_textvae  # noqa: F401  (registers the factory)

    config = spacy.util.load_config(TRF_CONFIG, overrides={"paths.transformer": transformer})
    if setup == "listener":
        # The same transformer as a separate component, read through a listener.
        config["nlp"]["pipeline"] = ["transformer", "textvae"]
        config["components"]["transformer"] = {
            "factory": "transformer",
            "max_batch_items": 4096,
            "set_extra_annotations": {"@annotation_setters": "spacy-transformers.null_annotation_setter.v1"},
            "model": {
                "@architectures": "spacy-transformers.TransformerModel.v3",
                "name": transformer,
                "mixed_precision": False,
                "get_spans": {"@span_getters": "spacy-transformers.strided_spans.v1", "window": 128, "stride": 96},
                "tokenizer_config": {"use_fast": True},
            },
        }
        config["components"]["textvae"]["model"]["tok2vec"] = {
            "@architectures": "spacy-transformers.TransformerListener.v1",
            "grad_factor": 0.0,
            "upstream": "transformer",
            "pooling": {"@layers": "reduce_mean.v1"},
        }
    return spacy.util.load_model_from_config(config, auto_fill=True, validate=True)


def one_run(setup: str, transformer: str, texts: list[str], updates: int) -> dict:
    """In this process: initialise, then time `updates` updates on one batch."""
    import torch
    from spacy.training import Example

    torch.set_num_threads(1)
    nlp = build(setup, transformer)
    examples = [Example(nlp.make_doc(t), nlp.make_doc(t)) for t in texts]
    optimizer = nlp.initialize(lambda: examples)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    times = []
    for _ in range(updates):
        t0 = time.perf_counter()
        nlp.update(examples, sgd=optimizer)
        times.append(time.perf_counter() - t0)
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"setup": setup, "update_s": statistics.median(times),
            "peak_rss_mb": round(rss_peak, 1), "rss_after_init_mb": round(rss_before, 1)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--transformer", required=True)
    p.add_argument("--ng20-dir", default="/work/shared/data/20newsgroups/")
    p.add_argument("--n-docs", type=int, default=16, help="documents in the batch")
    p.add_argument("--chars", type=int, default=1500, help="characters kept per document")
    p.add_argument("--updates", type=int, default=3)
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args()
    from .data import load_20ng

    train, _ = load_20ng(args.ng20_dir)
    step = max(len(train.text) // args.n_docs, 1)
    texts = [t[: args.chars] for t in train.text[::step][: args.n_docs]]
    if args.child:
        print(json.dumps(one_run(args.child, args.transformer, texts, args.updates)))
        return
    results: dict[str, list[dict]] = {"embedded": [], "listener": []}
    for _ in range(args.runs):
        for setup in results:
            cmd = [sys.executable, "-m", "benchmarks.trf_memory", *sys.argv[1:], "--child", setup]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                # Killed for memory (or failed): recorded, not dropped.
                results[setup].append({"setup": setup, "failed": proc.returncode,
                                       "error": proc.stderr.strip().splitlines()[-1:] or ""})
            else:
                results[setup].append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print(json.dumps(results[setup][-1]), flush=True)
    print(f"\n{args.n_docs} docs (first {args.chars} characters), batch of all of them, "
          f"median of {args.runs} runs of {args.updates} updates")
    print("| setup | update s | peak RSS MB | failed runs |\n|---|---|---|---|")
    for setup, runs in results.items():
        ok = [r for r in runs if "failed" not in r]
        upd = f"{statistics.median(r['update_s'] for r in ok):.2f}" if ok else "—"
        rss = f"{statistics.median(r['peak_rss_mb'] for r in ok):.0f}" if ok else "—"
        print(f"| {setup} | {upd} | {rss} | {len(runs) - len(ok)} |")


if __name__ == "__main__":
    main()
