"""Summarise ``benchmarks/results/explore.jsonl`` (the protocol search) as markdown:
one row per (task, system, K, fit partitions, input, settings, test set) with the
median over the seeds run and the per-seed values.

    python -m benchmarks.summarise_explore [benchmarks/results/explore.jsonl]
"""
from __future__ import annotations

import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

from . import baselines as B

# model defaults of the fit functions *now*; settings that differ are shown per row (the
# recorded settings are used, not the variant, because SKLDA max_iter changed 10 -> 20
# during the search)
DEFAULTS = {"sklearn_nmf": B.NMF_DEFAULTS, "sklearn_lda": B.SKLDA_DEFAULTS,
            "gensim_lda": B.GENSIM_LDA_DEFAULTS, "kmeans_tfidf": B.KMEANS_DEFAULTS}


def effective(r) -> str:
    v = dict(r["variant"])
    mk = {k: val for k, val in r.get("settings", {}).items()
          if k in DEFAULTS[r["system"]] and DEFAULTS[r["system"]][k] != val}
    mk.update(v.pop("model_kwargs", {}))
    if mk:
        v["model"] = mk
    return json.dumps(v, sort_keys=True)


def main(path="benchmarks/results/explore.jsonl"):
    groups = defaultdict(list)
    for line in Path(path).read_text().splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        fit_docs = ("20NG train" if r["task"] == "clusters"
                    else str(r.get("fit_partitions") or "all OCTIS"))
        key = (r["task"], r["system"], r["k"], fit_docs,
               "joined" if r.get("join") else ("raw" if r["task"] == "clusters" else "tokens"),
               effective(r), bool(r.get("drop_empty_test")))
        groups[key].append(r)
    for task in ("topics", "clusters"):
        ms = ("npmi", "td") if task == "topics" else ("nmi", "ari", "purity")
        print(f"\n### {task}\n")
        print("| system | K | fit docs | input | settings (non-default) | "
              + ("" if task == "topics" else "test | ") + "seeds | "
              + " | ".join(f"{m} (median; per seed)" for m in ms) + " |")
        print("|" + "---|" * (6 + len(ms) + (task == "clusters")))
        for key, rs in sorted(groups.items()):
            if key[0] != task:
                continue
            rs = sorted(rs, key=lambda r: r["seed"])
            cells = []
            for m in ms:
                vals = [r[m] for r in rs]
                cells.append(f"{statistics.median(vals):.3f}; "
                             + ", ".join(f"{v:.3f}" for v in vals))
            extra = "" if task == "topics" else ("non-empty | " if key[6] else "all | ")
            print(f"| {key[1]} | {key[2]} | {key[3]} | {key[4]} | `{key[5]}` | {extra}"
                  f"{','.join(str(r['seed']) for r in rs)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(*sys.argv[1:])
