"""Protocol search: try fit partitions, vectoriser and model settings for the baselines and
append one JSON line per run to ``benchmarks/results/explore.jsonl``. This is the record
behind the settings chosen in ``baselines.py`` (``summarise_explore.py`` tabulates it).

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \\
        python -m benchmarks.explore topics --systems sklearn_nmf --k 20 --seeds 0 \\
        --variant '{"model_kwargs": {"init": "nndsvd"}}' --fit-partitions train
    python -m benchmarks.explore clusters --systems sklearn_nmf --seeds 0 \\
        --variant '{"vectorizer_kwargs": {"min_df": 2}}'
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

from . import baselines as B  # noqa: E402
from .data import load_20ng, load_octis_tsv  # noqa: E402
from .run_baselines import GensimNpmi, cluster_scores, topic_diversity  # noqa: E402

OUT = Path("benchmarks/results/explore.jsonl")


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("task", choices=["topics", "clusters"])
    p.add_argument("--systems", nargs="+", required=True)
    p.add_argument("--k", type=int, nargs="+", default=[20])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--fit-partitions", nargs="+", default=None)
    p.add_argument("--variant", action="append", default=None,
                   help="JSON dict of extra kwargs for the fit function; repeatable")
    p.add_argument("--variants-file", type=Path, default=None,
                   help="file with one JSON dict of fit kwargs per line")
    p.add_argument("--drop-empty-test", action="store_true")
    p.add_argument("--join", action="store_true",
                   help="topics: hand the OCTIS docs to the vectoriser as space-joined strings "
                        "(so the raw-text analyzer/stop words apply) instead of token lists")
    p.add_argument("--out", type=Path, default=OUT)
    a = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("gensim").setLevel(logging.WARNING)
    variants = [json.loads(v) for v in (a.variant or [])]
    if a.variants_file:
        variants += [json.loads(l) for l in a.variants_file.read_text().splitlines() if l.strip()]
    variants = variants or [{}]
    a.out.parent.mkdir(parents=True, exist_ok=True)

    if a.task == "topics":
        corpus = load_octis_tsv()
        fit = corpus.subset(a.fit_partitions)
        fit_docs = [" ".join(t) for t in fit.tokens] if a.join else fit.tokens
        npmi = GensimNpmi(corpus.tokens)
    else:
        train, test = load_20ng()
        tdocs, tlabels = test.text, test.labels
        if a.drop_empty_test:
            keep = [i for i, t in enumerate(tdocs) if t.strip()]
            tdocs = [tdocs[i] for i in keep]
            tlabels = [tlabels[i] for i in keep]
    for var in variants:
        for s in a.systems:
            for k in a.k:
                for seed in a.seeds:
                    t0 = time.perf_counter()
                    if a.task == "topics":
                        r = B.SYSTEMS[s](fit_docs, k, seed, **var)
                        rec = dict(npmi=npmi(r.topics), td=topic_diversity(r.topics))
                    else:
                        r = B.SYSTEMS[s](train.text, k, seed, test_docs=tdocs, **var)
                        rec = cluster_scores(tlabels, r.predictions)
                        rec["td"] = topic_diversity(r.topics)
                    rec = dict(task=a.task, system=s, k=k, seed=seed,
                               fit_partitions=a.fit_partitions, variant=var, join=a.join,
                               drop_empty_test=a.drop_empty_test, **rec,
                               fit_seconds=round(r.fit_seconds, 2),
                               infer_docs_per_s=round(r.infer_docs_per_s, 1),
                               n_fit_docs=r.n_fit_docs, n_features=r.n_features,
                               settings=r.settings, wall=round(time.perf_counter() - t0, 1))
                    print(json.dumps({x: y for x, y in rec.items() if x != "settings"}),
                          flush=True)
                    with open(a.out, "a") as f:
                        f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
