"""Speed and memory of textvae, as ratios measured in one run (medians of
alternating runs, so that drift in machine load hits all setups alike):

1. Inference docs/s through `nlp.pipe` on raw 20 Newsgroups test posts, against
   the bare tokenizer in the same process, for each config (trained briefly
   on raw train posts; the speed does not depend on how well).
2. A shared upstream tok2vec: the pipeline with textvae reading it through a
   listener against the same pipeline with textvae disabled.
3. Threads: training and inference of the factory-default pipeline on the demo
   corpus, each run in a fresh process, with `OMP_NUM_THREADS=1`, without it
   (the automatic `torch_threads`), and without it with `torch_threads = 0`
   (torch's own count, one thread per core).
4. Peak resident memory of one inference batch of 256 and of 50,000 docs
   (`benchmarks.inference_memory`).

    python -m benchmarks.speed --ng20-dir DIR --out benchmarks/results/speed.md

Run it without OMP_NUM_THREADS: the thread comparison sets it per process.
"""
import argparse
import gzip
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CONFIGS = [ROOT / "configs" / "cpu.cfg"]

# The shared upstream: the tok2vec of configs/shared.cfg.
UPSTREAM_WIDTH = 64
UPSTREAM = {
    "@architectures": "spacy.Tok2Vec.v2",
    "embed": {
        "@architectures": "spacy.MultiHashEmbed.v2",
        "width": UPSTREAM_WIDTH,
        "attrs": ["NORM", "PREFIX", "SUFFIX", "SHAPE"],
        "rows": [5000, 1000, 2500, 2500],
        "include_static_vectors": False,
    },
    "encode": {
        "@architectures": "spacy.MaxoutWindowEncoder.v2",
        "width": UPSTREAM_WIDTH,
        "depth": 2,
        "window_size": 1,
        "maxout_pieces": 3,
    },
}

# One timing run of the threads comparison, in a fresh process: argv[1] is the
# torch_threads setting as JSON, argv[2] the demo corpus, argv[3] the updates.
THREAD_RUN = r"""
import json, sys, time
import spacy
from spacy.training import Example
setting, path, n_updates = json.loads(sys.argv[1]), sys.argv[2], int(sys.argv[3])
texts = [json.loads(line)["text"] for line in open(path, encoding="utf8")]
spacy.util.fix_random_seed(0)
nlp = spacy.blank("en")
nlp.add_pipe("textvae", config={"n_topics": 8, "n_clusters": 8, "torch_threads": setting})
examples = [Example(nlp.make_doc(t), nlp.make_doc(t)) for t in texts]
optimizer = nlp.initialize(lambda: examples)
start, cpu_start = time.perf_counter(), time.process_time()
for i in range(n_updates):
    nlp.update(examples[(i * 64) % len(examples):][:64], sgd=optimizer)
trained, cpu_trained = time.perf_counter(), time.process_time()
for _ in nlp.pipe(texts, batch_size=128):
    pass
done, cpu_done = time.perf_counter(), time.process_time()
import torch
print(json.dumps({"train": trained - start, "infer": done - trained, "train_cpu": cpu_trained - cpu_start,
                  "infer_cpu": cpu_done - cpu_trained, "threads": torch.get_num_threads()}))
"""


def read_texts(path: Path, n: int, seed: int = 0) -> List[str]:
    """The `text` of n posts of a 20 Newsgroups jsonl(.gz) file, shuffled with a fixed seed."""
    opener: Callable = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf8") as f:
        texts = [json.loads(line)["text"] for line in f]
    random.Random(seed).shuffle(texts)
    return texts[:n]


def train_briefly(nlp: Any, texts: Sequence[str], steps: int, batch_size: int = 64) -> None:
    """Initialise the pipeline on the texts and run a few updates."""
    from spacy.training import Example

    examples = [Example(nlp.make_doc(t), nlp.make_doc(t)) for t in texts]
    optimizer = nlp.initialize(lambda: examples)
    for i in range(steps):
        start = (i * batch_size) % len(examples)
        nlp.update(examples[start : start + batch_size], sgd=optimizer)


def config_pipeline(path: Path, texts: Sequence[str], steps: int) -> Any:
    """The pipeline of a training config, trained briefly on texts."""
    import spacy
    from spacy.util import load_config, load_model_from_config

    spacy.util.fix_random_seed(0)
    nlp = load_model_from_config(load_config(path), auto_fill=True, validate=True)
    train_briefly(nlp, texts, steps)
    return nlp


def listener_pipeline(texts: Sequence[str], steps: int) -> Any:
    """An upstream tok2vec component and textvae reading it through a listener."""
    import spacy

    spacy.util.fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("tok2vec", config={"model": UPSTREAM})
    listener = {"@architectures": "spacy.Tok2VecListener.v1", "width": UPSTREAM_WIDTH, "upstream": "tok2vec"}
    nlp.add_pipe("textvae", config={"model": {"tok2vec": listener}})
    train_briefly(nlp, texts, steps)
    return nlp


def seconds(run: Callable[[], Any]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def alternate(setups: Dict[str, Callable[[], Any]], runs: int) -> Dict[str, List[float]]:
    """Seconds of each setup over `runs` rounds, the setups alternating within each round."""
    times: Dict[str, List[float]] = {name: [] for name in setups}
    for _ in range(runs):
        for name, run in setups.items():
            times[name].append(seconds(run))
    return times


def inference_setups(
    configs: Sequence[Path], train_texts: Sequence[str], texts: Sequence[str], steps: int, batch_size: int
) -> Dict[str, Callable[[], Any]]:
    """What the docs/s comparison times: the tokenizer, each config, and the
    listener pipeline with and without textvae."""
    import spacy

    def pipe(nlp: Any, disable: Sequence[str] = ()) -> Callable[[], Any]:
        def run() -> None:
            with nlp.select_pipes(disable=list(disable)):
                for _ in nlp.pipe(texts, batch_size=batch_size):
                    pass

        return run

    tokenizer = spacy.blank("en").tokenizer
    setups: Dict[str, Callable[[], Any]] = {"tokenizer": lambda: list(tokenizer.pipe(texts, batch_size=batch_size))}
    for path in configs:
        setups[path.name] = pipe(config_pipeline(path, train_texts, steps))
    shared = listener_pipeline(train_texts, steps)
    setups["upstream tok2vec"] = pipe(shared, disable=["textvae"])
    setups["upstream tok2vec + textvae (listener)"] = pipe(shared)
    for run in setups.values():  # warm-up
        run()
    return setups


def thread_runs(demo: Path, updates: int, runs: int) -> Dict[str, Dict[str, List[float]]]:
    """Training and inference seconds per thread setting, one fresh process per
    run, the settings alternating."""
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    variants = {
        "OMP_NUM_THREADS=1": ({**base, "OMP_NUM_THREADS": "1"}, None),
        "unset, torch_threads = null (automatic)": (base, None),
        "unset, torch_threads = 0 (torch's default)": (base, 0),
    }
    keys = ("train", "infer", "train_cpu", "infer_cpu", "threads")
    results: Dict[str, Dict[str, List[float]]] = {name: {key: [] for key in keys} for name in variants}
    for _ in range(runs):
        for name, (env, setting) in variants.items():
            out = subprocess.run(
                [sys.executable, "-c", THREAD_RUN, json.dumps(setting), str(demo), str(updates)],
                env=env, capture_output=True, text=True, check=True, cwd=ROOT,
            )
            record = json.loads(out.stdout.strip().splitlines()[-1])
            for key in keys:
                results[name][key].append(record[key])
    return results


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def report(
    args: argparse.Namespace,
    inference: Dict[str, List[float]],
    threads: Optional[Dict[str, Dict[str, List[float]]]],
    memory: Optional[Dict[int, Dict[str, Dict[str, float]]]],
) -> str:
    n = args.n_docs
    lines = [
        f"`python -m benchmarks.speed` on {os.cpu_count()} CPUs; {args.runs} alternating runs, medians.",
        "",
        f"Inference: {n} raw 20 Newsgroups test posts through `nlp.pipe` (batch {args.batch_size}), one process, "
        "torch threads as the component chose them.",
        "",
        "| setup | docs/s (median) | × tokenizer | runs (docs/s) |",
        "|---|---:|---:|---|",
    ]
    tok = median(inference["tokenizer"])
    for name, times in inference.items():
        rate = n / median(times)
        runs = ", ".join(f"{n / t:.0f}" for t in times)
        lines.append(f"| {name} | {rate:.0f} | {tok / median(times):.2f} | {runs} |")
    upstream = median(inference["upstream tok2vec"])
    with_vae = median(inference["upstream tok2vec + textvae (listener)"])
    lines += ["", f"textvae on a shared upstream tok2vec: time ×{with_vae / upstream:.3f} of the upstream pipeline's."]
    if threads is not None:
        lines += [
            "",
            f"Threads: the factory-default pipeline on the demo corpus, {args.thread_updates} updates of 64 docs, "
            "then inference on its 800 docs; one fresh process per run.",
            "",
            "| run | torch threads | train s | infer s | train × | infer × | train CPU s | infer CPU s "
            "| train runs (s) | infer runs (s) |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---|---|",
        ]
        ref = threads["OMP_NUM_THREADS=1"]
        for name, rec in threads.items():
            train, infer = median(rec["train"]), median(rec["infer"])
            lines.append(
                f"| {name} | {int(median(rec['threads']))} | {train:.1f} | {infer:.2f} | "
                f"{train / median(ref['train']):.2f} | {infer / median(ref['infer']):.2f} | "
                f"{median(rec['train_cpu']):.1f} | {median(rec['infer_cpu']):.2f} | "
                f"{', '.join(f'{x:.1f}' for x in rec['train'])} | {', '.join(f'{x:.2f}' for x in rec['infer'])} |"
            )
        lines += ["", "(CPU s: the process's user + system time; with more threads than free cores it grows by "
                  "the threads' waiting.)"]
    if memory is not None:
        lines += [
            "",
            "Peak resident memory of one `pipe.predict` batch (fresh process per batch size; "
            "`benchmarks.inference_memory`):",
            "",
            "| batch | peak MiB | one dense batch × vocabulary, MiB |",
            "|---:|---:|---:|",
        ]
        for size, rec in memory.items():
            lines.append(f"| {size} | {rec['peak_mib']:.1f} | {rec['dense_mib']:.1f} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ng20-dir", type=Path, required=True, help="folder with train.jsonl.gz and test.jsonl.gz")
    parser.add_argument("--configs", type=Path, nargs="+", default=DEFAULT_CONFIGS)
    parser.add_argument("--n-docs", type=int, default=2000)
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--train-steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--demo", type=Path, default=ROOT / "assets" / "demo.jsonl")
    parser.add_argument("--thread-updates", type=int, default=20)
    parser.add_argument("--skip-threads", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "speed.md")
    args = parser.parse_args()
    if os.environ.get("OMP_NUM_THREADS"):
        print("note: OMP_NUM_THREADS is set here; the in-process timings run with it", file=sys.stderr)
    texts = read_texts(args.ng20_dir / "test.jsonl.gz", args.n_docs)
    train_texts = read_texts(args.ng20_dir / "train.jsonl.gz", args.n_train)
    setups = inference_setups(args.configs, train_texts, texts, args.train_steps, args.batch_size)
    inference = alternate(setups, args.runs)
    threads = None if args.skip_threads else thread_runs(args.demo, args.thread_updates, args.runs)
    memory = None
    if not args.skip_memory:
        from .inference_memory import measure_peaks

        memory = measure_peaks(args.ng20_dir / "train.jsonl.gz", [256, 50_000])
    text = report(args, inference, threads, memory)
    print(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text, encoding="utf8")
    raw = {"inference_seconds": inference, "threads": threads, "memory": memory, "n_docs": args.n_docs}
    args.out.with_suffix(".json").write_text(json.dumps(raw, indent=1), encoding="utf8")


if __name__ == "__main__":
    main()
