"""The mixture prior's means tied to the topic corners (`cluster_means`)."""
import numpy
import pytest
import spacy
import srsly
import torch

from spacy_textvae.vae import TextVAEModule

from .conftest import THEMES, train
from .test_serialization import assert_same_outputs

TIED_CONFIG = {"n_topics": 3, "n_clusters": 3, "kl_warmup_steps": 40, "prior_fit_step": 60}


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
    [(4, 4, "auto", "topics"), (4, 3, "auto", "free"), (4, 4, "free", "free"), (4, 4, "topics", "topics")],
)
def test_auto_ties_the_means_when_there_is_one_cluster_per_topic(n_topics, n_clusters, setting, expected):
    nlp = spacy.blank("en")
    config = {"n_topics": n_topics, "n_clusters": n_clusters, "cluster_means": setting}
    assert nlp.add_pipe("textvae", config=config).cfg["cluster_means"] == expected


def test_topic_means_need_one_cluster_per_topic():
    with pytest.raises(ValueError, match="n_clusters == n_topics"):
        spacy.blank("en").add_pipe("textvae", config={"n_topics": 4, "n_clusters": 3, "cluster_means": "topics"})
    with pytest.raises(ValueError, match="n_clusters == n_topics"):
        TextVAEModule(8, 30, n_topics=4, n_clusters=3, cluster_means="topics")
    with pytest.raises(ValueError, match="cluster_means"):
        TextVAEModule(8, 30, n_topics=4, n_clusters=4, cluster_means="kmeans")


@torch.no_grad()
def test_fit_prior_finds_the_topic_corners():
    """Latents scattered around b + a·e_c: the fit recovers a and b, and p(c | z)
    puts each latent in the cluster of its corner."""
    torch.manual_seed(0)
    k = 5
    module = TextVAEModule(0, 30, n_topics=k, n_clusters=k, cluster_means="topics")
    # Before the fit the means are (almost) all at the origin, as with free means.
    assert float(module.mixture_means().abs().max()) < 1e-2
    labels = torch.randint(k, (600,))
    offset = torch.linspace(-1.0, 1.0, k)
    latents = offset + 3.0 * torch.eye(k)[labels] + 0.3 * torch.randn(600, k)
    module._remember(latents)
    assert module.fit_prior()
    assert module.mixture_means().shape == (k, k)
    scale = float(torch.nn.functional.softplus(module.prior_raw_scale))
    assert abs(scale - 3.0) < 0.2
    torch.testing.assert_close(module.prior_offset, offset, atol=0.15, rtol=0)
    gamma = module.cluster_posterior(latents)
    torch.testing.assert_close(gamma.sum(1), torch.ones(600))
    assert float((gamma.argmax(1) == labels).float().mean()) > 0.98
    # Nothing to re-seed: each cluster belongs to its topic.
    assert module.repair_prior() == 0


def test_tied_means_learn_through_the_kl():
    module = TextVAEModule(8, 30, n_topics=4, n_clusters=4, hidden_width=16, cluster_means="topics")
    module.train()
    pooled = torch.randn(12, 8)
    counts = torch.poisson(torch.full((12, 30), 0.5))
    _, theta, gamma, loss, _, kl = module(pooled, counts)
    assert gamma.shape == (12, 4) and torch.isfinite(loss).all() and (kl >= -1e-5).all()
    loss.mean().backward()
    assert module.prior_offset.grad is not None and module.prior_raw_scale.grad is not None
    assert not hasattr(module, "prior_means")


def test_tied_clusters_follow_the_topics_and_separate_themes(tied, corpus):
    texts, labels = corpus
    pipe = tied.get_pipe("textvae")
    assert pipe.cfg["cluster_means"] == "topics" and pipe.cfg["prior_fitted"]
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
    assert nlp2.get_pipe("textvae").cfg["cluster_means"] == "topics"
    assert_same_outputs(list(tied.pipe(texts)), list(nlp2.pipe(texts)))


def test_models_saved_before_the_setting_load_with_free_means(corpus, tmp_path):
    """A model saved without `cluster_means` (in its config and cfg) had free
    means, even with one cluster per topic, and still loads as such."""
    texts, _ = corpus
    nlp = spacy.blank("en")
    nlp.add_pipe("textvae", config={**TIED_CONFIG, "cluster_means": "free"})
    train(nlp, texts[:30], epochs=2)
    path = tmp_path / "model"
    nlp.to_disk(path)
    config = (path / "config.cfg").read_text(encoding="utf8")
    (path / "config.cfg").write_text(config.replace('cluster_means = "free"\n', ""), encoding="utf8")
    cfg = srsly.read_json(path / "textvae" / "cfg")
    del cfg["cluster_means"]
    srsly.write_json(path / "textvae" / "cfg", cfg)
    nlp2 = spacy.load(path)
    assert nlp2.get_pipe("textvae").cfg["cluster_means"] == "free"
    assert_same_outputs(list(nlp.pipe(texts[:10])), list(nlp2.pipe(texts[:10])))
