"""Reports on a trained pipeline: its scores on a corpus and its topics."""
from collections import Counter
from pathlib import Path
from timeit import default_timer as timer
from typing import Any, Dict, List, Optional

import numpy
import spacy
from spacy.scorer import Scorer
from spacy.training import Corpus, Example
from tqdm import tqdm

from .corpus import InputError  # a TextVAEError


def _load_examples(nlp, data_path: Path) -> list:
    data_path = Path(data_path)
    if not data_path.exists():
        raise InputError(f"Corpus not found: {data_path}. Run the 'preprocess' step first.")
    return list(Corpus(data_path)(nlp))


def _find_textvae(nlp, component: Optional[str]):
    if component:
        if component not in nlp.pipe_names:
            raise InputError(
                f"No component '{component}' in the pipeline (it has: {', '.join(nlp.pipe_names)}). "
                "Pass --component with the name of a textvae component."
            )
        return nlp.get_pipe(component)
    for name in nlp.pipe_names:
        if nlp.get_pipe_meta(name).factory == "textvae":
            return nlp.get_pipe(name)
    raise InputError(
        f"The pipeline has no textvae component (it has: {', '.join(nlp.pipe_names)}). "
        "Pass a pipeline trained with one, e.g. training/model-best."
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return value.item()
    return value


def predict_examples(
    nlp, examples: List[Example], *, batch_size: int = 64, progress: bool = True, desc: str = "Running the pipeline"
) -> List[Example]:
    """Run the pipeline over the examples' texts, as `nlp.evaluate` does, with
    a progress bar on a terminal (silent otherwise).

    nlp (Language): The pipeline.
    examples (List[Example]): The examples, e.g. from a corpus reader; their
        reference docs are kept, their predicted docs annotated.
    batch_size (int): Docs per batch.
    progress (bool): Show a progress bar when output is a terminal.
    desc (str): The progress bar's label.
    RETURNS (List[Example]): New examples whose predicted docs the pipeline annotated.
    """
    # The corpus reader gives each example a fresh predicted doc: annotate it in place.
    docs = nlp.pipe((eg.predicted for eg in examples), batch_size=batch_size)
    bar = tqdm(docs, total=len(examples), desc=desc, unit="doc", leave=False, disable=None if progress else True)
    return [Example(doc, eg.reference) for eg, doc in zip(examples, bar)]


def score_examples(nlp, examples: List[Example]) -> Dict[str, Any]:
    """Every score the pipeline's components report on annotated examples (what
    `nlp.evaluate` returns, without its speed).

    nlp (Language): The pipeline.
    examples (List[Example]): Examples from `predict_examples`.
    RETURNS (Dict[str, Any]): The scores (JSON-serialisable).
    """
    return _jsonable(Scorer(nlp=nlp).score(examples))


def evaluate_pipeline(model: Path, data_path: Path, *, batch_size: int = 64, progress: bool = True) -> Dict[str, Any]:
    """Run the pipeline on a corpus and return every score its components report.

    model (Path): The trained pipeline directory (or installed package name).
    data_path (Path): A .spacy corpus (file or folder of shards).
    batch_size (int): Docs per batch.
    progress (bool): Show a progress bar on a terminal.
    RETURNS (Dict[str, Any]): The scores (JSON-serialisable), with "speed" in words/s.
    """
    nlp = spacy.load(model)
    examples = _load_examples(nlp, data_path)
    start = timer()
    examples = predict_examples(nlp, examples, batch_size=batch_size, progress=progress, desc="Evaluating")
    seconds = timer() - start
    scores = score_examples(nlp, examples)
    scores["speed"] = sum(len(eg.predicted) for eg in examples) / max(seconds, 1e-9)
    return scores


def topic_report(
    model: Path,
    data_path: Path,
    *,
    top_n: int = 10,
    component: Optional[str] = None,
    batch_size: int = 64,
    progress: bool = True,
) -> Dict[str, Any]:
    """Each topic's top words, weights and size (the docs whose largest topic it
    is) on a corpus, plus the gold labels most common among those docs.

    model (Path): The trained pipeline.
    data_path (Path): A .spacy corpus.
    top_n (int): Words per topic.
    component (Optional[str]): Name of the textvae component (default: the first).
    batch_size (int): Docs per batch.
    progress (bool): Show a progress bar on a terminal.
    RETURNS (Dict[str, Any]): {"n_docs", "topics": [{"id", "size", "share",
        "words", "weights", "labels"}], "clusters": {cluster: size}, "tree":
        the topic tree (`TopicTree.to_dict`)}.
    """
    nlp = spacy.load(model)
    pipe = _find_textvae(nlp, component)
    examples = _load_examples(nlp, data_path)
    texts = (eg.reference.text for eg in examples)
    golds = []
    for eg in examples:
        cats = eg.reference.cats
        golds.append(max(cats, key=cats.__getitem__) if cats else None)
    top_topic: List[int] = []
    clusters: Counter = Counter()
    docs = nlp.pipe(texts, batch_size=batch_size)
    for doc in tqdm(docs, total=len(examples), desc="Topics", unit="doc", leave=False, disable=None if progress else True):
        topics = doc._.get("topics")
        top_topic.append(int(numpy.argmax(topics)) if topics is not None and len(topics) else -1)
        if doc._.get("cluster") is not None:
            clusters[int(doc._.cluster)] += 1
    weights = pipe.topic_word_weights(top_n)
    n_docs = len(examples)
    top = numpy.asarray(top_topic, dtype="int64")
    result = []
    for k, words in enumerate(weights):
        members = numpy.flatnonzero(top == k)
        labels = Counter(golds[i] for i in members if golds[i] is not None)
        result.append(
            {
                "id": k,
                "size": len(members),
                "share": len(members) / n_docs if n_docs else 0.0,
                "words": [w for w, _ in words],
                "weights": [round(float(p), 6) for _, p in words],
                "labels": dict(labels.most_common(3)),
            }
        )
    return {
        "model": str(model),
        "data": str(data_path),
        "component": pipe.name,
        "n_docs": n_docs,
        "topics": result,
        "clusters": {str(c): n for c, n in sorted(clusters.items())},
        "tree": pipe.topic_tree().to_dict(),
    }
