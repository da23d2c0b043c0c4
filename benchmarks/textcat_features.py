"""A textcat trained on few labels, with and without textvae's features.

From `configs/textcat_features.cfg`, three textcats are trained with `spacy
train` on the same 200 labelled 20 Newsgroups training posts (10 per class,
seeded), selected on 200 dev posts (10 per class), and scored (macro F1) on the
whole test split:

- `bow`: spaCy's `TextCatBOW.v3` (unigrams, softmax output), no textvae;
- `bow+textvae`: Softmax(BOW logits ⊕ textvae latent ⊕ topics), the shipped config;
- `textvae`: Softmax(textvae latent ⊕ topics) only.

textvae is a pipeline trained before, without labels, on all the training
posts (`configs/cpu.cfg`); it is sourced, frozen and in `annotating_components`.

    OMP_NUM_THREADS=1 python -m benchmarks.textcat_features \
        --textvae /tmp/wtb/ng20_model/model-best --data /tmp/tvb/ng20 \
        --out benchmarks/results/textcat_features.json
"""
import argparse
import json
import random
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Dict, List

import spacy
from spacy.cli.train import train as spacy_train
from spacy.tokens import Doc, DocBin
from spacy.training import Example
from spacy.util import load_config

import spacy_textvae  # noqa: F401  (registers the layer)

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "textcat_features.cfg"


def per_class(docs: List[Doc], n: int, seed: int) -> List[Doc]:
    """n docs of each class (its top label in doc.cats), seeded; empty docs left out."""
    by_label: Dict[str, List[Doc]] = defaultdict(list)
    for doc in docs:
        if len(doc) and doc.cats:
            by_label[max(doc.cats, key=doc.cats.get)].append(doc)
    rng = random.Random(seed)
    chosen = [doc for label in sorted(by_label) for doc in rng.sample(by_label[label], n)]
    rng.shuffle(chosen)
    return chosen


def make_config(variant: str, textvae: Path, n_topics: int):
    config = load_config(CONFIG)
    textcat = config["components"]["textcat"]["model"]
    training = config["training"]
    if variant == "bow":
        config["nlp"]["pipeline"] = ["textcat"]
        del config["components"]["textvae"]
        config["components"]["textcat"]["model"] = {**textcat["*"]["features"]["*"]["bow"], "no_output_layer": False}
        training["annotating_components"] = []
        for key in list(training["score_weights"]):
            if key.startswith("textvae"):
                del training["score_weights"][key]
    else:
        config["components"]["textvae"] = {"source": str(textvae)}
        training["frozen_components"] = ["textvae"]
        training["annotating_components"] = ["textvae"]
        latent = textcat["*"]["features"]["*"]["textvae"]
        latent["n_topics"] = n_topics
        if variant == "textvae":
            textcat["*"]["features"] = latent
    training.update({"max_steps": 1500, "max_epochs": 0, "eval_frequency": 100, "patience": 600})
    training["batcher"]["size"] = 16
    training["logger"]["progress_bar"] = False
    return config


def main(textvae: Path, data: Path, out: Path, seed: int) -> None:
    nlp = spacy.load(textvae)
    n_topics = nlp.get_pipe("textvae").n_topics
    vocab = nlp.vocab
    train = per_class(list(DocBin().from_disk(data / "train.spacy").get_docs(vocab)), 10, seed)
    dev = per_class(list(DocBin().from_disk(data / "dev.spacy").get_docs(vocab)), 10, seed)
    test = [d for d in DocBin().from_disk(data / "test.spacy").get_docs(vocab) if d.cats]
    results = {"n_train": len(train), "n_dev": len(dev), "n_test": len(test), "seed": seed, "variants": {}}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        DocBin(docs=train).to_disk(tmp / "train.spacy")
        DocBin(docs=dev).to_disk(tmp / "dev.spacy")
        for variant in ("bow", "bow+textvae", "textvae"):
            config = make_config(variant, textvae.resolve(), n_topics)
            config["paths"]["train"] = str(tmp / "train.spacy")
            config["paths"]["dev"] = str(tmp / "dev.spacy")
            config["system"]["seed"] = seed
            path = tmp / f"{variant}.cfg"
            config.to_disk(path)
            start = time.time()
            spacy_train(path, tmp / variant, use_gpu=-1)
            trained = spacy.load(tmp / variant / "model-best")
            examples = [Example(Doc(trained.vocab, words=[t.text for t in d], spaces=[bool(t.whitespace_) for t in d]), d) for d in test]
            scores = trained.evaluate(examples, batch_size=256)
            results["variants"][variant] = {
                "test_macro_f1": scores["cats_macro_f"],
                "test_micro_f1": scores["cats_micro_f"],
                "seconds": round(time.time() - start, 1),
            }
            print(variant, results["variants"][variant], flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf8")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--textvae", type=Path, required=True, help="a trained textvae pipeline")
    parser.add_argument("--data", type=Path, required=True, help="folder with train/dev/test .spacy files (doc.cats)")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "textcat_features.json")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    main(args.textvae, args.data, args.out, args.seed)
