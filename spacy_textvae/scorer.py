"""The spaCy scorer of the textvae component, `spacy-textvae.textvae_scorer.v1`:
topic coherence and diversity of the component's topic words over the
reference docs, and cluster scores of `doc._.cluster` against `doc.cats`
(the metrics themselves are in `spacy_textvae.metrics`)."""
from typing import Any, Callable, Dict, Iterable, List, Optional

import numpy
import spacy
from spacy.tokens import Doc
from spacy.training import Example

from .metrics import DIVERSITY_TOP_N, NPMI_TOP_N, NPMI_WINDOW_SIZE
from .metrics import cluster_scores, npmi_coherence, topic_diversity


def _default_tokens_of(doc: Doc) -> List[str]:
    """Return the texts of a doc's tokens.

    doc (Doc): The doc.
    RETURNS (List[str]): The token texts in order.
    """
    return [token.text for token in doc]


def _gold_label(doc: Doc) -> Optional[str]:
    """Return the highest-scoring category of a doc, if it has any.

    doc (Doc): The reference doc.
    RETURNS (Optional[str]): The label, None if `doc.cats` is empty.
    """
    if not doc.cats:
        return None
    return max(doc.cats, key=doc.cats.__getitem__)


def _none_if_nan(value: float) -> Optional[float]:
    """Map NaN to None, which spaCy leaves out of its score tables.

    value (float): The value.
    RETURNS (Optional[float]): The value, or None.
    """
    return None if numpy.isnan(value) else float(value)


def score_textvae(
    examples: Iterable[Example],
    *,
    topic_words: Optional[List[List[str]]] = None,
    tokens_of: Optional[Callable[[Doc], List[str]]] = None,
    extra_scores: Optional[Dict[str, float]] = None,
    cluster_attr: str = "cluster",
    **kwargs: Any,
) -> Dict[str, Optional[float]]:
    """Score the textvae component on a batch of examples.

    textvae_npmi is the mean NPMI of each topic's first 10 words over the
    reference docs (window size 10, see `npmi_coherence`), textvae_diversity
    the top-25 topic diversity. When reference docs carry `doc.cats`, the
    gold label of a doc is its highest-scoring category, and the predicted
    docs' `doc._.cluster` is scored against it as textvae_cluster_nmi,
    textvae_cluster_ari and textvae_cluster_purity; docs without cats or
    without a cluster are left out. Scores that cannot be computed are None.

    examples (Iterable[Example]): The examples to score.
    topic_words (Optional[List[List[str]]]): The words of each topic, best
        first, at least 25 per topic. If None, NPMI and diversity are None.
    tokens_of (Optional[Callable[[Doc], List[str]]]): Gives the tokens of a
        reference doc for NPMI, e.g. its topic-vocabulary words in order.
        Defaults to the token texts.
    extra_scores (Optional[Dict[str, float]]): Further scores to include,
        e.g. a perplexity computed by the component.
    cluster_attr (str): The `Doc._` extension holding the predicted cluster
        (the component's, with its extension prefix).
    RETURNS (Dict[str, Optional[float]]): The scores.
    """
    examples = list(examples)
    get_tokens = tokens_of if tokens_of is not None else _default_tokens_of
    scores: Dict[str, Optional[float]] = {
        "textvae_npmi": None,
        "textvae_diversity": None,
        "textvae_cluster_nmi": None,
        "textvae_cluster_ari": None,
        "textvae_cluster_purity": None,
    }
    if topic_words:
        texts = [get_tokens(eg.reference) for eg in examples]
        top_words = [list(words)[:NPMI_TOP_N] for words in topic_words]
        scores["textvae_npmi"] = _none_if_nan(
            npmi_coherence(top_words, texts, top_n=NPMI_TOP_N, window_size=NPMI_WINDOW_SIZE)
        )
        # A vocabulary smaller than 25 words caps the list: score what there is.
        top_n = min(DIVERSITY_TOP_N, min(len(words) for words in topic_words))
        scores["textvae_diversity"] = topic_diversity(topic_words, top_n=top_n) if top_n else None
    if Doc.has_extension(cluster_attr):
        pred = []
        gold = []
        for eg in examples:
            label = _gold_label(eg.reference)
            cluster = eg.predicted._.get(cluster_attr)
            if label is not None and cluster is not None:
                pred.append(int(cluster))
                gold.append(label)
        if pred:
            clustering = cluster_scores(pred, gold)
            scores["textvae_cluster_nmi"] = clustering["nmi"]
            scores["textvae_cluster_ari"] = clustering["ari"]
            scores["textvae_cluster_purity"] = clustering["purity"]
    if extra_scores:
        scores.update(
            {key: None if value is None else float(value) for key, value in extra_scores.items()}
        )
    return scores


@spacy.registry.scorers("spacy-textvae.textvae_scorer.v1")
def make_textvae_scorer_v1() -> Callable[..., Dict[str, Optional[float]]]:
    """Create the textvae scorer, `score_textvae`.

    RETURNS (Callable[..., Dict[str, Optional[float]]]): The scorer.
    """
    return score_textvae
