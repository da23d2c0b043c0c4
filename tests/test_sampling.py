"""Generating bags of words: draws follow the decoder's p(word | θ) (a
chi-square test at a fixed seed, which fails for the wrong distribution), for
topic mixtures, latents, interpolations and the prior's clusters."""
import numpy
import pytest
import spacy

from spacy_textvae.errors import TextVAEError
from spacy_textvae.layers import prior_components
from spacy_textvae.sampling import draw_bags, interpolate_latents, softmax

from .conftest import SMALL_CONFIG

N_DRAWS = 20000


def chi_square_fits(counts: numpy.ndarray, probs: numpy.ndarray) -> bool:
    """Pearson's chi-square test at p = 0.001, words with fewer than 5 expected
    draws pooled in one bin; the critical value by Wilson-Hilferty."""
    n = counts.sum()
    expected = probs * n
    big = expected >= 5
    obs = numpy.append(counts[big], counts[~big].sum())
    exp = numpy.append(expected[big], expected[~big].sum())
    keep = exp > 0
    stat = float(((obs[keep] - exp[keep]) ** 2 / exp[keep]).sum())
    df = int(keep.sum()) - 1
    z = 3.090  # the 0.999 quantile of the standard normal
    critical = df * (1 - 2 / (9 * df) + z * numpy.sqrt(2 / (9 * df))) ** 3
    return stat < critical


def test_chi_square_helper_can_fail():
    rng = numpy.random.default_rng(0)
    p = rng.dirichlet(numpy.ones(50))
    q = rng.dirichlet(numpy.ones(50))
    assert chi_square_fits(draw_bags(rng, p[None], N_DRAWS)[0], p)
    assert not chi_square_fits(draw_bags(rng, q[None], N_DRAWS)[0], p)


@pytest.fixture(scope="module")
def pipe(trained):
    return trained[0].get_pipe("textvae")


def test_word_probs_of_one_topic_is_its_topic_word_row(pipe):
    probs = pipe.word_probs(topics=numpy.eye(pipe.n_topics))
    assert probs.shape == (pipe.n_topics, len(pipe.topic_vocab))
    assert probs.sum(axis=1) == pytest.approx(1.0)
    assert probs == pytest.approx(pipe.topic_word_matrix(), rel=1e-4, abs=1e-7)
    z = numpy.random.default_rng(0).normal(size=pipe.n_topics)
    assert pipe.word_probs(latent=z) == pytest.approx(pipe.word_probs(topics=softmax(z)), rel=1e-5)


def test_mixture_draws_follow_the_decoder(pipe):
    theta = numpy.array([0.5, 0.3, 0.2, 0, 0, 0])
    bags, counts = pipe.sample_words(topics=theta, n_words=N_DRAWS, seed=3, return_counts=True)
    assert counts.shape == (1, len(pipe.topic_vocab)) and counts.sum() == N_DRAWS
    assert len(bags) == 1 and len(bags[0]) == N_DRAWS
    assert set(bags[0]) <= set(pipe.topic_vocab.words)
    # The words list is the counts, spelled out.
    words = pipe.topic_vocab.words
    assert sorted(bags[0]) == sorted(w for j, w in enumerate(words) for _ in range(counts[0, j]))
    assert chi_square_fits(counts[0], pipe.word_probs(topics=theta)[0])
    # The decoder is a product of experts: its p(w | θ) is not the mixture of
    # the topics' distributions, and the draws tell the two apart.
    mixture = theta @ pipe.topic_word_matrix().astype("float64")
    assert not chi_square_fits(counts[0], mixture / mixture.sum())
    other = numpy.array([0, 0, 0, 0.2, 0.3, 0.5])
    assert not chi_square_fits(counts[0], pipe.word_probs(topics=other)[0])


def test_latent_rows_give_n_samples_each_in_order(pipe):
    rng = numpy.random.default_rng(1)
    z = rng.normal(size=(2, pipe.n_topics)) * 2
    bags, counts = pipe.sample_words(latent=z, n_words=N_DRAWS // 2, n_samples=2, seed=5, return_counts=True)
    assert len(bags) == 4 and counts.shape[0] == 4 and (counts.sum(axis=1) == N_DRAWS // 2).all()
    probs = pipe.word_probs(latent=z)
    for i, row in enumerate(counts):
        assert chi_square_fits(row, probs[i // 2])
    assert not chi_square_fits(counts[0] + counts[1], probs[1])


def test_cluster_draws(pipe):
    means, variance = prior_components(pipe.model)
    assert means.shape == (pipe.n_clusters, pipe.n_topics) and variance.shape == (pipe.n_topics,)
    _, counts = pipe.sample_words(cluster=1, cluster_mean=True, n_words=N_DRAWS, seed=0, return_counts=True)
    assert chi_square_fits(counts[0], pipe.word_probs(latent=means[1])[0])
    # Drawn latents: each bag from its own z, so the pooled words follow the
    # average of p(w | softmax(z)) over the cluster's Gaussian.
    _, drawn = pipe.sample_words(cluster=1, n_words=50, n_samples=400, seed=0, return_counts=True)
    rng = numpy.random.default_rng(0)
    z = means[1] + rng.standard_normal((400, pipe.n_topics)) * numpy.sqrt(variance)
    assert chi_square_fits(drawn.sum(axis=0), pipe.word_probs(latent=z).mean(axis=0))
    with pytest.raises(TextVAEError, match="Unknown cluster 3"):
        pipe.sample_words(cluster=3)


def test_seeded_and_deterministic(pipe):
    a = pipe.sample_words(cluster=0, n_words=30, n_samples=3, seed=7)
    assert a == pipe.sample_words(cluster=0, n_words=30, n_samples=3, seed=7)
    assert a == pipe.sample_words(cluster=0, n_words=30, n_samples=3, seed=numpy.random.default_rng(7))
    assert a != pipe.sample_words(cluster=0, n_words=30, n_samples=3, seed=8)
    assert len(a) == 3 and all(len(bag) == 30 for bag in a)


def test_interpolate_between_docs(trained, pipe):
    nlp, _ = trained
    a, b = nlp("The rocket reached orbit."), nlp("The chef baked bread.")
    z = pipe.interpolate(a, b, steps=5)
    assert z.shape == (5, pipe.n_topics) and z.dtype == numpy.float32
    assert numpy.allclose(z[0], a._.latent) and numpy.allclose(z[-1], b._.latent)
    assert z[2] == pytest.approx((a._.latent + b._.latent) / 2, abs=1e-6)
    # Docs not annotated yet are run through the component.
    z2 = pipe.interpolate(nlp.make_doc("The rocket reached orbit."), b, steps=2)
    assert z2[0] == pytest.approx(a._.latent, abs=1e-6)
    assert len(pipe.sample_words(latent=z, n_words=5)) == 5
    with pytest.raises(TextVAEError, match="steps must be an integer >= 2"):
        interpolate_latents(z[0], z[1], 1)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({}, "exactly one of cluster=, topics= or latent= \\(got none\\)"),
        ({"cluster": 0, "topics": [1, 0, 0, 0, 0, 0]}, "got cluster, topics"),
        ({"topics": [1, 0]}, "topics must be non-negative weights of shape \\(6,\\)"),
        ({"topics": [0, 0, 0, 0, 0, 0]}, "positive sum"),
        ({"topics": [-1, 2, 0, 0, 0, 0]}, "non-negative"),
        ({"latent": numpy.zeros(3)}, "latent must be finite, of shape \\(6,\\)"),
        ({"latent": numpy.full(6, numpy.nan)}, "latent must be finite"),
        ({"cluster": 0, "n_samples": 0}, "n_samples must be an integer >= 1"),
        ({"cluster": 0, "n_words": -1}, "n_words must be an integer >= 0"),
        ({"cluster": 0, "seed": "x"}, "seed must be an int"),
    ],
)
def test_bad_arguments_name_the_value(pipe, kwargs, message):
    with pytest.raises(TextVAEError, match=message):
        pipe.sample_words(**kwargs)


def test_merged_topics_split_evenly(trained):
    nlp = spacy.blank("en")
    nlp.add_pipe("textvae", config=SMALL_CONFIG)
    nlp.from_bytes(trained[0].to_bytes())
    pipe = nlp.get_pipe("textvae")
    unmerged = pipe.word_probs(topics=[0.5, 0, 0, 0.5, 0, 0])
    pipe.merge_topics([[0, 3]])
    assert pipe.word_probs(topics=[1, 0, 0, 0, 0]) == pytest.approx(unmerged, rel=1e-6)
    with pytest.raises(TextVAEError, match="shape \\(5,\\)"):
        pipe.sample_words(topics=[1, 0, 0, 0, 0, 0])


def test_cluster_before_the_prior_is_fitted_is_refused(trained):
    nlp = spacy.blank("en")
    nlp.add_pipe("textvae", config=SMALL_CONFIG)
    nlp.from_bytes(trained[0].to_bytes())
    pipe = nlp.get_pipe("textvae")
    pipe.cfg["prior_fitted"] = False
    with pytest.raises(TextVAEError, match="not fitted yet"):
        pipe.sample_words(cluster=0)
