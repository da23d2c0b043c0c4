"""The HTML report of a trained pipeline on a corpus: what the topics are, how
the documents lie in the latent space, how the clusters meet the gold labels,
and the scores, in one self-contained page (`report_page` renders it)."""
import html
import re
from collections import Counter
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy
import spacy
from spacy import displacy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Example

from ..errors import TextVAEError
from ..groups import topics_per_group
from ..metrics import cosine_similarity
from .corpus import DATE_KEY, GROUP_KEY, InputError  # a TextVAEError
from .report_page import render_page
from .reports import _find_textvae, _load_examples, predict_examples, score_examples

# Above this many documents the map shows a seeded random sample: an SVG of a
# few thousand points stays quick to open and to hover in any browser.
DEFAULT_MAX_POINTS = 5000
# Representative documents listed under each topic.
N_REPRESENTATIVE = 3
# Documents shown with their topic spans, and the tokens shown of each.
N_RENDERED = 4
MAX_RENDERED_TOKENS = 120
SNIPPET_CHARS = 160
REPRESENTATIVE_CHARS = 300
# Categorical colours (Tableau 10); further ones are spread around the hue circle.
# Words per node of the topic tree.
TREE_WORDS = 5
# Above this many months the topics over time are shown per year.
MAX_MONTHS = 36
# Most groups drawn in a chart (the largest ones).
MAX_GROUPS = 40
PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
           "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac")


def color(i: int) -> str:
    """The report's colour of topic or cluster `i`.

    i (int): The topic or cluster.
    RETURNS (str): A CSS colour.
    """
    if i < len(PALETTE):
        return PALETTE[i]
    # The golden angle keeps neighbouring indices far apart in hue.
    return f"hsl({(i * 137.508) % 360:.1f}, 55%, 55%)"


def snippet(text: str, n_chars: int = SNIPPET_CHARS) -> str:
    """The start of a text, whitespace collapsed, cut at `n_chars` with "…".

    text (str): The text.
    n_chars (int): At most this many characters (before the ellipsis).
    RETURNS (str): The snippet (not escaped).
    """
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= n_chars else text[:n_chars].rstrip() + "…"


def project_2d(latents: numpy.ndarray) -> numpy.ndarray:
    """The documents' latents on their first two principal axes (PCA by SVD).

    SVD gives each axis up to its sign; each axis is turned so that its
    largest loading is positive, so the same latents always give the same map.

    latents (numpy.ndarray): (n_docs, n_dims).
    RETURNS (numpy.ndarray): (n_docs, 2) float64 coordinates, centred.
    """
    X = numpy.asarray(latents, dtype="float64")
    coords = numpy.zeros((X.shape[0], 2))
    if X.shape[0] < 2 or X.ndim != 2 or X.shape[1] == 0:
        return coords
    X = X - X.mean(axis=0)
    _, _, vt = numpy.linalg.svd(X, full_matrices=False)
    axes = vt[:2]
    biggest = numpy.argmax(numpy.abs(axes), axis=1)
    signs = numpy.sign(axes[numpy.arange(len(axes)), biggest])
    signs[signs == 0] = 1.0
    axes = axes * signs[:, None]
    coords[:, : len(axes)] = X @ axes.T
    return coords


def _unit_square(coords: numpy.ndarray) -> numpy.ndarray:
    """Coordinates scaled into [0, 1]², one scale for both axes, so that the
    map keeps the projection's distances."""
    lo = coords.min(axis=0) if len(coords) else numpy.zeros(2)
    span = float((coords.max(axis=0) - lo).max()) if len(coords) else 0.0
    scaled = (coords - lo) / span if span > 0 else numpy.full_like(coords, 0.5)
    # Centre the shorter axis.
    return scaled + (1.0 - scaled.max(axis=0)) / 2 if len(coords) else scaled


def _gold_label(doc: Doc) -> Optional[str]:
    cats = doc.cats
    return max(cats, key=cats.__getitem__) if cats else None


def _array(doc: Doc, name: str, width: int) -> numpy.ndarray:
    value = doc._.get(name)
    return numpy.zeros(width, dtype="float32") if value is None else numpy.asarray(value, dtype="float32")


def topic_label(pipe, k: int, words: Sequence[str]) -> str:
    """The name of topic `k`: the component's own (`pipe.topic_label`, which
    also labels the topic spans) when it has one, else "k: its top words".

    pipe (TextVAE): The component.
    k (int): The topic.
    words (Sequence[str]): The topic's top words, best first.
    RETURNS (str): The label (not escaped).
    """
    label_of = getattr(pipe, "topic_label", None)
    if callable(label_of):
        return str(label_of(k))
    return f"{k}: {' '.join(words[:3])}"


def render_topic_spans(doc: Doc, spans_key: str, colors: Dict[str, str], max_tokens: int = MAX_RENDERED_TOKENS) -> str:
    """A doc as HTML with its topic spans underlined and labelled (displaCy's
    span style), or as plain text when it has no such spans. Text and labels
    are escaped: both come from the documents.

    doc (Doc): An annotated doc.
    spans_key (str): The key of the topic spans in `doc.spans`.
    colors (Dict[str, str]): CSS colour by (unescaped) span label.
    max_tokens (int): Show at most this many tokens.
    RETURNS (str): Safe HTML.
    """
    n = min(len(doc), max_tokens)
    cut = "…" if n < len(doc) else ""
    if spans_key not in doc.spans:
        return f'<p class="plain">{html.escape(doc[:n].text)}{cut}</p>'
    spans = [
        # displaCy escapes the tokens but not the labels.
        {"start_token": s.start, "end_token": s.end, "label": html.escape(s.label_)}
        for s in doc.spans[spans_key]
        if s.end <= n
    ]
    data = {"text": doc[:n].text, "tokens": [t.text for t in doc[:n]], "spans": spans}
    options = {"colors": {html.escape(label): c for label, c in colors.items()}}
    return displacy.render(data, style="span", manual=True, options=options, page=False) + html.escape(cut)


def _rendered_docs(docs: List[Doc], topics: numpy.ndarray, order: Sequence[int], spans_key: str,
                   colors: Dict[str, str], n_docs: int) -> List[Dict[str, Any]]:
    """The most representative doc of each of the largest topics (shorter docs
    first among the ten most representative), rendered with its topic spans."""
    chosen: List[int] = []
    for k in order:
        if len(chosen) >= n_docs:
            break
        best = [int(i) for i in numpy.argsort(-topics[:, k], kind="stable")[:10] if int(i) not in chosen]
        if not best:
            continue
        short = [i for i in best if len(docs[i]) <= MAX_RENDERED_TOKENS]
        chosen.append(short[0] if short else best[0])
    return [
        {"doc": i, "topic": int(numpy.argmax(topics[i])), "html": render_topic_spans(docs[i], spans_key, colors),
         "has_spans": spans_key in docs[i].spans}
        for i in chosen
    ]


def build_report(
    nlp: Language,
    examples: List[Example],
    *,
    component: Optional[str] = None,
    top_n: int = 10,
    max_points: int = DEFAULT_MAX_POINTS,
    seed: int = 0,
    batch_size: int = 64,
    progress: bool = True,
    title: str = "spacy-textvae report",
    source: Optional[Dict[str, str]] = None,
) -> Dict[str, Any]:
    """Run the pipeline on examples and gather what the HTML report shows.

    nlp (Language): A trained pipeline with a textvae component.
    examples (List[Example]): The corpus; gold labels, if any, in `reference.cats`.
    component (Optional[str]): Name of the textvae component (default: the first).
    top_n (int): Words per topic.
    max_points (int): Most documents on the map; above it, a seeded random sample.
    seed (int): Seed of that sample.
    batch_size (int): Docs per batch.
    progress (bool): Show a progress bar on a terminal.
    title (str): The page's title.
    source (Optional[Dict[str, str]]): Where the model and data came from ("model", "data").
    RETURNS (Dict[str, Any]): The report's content (JSON-serialisable, text unescaped
        except the pre-rendered doc HTML).
    """
    if max_points < 1:
        raise InputError(f"--max-points is {max_points}. Pass a positive number of map points, e.g. --max-points 5000.")
    if top_n < 1:
        raise InputError(f"--top-n is {top_n}. Pass a positive number of words per topic, e.g. --top-n 10.")
    if not examples:
        raise InputError("The corpus has no documents. Pass a .spacy corpus with documents, e.g. corpus/dev.spacy.")
    pipe = _find_textvae(nlp, component)
    examples = predict_examples(nlp, examples, batch_size=batch_size, progress=progress, desc="Building the report")
    docs = [eg.predicted for eg in examples]
    names = pipe.extension_names
    n_topics, n_clusters = int(getattr(pipe, "n_doc_topics", pipe.n_topics)), int(pipe.n_clusters)
    latents = numpy.stack([_array(doc, names["latent"], int(pipe.n_topics)) for doc in docs])
    topics = numpy.stack([_array(doc, names["topics"], n_topics) for doc in docs])
    clusters = numpy.asarray([int(doc._.get(names["cluster"]) or 0) for doc in docs], dtype="int64")
    top_topic = topics.argmax(axis=1)
    golds = [_gold_label(eg.reference) for eg in examples]
    n_docs = len(docs)

    weights = pipe.topic_word_weights(top_n)
    topic_list = []
    for k, words in enumerate(weights):
        members = numpy.flatnonzero(top_topic == k)
        labels = Counter(golds[i] for i in members if golds[i] is not None)
        representative = numpy.argsort(-topics[:, k], kind="stable")[:N_REPRESENTATIVE]
        topic_list.append(
            {
                "id": k,
                "label": topic_label(pipe, k, [w for w, _ in words]),
                "color": color(k),
                "words": [w for w, _ in words],
                "weights": [float(p) for _, p in words],
                "size": int(len(members)),
                "share": len(members) / n_docs,
                "labels": dict(labels.most_common(3)),
                "docs": [{"text": snippet(docs[i].text, REPRESENTATIVE_CHARS), "p": float(topics[i, k])}
                         for i in representative],
            }
        )

    coords = _unit_square(project_2d(latents))
    shown = numpy.arange(n_docs)
    if n_docs > max_points:
        shown = numpy.sort(numpy.random.default_rng(seed).choice(n_docs, size=max_points, replace=False))
    points = [
        [round(float(coords[i, 0]), 4), round(float(coords[i, 1]), 4), int(clusters[i]), int(top_topic[i]),
         snippet(docs[i].text)]
        for i in shown
    ]
    cluster_sizes = Counter(int(c) for c in clusters)

    gold_names = sorted({g for g in golds if g is not None})
    table = None
    if gold_names:
        counts: Dict[int, Counter] = {}
        for c, g in zip(clusters, golds):
            if g is not None:
                counts.setdefault(int(c), Counter())[g] += 1
        table = {
            "labels": gold_names,
            "rows": [{"cluster": c, "counts": [counts[c][g] for g in gold_names]} for c in sorted(counts)],
        }

    # The tokenizer's scores compare the corpus's tokens with themselves (always 1): left out.
    scores = {
        k: v for k, v in score_examples(nlp, examples).items()
        if (v is None or isinstance(v, (int, float))) and not k.startswith("token_")
    }
    order = [int(k) for k in numpy.argsort([-t["size"] for t in topic_list], kind="stable")]
    span_colors = {t["label"]: t["color"] for t in topic_list}
    return {
        "title": title,
        "source": dict(source or {}),
        "component": pipe.name,
        "n_docs": n_docs,
        "n_topics": n_topics,
        "n_clusters": n_clusters,
        "top_n": top_n,
        "topics": topic_list,
        "similarity": [[round(float(x), 4) for x in row] for row in cosine_similarity(pipe.topic_word_matrix())],
        "map": {"points": points, "n_total": n_docs, "sampled": bool(n_docs > max_points), "seed": seed,
                "max_points": max_points},
        "clusters": [{"id": c, "color": color(c), "size": cluster_sizes.get(c, 0)} for c in range(n_clusters)],
        "cluster_labels": table,
        "scores": scores,
        "rendered": _rendered_docs(docs, topics, order, pipe.name, span_colors, N_RENDERED),
        "spans_key": pipe.name,
        "tree": pipe.topic_tree(top_n=TREE_WORDS).to_dict() if hasattr(pipe, "topic_tree") else None,
        "groups": _group_charts(examples, names["topics"]),
    }


def _group_charts(examples: List[Example], topics_attr: str) -> List[Dict[str, Any]]:
    """Topic shares per group and over time, from the group and date fields
    preprocessing keeps in the reference docs' user_data (none: no charts).
    Dates go by month, or by year when they span more than MAX_MONTHS months."""
    charts = []
    for key, title in ((GROUP_KEY, "group"), (DATE_KEY, "date")):
        if not any(key in eg.reference.user_data for eg in examples):
            continue
        for eg in examples:
            if key in eg.reference.user_data:
                eg.predicted.user_data[key] = eg.reference.user_data[key]
        docs = [eg.predicted for eg in examples]
        try:
            frequency = None
            if key == DATE_KEY:
                frequency = "month"
                result = topics_per_group(docs, key, frequency=frequency, topics_attr=topics_attr)
                if len(result.groups) > MAX_MONTHS:
                    frequency = "year"
                    result = topics_per_group(docs, key, frequency=frequency, topics_attr=topics_attr)
            else:
                result = topics_per_group(docs, key, topics_attr=topics_attr)
        except TextVAEError as e:
            charts.append({"key": key, "title": title, "error": str(e)})
            continue
        data = result.to_dict()
        if key == GROUP_KEY and len(data["groups"]) > MAX_GROUPS:
            keep = sorted(numpy.argsort(-result.counts, kind="stable")[:MAX_GROUPS].tolist())
            data["groups"] = [data["groups"][i] for i in keep]
            data["counts"] = [data["counts"][i] for i in keep]
            data["shares"] = [data["shares"][i] for i in keep]
            data["n_hidden"] = len(result.groups) - MAX_GROUPS
        data["shares"] = [[round(x, 4) for x in row] for row in data["shares"]]
        charts.append({**data, "title": title})
    return charts


def write_report(
    model: Union[str, Path, Language],
    data_path: Union[str, Path],
    output: Union[str, Path],
    **kwargs: Any,
) -> Dict[str, Any]:
    """Write the self-contained HTML report of a pipeline on a corpus.

    model (Union[str, Path, Language]): A trained pipeline, its directory or package name.
    data_path (Union[str, Path]): A .spacy corpus (file or folder of shards).
    output (Union[str, Path]): The HTML file to write.
    **kwargs: Passed on to `build_report` (component, top_n, max_points, seed, ...).
    RETURNS (Dict[str, Any]): The report's content, as `build_report` gives it.
    """
    nlp = model if isinstance(model, Language) else spacy.load(model)
    examples = _load_examples(nlp, Path(data_path))
    source = {"model": "(in memory)" if isinstance(model, Language) else str(model), "data": str(data_path)}
    report = build_report(nlp, examples, source=source, **kwargs)
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render_page(report), encoding="utf8")
    return report
