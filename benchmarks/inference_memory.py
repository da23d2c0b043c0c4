"""Peak resident memory of textvae inference for one batch, against the size
of one dense (batch × vocabulary) float32 array.

    python -m benchmarks.inference_memory --ng20 PATH/train.jsonl.gz

Trains a small pipeline on raw 20 Newsgroups posts (10,000-word topic
vocabulary), saves it, then measures each batch size in a fresh process:
peak RSS during `pipe.predict` (sampled every 0.5 ms) minus the RSS before it.
"""
import argparse
import gzip
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List

MEASURE = r"""
import os, sys, threading, time, spacy
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
nlp = spacy.load(sys.argv[1])
pipe = nlp.get_pipe("textvae")
docs = [nlp.make_doc(t) for t in (["a tiny doc about orbit and launch"] * int(sys.argv[2]))]
pipe.predict(docs[:8])
before, peak, done = rss(), [0], [False]
def sample():
    while not done[0]:
        peak[0] = max(peak[0], rss())
        time.sleep(0.0005)
t = threading.Thread(target=sample)
t.start()
out = pipe.predict(docs)
done[0] = True
t.join()
print(max(peak[0], rss()) - before, len(pipe.topic_vocab))
"""


def measure_peaks(ng20_train: Path, batch_sizes: List[int]) -> Dict[int, Dict[str, float]]:
    """Train the small pipeline on raw posts and measure each batch size in a
    fresh process.

    ng20_train (Path): The raw 20 Newsgroups train.jsonl.gz.
    batch_sizes (List[int]): The batch sizes.
    RETURNS (Dict[int, Dict[str, float]]): Per batch size: peak_mib (peak RSS
        above the RSS before predict), dense_mib (one dense batch × vocabulary
        float32 array) and n_vocab.
    """
    import spacy
    from spacy.training import Example

    with gzip.open(ng20_train, "rt", encoding="utf8") as f:
        texts = [json.loads(line)["text"] for line in f]
    texts = [t for t in texts if t.strip()]
    random.Random(0).shuffle(texts)
    spacy.util.fix_random_seed(0)
    nlp = spacy.blank("en")
    nlp.add_pipe("textvae", config={"n_topics": 20, "n_clusters": 20, "kl_warmup_epochs": 1.0, "prior_fit_epochs": 0.5})
    examples = [Example(nlp.make_doc(t), nlp.make_doc(t)) for t in texts[:3000]]
    optimizer = nlp.initialize(lambda: examples)
    for batch in spacy.util.minibatch(examples[:640], size=64):
        nlp.update(batch, sgd=optimizer)
    results: Dict[int, Dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        nlp.to_disk(Path(tmp) / "model")
        for n in batch_sizes:
            out = subprocess.run([sys.executable, "-c", MEASURE, str(Path(tmp) / "model"), str(n)],
                                 capture_output=True, text=True, check=True)
            peak, n_vocab = (int(x) for x in out.stdout.split())
            results[n] = {"peak_mib": peak / 2**20, "dense_mib": n * n_vocab * 4 / 2**20, "n_vocab": n_vocab}
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ng20", required=True, type=Path)
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[256, 50_000])
    args = parser.parse_args()
    for n, rec in measure_peaks(args.ng20, args.batch_sizes).items():
        print(f"batch {n:>6}: peak +{rec['peak_mib']:8.1f} MiB; one dense batch x vocabulary "
              f"({rec['n_vocab']} words) {rec['dense_mib']:8.1f} MiB; ratio {rec['peak_mib'] / rec['dense_mib']:.2f}")


if __name__ == "__main__":
    main()
