"""Merge benchmark result files (baselines and textvae) into one markdown table
of medians over seeds: metrics/benchmark.md.

    python -m benchmarks.report metrics/baselines.json metrics/textvae_topics.json \
        metrics/textvae_clusters.json --out metrics/benchmark.md
"""
import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Optional


def load_records(paths: List[Path]) -> List[Dict[str, Any]]:
    records = []
    for path in paths:
        text = path.read_text(encoding="utf8").strip()
        if path.suffix == ".jsonl":
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            data = json.loads(text)
        if isinstance(data, dict):
            data = data.get("records", [data])
        for record in data:
            record.setdefault("system", "textvae (cpu)")
            records.append(record)
    return records


def median(values: List[Optional[float]]) -> Optional[float]:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value: Optional[float], digits: int = 3) -> str:
    if value is None:
        return "—"
    return f"{value:.{digits}f}".replace("0.", ".", 1) if abs(value) < 1 else f"{value:.{digits}f}"


def render(records: List[Dict[str, Any]]) -> str:
    topics: Dict[tuple, List[Dict[str, Any]]] = defaultdict(list)
    clusters: Dict[str, List[Dict[str, Any]]] = defaultdict(list)
    for r in records:
        if r.get("task") == "topics":
            topics[(r["system"], r["k"])].append(r)
        elif r.get("task") == "clusters":
            clusters[r["system"]].append(r)
            km = r.get("kmeans_latent")
            if isinstance(km, dict):
                # One row per textvae system, so cpu and transformer latents stay apart.
                clusters[f"k-means on {r['system']} doc._.latent (two steps)"].append({**km, "seed": r.get("seed")})
    systems = sorted({s for s, _ in topics} | set(clusters))
    ks = sorted({k for _, k in topics})
    head = ["system"] + [f"K={k} NPMI / TD" for k in ks] + ["fit s (K=20)", "clusters NMI / ARI / purity"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for system in systems:
        row = [system]
        for k in ks:
            runs = topics.get((system, k), [])
            row.append(f"{fmt(median([r.get('npmi') for r in runs]))} / {fmt(median([r.get('td') for r in runs]))}"
                       f" ({len(runs)})" if runs else "—")
        runs20 = topics.get((system, 20), [])
        row.append(fmt(median([r.get("fit_seconds") for r in runs20]), 1) if runs20 else "—")
        cl = clusters.get(system, [])
        row.append(" / ".join(fmt(median([r.get(m) for r in cl])) for m in ("nmi", "ari", "purity"))
                   + f" ({len(cl)})" if cl else "—")
        lines.append("| " + " | ".join(row) + " |")
    note = ("\nNPMI: gensim `c_npmi` (top 10 words, window 10) over the OCTIS-format corpus itself; "
            "TD: unique share of the top-25 words; clusters: raw 20 Newsgroups, trained on train, "
            "scored on test against the 20 labels. Medians over seeds; (n) = number of seeds.\n")
    return "\n".join(lines) + "\n" + note + decoder_note(records)


def decoder_note(records: List[Dict[str, Any]]) -> str:
    """Which decoder (with its temperature), word dropout and, for clusters,
    mixture means each textvae system's topic and cluster runs used, when the
    records say (a row can mix settings across its columns)."""
    used: Dict[str, Dict[str, set]] = defaultdict(lambda: defaultdict(set))
    for r in records:
        settings = r.get("model_settings")
        if r.get("task") in ("topics", "clusters") and isinstance(settings, dict):
            decoder = settings.get("decoder", "linear")
            if decoder == "embedding" and "decoder_temperature" in settings:
                decoder += f" (τ {settings['decoder_temperature']})"
            what = f"decoder {decoder}, word dropout {settings.get('word_dropout', 0.0)}"
            if r["task"] == "clusters":
                # Records from before the setting had free means.
                means = (r.get("component_settings") or {}).get("cluster_means", "free")
                what += ", cluster means tied to the topics" if means == "topics" else ", free cluster means"
            used[r["system"]][r["task"]].add(what)
    lines = []
    for system in sorted(used):
        parts = [f"{task}: {'; '.join(sorted(values))}" for task, values in sorted(used[system].items(), reverse=True)]
        lines.append(f"{system}: " + " · ".join(parts) + ".")
    return ("\n" + "\n".join(lines) + "\n") if lines else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", type=Path, nargs="+", help="result files (.json lists or .jsonl)")
    parser.add_argument("--out", type=Path, default=Path("metrics/benchmark.md"))
    args = parser.parse_args()
    table = render(load_records(args.inputs))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("# Benchmark\n\n" + table, encoding="utf8")
    print(table)


if __name__ == "__main__":
    main()
