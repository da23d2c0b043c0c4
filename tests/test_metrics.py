import math
import random
from typing import List, Sequence

import numpy
import pytest
import spacy
from spacy.tokens import Doc
from spacy.training import Example

from spacy_textvae.metrics import cluster_scores, make_textvae_scorer_v1
from spacy_textvae.metrics import npmi_coherence, npmi_per_topic, score_textvae
from spacy_textvae.metrics import topic_diversity

gensim_corpora = pytest.importorskip("gensim.corpora")
gensim_models = pytest.importorskip("gensim.models")
sk_metrics = pytest.importorskip("sklearn.metrics")


def gensim_npmi(topics, texts, top_n, window_size):
    model = gensim_models.CoherenceModel(
        topics=topics,
        texts=texts,
        dictionary=gensim_corpora.Dictionary(texts),
        coherence="c_npmi",
        topn=top_n,
        window_size=window_size,
        # The multi-process accumulator counts windows differently.
        processes=1,
    )
    return [float(x) for x in model.get_coherence_per_topic()], float(model.get_coherence())


def brute_force_npmi(topics, texts, top_n, window_size):
    """Exact boolean sliding windows, written out directly."""
    windows = []
    for text in texts:
        if len(text) <= window_size:
            windows.append(set(text))
        else:
            for t in range(len(text) - window_size + 1):
                windows.append(set(text[t : t + window_size]))
    n = len(windows)
    scores = []
    for topic in topics:
        words = [w for w in topic if any(w in text for text in texts)][:top_n]
        sims = []
        for i in range(1, len(words)):
            for j in range(i):
                a, b = words[i], words[j]
                ca = sum(a in w for w in windows) / n
                cb = sum(b in w for w in windows) / n
                cab = sum(a in w and b in w for w in windows) / n
                pmi = math.log((cab + 1e-12) / (ca * cb))
                sims.append(pmi / -math.log(cab + 1e-12))
        scores.append(sum(sims) / len(sims))
    return scores


TEXTS = [
    "apple banana apple cherry apple banana grape melon apple kiwi lemon apple banana".split(),
    "car engine wheel car road engine car wheel road car engine tyre".split(),
    "apple car banana road cherry engine".split(),
    "melon".split(),
    [],
    "cherry cherry cherry grape grape banana apple kiwi lemon melon kiwi kiwi apple".split(),
    "road tyre wheel engine car road road tyre wheel engine car car road tyre".split(),
    "lemon kiwi apple".split(),
    "filler words that are not in any topic at all but take up space apple".split(),
    "banana banana banana banana banana banana banana banana banana banana banana cherry".split(),
]

# "zebra" occurs in no text: gensim drops it before cutting to top_n.
TOPICS = [
    ["apple", "banana", "cherry", "grape", "melon", "kiwi"],
    ["car", "engine", "wheel", "road", "tyre", "apple"],
    ["kiwi", "zebra", "lemon", "apple", "melon", "banana"],
    ["banana", "road", "cherry", "car", "lemon", "engine"],
]


@pytest.mark.parametrize("window_size", [10, 3, 2, 1, 40])
def test_npmi_matches_gensim(window_size):
    top_n = 5
    expected, expected_mean = gensim_npmi(TOPICS, TEXTS, top_n, window_size)
    got = npmi_per_topic(TOPICS, TEXTS, top_n=top_n, window_size=window_size)
    assert len(got) == len(TOPICS)
    numpy.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    mean = npmi_coherence(TOPICS, TEXTS, top_n=top_n, window_size=window_size)
    assert mean == pytest.approx(expected_mean, abs=1e-6)


def test_npmi_defaults_match_gensim():
    topics = [topic * 2 for topic in TOPICS]  # 12 words: top 10 are used
    expected, _ = gensim_npmi(topics, TEXTS, 10, 10)
    numpy.testing.assert_allclose(npmi_per_topic(topics, TEXTS), expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("window_size", [10, 4])
def test_npmi_matches_gensim_random(seed, window_size):
    rng = random.Random(seed)
    vocab = [f"w{i}" for i in range(30)]
    # A small vocabulary makes words repeat inside windows.
    texts = [
        [rng.choice(vocab) for _ in range(rng.choice([0, 1, 3, 9, 10, 11, 25, 60]))]
        for _ in range(40)
    ]
    seen = sorted({w for text in texts for w in text})
    topics = [rng.sample(seen, 8) for _ in range(6)]
    expected, expected_mean = gensim_npmi(topics, texts, 7, window_size)
    got = npmi_per_topic(topics, texts, top_n=7, window_size=window_size)
    numpy.testing.assert_allclose(got, expected, rtol=0, atol=1e-6)
    mean = npmi_coherence(topics, texts, top_n=7, window_size=window_size)
    assert mean == pytest.approx(expected_mean, abs=1e-6)


@pytest.mark.parametrize("window_size", [10, 3, 2])
def test_npmi_exact_windows(window_size):
    texts = TEXTS + [
        "apple kiwi apple kiwi apple lemon kiwi kiwi apple melon lemon kiwi".split()
    ]
    got = npmi_per_topic(TOPICS, texts, top_n=5, window_size=window_size, gensim_compat=False)
    expected = brute_force_npmi(TOPICS, texts, 5, window_size)
    numpy.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


def test_npmi_gensim_window_quirk():
    # gensim forgets "a" when its first copy leaves the window, although the
    # second copy is still inside: "a" is counted in 1 of 4 windows, not 3.
    texts = [["a", "b", "a", "c", "x", "x"]]
    topics = [["a", "c"]]
    expected, _ = gensim_npmi(topics, texts, 2, 3)
    compat = npmi_per_topic(topics, texts, top_n=2, window_size=3)
    exact = npmi_per_topic(topics, texts, top_n=2, window_size=3, gensim_compat=False)
    assert compat == pytest.approx(expected, abs=1e-9)
    assert exact == pytest.approx(brute_force_npmi(topics, texts, 2, 3), abs=1e-9)
    assert exact[0] != pytest.approx(compat[0], abs=1e-3)


def test_npmi_unscorable_topics():
    texts = [["a", "b", "c", "a"]]
    scores = npmi_per_topic([["a", "b"], ["a", "zz", "yy"], ["qq"]], texts)
    assert not math.isnan(scores[0])
    assert math.isnan(scores[1]) and math.isnan(scores[2])
    assert npmi_coherence([["a", "b"], ["a", "zz"]], texts) == pytest.approx(scores[0])
    assert math.isnan(npmi_coherence([["zz", "yy"]], texts))
    assert npmi_per_topic([], texts) == []


def test_npmi_bad_input():
    with pytest.raises(TypeError):
        npmi_per_topic([["a", "b"]], ["a b"])
    with pytest.raises(ValueError):
        npmi_per_topic([["a", "b"]], [["a", "b"]], window_size=0)
    with pytest.raises(ValueError):
        npmi_per_topic([["a", "b"]], [["a", "b"]], top_n=0)


def test_topic_diversity():
    topics = [["a", "b", "c", "d"], ["a", "e", "f", "b"], ["g", "h", "a", "i"]]
    assert topic_diversity(topics, top_n=1) == pytest.approx(2 / 3)
    assert topic_diversity(topics, top_n=2) == pytest.approx(5 / 6)
    assert topic_diversity(topics, top_n=3) == pytest.approx(7 / 9)
    assert topic_diversity(topics, top_n=4) == pytest.approx(9 / 12)
    assert topic_diversity([["x"] * 25, ["x"] * 30]) == pytest.approx(1 / 50)
    distinct = [[f"t{t}w{i}" for i in range(30)] for t in range(4)]
    assert topic_diversity(distinct) == 1.0
    with pytest.raises(ValueError):
        topic_diversity(topics, top_n=5)
    with pytest.raises(ValueError):
        topic_diversity([])


def sklearn_purity(pred: Sequence[int], gold: Sequence[str]) -> float:
    table = sk_metrics.cluster.contingency_matrix(gold, pred)
    return table.max(axis=0).sum() / len(pred)


def check_against_sklearn(pred: List[int], gold: List) -> None:
    scores = cluster_scores(pred, gold)
    assert set(scores) == {"nmi", "ari", "purity"}
    assert scores["nmi"] == pytest.approx(
        sk_metrics.normalized_mutual_info_score(gold, pred), abs=1e-9
    )
    assert scores["ari"] == pytest.approx(sk_metrics.adjusted_rand_score(gold, pred), abs=1e-9)
    assert scores["purity"] == pytest.approx(sklearn_purity(pred, gold), abs=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_cluster_scores_random(seed):
    rng = numpy.random.default_rng(seed)
    n = int(rng.integers(5, 400))
    gold = [f"label{i}" for i in rng.integers(0, rng.integers(2, 8), size=n)]
    # Correlated predictions so the scores are not all near zero.
    pred = [
        int(hash(g) % 5) if rng.random() < 0.6 else int(rng.integers(0, 9)) for g in gold
    ]
    check_against_sklearn(pred, gold)
    check_against_sklearn(list(numpy.asarray(pred) * 7 + 100), list(rng.integers(0, 3, size=n)))


def test_cluster_scores_perfect_and_permuted():
    gold = ["x", "x", "y", "y", "y", "z", "w", "w"]
    perfect = [0, 0, 1, 1, 1, 2, 3, 3]
    permuted = [5, 5, 0, 0, 0, 9, 1, 1]
    for pred in (perfect, permuted):
        scores = cluster_scores(pred, gold)
        assert scores == {"nmi": pytest.approx(1.0), "ari": pytest.approx(1.0), "purity": 1.0}
        check_against_sklearn(pred, gold)


def test_cluster_scores_hand_computed_purity():
    pred = [0, 0, 0, 1, 1, 1, 1, 2]
    gold = ["a", "a", "b", "b", "b", "c", "b", "c"]
    # Cluster 0: 2 a; cluster 1: 3 b; cluster 2: 1 c.
    assert cluster_scores(pred, gold)["purity"] == pytest.approx(6 / 8)
    check_against_sklearn(pred, gold)


@pytest.mark.parametrize(
    "pred,gold",
    [
        ([0, 0, 0, 0], ["a", "a", "a", "a"]),
        ([0, 0, 0, 0], ["a", "b", "a", "c"]),
        ([0, 1, 2, 3], ["a", "a", "a", "a"]),
        ([0, 1, 2, 3], ["a", "b", "c", "d"]),
        ([3], ["a"]),
        ([0, 1], ["a", "a"]),
        ([0, 1, 1, 0], [1, 2, 1, 2]),
    ],
)
def test_cluster_scores_edge_cases(pred, gold):
    check_against_sklearn(pred, gold)


def test_cluster_scores_mixed_label_types_and_arrays():
    gold = ["a", 1, ("t", 2), "a", 1, ("t", 2), None]
    pred = numpy.asarray([0, 1, 2, 0, 1, 2, 3])
    scores = cluster_scores(pred, gold)
    assert scores["purity"] == 1.0 and scores["ari"] == pytest.approx(1.0)
    assert scores["nmi"] == pytest.approx(1.0)
    string_gold = numpy.asarray(["b", "a", "c", "b", "a", "a", "d"])
    check_against_sklearn(list(pred), list(string_gold))
    assert cluster_scores(pred, string_gold) == cluster_scores(list(pred), list(string_gold))


def test_cluster_scores_bad_input():
    with pytest.raises(ValueError):
        cluster_scores([], [])
    with pytest.raises(ValueError):
        cluster_scores([0, 1], ["a"])


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
