"""The mixture prior's means tied to the topic corners (`cluster_means`)."""
import numpy
import pytest
import spacy

from .conftest import THEMES, train
from .test_serialization import assert_same_outputs

TIED_CONFIG = {"n_topics": 3, "n_clusters": 3, "kl_warmup_epochs": 7.0, "prior_fit_epochs": 10.0}


@pytest.fixture(scope="module")
def tied(corpus):
    """A pipeline with one cluster per topic, so "auto" ties the means."""
    texts, _ = corpus
    nlp = spacy.blank("en")
    nlp.add_pipe("textvae", config=TIED_CONFIG)
    train(nlp, texts)
    return nlp


@pytest.mark.parametrize(
    "n_topics,n_clusters,setting,expected",
    [(4, 4, "auto", "topics"), (4, 3, "auto", "mixtures"), (4, 4, "free", "free"), (4, 4, "topics", "topics"),
     (4, 6, "mixtures", "mixtures")],
)
def test_auto_ties_the_means_when_there_is_one_cluster_per_topic(n_topics, n_clusters, setting, expected):
    nlp = spacy.blank("en")
    config = {"n_topics": n_topics, "n_clusters": n_clusters, "model": {"cluster_means": setting}}
    assert nlp.add_pipe("textvae", config=config).cluster_means == expected


def test_topic_means_need_one_cluster_per_topic():
    with pytest.raises(ValueError, match="n_clusters == n_topics"):
        spacy.blank("en").add_pipe("textvae", config={"n_topics": 4, "n_clusters": 3, "model": {"cluster_means": "topics"}})


def test_tied_clusters_follow_the_topics_and_separate_themes(tied, corpus):
    texts, labels = corpus
    pipe = tied.get_pipe("textvae")
    assert pipe.cluster_means == "topics" and pipe.cfg["prior_fitted"]
    docs = list(tied.pipe(texts))
    clusters = numpy.asarray([d._.cluster for d in docs])
    top_topic = numpy.asarray([int(d._.topics.argmax()) for d in docs])
    # Cluster c is "mostly topic c".
    assert (clusters == top_topic).mean() > 0.9
    labels = numpy.asarray(labels)
    majority = {lab: numpy.bincount(clusters[labels == lab], minlength=3).argmax() for lab in THEMES}
    assert len(set(majority.values())) == len(THEMES)
    for lab, c in majority.items():
        assert (clusters[labels == lab] == c).mean() > 0.8, lab
    for doc in docs:
        assert abs(float(doc._.cluster_probs.sum()) - 1.0) < 1e-5


def test_tied_means_save_and_load_identical(tied, corpus, tmp_path):
    texts, _ = corpus
    tied.to_disk(tmp_path / "model")
    nlp2 = spacy.load(tmp_path / "model")
    assert nlp2.get_pipe("textvae").cluster_means == "topics"
    assert_same_outputs(list(tied.pipe(texts)), list(nlp2.pipe(texts)))
