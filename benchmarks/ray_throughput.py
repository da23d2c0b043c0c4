"""Throughput of `spacy_textvae.ray.annotate` with 1 and 2 actors against
`nlp.pipe` in one process, on this machine; each actor's own throughput and
the overheads around it (actor start-up, moving rows through Ray), and a
projection to a cluster from those per-actor figures.

Runs alternate the setups (pipe, 1 actor, 2 actors) so that drift in machine
load hits all alike; figures are medians over --repeats runs.

    OMP_NUM_THREADS=1 python -m benchmarks.ray_throughput --texts assets/demo.jsonl --n-docs 4000 --repeats 3
"""
import argparse
import gzip
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import spacy
import torch
from spacy.training import Example


def read_texts(path: Path, n: int, seed: int = 0) -> List[str]:
    """n texts from a JSONL file, cycled (with a shuffle per pass) when it has fewer."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf8") as f:
        pool = [json.loads(line)["text"] for line in f if line.strip()]
    rng = random.Random(seed)
    texts: List[str] = []
    while len(texts) < n:
        rng.shuffle(pool)
        texts.extend(pool[: n - len(texts)])
    return texts


def train_small_model(texts: List[str], path: Path, steps: int) -> Path:
    """A textvae pipeline with its own tok2vec, trained for a few steps (the
    throughput does not depend on how well it is trained)."""
    spacy.util.fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("textvae", config={"n_topics": 8, "n_clusters": 8})
    examples = [Example(nlp.make_doc(t), nlp.make_doc(t)) for t in texts[:800]]
    optimizer = nlp.initialize(lambda: examples)
    for i in range(steps):
        nlp.update(examples[(i * 64) % len(examples):][:64], sgd=optimizer)
    nlp.to_disk(path)
    return path


def pipe_docs_per_second(nlp: Any, texts: List[str], batch_size: int) -> float:
    start = time.perf_counter()
    for _ in nlp.pipe(texts, batch_size=batch_size):
        pass
    return len(texts) / (time.perf_counter() - start)


class TimedAnnotator:
    """`TextVAEAnnotator` that also returns, per row, its share of the seconds
    the batch spent in the pipeline, the actor's process id, and when (wall
    clock) the actor began loading, finished loading and finished the batch."""

    def __init__(self, **kwargs: Any) -> None:
        from spacy_textvae.ray.annotate import TextVAEAnnotator

        self.began = time.time()
        self.inner = TextVAEAnnotator(**kwargs)
        # A first small batch, so that one-off costs count as start-up and
        # the busy time is the steady state.
        list(self.inner.nlp.pipe(["A first document to warm up the pipeline."] * 8))
        self.ready = time.time()

    def __call__(self, batch: Any) -> Any:
        import pyarrow as pa

        start = time.perf_counter()
        table = self.inner(batch)
        n = table.num_rows
        seconds = time.perf_counter() - start
        extra = {
            "pipe_seconds": [seconds / max(n, 1)] * n,
            "pid": [os.getpid()] * n,
            "began": [self.began] * n,
            "ready": [self.ready] * n,
            "done": [time.time()] * n,
        }
        for name, values in extra.items():
            table = table.append_column(name, pa.array(values))
        return table


def ray_run(ray: Any, dataset: Any, model: Path, actors: int, batch_size: int) -> Dict[str, float]:
    """One annotation of `dataset` with a fresh pool of `actors` actors.
    RETURNS (Dict[str, float]): wall seconds; start-up (until the first actor
    had loaded the pipeline) and load seconds (inside the actor); the actors'
    busy seconds (summed, and the busiest's); rows."""
    start = time.time()
    out = dataset.map_batches(
        TimedAnnotator,
        fn_constructor_kwargs={"model": str(model), "text_column": "text", "pipe_batch_size": batch_size, "keep_columns": False, "n_threads": 1},
        batch_size=batch_size,
        batch_format="pyarrow",
        compute=ray.data.ActorPoolStrategy(size=actors),
        num_cpus=1,
    ).select_columns(["latent", "pipe_seconds", "pid", "began", "ready", "done"]).to_pandas()
    wall = time.time() - start
    by_actor = out.groupby("pid")
    first_ready = float(out["ready"].min())
    return {
        "wall": wall,
        "startup": first_ready - start,
        "load": float((by_actor["ready"].first() - by_actor["began"].first()).mean()),
        "after_startup": float(out["done"].max()) - first_ready,
        "busy": float(out["pipe_seconds"].sum()),
        "busiest": float(by_actor["pipe_seconds"].sum().max()),
        "actors_used": float(len(by_actor)),
        "rows": float(len(out)),
    }


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=Path, required=True, help="JSONL file with a 'text' field")
    parser.add_argument("--model", type=Path, default=None, help="Trained pipeline (default: a small one trained here)")
    parser.add_argument("--n-docs", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--train-steps", type=int, default=30)
    parser.add_argument("--num-cpus", type=int, default=2, help="CPUs of the local Ray instance")
    parser.add_argument("--out", type=Path, default=None, help="JSON file for the figures")
    args = parser.parse_args(argv)

    import ray

    torch.set_num_threads(1)
    texts = read_texts(args.texts, args.n_docs)
    tmp = Path(tempfile.mkdtemp(prefix="ray-throughput-"))
    model = args.model or train_small_model(texts, tmp / "model", args.train_steps)
    nlp = spacy.load(model)
    pipe_docs_per_second(nlp, texts[:256], args.batch_size)  # warm-up

    ray.init(num_cpus=args.num_cpus, include_dashboard=False, log_to_driver=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    dataset = ray.data.from_items([{"text": t} for t in texts]).materialize()

    runs: Dict[str, List[Any]] = {"pipe": [], "1": [], "2": []}
    for _ in range(args.repeats):
        runs["pipe"].append(pipe_docs_per_second(nlp, texts, args.batch_size))
        for actors in ("1", "2"):
            runs[actors].append(ray_run(ray, dataset, model, int(actors), args.batch_size))
    ray.shutdown()

    n = len(texts)
    med = statistics.median
    figures: Dict[str, Any] = {"n_docs": n, "cpus": args.num_cpus, "pipe_docs_per_s": med(runs["pipe"])}
    for actors in ("1", "2"):
        rs = runs[actors]
        figures[f"actors_{actors}"] = {
            "end_to_end_docs_per_s": med(n / r["wall"] for r in rs),
            "after_startup_docs_per_s": med(n / r["after_startup"] for r in rs),
            "per_actor_docs_per_s": med(n / r["busy"] for r in rs),
            "actors_used": med(r["actors_used"] for r in rs),
            "startup_s": med(r["startup"] for r in rs),
            "model_load_s": med(r["load"] for r in rs),
            # Wall time after start-up outside the busiest actor's pipeline:
            # moving rows into and out of the actors, Arrow conversion, scheduling.
            "transfer_ms_per_doc": med(max(r["after_startup"] - r["busiest"], 0.0) / n * 1000 for r in rs),
        }
    one = figures["actors_1"]
    per_actor = one["per_actor_docs_per_s"]
    # The share of an actor's time that goes to the pipeline once it runs.
    efficiency = min(1.0, one["after_startup_docs_per_s"] / per_actor)
    figures["projection"] = {
        "per_actor_docs_per_s": per_actor,
        "efficiency": efficiency,
        "node_16_cpus_15_actors_docs_per_s": 15 * per_actor * efficiency,
        "cluster_10_nodes_docs_per_s": 10 * 15 * per_actor * efficiency,
    }
    print(json.dumps(figures, indent=2))
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf8")


if __name__ == "__main__":
    main()
