"""spacy_textvae.metrics: NPMI against gensim and a brute-force count, topic
diversity, and cluster scores against scikit-learn."""
import math
import random
from typing import List, Sequence

import numpy
import pytest

from spacy_textvae.errors import TextVAEError
from spacy_textvae.metrics import cluster_scores, npmi_coherence, npmi_per_topic
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
    with pytest.raises(TypeError) as err:
        npmi_per_topic([["a", "b"]], ["a b"])
    # Also the package's one error class, with the fix in the message.
    assert isinstance(err.value, TextVAEError)
    assert str(err.value).startswith("[textvae] npmi_per_topic: a text is a string ('a b')")
    assert "list of tokens" in str(err.value)
    with pytest.raises(ValueError) as err:
        npmi_per_topic([["a", "b"]], [["a", "b"]], window_size=0)
    assert isinstance(err.value, TextVAEError)
    assert str(err.value).startswith("[textvae] npmi_per_topic: window_size is 0. Pass window_size=1 or more")
    with pytest.raises(ValueError) as err:
        npmi_per_topic([["a", "b"]], [["a", "b"]], top_n=0)
    assert isinstance(err.value, TextVAEError)
    assert str(err.value).startswith("[textvae] npmi_per_topic: top_n is 0. Pass top_n=1 or more")


def test_topic_diversity():
    topics = [["a", "b", "c", "d"], ["a", "e", "f", "b"], ["g", "h", "a", "i"]]
    assert topic_diversity(topics, top_n=1) == pytest.approx(2 / 3)
    assert topic_diversity(topics, top_n=2) == pytest.approx(5 / 6)
    assert topic_diversity(topics, top_n=3) == pytest.approx(7 / 9)
    assert topic_diversity(topics, top_n=4) == pytest.approx(9 / 12)
    assert topic_diversity([["x"] * 25, ["x"] * 30]) == pytest.approx(1 / 50)
    distinct = [[f"t{t}w{i}" for i in range(30)] for t in range(4)]
    assert topic_diversity(distinct) == 1.0
    with pytest.raises(ValueError) as err:
        topic_diversity(topics, top_n=5)
    assert isinstance(err.value, TextVAEError)
    assert "a topic has 4 words, fewer than top_n=5" in str(err.value)
    with pytest.raises(ValueError) as err:
        topic_diversity([])
    assert isinstance(err.value, TextVAEError)
    assert "topic_diversity: no topics given" in str(err.value)
    with pytest.raises(TextVAEError, match=r"^\[textvae\] topic_diversity: top_n is 0\. "):
        topic_diversity(topics, top_n=0)


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
    with pytest.raises(ValueError) as err:
        cluster_scores([], [])
    assert isinstance(err.value, TextVAEError)
    assert str(err.value) == "[textvae] cluster_scores: no items given. Pass at least one item."
    with pytest.raises(ValueError) as err:
        cluster_scores([0, 1], ["a"])
    assert isinstance(err.value, TextVAEError)
    assert "pred has 2 items and gold 1" in str(err.value)


def test_elbo_perplexity_leaves_docs_without_words_out():
    import numpy as np

    from spacy_textvae.metrics import elbo_perplexity

    terms = np.asarray([[20.0, 10.0], [30.0, 5.0], [4.0, 0.0]])
    perplexity, n_empty = elbo_perplexity(terms)
    assert n_empty == 1 and perplexity == pytest.approx(np.exp(50.0 / 15.0))
    assert elbo_perplexity(terms[2:]) == (None, 1)
    assert elbo_perplexity(np.zeros((0, 2))) == (None, 0)


def test_perplexity_gain_is_the_unigram_perplexity_over_the_model_s():
    from spacy_textvae.metrics import perplexity_gain

    assert perplexity_gain(50.0, 200.0) == pytest.approx(4.0)
    # Worse than the word frequencies: below 1, still positive.
    assert 0.0 < perplexity_gain(400.0, 200.0) < 1.0
    assert perplexity_gain(None, 200.0) is None and perplexity_gain(50.0, None) is None
