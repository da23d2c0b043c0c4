"""Seeded topics on 20 Newsgroups: do the seeded topics hold their seeds, and
do the free topics keep their quality?

Two pipelines trained with `configs/cpu.cfg` on the same training posts (K =
20), one with `seed_words` (three lists) and one without, are read on the test
split: each seeded topic's top-10 words (the component's ranking, FREX, and by
probability) and top 25, and the NPMI of every topic's top 10
words over the test docs (the component's own gensim-exact `c_npmi`, reference
texts = the docs' topic-vocabulary words). The free topics of the seeded run
are compared with all topics of the unseeded one, and with its topics other
than those that best match the seed lists.

    OMP_NUM_THREADS=1 python -m spacy train configs/cpu.cfg --paths.train /tmp/tvb/ng20/train.spacy \
        --paths.dev /tmp/tvb/ng20/dev.spacy --components.textvae.n_topics 20 \
        --components.textvae.n_clusters 20 --output /tmp/wtb/ng20_model
    (the same with --components.textvae.seed_words '[["space","nasa","orbit"],["god","jesus","bible"],["hockey","game","team"]]'
     and --output /tmp/wtb/ng20_seeded), then
    OMP_NUM_THREADS=1 python -m benchmarks.seed_words --unseeded /tmp/wtb/ng20_model/model-best \
        --seeded /tmp/wtb/ng20_seeded/model-best --test /tmp/tvb/ng20/test.spacy \
        --out benchmarks/results/seed_words.json

The recorded runs (`seed_words.json`, `seed_words_seed1.json`, `seed_words_lists_b.json`,
`seed_words_strength4_seed1.json`) trained through `python -m benchmarks.product_path run ng20 --k 20
--clusters 20 --seed S --set components.textvae.seed_words=...`, which runs the same `spacy train`
(the models are in `WORK/runs/`); each compares with the unseeded run of the same training seed.
It also reports each seed word's share owned by its topic (the quantity the seed anchor trains).
"""
import argparse
import json
from pathlib import Path
from typing import Any, Dict, List

import numpy
import spacy
import torch
from spacy.tokens import DocBin

from spacy_textvae.metrics import npmi_per_topic


def read(path: Path, test: Path) -> Dict[str, Any]:
    nlp = spacy.load(path)
    pipe = nlp.get_pipe("textvae")
    docs = list(DocBin().from_disk(test).get_docs(nlp.vocab))
    texts = [pipe.topic_vocab.tokens_of(doc) for doc in docs]
    topics = pipe.topic_words(10)
    npmi = npmi_per_topic(topics, texts)
    decoder = pipe.torch_module.decoder
    column = {w: i for i, w in enumerate(pipe.topic_vocab.words)}
    with torch.no_grad():
        owned = decoder.topic_words.assignment_log_probs(
            torch.tensor([column[w] for words in pipe.seed_words for w in words] or [0])
        ).exp()
    cells = [(k, w) for k, words in enumerate(pipe.seed_words) for w in words]
    return {
        "seed_words": pipe.seed_words,
        # How much of each seed word its topic owns among all topics (decoder weights).
        "seed_shares": {f"{k}:{w}": float(owned[k, i]) for i, (k, w) in enumerate(cells)},
        "topics": topics,
        "npmi": [float(x) for x in npmi],
        "topics_by_probability": pipe.topic_words(10, relevance=1.0),
        "topics_top25": pipe.topic_words(25),
    }


def mean(values: List[float]) -> float:
    return float(numpy.nanmean(values))


def main(unseeded: Path, seeded: Path, test: Path, out: Path) -> None:
    base, run = read(unseeded, test), read(seeded, test)
    seeds = run["seed_words"]
    n_seeded = len(seeds)
    held = [sorted(set(words) & set(run["topics"][k])) for k, words in enumerate(seeds)]
    held_prob = [sorted(set(words) & set(run["topics_by_probability"][k])) for k, words in enumerate(seeds)]
    held_25 = [sorted(set(words) & set(run["topics_top25"][k])) for k, words in enumerate(seeds)]
    # The unseeded run's topics closest to each seed list (most seeds in the top 10, then NPMI).
    matched = []
    for words in seeds:
        order = sorted(
            (k for k in range(len(base["topics"])) if k not in matched),
            key=lambda k: (-len(set(words) & set(base["topics"][k])), -base["npmi"][k]),
        )
        matched.append(order[0])
    result = {
        "seed_words": seeds,
        "seeds_in_top10": held,
        "all_seeds_in_top10": all(len(h) == len(w) for h, w in zip(held, seeds)),
        "seeds_in_top10_by_probability": held_prob,
        "seeds_in_top25": held_25,
        "seed_shares": run["seed_shares"],
        "seeded_topics": run["topics"][:n_seeded],
        "seeded_topics_npmi": run["npmi"][:n_seeded],
        "free_topics_npmi_mean": mean(run["npmi"][n_seeded:]),
        "unseeded_run_npmi_mean": mean(base["npmi"]),
        "unseeded_run_matched_topics": [base["topics"][k] for k in matched],
        "unseeded_run_other_topics_npmi_mean": mean([x for k, x in enumerate(base["npmi"]) if k not in matched]),
        "seeded_run_npmi_mean": mean(run["npmi"]),
        "seeded_run": run,
        "unseeded_run": base,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf8")
    for key in ("seed_shares", "seeds_in_top10", "seeds_in_top10_by_probability", "seeds_in_top25", "seeded_topics", "free_topics_npmi_mean", "unseeded_run_npmi_mean",
                "unseeded_run_other_topics_npmi_mean", "seeded_run_npmi_mean"):
        print(key, result[key])


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--unseeded", type=Path, required=True)
    parser.add_argument("--seeded", type=Path, required=True)
    parser.add_argument("--test", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "seed_words.json")
    args = parser.parse_args()
    main(args.unseeded, args.seeded, args.test, args.out)
