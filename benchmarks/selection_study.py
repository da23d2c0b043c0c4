"""Which model-selection criterion follows held-out quality? Scores every
checkpoint that `benchmarks/checkpoints.py` saved during one `spacy train`
run on the criteria a training run can compute without labels, and on
held-out quality (cluster NMI and topic NPMI on a test split).

    python -m benchmarks.selection_study CHECKPOINTS DEV TRAIN TEST --out results.json

Criteria (all from the dev split or the training docs, no labels):
  dev_npmi        NPMI of the topic words over the dev docs (what spaCy's
                  score_weights used to select on)
  train_npmi      NPMI of the topic words over (a sample of) the training docs
  dev_gain        unigram perplexity / perplexity on the dev docs (textvae_perplexity_gain)
  dev_recon_gain  unigram perplexity / exp(reconstruction loss per word) on the dev
                  docs at their posterior means: the ELBO without its KL term,
                  which on docs of a few words is most of the ELBO
Held-out quality: test_nmi (one-step clusters), test_npmi (topic words over
the test docs), and whether the prior was fitted.
"""
import argparse
import json
from pathlib import Path
from typing import Any, Dict, List

import numpy
import spacy
from spacy.tokens import DocBin
from spacy.training import Example

from spacy_textvae.metrics import cluster_scores, npmi_coherence, topic_diversity


def _docs(nlp, path: str, limit: int = 0):
    docs = list(DocBin().from_disk(path).get_docs(nlp.vocab))
    return docs[:limit] if limit else docs


def score_checkpoint(path: Path, dev_path: str, train_path: str, test_path: str, train_limit: int) -> Dict[str, Any]:
    nlp = spacy.load(path)
    pipe = nlp.get_pipe("textvae")
    dev = _docs(nlp, dev_path)
    dev_scores = nlp.evaluate([Example(nlp.make_doc(d.text), d) for d in dev])
    recon = n_words = 0.0
    for start in range(0, len(dev), 256):
        output = pipe.predict([nlp.make_doc(d.text) for d in dev[start : start + 256]])
        recon += float(output.recon.sum())
        n_words += float(output.n_words.sum())
    unigram = pipe._unigram_perplexity(dev)
    words = pipe.topic_words(25)
    train_ref = [pipe.topic_vocab.tokens_of(d) for d in _docs(nlp, train_path, train_limit)]
    test = _docs(nlp, test_path)
    test_out = list(nlp.pipe((d.text for d in test), batch_size=256))
    gold = [max(d.cats, key=d.cats.get) for d in test]
    pred = [d._.cluster for d in test_out]
    sizes = numpy.bincount(pred, minlength=pipe.n_clusters)
    test_ref = [pipe.topic_vocab.tokens_of(d) for d in test]
    top10 = [w[:10] for w in words]
    return {
        "step": pipe.cfg["step"],
        "epochs": round(pipe.epochs_seen, 3),
        "prior_fitted": pipe.cfg["prior_fitted"],
        "dev_npmi": dev_scores.get("textvae_npmi"),
        "dev_perplexity": dev_scores.get("textvae_perplexity"),
        # The component's own selection score (0 before the prior is fitted).
        "dev_gain": dev_scores["textvae_perplexity_gain"],
        "dev_recon_gain": (unigram / numpy.exp(recon / n_words)) if pipe.cfg["prior_fitted"] else 0.0,
        "train_npmi": npmi_coherence(top10, train_ref),
        "diversity": topic_diversity(words),
        "test_nmi": cluster_scores(pred, gold)["nmi"],
        "test_npmi": npmi_coherence(top10, test_ref),
        "clusters_used": int((sizes > 0).sum()),
        "largest_cluster_share": float(sizes.max() / sizes.sum()),
    }


def spearman(a: List[float], b: List[float]) -> float:
    ra = numpy.argsort(numpy.argsort(a))
    rb = numpy.argsort(numpy.argsort(b))
    return float(numpy.corrcoef(ra, rb)[0, 1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoints")
    p.add_argument("dev")
    p.add_argument("train")
    p.add_argument("test")
    p.add_argument("--train-limit", type=int, default=3000)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    rows = []
    for path in sorted(Path(args.checkpoints).glob("step_*")):
        row = score_checkpoint(path, args.dev, args.train, args.test, args.train_limit)
        print(json.dumps(row), flush=True)
        rows.append(row)
    summary = {}
    for criterion in ("dev_npmi", "train_npmi", "dev_gain", "dev_recon_gain"):
        values = [r[criterion] for r in rows]
        best = rows[int(numpy.argmax(values))]
        summary[criterion] = {
            "spearman_test_nmi": spearman(values, [r["test_nmi"] for r in rows]),
            "spearman_test_npmi": spearman(values, [r["test_npmi"] for r in rows]),
            "picks_step": best["step"],
            "picked_test_nmi": best["test_nmi"],
            "picked_test_npmi": best["test_npmi"],
        }
    summary["oracle"] = {
        "best_test_nmi": max(r["test_nmi"] for r in rows),
        "best_test_npmi": max(r["test_npmi"] for r in rows),
    }
    print(json.dumps(summary, indent=1))
    Path(args.out).write_text(json.dumps({"checkpoints": rows, "summary": summary}, indent=1))


if __name__ == "__main__":
    main()
