"""Run the classical baselines (NMF, k-means on TF-IDF, sklearn LDA, gensim LDA) and print
a markdown table of medians over seeds:

* topic quality at each K on the OCTIS-format 20NG corpus: NPMI (gensim ``c_npmi``, top 10
  words, window 10, reference texts = the whole tokenised corpus) and topic diversity
  (unique share of the top-25 words of all topics);
* clustering at K=20: fit on the raw 20NG train ``text``, assign the test split, score NMI,
  ARI and purity against the 20 newsgroup labels.

Example (from the repository root)::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \\
        python -m benchmarks.run_baselines --seeds 0 1 2 --k 20 50 \\
        --out benchmarks/results/baselines.json > benchmarks/results/baselines.log 2>&1
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy as np  # noqa: E402

if __package__ in (None, ""):  # allow ``python benchmarks/run_baselines.py``
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from benchmarks import baselines as B  # noqa: E402
    from benchmarks.data import NG20_DIR, OCTIS_TSV, load_20ng, load_octis_tsv  # noqa: E402
else:
    from . import baselines as B  # noqa: E402
    from .data import NG20_DIR, OCTIS_TSV, load_20ng, load_octis_tsv  # noqa: E402

log = logging.getLogger("run_baselines")


# --------------------------------------------------------------------------- metrics
class GensimNpmi:
    """gensim ``CoherenceModel(coherence="c_npmi", topn=10, window_size=10)`` over fixed
    reference texts, with dictionary = ``gensim.corpora.Dictionary(texts)``.

    The sliding-window co-occurrence counts do not depend on which words are "relevant"
    (gensim keeps every position and only counts relevant ids), so the accumulator is
    built once with the whole vocabulary relevant and reused for every topic set: the
    scores are identical to a fresh ``CoherenceModel`` per topic set (checked in
    :meth:`check_fresh`), only ~100x faster per call.
    """

    def __init__(self, texts: Sequence[Sequence[str]], top_n: int = 10, window_size: int = 10):
        from gensim.corpora import Dictionary
        from gensim.models.coherencemodel import CoherenceModel

        self.texts = [list(t) for t in texts]
        self.top_n = top_n
        self.window_size = window_size
        self.dictionary = Dictionary(self.texts)
        vocab = [self.dictionary[i] for i in range(len(self.dictionary))]
        chunks = [vocab[i:i + top_n] for i in range(0, len(vocab), top_n)]
        chunks = [c for c in chunks if len(c) == top_n] + [vocab[-top_n:]]
        t0 = time.perf_counter()
        self.cm = CoherenceModel(topics=chunks, texts=self.texts, dictionary=self.dictionary,
                                 coherence="c_npmi", topn=top_n, window_size=window_size,
                                 processes=1)
        self.cm.estimate_probabilities()
        log.info("gensim NPMI accumulator over %d docs / %d words: %.1fs",
                 len(self.texts), len(vocab), time.perf_counter() - t0)

    def _known(self, topics):
        out = []
        for t in topics:
            t = [w for w in t if w in self.dictionary.token2id][: self.top_n]
            if len(t) < len(topics[0][: self.top_n]):
                log.warning("topic has words missing from the reference texts: %s", t)
            out.append(t)
        return out

    def per_topic(self, topics: Sequence[Sequence[str]]) -> List[float]:
        self.cm.topics = self._known(topics)
        assert self.cm._accumulator is not None  # reused, not recomputed
        return [float(x) for x in self.cm.get_coherence_per_topic()]

    def __call__(self, topics: Sequence[Sequence[str]]) -> float:
        return float(np.mean(self.per_topic(topics)))

    def check_fresh(self, topics) -> float:
        """Score with a brand-new CoherenceModel (slow); for verification."""
        from gensim.models.coherencemodel import CoherenceModel

        cm = CoherenceModel(topics=self._known(topics), texts=self.texts,
                            dictionary=self.dictionary, coherence="c_npmi", topn=self.top_n,
                            window_size=self.window_size, processes=1)
        return float(cm.get_coherence())


def topic_diversity(topics: Sequence[Sequence[str]], top_n: int = 25) -> float:
    words = [w for t in topics for w in t[:top_n]]
    return len(set(words)) / (top_n * len(topics))


def purity(labels_true, labels_pred) -> float:
    from sklearn.metrics.cluster import contingency_matrix

    c = contingency_matrix(labels_true, labels_pred)
    return float(c.max(axis=0).sum() / c.sum())


def cluster_scores(labels_true, labels_pred) -> Dict[str, float]:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    return dict(nmi=float(normalized_mutual_info_score(labels_true, labels_pred)),
                ari=float(adjusted_rand_score(labels_true, labels_pred)),
                purity=purity(labels_true, labels_pred))


# --------------------------------------------------------------------------- reference
REFERENCE = {  # CEO's figures on this machine: K=20 (npmi, td), K=50 (npmi, td), (nmi, ari, purity)
    "sklearn_nmf": ((.143, .692), (.122, .517), (.307, .175, .353)),
    "kmeans_tfidf": ((.131, .586), (.128, .399), (.309, .062, .290)),
    "sklearn_lda": ((.112, .726), (.114, .622), (.322, .153, .332)),
    "gensim_lda": ((.086, .702), (.098, .616), (.314, .152, .296)),
}


def _med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def _f(x, nd=3):
    if x is None:
        return "–"
    s = f"{x:.{nd}f}"
    return s[1:] if s.startswith("0.") else s.replace("-0.", "-.")


def markdown_table(records: List[dict], ks: Sequence[int], systems: Sequence[str],
                   with_reference: bool = True) -> str:
    head = ["system"] + [f"K={k} NPMI / TD" for k in ks] + \
        ["clusters on 20NG test: NMI / ARI / purity", "fit s (topics K=%s)" % "/".join(map(str, ks)),
         "fit s (clusters)", "infer docs/s (clusters)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for s in systems:
        row = [B.SYSTEM_TITLES.get(s, s)]
        fits = []
        for k in ks:
            rs = [r for r in records if r["system"] == s and r["task"] == "topics" and r["k"] == k]
            n, t = _med([r["npmi"] for r in rs]), _med([r["td"] for r in rs])
            fits.append(_med([r["fit_seconds"] for r in rs]))
            row.append(f"{_f(n)} / {_f(t)}" if rs else "–")
        rs = [r for r in records if r["system"] == s and r["task"] == "clusters"]
        row.append(" / ".join(_f(_med([r[m] for r in rs])) for m in ("nmi", "ari", "purity"))
                   if rs else "–")
        row.append(" / ".join("–" if f is None else f"{f:.1f}" for f in fits))
        row.append(f"{_med([r['fit_seconds'] for r in rs]):.1f}" if rs else "–")
        row.append(f"{_med([r['infer_docs_per_s'] for r in rs]):,.0f}" if rs else "–")
        lines.append("| " + " | ".join(row) + " |")
        if with_reference and s in REFERENCE:
            ref = REFERENCE[s]
            rrow = ["  reference"]
            for k in ks:
                i = {20: 0, 50: 1}.get(k)
                rrow.append("–" if i is None else f"{_f(ref[i][0])} / {_f(ref[i][1])}")
            rrow.append(" / ".join(_f(x) for x in ref[2]))
            rrow += ["", "", ""]
            lines.append("| " + " | ".join(rrow) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--octis-tsv", type=Path, default=OCTIS_TSV)
    p.add_argument("--ng20-dir", type=Path, default=NG20_DIR,
                   help="folder with train.jsonl.gz / test.jsonl.gz")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--k", type=int, nargs="+", default=[20, 50])
    p.add_argument("--cluster-k", type=int, default=20)
    p.add_argument("--systems", nargs="+", default=list(B.SYSTEMS), choices=list(B.SYSTEMS))
    p.add_argument("--fit-partitions", nargs="+", default=None,
                   help="OCTIS partitions the topic models are fit on (default: all docs)")
    p.add_argument("--topic-input", choices=["auto", "joined", "tokens"], default="auto",
                   help="how OCTIS docs reach the vectoriser: 'joined' = space-joined strings "
                        "through the raw-text vectoriser (baselines.RAW_VECTORIZER: English stop "
                        "words, min_df=5, max_df=0.5); 'tokens' = token lists as is; 'auto' = "
                        "the protocol that reproduces the reference (baselines.TOPIC_INPUT)")
    p.add_argument("--no-topics", action="store_true", help="skip the topic-quality runs")
    p.add_argument("--no-clusters", action="store_true", help="skip the clustering runs")
    p.add_argument("--check-fresh", action="store_true",
                   help="re-score the first topic result with a fresh gensim CoherenceModel "
                        "and, if importable, spacy_textvae.metrics.npmi_coherence")
    p.add_argument("--out", type=Path, default=Path("benchmarks/results/baselines.json"))
    p.add_argument("--from-json", type=Path, nargs="+", default=None,
                   help="no fitting: merge existing result files (e.g. the per-system runs), "
                        "print their table and write the merged records to --out; "
                        "--systems/--k select rows/columns")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    logging.getLogger("gensim").setLevel(logging.WARNING)
    t_start = time.perf_counter()
    if args.from_json:
        records = []
        metas = []
        for fn in args.from_json:
            d = json.loads(Path(fn).read_text())
            records += d["records"]
            metas.append(d["meta"])
        seeds = sorted({r["seed"] for r in records})
        parts = sorted({str(m.get("fit_partitions") or "all") for m in metas})
        print(f"\nBaselines, medians over seeds {seeds} (topic models fit on {parts} OCTIS docs; "
              f"from {len(args.from_json)} result files, summed wall "
              f"{sum(m['wall_seconds'] for m in metas):.0f}s)\n")
        systems = [s for s in args.systems if any(r["system"] == s for r in records)]
        table = markdown_table(records, args.k, systems)
        print(table)
        if args.out.resolve() not in {Path(f).resolve() for f in args.from_json}:
            topics = {}
            for fn in args.from_json:
                topics.update(json.loads(Path(fn).read_text()).get("topics", {}))
            args.out.parent.mkdir(parents=True, exist_ok=True)
            with open(args.out, "w") as f:
                json.dump(dict(meta=dict(merged_from=[str(x) for x in args.from_json],
                                         runs=metas, table=table),
                               records=records, topics=topics), f, indent=1)
            print(f"\nwrote merged {args.out}")
        return
    records: List[dict] = []
    topics_store: Dict[str, List[List[str]]] = {}

    def dump():
        args.out.parent.mkdir(parents=True, exist_ok=True)
        meta = dict(argv=sys.argv, seeds=args.seeds, k=args.k, cluster_k=args.cluster_k,
                    fit_partitions=args.fit_partitions, topic_input=args.topic_input,
                    octis_tsv=str(args.octis_tsv),
                    ng20_dir=str(args.ng20_dir), raw_vectorizer=B.RAW_VECTORIZER,
                    python=platform.python_version(),
                    wall_seconds=time.perf_counter() - t_start, versions=_versions())
        with open(args.out, "w") as f:
            json.dump(dict(meta=meta, records=records, topics=topics_store), f, indent=1)

    if not args.no_topics:
        corpus = load_octis_tsv(args.octis_tsv)
        fit = corpus.subset(args.fit_partitions)
        log.info("OCTIS corpus: %d docs, fitting topic models on %d (%s)", len(corpus),
                 len(fit), args.fit_partitions or "all")
        fit_joined = [" ".join(t) for t in fit.tokens]
        npmi = GensimNpmi(corpus.tokens)
        checked = False
        for k in args.k:
            for s in args.systems:
                ti = B.TOPIC_INPUT[s] if args.topic_input == "auto" else args.topic_input
                docs = fit_joined if ti == "joined" else fit.tokens
                for seed in args.seeds:
                    r = B.SYSTEMS[s](docs, k, seed)
                    rec = dict(task="topics", system=s, k=k, seed=seed, topic_input=ti,
                               npmi=npmi(r.topics), td=topic_diversity(r.topics),
                               fit_seconds=r.fit_seconds, infer_docs_per_s=r.infer_docs_per_s,
                               n_fit_docs=r.n_fit_docs, n_features=r.n_features,
                               settings=r.settings)
                    if args.check_fresh and not checked:
                        checked = True
                        rec["npmi_fresh_gensim"] = npmi.check_fresh(r.topics)
                        rec["npmi_spacy_textvae"] = _textvae_npmi(r.topics, corpus.tokens)
                    records.append(rec)
                    topics_store[f"{s}/k{k}/seed{seed}"] = r.topics
                    log.info("topics %-13s K=%d seed=%d NPMI=%.4f TD=%.3f fit=%.1fs %s", s, k,
                             seed, rec["npmi"], rec["td"], r.fit_seconds,
                             {k_: v for k_, v in rec.items() if k_.startswith("npmi_")})
                    dump()

    if not args.no_clusters:
        train, test = load_20ng(args.ng20_dir)
        log.info("20NG: fit on %d train docs, assign %d test docs", len(train), len(test))
        for s in args.systems:
            for seed in args.seeds:
                r = B.SYSTEMS[s](train.text, args.cluster_k, seed, test_docs=test.text)
                rec = dict(task="clusters", system=s, k=args.cluster_k, seed=seed,
                           **cluster_scores(test.labels, r.predictions),
                           npmi=None, td=topic_diversity(r.topics),
                           fit_seconds=r.fit_seconds, infer_docs_per_s=r.infer_docs_per_s,
                           n_fit_docs=r.n_fit_docs, n_features=r.n_features,
                           settings=r.settings)
                records.append(rec)
                topics_store[f"{s}/clusters_k{args.cluster_k}/seed{seed}"] = r.topics
                log.info("clusters %-13s seed=%d NMI=%.4f ARI=%.4f purity=%.4f fit=%.1fs "
                         "infer=%.0f docs/s", s, seed, rec["nmi"], rec["ari"], rec["purity"],
                         r.fit_seconds, r.infer_docs_per_s)
                dump()

    dump()
    print(f"\nBaselines, medians over seeds {args.seeds} "
          f"(topic models fit on {args.fit_partitions or 'all'} OCTIS docs; "
          f"wall {time.perf_counter() - t_start:.0f}s)\n")
    print(markdown_table(records, args.k, args.systems))
    print(f"\nwrote {args.out}")


def _textvae_npmi(topics, texts) -> Optional[float]:
    try:
        from spacy_textvae.metrics import npmi_coherence
    except Exception as e:  # not written yet / import error
        log.info("spacy_textvae.metrics.npmi_coherence not available: %r", e)
        return None
    t0 = time.perf_counter()
    v = npmi_coherence(topics, texts, top_n=10, window_size=10)
    v = float(np.mean(v)) if np.ndim(v) else float(v)
    log.info("spacy_textvae npmi_coherence: %.6f (%.1fs)", v, time.perf_counter() - t0)
    return v


def _versions():
    import gensim
    import scipy
    import sklearn

    return dict(numpy=np.__version__, scipy=scipy.__version__, sklearn=sklearn.__version__,
                gensim=gensim.__version__)


if __name__ == "__main__":
    main()
