"""Quality on the product path: `spacy train` with a shipped config, setting
only n_topics and n_clusters (and the seed), then the public API on the test
docs; the peers (scikit-learn NMF and LDA, argmax topic as the cluster) on
the same documents.

    # the corpora: raw 20NG, its subject lines, its first sentences, a 4-class subset
    python -m benchmarks.product_path corpora --work /tmp/textvae_bench
    # one run: train, score on test, append a JSON line to the results file
    # (`rescore` with the same arguments scores a trained run again)
    OMP_NUM_THREADS=1 python -m benchmarks.product_path run ng20 --k 20 --clusters 20 --seed 0 \\
        --work /tmp/textvae_bench --out benchmarks/results/product_path.jsonl
    # topics on the OCTIS corpus (NPMI over the corpus itself, TD)
    OMP_NUM_THREADS=1 python -m benchmarks.product_path run octis --k 20 --clusters 20 --seed 0 ...
    # the peers on the same docs
    python -m benchmarks.product_path peers ng20 --k 20 --seed 0 --work ... --out ...
    python -m benchmarks.product_path table benchmarks/results/product_path.jsonl

Dev docs for spaCy's model selection are a seeded tenth of the training docs;
the test split is used only for the reported scores.
"""
import argparse
import gzip
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
NG4 = ("comp.graphics", "rec.sport.hockey", "sci.space", "talk.religion.misc")


def _read_20ng(split: str) -> List[Dict[str, Any]]:
    with gzip.open(DATA / "20newsgroups" / f"{split}.jsonl.gz", "rt", encoding="utf8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _subject(raw: str) -> str:
    for line in raw.split("\n\n", 1)[0].splitlines():
        if line.lower().startswith("subject:"):
            text = line.split(":", 1)[1].strip()
            return re.sub(r"^(\s*(re|fwd?)\s*:\s*)+", "", text, flags=re.I).strip()
    return ""


def _first_sentence(text: str) -> str:
    text = " ".join(text.split())
    match = re.search(r"^(.{20,}?[.!?])(\s|$)", text)
    return (match.group(1) if match else text[:200]).strip()


def write_corpora(work: Path) -> None:
    """JSONL train/test files of each corpus under work/<name>/."""
    splits = {split: _read_20ng(split) for split in ("train", "test")}
    views = {
        "ng20": lambda r: r["text"],
        "ng20_subjects": lambda r: _subject(r["raw"]),
        "ng20_first": lambda r: _first_sentence(r["text"]),
        "ng4_subjects": lambda r: _subject(r["raw"]) if r["label"] in NG4 else "",
    }
    for name, view in views.items():
        (work / name).mkdir(parents=True, exist_ok=True)
        for split, rows in splits.items():
            out = [{"text": view(r), "label": r["label"]} for r in rows]
            out = [r for r in out if len(r["text"].split()) >= 2]
            with open(work / name / f"{split}.jsonl", "w", encoding="utf8") as f:
                for r in out:
                    f.write(json.dumps(r) + "\n")
            print(name, split, len(out))
    octis = work / "octis"
    octis.mkdir(parents=True, exist_ok=True)
    with open(DATA / "octis_20ng" / "corpus.tsv", encoding="utf8") as f, open(octis / "train.jsonl", "w") as out:
        for line in f:
            cols = line.rstrip("\n").split("\t")
            if cols[0]:
                out.write(json.dumps({"text": cols[0], "label": cols[2] if len(cols) > 2 else ""}) + "\n")


def _children_cpu_s() -> float:
    """CPU seconds (user + system) used so far by this process's finished children."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _sh(cmd: List[str]) -> Tuple[float, float]:
    """Run cmd; RETURNS its wall seconds and its CPU seconds (user + system:
    on a shared machine, with one thread, the better guide to its own cost)."""
    cpu_before = _children_cpu_s()
    start = time.perf_counter()
    subprocess.run(cmd, check=True, cwd=ROOT)
    return time.perf_counter() - start, _children_cpu_s() - cpu_before


def _train(cmd: List[str]) -> Tuple[float, float, Optional[float]]:
    """Run `spacy train`, echoing its output; RETURNS its wall and CPU seconds (as
    `_sh`) and the wall seconds until the training loop began: initialisation,
    which with a frozen encoder and neighbours by its vectors holds the encoder's
    pass over the training docs."""
    cpu_before = _children_cpu_s()
    start = time.perf_counter()
    init_s: Optional[float] = None
    with subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, text=True, bufsize=1) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            if init_s is None and "Training pipeline" in line:
                init_s = time.perf_counter() - start
            sys.stdout.write(line)
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, cmd)
    return time.perf_counter() - start, _children_cpu_s() - cpu_before, init_s


def _prepare(work: Path, corpus: str) -> Path:
    """Preprocess once: train/dev (a seeded tenth of train) and test .spacy files."""
    d = work / corpus
    if not (d / "train.spacy").exists():
        _sh([sys.executable, "-m", "spacy", "textvae", "preprocess", str(d / "train.jsonl"),
             str(d / "train.spacy"), str(d / "dev.spacy"), "--dev-share", "0.1", "--seed", "0"])
    if corpus != "octis" and not (d / "test.spacy").exists():
        _sh([sys.executable, "-m", "spacy", "textvae", "preprocess", str(d / "test.jsonl"),
             str(d / "test.spacy"), str(d / "test_unused.spacy"), "--dev-input", str(d / "test.jsonl")])
    return d


def _usage(assigned: numpy.ndarray, n: int) -> Dict[str, float]:
    sizes = numpy.bincount(assigned, minlength=n)
    return {"used": int((sizes > 0).sum()), "of": n,
            "largest_vs_even": float(sizes.max() / (sizes.sum() / n))}


def run(args) -> Dict[str, Any]:
    import spacy
    from sklearn.cluster import KMeans

    from spacy_textvae.metrics import cluster_scores, npmi_coherence, topic_diversity

    work = Path(args.work)
    d = _prepare(work, args.corpus)
    tag = f"_{args.tag}" if args.tag else ""
    out_dir = work / "runs" / f"{args.corpus}_{Path(args.config).stem}_k{args.k}_c{args.clusters}_s{args.seed}{tag}"
    cmd = [sys.executable, "-m", "spacy", "train", args.config, "--output", str(out_dir),
           "--paths.train", str(d / "train.spacy"), "--paths.dev", str(d / "dev.spacy"),
           "--components.textvae.n_topics", str(args.k), "--components.textvae.n_clusters", str(args.clusters),
           "--system.seed", str(args.seed)]
    for setting in args.set:
        key, value = setting.split("=", 1)
        cmd += [f"--{key}", value]
    train_s, train_cpu_s, init_s = (None, None, None) if args.cmd == "rescore" else _train(cmd)
    nlp = spacy.load(out_dir / "model-best")
    pipe = nlp.get_pipe("textvae")
    record: Dict[str, Any] = {
        "corpus": args.corpus, "config": args.config, "settings": args.set, "tag": args.tag, "k": args.k, "clusters": args.clusters, "seed": args.seed,
        "train_s": train_s and round(train_s, 1), "train_cpu_s": train_cpu_s and round(train_cpu_s, 1),
        "init_s": init_s and round(init_s, 1), "best_step": pipe.cfg["step"], "best_epochs": round(pipe.epochs_seen, 2),
        "prior_fitted": pipe.cfg["prior_fitted"],
        "last_step": spacy.load(out_dir / "model-last").get_pipe("textvae").cfg["step"],
    }
    top10, top25 = pipe.topic_words(10), pipe.topic_words(25)
    record["topics"] = [" ".join(t) for t in top10]
    if args.corpus == "octis":
        texts = [json.loads(line)["text"].split() for line in open(d / "train.jsonl", encoding="utf8")]
        record["npmi"] = float(npmi_coherence(top10, texts, window_size=10))
        record["td"] = float(topic_diversity(top25, 25))
        docs = list(nlp.pipe((" ".join(t) for t in texts), batch_size=256))
        record["topics_usage"] = _usage(numpy.asarray([doc._.topics.argmax() for doc in docs]), args.k)
        return record
    # Every test doc, as the peers see them (test.spacy is for spaCy's tooling).
    rows = [json.loads(line) for line in open(d / "test.jsonl", encoding="utf8")]
    gold = [r["label"] for r in rows]
    start = time.perf_counter()
    docs = list(nlp.pipe((r["text"] for r in rows), batch_size=256))
    record["pipe_docs_per_s"] = round(len(docs) / (time.perf_counter() - start), 1)
    pred = numpy.asarray([doc._.cluster for doc in docs])
    latents = numpy.stack([doc._.latent for doc in docs])
    topics = numpy.stack([doc._.topics for doc in docs])
    record["n_test"] = len(docs)
    record["clusters_one_step"] = cluster_scores(pred, gold)
    record["argmax_topic"] = cluster_scores(topics.argmax(1), gold)
    km = KMeans(args.clusters, n_init=10, random_state=args.seed).fit(latents)
    record["kmeans_latent"] = cluster_scores(km.labels_, gold)
    record["cluster_usage"] = _usage(pred, args.clusters)
    record["topics_usage"] = _usage(topics.argmax(1), args.k)
    labels, counts = numpy.unique(gold, return_counts=True)
    record["labels_largest_vs_even"] = float(counts.max() / (counts.sum() / len(labels)))
    record["test_npmi"] = float(npmi_coherence(top10, [pipe.topic_vocab.tokens_of(doc) for doc in docs]))
    record["td"] = float(topic_diversity(top25, 25))
    if args.encoder_peer:
        record.update(_encoder_peer(nlp, pipe, [r["text"] for r in rows], gold, args.clusters, args.seed))
    return record


def _encoder_peer(nlp, pipe, texts: List[str], gold: List[str], n_clusters: int, seed: int) -> Dict[str, Any]:
    """k-means (10 restarts) on the L2-normalised pooled vectors of the
    pipeline's own encoder (for a transformer: its mean-pooled sentence
    embedding), fitted on the test docs themselves; and the encoder's own rate
    in docs/s, which with a frozen encoder is the one pass training pays."""
    from sklearn.cluster import KMeans

    from spacy_textvae.metrics import cluster_scores

    tok2vec, pooling = pipe.model.get_ref("tok2vec"), pipe.model.get_ref("pooling")
    start = time.perf_counter()
    pooled = []
    for i in range(0, len(texts), 64):
        docs = [nlp.make_doc(t) for t in texts[i : i + 64]]
        pooled.append(numpy.asarray(pooling.predict(tok2vec.predict(docs))))
    rate = len(texts) / (time.perf_counter() - start)
    X = numpy.concatenate(pooled)
    X = X / numpy.maximum(numpy.linalg.norm(X, axis=1, keepdims=True), 1e-12)
    km = KMeans(n_clusters, n_init=10, random_state=seed).fit(X)
    return {"kmeans_encoder": cluster_scores(km.labels_, gold), "encoder_docs_per_s": round(rate, 2)}


def peers(args) -> List[Dict[str, Any]]:
    from benchmarks.baselines import fit_sklearn_lda, fit_sklearn_nmf
    from spacy_textvae.metrics import cluster_scores

    d = Path(args.work) / args.corpus
    train = [json.loads(line) for line in open(d / "train.jsonl", encoding="utf8")]
    test = [json.loads(line) for line in open(d / "test.jsonl", encoding="utf8")]
    gold = [r["label"] for r in test]
    rows = []
    for fit in (fit_sklearn_nmf, fit_sklearn_lda):
        res = fit([r["text"] for r in train], args.k, args.seed, test_docs=[r["text"] for r in test])
        rows.append({"corpus": args.corpus, "peer": res.system, "k": args.k, "seed": args.seed,
                     "argmax_topic": cluster_scores(res.predictions, gold), "fit_s": round(res.fit_seconds, 1)})
    return rows


def table(path: str) -> str:
    rows = [json.loads(line) for line in open(path, encoding="utf8")]
    groups: Dict[Tuple, List[Dict[str, Any]]] = {}
    for r in rows:
        key = (r["corpus"], r.get("peer") or Path(r.get("config", "")).stem, r["k"], r.get("clusters"))
        groups.setdefault(key, []).append(r)
    lines = ["| corpus | model | K | C | seeds | one-step NMI | argmax-topic NMI | k-means(latent) NMI | NPMI | TD | clusters used | largest/even (labels) | train s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]

    def med(rs, f):
        vals = [f(r) for r in rs if f(r) is not None]
        return f"{numpy.median(vals):.3f}" if vals else "-"

    for key, rs in sorted(groups.items()):
        g = lambda *path: (lambda r: _get(r, path))  # noqa: E731
        lines.append(
            f"| {key[0]} | {key[1]} | {key[2]} | {key[3] or '-'} | {len(rs)} | {med(rs, g('clusters_one_step', 'nmi'))} | "
            f"{med(rs, g('argmax_topic', 'nmi'))} | {med(rs, g('kmeans_latent', 'nmi'))} | "
            f"{med(rs, lambda r: r.get('npmi', r.get('test_npmi')))} | {med(rs, g('td'))} | "
            f"{med(rs, g('cluster_usage', 'used'))} | {med(rs, g('cluster_usage', 'largest_vs_even'))} "
            f"({med(rs, g('labels_largest_vs_even'))}) | {med(rs, lambda r: r.get('train_s', r.get('fit_s')))} |"
        )
    return "\n".join(lines)


def _get(record: Dict[str, Any], path: Tuple[str, ...]) -> Any:
    value: Any = record
    for key in path:
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("corpora")
    c.add_argument("--work", required=True)
    for name in ("run", "rescore", "peers"):
        r = sub.add_parser(name)
        r.add_argument("corpus")
        r.add_argument("--k", type=int, default=20)
        r.add_argument("--clusters", type=int, default=None)
        r.add_argument("--seed", type=int, default=0)
        r.add_argument("--config", default="configs/cpu.cfg")
        r.add_argument("--work", required=True)
        r.add_argument("--out", required=True)
        r.add_argument("--set", action="append", default=[],
                       help="research only: a config override, e.g. components.textvae.model.dropout=0")
        r.add_argument("--tag", default="", help="suffix of the run's output directory")
        r.add_argument("--encoder-peer", action="store_true",
                       help="also k-means on the pipeline encoder's own pooled vectors (e.g. a transformer's)")
    t = sub.add_parser("table")
    t.add_argument("path")
    args = p.parse_args()
    if args.cmd == "corpora":
        write_corpora(Path(args.work))
        return
    if args.cmd == "table":
        print(table(args.path))
        return
    args.clusters = args.clusters or args.k
    records = peers(args) if args.cmd == "peers" else [run(args)]
    with open(args.out, "a", encoding="utf8") as f:
        for record in records:
            print(json.dumps(record))
            f.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    main()
