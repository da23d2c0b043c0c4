"""Benchmark the `textvae` component: the research harness.

Topic quality on OCTIS 20NewsGroup (NPMI of the top-10 words, diversity of the
top-25 words, topics used), and one-step clustering of the raw 20 Newsgroups
test split after training on the train split (NMI / ARI / purity of
`doc._.cluster`, against k-means on `doc._.latent`).

    OMP_NUM_THREADS=1 python -m benchmarks.run_textvae topics --k 20 50 --epochs 60
    OMP_NUM_THREADS=1 python -m benchmarks.run_textvae clusters --epochs 20
    # overrides (JSON):  --model '{"decoder_batchnorm": false}'
    #                    --component '{"kl_warmup_epochs": 6.0}'
    #                    --tok2vec '{"width": 16, "depth": 1}'
    # The benchmark uses a tiny frozen tok2vec (the default one is ~15x slower
    # per epoch on a CPU):
    #   --model '{"grad_factor": 0.0}' \
    #   --tok2vec '{"width": 16, "depth": 1, "embed_size": 1000, "subword_features": false}'

Script defaults: topics with Adam(5e-3, beta1=0.99), batch 200; clusters with
Adam(2e-3, beta1=0.9), batch 64; n_clusters 20. The benchmark workflow
(project.yml) trains topics with Adam(2e-3, beta1=0.99), batch 64 and the
model's default dropout 0.2 for 100 epochs, which gives better topics at K=20
and K=50 than the script defaults.

Every run appends one JSON line per setting to `--log`
(`benchmarks/results/textvae_explore.jsonl`); `--out` also writes the run's
records to a JSON file. With `--transformer NAME_OR_DIR` (and `--gpu-id 0`) it
trains the pipeline of `configs/trf.cfg` instead: textvae with a fixed
transformer inside it. A markdown table is printed at the end.

Protocol (same as the LDA/NMF baselines in `run_baselines.py`): the topic
models are fit on all 16,554 OCTIS documents and NPMI is computed over the
same token lists (gensim `c_npmi`, window 10, reproduced by
`spacy_textvae.metrics.npmi_coherence`). The OCTIS tokens are already
preprocessed, so the component's vocabulary filters are switched off
(min_df=1, max_df=1.0, no stop-word removal) and its vocabulary equals the
corpus's.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any, Dict, List

for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_v, "1")

import numpy  # noqa: E402
import spacy  # noqa: E402
import torch  # noqa: E402
from spacy.tokens import Doc  # noqa: E402
from spacy.training import Example  # noqa: E402
from spacy.util import minibatch  # noqa: E402
from thinc.api import Adam, fix_random_seed  # noqa: E402

import spacy_textvae  # noqa: E402,F401  (registers the factory)
from spacy_textvae.metrics import cluster_scores, npmi_coherence, topic_diversity  # noqa: E402

from .data import load_20ng, load_octis_tsv  # noqa: E402

OCTIS_TSV = "/work/shared/data/octis_20ng/corpus.tsv"
NG20_DIR = "/work/shared/data/20newsgroups/"
EXPLORE = Path("benchmarks/results/textvae_explore.jsonl")


TRF_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "trf.cfg"


def build_nlp(n_topics: int, n_clusters: int, component: Dict[str, Any],
              model: Dict[str, Any], tok2vec: Dict[str, Any], transformer: str | None = None):
    """blank("en") + textvae with its own tok2vec (the factory's default model,
    with overrides), or, with `transformer` (a Hugging Face name or directory),
    the pipeline of configs/trf.cfg: textvae with a fixed transformer inside it."""
    if transformer:
        if tok2vec:
            raise ValueError("--tok2vec does not apply with --transformer (the transformer gives the token vectors)")
        overrides: Dict[str, Any] = {"paths.transformer": transformer,
                                     "components.textvae.n_topics": n_topics,
                                     "components.textvae.n_clusters": n_clusters}
        overrides.update({f"components.textvae.{k}": v for k, v in component.items()})
        overrides.update({f"components.textvae.model.{k}": v for k, v in model.items()})
        config = spacy.util.load_config(TRF_CONFIG, overrides=overrides, interpolate=False)
        return spacy.util.load_model_from_config(config, auto_fill=True, validate=True)
    nlp = spacy.blank("en")
    cfg: Dict[str, Any] = {"n_topics": n_topics, "n_clusters": n_clusters}
    cfg.update(component)
    if model or tok2vec:
        from spacy_textvae.component import DEFAULT_MODEL_CONFIG
        from thinc.api import Config

        m = Config().from_str(DEFAULT_MODEL_CONFIG)["model"]
        m.update(model)
        m["tok2vec"].update(tok2vec)
        cfg["model"] = m
    nlp.add_pipe("textvae", config=cfg)
    return nlp


def train(nlp, docs: List[Doc], epochs: int, batch_size: int, lr: float, seed: int,
          grad_clip: float, beta1: float, eval_fn=None, eval_every: int = 0,
          log=print, after_init=None) -> Dict[str, Any]:
    """Initialise on `docs` and train with nlp.update; returns timings and the eval curve."""
    examples = [Example(d, d) for d in docs]
    t0 = time.perf_counter()
    nlp.initialize(lambda: examples)
    if after_init is not None:
        after_init(nlp)
    sgd = Adam(lr, L2=0.0, grad_clip=grad_clip, beta1=beta1, use_averages=False)
    rng = random.Random(seed)
    curve = []
    eval_time = 0.0
    for epoch in range(1, epochs + 1):
        rng.shuffle(examples)
        losses: Dict[str, float] = {}
        te = time.perf_counter()
        n_batches = 0
        for batch in minibatch(examples, size=batch_size):
            nlp.update(batch, sgd=sgd, drop=0.0, losses=losses)
            n_batches += 1
        msg = (f"epoch {epoch} loss {losses['textvae'] / max(n_batches, 1):.1f} "
               f"({time.perf_counter() - te:.1f}s)")
        if eval_fn is not None and eval_every and (epoch % eval_every == 0) and epoch < epochs:
            tv = time.perf_counter()
            res = eval_fn()
            eval_time += time.perf_counter() - tv
            res["epoch"] = epoch
            res["seconds"] = round(time.perf_counter() - t0 - eval_time, 1)
            curve.append(res)
            msg += " " + json.dumps(res)
        log(msg)
        sys.stdout.flush()
    fit_seconds = time.perf_counter() - t0 - eval_time
    return {"fit_seconds": round(fit_seconds, 1), "curve": curve,
            "steps": nlp.get_pipe("textvae").cfg["step"]}


def _experimental_patch(args):
    """EXPERIMENT ONLY (not a component option): --decoder-bn-affine swaps the
    decoder's batch-norm for one with a learnable per-word scale and shift, to test
    whether the model can find its own point between BN (diversity) and no BN
    (coherence). The thinc shim picks up the new parameters at the next update."""
    if not args.decoder_bn_affine:
        return None

    def patch(nlp):
        from spacy_textvae.nn.batch_norm import MaybeBatchNorm

        decoder = nlp.get_pipe("textvae").torch_module.decoder
        assert decoder.bn is not None, "--decoder-bn-affine needs decoder_batchnorm=true"
        decoder.bn = MaybeBatchNorm(decoder.background.shape[0], affine=True).to(decoder.background.device)

    return patch


def topic_eval(nlp, texts: List[List[str]], alt: bool = True) -> Dict[str, Any]:
    pipe = nlp.get_pipe("textvae")
    top10 = pipe.topic_words(10)
    top25 = pipe.topic_words(25)
    res = {"npmi": round(float(npmi_coherence(top10, texts=texts, window_size=10)), 4),
           "td": round(float(topic_diversity(top25, 25)), 4)}
    if alt:
        # Other rankings of the same topics (not what the component reports by
        # default), to compare rankings: relevance λ = .6, FREX with other weights.
        for name, kwargs in (("relevance06", {"relevance": 0.6}), ("frex03", {"exclusivity": 0.3}),
                             ("frex07", {"exclusivity": 0.7})):
            t10, t25 = pipe.topic_words(10, **kwargs), pipe.topic_words(25, **kwargs)
            res[f"npmi_{name}"] = round(float(npmi_coherence(t10, texts=texts, window_size=10)), 4)
            res[f"td_{name}"] = round(float(topic_diversity(t25, 25)), 4)
    return res


def run_topics(args, k: int) -> Dict[str, Any]:
    corpus = load_octis_tsv(args.octis_tsv)
    texts = corpus.tokens
    component = {"min_df": 1, "max_df": 1.0, "remove_stop_words": False,
                 "max_vocab_size": 100000}
    component.update(args.component)
    fix_random_seed(args.seed)
    torch.manual_seed(args.seed)
    nlp = build_nlp(k, args.n_clusters or k, component, args.model, args.tok2vec, args.transformer)
    docs = [Doc(nlp.vocab, words=t) for t in texts]
    pipe = nlp.get_pipe("textvae")
    fit = train(nlp, docs, args.epochs, args.batch_size, args.lr, args.seed, args.grad_clip,
                args.beta1, eval_fn=lambda: topic_eval(nlp, texts), eval_every=args.eval_every,
                after_init=_experimental_patch(args))
    assert len(pipe.topic_vocab) == len({w for t in texts for w in t}), "vocabulary differs"
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
        nlp.to_disk(args.save / f"{args.tag}_topics_k{k}")
    res = topic_eval(nlp, texts)
    fresh = [Doc(nlp.vocab, words=t) for t in texts]
    t0 = time.perf_counter()
    out = list(nlp.pipe(fresh, batch_size=256))
    pipe_s = time.perf_counter() - t0
    top = numpy.asarray([int(numpy.argmax(d._.topics)) for d in out])
    used = len(set(top.tolist())) / k
    return {
        "task": "topics", "k": k, **res, "topics_used": round(used, 3),
        "fit_seconds": fit["fit_seconds"], "steps": fit["steps"],
        "docs_per_s": round(len(out) / pipe_s, 1), "n_docs": len(docs),
        "n_vocab": len(pipe.topic_vocab), "curve": fit["curve"],
        "topics": pipe.topic_words(10), "component_settings": component_settings(nlp),
        "model_settings": model_settings(nlp),
    }


def run_clusters(args) -> Dict[str, Any]:
    from sklearn.cluster import KMeans

    train_split, test_split = load_20ng(args.ng20_dir)
    component = dict(args.component)
    fix_random_seed(args.seed)
    torch.manual_seed(args.seed)
    k = args.cluster_topics
    nlp = build_nlp(k, 20, component, args.model, args.tok2vec, args.transformer)
    t0 = time.perf_counter()
    train_docs = list(nlp.tokenizer.pipe(train_split.text, batch_size=500))
    test_docs = list(nlp.tokenizer.pipe(test_split.text, batch_size=500))
    tok_s = time.perf_counter() - t0
    gold = test_split.labels

    def evaluate():
        # The whole pipeline, whatever components a config puts before textvae.
        out = list(nlp.pipe(test_docs, batch_size=256))
        pred = [d._.cluster for d in out]
        s = cluster_scores(pred, gold)
        return {"nmi": round(s["nmi"], 4), "used": len(set(pred))}

    fit = train(nlp, train_docs, args.epochs, args.cluster_batch_size, args.cluster_lr, args.seed,
                args.grad_clip, args.cluster_beta1, eval_fn=evaluate, eval_every=args.eval_every,
                after_init=_experimental_patch(args))
    t0 = time.perf_counter()
    test_out = list(nlp.pipe(test_split.text, batch_size=256))
    pipe_s = time.perf_counter() - t0
    train_out = list(nlp.pipe(train_split.text, batch_size=256))
    assert len(test_out) == len(gold)
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
        nlp.to_disk(args.save / f"{args.tag}_clusters")
    pred = [d._.cluster for d in test_out]
    scores = cluster_scores(pred, gold)
    X_tr = numpy.stack([d._.latent for d in train_out])
    X_te = numpy.stack([d._.latent for d in test_out])
    km = KMeans(20, n_init=10, random_state=args.seed).fit(X_tr)
    km_scores = cluster_scores(km.predict(X_te).tolist(), gold)
    pipe = nlp.get_pipe("textvae")
    return {
        "task": "clusters", "k": k,
        **{k_: round(v, 4) for k_, v in scores.items()},
        "clusters_used": len(set(pred)),
        "train_clusters_used": len({d._.cluster for d in train_out}),
        "kmeans_latent": {k_: round(v, 4) for k_, v in km_scores.items()},
        "n_empty_test": sum(1 for d in test_out if not len(d)),
        "fit_seconds": fit["fit_seconds"], "steps": fit["steps"],
        "tokenize_seconds": round(tok_s, 1),
        "docs_per_s": round(len(test_out) / pipe_s, 1),
        "n_train": len(train_out), "n_test": len(test_out),
        "n_vocab": len(pipe.topic_vocab), "curve": fit["curve"],
        "topics": pipe.topic_words(10), "component_settings": component_settings(nlp),
        "model_settings": model_settings(nlp),
    }


def fmt(x, nd=3):
    return "-" if x is None else (f"{x:.{nd}f}" if isinstance(x, float) else str(x))


def markdown(records: List[Dict[str, Any]]) -> str:
    lines = []
    tops = [r for r in records if r["task"] == "topics"]
    if tops:
        lines += ["| setting | K | epochs | NPMI | TD | topics used | fit s | docs/s |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in tops:
            lines.append(f"| {r['tag']} | {r['k']} | {r['epochs']} | {fmt(r['npmi'])} | "
                         f"{fmt(r['td'])} | {fmt(r['topics_used'], 2)} | {r['fit_seconds']} | "
                         f"{r['docs_per_s']} |")
    cl = [r for r in records if r["task"] == "clusters"]
    if cl:
        lines += ["", "| setting | epochs | NMI | ARI | purity | clusters used | k-means(latent) NMI "
                  "| k-means ARI | k-means purity | fit s | docs/s |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in cl:
            km = r["kmeans_latent"]
            lines.append(f"| {r['tag']} | {r['epochs']} | {fmt(r['nmi'])} | {fmt(r['ari'])} | "
                         f"{fmt(r['purity'])} | {r['clusters_used']}/20 | {fmt(km['nmi'])} | "
                         f"{fmt(km['ari'])} | {fmt(km['purity'])} | {r['fit_seconds']} | "
                         f"{r['docs_per_s']} |")
    return "\n".join(lines)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("task", choices=["topics", "clusters", "both"])
    p.add_argument("--octis-tsv", default=OCTIS_TSV)
    p.add_argument("--ng20-dir", default=NG20_DIR)
    p.add_argument("--k", type=int, nargs="+", default=[20, 50], help="topic counts (topics task)")
    p.add_argument("--n-clusters", type=int, default=20,
                   help="mixture components in the topics task (component default 20)")
    p.add_argument("--cluster-topics", type=int, default=20, help="n_topics for the clusters task")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--cluster-epochs", type=int, default=None,
                   help="epochs for the clusters task with 'both' (default: --epochs)")
    p.add_argument("--batch-size", type=int, default=200, help="batch size (topics)")
    p.add_argument("--cluster-batch-size", type=int, default=64, help="batch size (clusters)")
    p.add_argument("--lr", type=float, default=5e-3, help="Adam learning rate (topics)")
    p.add_argument("--beta1", type=float, default=0.99, help="Adam beta1 (topics)")
    p.add_argument("--cluster-lr", type=float, default=2e-3, help="Adam learning rate (clusters)")
    p.add_argument("--cluster-beta1", type=float, default=0.9, help="Adam beta1 (clusters)")
    p.add_argument("--grad-clip", type=float, default=0.0, help="thinc Adam grad_clip (0 = off)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-every", type=int, default=0, help="evaluate every N epochs (curve)")
    p.add_argument("--model", type=json.loads, default={}, help="JSON: model-level overrides")
    p.add_argument("--component", type=json.loads, default={}, help="JSON: component overrides")
    p.add_argument("--tok2vec", type=json.loads, default={}, help="JSON: tok2vec overrides")
    p.add_argument("--transformer", default=None,
                   help="train the pipeline of configs/trf.cfg with this transformer (Hugging Face "
                        "name or local directory) instead of textvae with its own tok2vec")
    p.add_argument("--gpu-id", type=int, default=-1, help="GPU to train on (-1: CPU)")
    p.add_argument("--decoder-bn-affine", action="store_true",
                   help="EXPERIMENT: learnable scale/shift on the decoder batch-norm (monkeypatch)")
    p.add_argument("--tag", default="default")
    p.add_argument("--out", type=Path, default=None, help="also write the records to this JSON file")
    p.add_argument("--log", type=Path, default=EXPLORE, help="JSON-lines file every record is appended to")
    p.add_argument("--save", type=Path, default=None, help="save each trained pipeline under this dir")
    return p.parse_args(argv)


def component_settings(nlp) -> Dict[str, Any]:
    """The textvae settings this run trained with, read back from the pipeline's
    config (factory defaults, config file and overrides resolved; without the
    model, and without the sizes, which the record gives as `k`), so a record
    stays readable when a default changes later."""
    cfg = nlp.config["components"]["textvae"]
    settings = {k: v for k, v in cfg.items() if k not in ("model", "factory", "n_topics", "n_clusters")}
    # "auto" as the component resolved it for this run's sizes.
    settings["cluster_means"] = nlp.get_pipe("textvae").cluster_means
    return settings


def model_settings(nlp) -> Dict[str, Any]:
    """The textvae model's architecture and settings (without its tok2vec), read
    back from the pipeline's config like `component_settings`."""
    cfg = nlp.config["components"]["textvae"]["model"]
    return {k: v for k, v in cfg.items() if k != "tok2vec"}


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(1)
    if args.gpu_id >= 0:
        spacy.require_gpu(args.gpu_id)
    records = []
    settings = {"tag": args.tag, "epochs": args.epochs, "batch_size": args.batch_size,
                "cluster_batch_size": args.cluster_batch_size,
                "lr": args.lr, "beta1": args.beta1, "cluster_lr": args.cluster_lr,
                "cluster_beta1": args.cluster_beta1, "n_clusters_topics": args.n_clusters,
                "grad_clip": args.grad_clip,
                "seed": args.seed, "decoder_bn_affine": args.decoder_bn_affine, "model": args.model, "component": args.component,
                "tok2vec": args.tok2vec, "transformer": args.transformer, "gpu_id": args.gpu_id}
    jobs = []
    if args.task in ("topics", "both"):
        jobs += [("topics", k) for k in args.k]
    if args.task in ("clusters", "both"):
        jobs.append(("clusters", None))
    args.log.parent.mkdir(parents=True, exist_ok=True)
    for task, k in jobs:
        t0 = time.perf_counter()
        if task == "topics":
            rec = run_topics(args, k)
            rec["epochs"] = args.epochs
        else:
            epochs = args.epochs
            if args.task == "both" and args.cluster_epochs:
                args.epochs = args.cluster_epochs
            rec = run_clusters(args)
            rec["epochs"] = args.epochs
            args.epochs = epochs
        rec.update({k_: v for k_, v in settings.items() if k_ != "epochs"})
        rec["system"] = "textvae (transformer)" if args.transformer else "textvae (cpu)"
        rec["wall"] = round(time.perf_counter() - t0, 1)
        records.append(rec)
        with open(args.log, "a") as f:
            f.write(json.dumps(rec) + "\n")
        summary = {k_: v for k_, v in rec.items() if k_ not in ("topics", "curve")}
        print(json.dumps(summary))
        sys.stdout.flush()
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(records, indent=1))
    print(markdown(records))


if __name__ == "__main__":
    main()
