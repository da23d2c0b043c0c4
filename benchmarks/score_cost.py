"""Cost of evaluating textvae: `nlp.evaluate` on dev docs with the component's
score() reading the perplexity from the ELBO terms set_annotations kept on the docs
(the code as it is), against running the model over the docs a second time for it
(the code before). Same process, alternating runs, medians.

    OMP_NUM_THREADS=1 python -m benchmarks.score_cost --n-docs 1000
"""
import statistics
import time
from typing import Dict, List

import torch
from spacy.training import Example

from .speed import build, read_texts, timing_parser


def evaluate_seconds(nlp, examples: List[Example]) -> float:
    start = time.perf_counter()
    nlp.evaluate(examples, batch_size=128)
    return time.perf_counter() - start


def main() -> None:
    args = timing_parser(__doc__, n_docs=1000).parse_args()
    torch.set_num_threads(args.threads)
    texts = read_texts(args.texts, args.n_docs)
    nlp = build(texts, "own", 20)
    pipe = nlp.get_pipe("textvae")
    examples = [Example(nlp.make_doc(t), nlp.make_doc(t)) for t in texts]
    annotated = pipe._annotated_perplexity
    modes = {"perplexity from the annotations": annotated, "model run again for perplexity": pipe.perplexity}
    seconds: Dict[str, List[float]] = {name: [] for name in modes}
    scores = {}
    evaluate_seconds(nlp, examples[:100])  # warm-up
    for _ in range(args.runs):  # alternate, so drift in machine load hits both alike
        for name, fn in modes.items():
            pipe._annotated_perplexity = fn
            seconds[name].append(evaluate_seconds(nlp, examples))
            scores[name] = nlp.evaluate(examples[:200])["textvae_perplexity"]
    pipe._annotated_perplexity = annotated
    med = {k: statistics.median(v) for k, v in seconds.items()}
    print(f"{len(texts)} docs (tok2vec + textvae with its own tok2vec), {args.runs} runs, "
          f"torch threads {args.threads}")
    print("| textvae_perplexity from | nlp.evaluate s (median) | runs | perplexity (200 docs) |")
    print("|---|---:|---|---:|")
    for k, v in seconds.items():
        print(f"| {k} | {med[k]:.2f} | {', '.join(f'{x:.2f}' for x in v)} | {scores[k]:.3f} |")
    names = list(modes)
    print(f"ratio: {med[names[1]] / med[names[0]]:.2f}")


if __name__ == "__main__":
    main()
