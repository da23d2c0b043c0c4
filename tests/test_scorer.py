"""spacy_textvae.scorer: the registered textvae scorer on spaCy examples,
checked against gensim's NPMI and scikit-learn's cluster scores."""
import pytest
import spacy
from spacy.tokens import Doc
from spacy.training import Example

from spacy_textvae.metrics import topic_diversity
from spacy_textvae.scorer import make_textvae_scorer_v1, score_textvae

from .test_metrics import TEXTS, TOPICS, gensim_npmi, sk_metrics, sklearn_purity


@pytest.fixture
def nlp():
    if not Doc.has_extension("cluster"):
        Doc.set_extension("cluster", default=None)
    return spacy.blank("en")


def make_examples(nlp, texts, clusters, cats):
    examples = []
    for text, cluster, doc_cats in zip(texts, clusters, cats):
        predicted = nlp.make_doc(text)
        predicted._.cluster = cluster
        reference = nlp.make_doc(text)
        reference.cats = doc_cats
        examples.append(Example(predicted, reference))
    return examples


SCORER_TEXTS = [" ".join(text) for text in TEXTS if text] + ["", "apple banana"]
SCORER_TOPICS = [topic + [f"pad{i}w{j}" for j in range(22)] for i, topic in enumerate(TOPICS)]
# "zebra" is absent from the texts, and the 11th word must not take its place.
SCORER_TOPICS.append(
    ["kiwi", "zebra", "lemon", "apple", "melon", "banana", "car", "road", "tyre", "wheel"]
    + ["engine", "cherry", "grape"]
    + [f"pad9w{j}" for j in range(15)]
)


def test_scorer_registered():
    scorer = spacy.registry.scorers.get("spacy-textvae.textvae_scorer.v1")()
    assert scorer is score_textvae
    assert make_textvae_scorer_v1() is score_textvae


def test_scorer_with_cats(nlp):
    n = len(SCORER_TEXTS)
    gold = ["fruit", "car", "fruit", "fruit", "fruit", "car"]
    gold += ["fruit", "other", "fruit", "fruit", "car"]
    assert len(gold) == n
    labels = ["fruit", "car", "other"]
    cats = [{lab: float(lab == g) for lab in labels} for g in gold]
    cats[-1] = {}  # no gold label: left out
    clusters = [0, 1, 0, 2, 0, 1, 0, 2, 2, 0, 1]
    clusters[3] = None  # no prediction: left out
    examples = make_examples(nlp, SCORER_TEXTS, clusters, cats)
    tokens_of = lambda doc: [t.text for t in doc]  # noqa: E731
    scores = score_textvae(
        examples,
        topic_words=SCORER_TOPICS,
        tokens_of=tokens_of,
        extra_scores={"textvae_perplexity": 123.5},
    )
    assert set(scores) == {
        "textvae_npmi",
        "textvae_diversity",
        "textvae_cluster_nmi",
        "textvae_cluster_ari",
        "textvae_cluster_purity",
        "textvae_perplexity",
    }
    texts = [tokens_of(eg.reference) for eg in examples]
    top10 = [topic[:10] for topic in SCORER_TOPICS]
    _, expected_npmi = gensim_npmi(top10, texts, 10, 10)
    assert scores["textvae_npmi"] == pytest.approx(expected_npmi, abs=1e-6)
    assert scores["textvae_diversity"] == pytest.approx(topic_diversity(SCORER_TOPICS, 25))
    assert scores["textvae_diversity"] < 1.0
    kept = [i for i in range(n) if i not in (3, n - 1)]
    kept_pred = [clusters[i] for i in kept]
    kept_gold = [gold[i] for i in kept]
    assert scores["textvae_cluster_nmi"] == pytest.approx(
        sk_metrics.normalized_mutual_info_score(kept_gold, kept_pred), abs=1e-9
    )
    assert scores["textvae_cluster_ari"] == pytest.approx(
        sk_metrics.adjusted_rand_score(kept_gold, kept_pred), abs=1e-9
    )
    assert scores["textvae_cluster_purity"] == pytest.approx(sklearn_purity(kept_pred, kept_gold))
    assert scores["textvae_perplexity"] == 123.5


def test_scorer_gold_label_is_highest_cat(nlp):
    cats = [{"a": 0.2, "b": 0.7}, {"a": 0.9, "b": 0.1}, {"a": 0.6, "b": 0.4}]
    examples = make_examples(nlp, ["x", "y", "z"], [1, 0, 1], cats)
    scores = score_textvae(examples)
    # Gold b, a, a against clusters 1, 0, 1: purity 2/3.
    assert scores["textvae_cluster_purity"] == pytest.approx(2 / 3)


def test_scorer_without_cats_or_topics(nlp):
    n = len(SCORER_TEXTS)
    examples = make_examples(nlp, SCORER_TEXTS, list(range(n)), [{}] * n)
    scores = score_textvae(examples, topic_words=SCORER_TOPICS)
    assert scores["textvae_cluster_nmi"] is None
    assert scores["textvae_cluster_ari"] is None
    assert scores["textvae_cluster_purity"] is None
    assert isinstance(scores["textvae_npmi"], float)
    scores = score_textvae(examples)
    assert scores["textvae_npmi"] is None and scores["textvae_diversity"] is None


def test_scorer_npmi_none_when_no_topic_word_occurs(nlp):
    examples = make_examples(nlp, ["nothing relevant here"], [0], [{"a": 1.0}])
    scores = score_textvae(examples, topic_words=SCORER_TOPICS)
    assert scores["textvae_npmi"] is None
    assert scores["textvae_diversity"] == pytest.approx(topic_diversity(SCORER_TOPICS))
    assert scores["textvae_cluster_nmi"] == 1.0
