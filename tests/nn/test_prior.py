"""The mixture prior (`spacy_textvae.nn.prior`): the KL, fixed equal weights,
fitting and repairing free means, and means tied to the topic corners."""
import numpy
import pytest
import torch

from spacy_textvae.nn.prior import inv_softplus

from .helpers import make_module


@torch.no_grad()
def test_kl_matches_monte_carlo():
    """The closed-form VaDE KL equals E_q[log q(z) - log p(z|c)] weighted by γ, plus KL(γ‖π)."""
    module = make_module()
    prior = module.prior
    with torch.no_grad():
        prior.free_means.normal_()
        prior.raw_var.normal_()
    mu = torch.randn(1, 5)
    logvar = torch.randn(1, 5) * 0.3
    gamma = torch.softmax(torch.randn(1, 3), 1)
    closed = prior.kl_divergence(mu, logvar, gamma).detach()
    z = mu + torch.randn(200_000, 5) * torch.exp(0.5 * logvar)
    log_q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(1)
    std = prior.variance()[0].sqrt()
    log_p = torch.stack(
        [torch.distributions.Normal(prior.free_means[c], std).log_prob(z).sum(1) for c in range(3)], 1
    )
    log_pi = torch.full((3,), -numpy.log(3.0))
    mc = (gamma * (log_q.unsqueeze(1) - log_p)).sum(1).mean() + (gamma * (gamma.log() - log_pi)).sum()
    assert abs(float(closed) - float(mc)) < 0.05 * max(1.0, abs(float(mc)))


def test_fit_prior_finds_separated_groups():
    module = make_module(n_clusters=3)
    centers = torch.tensor([[4.0, 0, 0, 0, 0], [0, 4.0, 0, 0, 0], [0, 0, 4.0, 0, 0]])
    g = torch.Generator().manual_seed(0)
    points = torch.cat([c + 0.2 * torch.randn(100, 5, generator=g) for c in centers])
    module._remember(points)
    assert module.fit_prior()
    module.eval()
    gamma = module.prior.posterior(points)
    assign = gamma.argmax(1).numpy()
    # Each group lands in one component, and the three components differ.
    groups = [numpy.bincount(assign[i * 100:(i + 1) * 100], minlength=3).argmax() for i in range(3)]
    assert len(set(groups)) == 3
    assert all((assign[i * 100:(i + 1) * 100] == groups[i]).mean() > 0.95 for i in range(3))
    assert (module.prior.variance() >= module.prior.min_var).all()
    # One variance shared by the components: the pooled within-group spread (0.2²).
    assert module.prior.variance().shape == (1, 5)
    torch.testing.assert_close(module.prior.variance(), torch.full((1, 5), 0.04), atol=0.01, rtol=0.0)


def test_mixture_weights_are_equal_and_fixed():
    module = make_module(n_clusters=4)
    torch.testing.assert_close(module.prior.log_weights().exp(), torch.full((4,), 0.25))
    names = {name for name, _ in module.named_parameters()}
    assert "prior.free_means" in names and not any("logits" in n for n in names)


def test_fit_prior_needs_enough_latents():
    module = make_module(n_clusters=3)
    module._remember(torch.randn(4, 5))
    assert not module.fit_prior()
    # Unfitted, every component is still the same Dirichlet approximation.
    assert torch.equal(module.prior.free_means, torch.zeros_like(module.prior.free_means))


@torch.no_grad()
def test_repair_prior_reseeds_dead_components():
    module = make_module(n_clusters=3)
    g = torch.Generator().manual_seed(0)
    points = torch.cat([torch.randn(100, 5, generator=g) - 3, torch.randn(100, 5, generator=g) + 3])
    module._remember(points)
    module.fit_prior()
    with torch.no_grad():
        module.prior.free_means[2] = 100.0  # a component far from every document
    assert module.repair_prior() == 1
    assert float(module.prior.free_means[2].abs().max()) < 20
    share = module.prior.posterior(points).mean(0)
    assert float(share[2]) > 0.0


# -- means tied to the topic corners (cluster_means="topics") --------------------


def test_topic_means_need_one_cluster_per_topic():
    with pytest.raises(ValueError, match=r"n_clusters \(3\) must equal n_latent \(4\)"):
        make_module(n_topics=4, n_clusters=3, cluster_means="topics")


@torch.no_grad()
def test_fit_prior_finds_the_topic_corners():
    """Latents scattered around b + a·e_c: the fit recovers a and b, and p(c | z)
    puts each latent in the cluster of its corner."""
    k = 5
    # Seeded (by make_module), with the old constructor's defaults for the
    # sizes not given, so the draws below are those of the original test.
    module = make_module(
        n_inputs=0, n_topics=k, n_clusters=k, hidden_width=256, dropout=0.2, cluster_means="topics"
    )
    # Before the fit the means are (almost) all at the origin, as with free means.
    assert float(module.prior.means().abs().max()) < 1e-2
    labels = torch.randint(k, (600,))
    offset = torch.linspace(-1.0, 1.0, k)
    latents = offset + 3.0 * torch.eye(k)[labels] + 0.3 * torch.randn(600, k)
    module._remember(latents)
    assert module.fit_prior()
    assert module.prior.means().shape == (k, k)
    scale = float(torch.nn.functional.softplus(module.prior.raw_scale))
    assert abs(scale - 3.0) < 0.2
    torch.testing.assert_close(module.prior.offset, offset, atol=0.15, rtol=0)
    gamma = module.prior.posterior(latents)
    torch.testing.assert_close(gamma.sum(1), torch.ones(600))
    assert float((gamma.argmax(1) == labels).float().mean()) > 0.98
    # Nothing to re-seed: each cluster belongs to its topic.
    assert module.repair_prior() == 0


def test_tied_means_learn_through_the_kl():
    # dropout=0.2: the old constructor's default, which the original test used.
    module = make_module(n_topics=4, n_clusters=4, hidden_width=16, dropout=0.2, cluster_means="topics")
    module.train()
    pooled = torch.randn(12, 8)
    counts = torch.poisson(torch.full((12, 30), 0.5))
    _, theta, gamma, loss, _, kl, _ = module(pooled, counts)
    assert gamma.shape == (12, 4) and torch.isfinite(loss).all() and (kl >= -1e-5).all()
    loss.mean().backward()
    assert module.prior.offset.grad is not None and module.prior.raw_scale.grad is not None
    assert not hasattr(module.prior, "free_means")


# -- means as mixes of topic corners (cluster_means="mixtures") ------------------


@torch.no_grad()
def test_mixture_means_group_topics_into_fewer_clusters():
    """Latents of 3 groups, each group's docs using two of 6 topics (group b:
    topics 2b and 2b + 1), with noise in every dimension: the fit puts each
    group in one cluster, and each cluster's mix is on its group's topics."""
    k, c = 6, 3
    module = make_module(n_inputs=0, n_topics=k, n_clusters=c, cluster_means="mixtures")
    # Unfitted, every cluster is the even mix: all means alike.
    means = module.prior.means()
    torch.testing.assert_close(means, means[:1].expand(c, k))
    g = torch.Generator().manual_seed(1)
    group = torch.randint(c, (900,), generator=g)
    share = torch.rand(900, 1, generator=g)
    corners = torch.eye(k)
    latents = 3.0 * (share * corners[2 * group] + (1 - share) * corners[2 * group + 1])
    latents = latents + 0.5 * torch.randn(900, k, generator=g)
    module._remember(latents)
    assert module.fit_prior()
    gamma = module.prior.posterior(latents)
    torch.testing.assert_close(gamma.sum(1), torch.ones(900))
    assign = gamma.argmax(1)
    # One cluster per group of topics (whatever its number).
    majority = {b: numpy.bincount([a for a, bb in zip(assign.tolist(), group.tolist()) if bb == b]).argmax() for b in range(c)}
    assert len(set(majority.values())) == c
    agree = numpy.mean([majority[int(b)] == int(a) for a, b in zip(assign, group)])
    assert agree > 0.9
    mixes = module.prior.mixes()
    torch.testing.assert_close(mixes.sum(1), torch.ones(c))
    for b, cluster in majority.items():
        assert float(mixes[cluster, 2 * b:2 * b + 2].sum()) > 0.7
    assert module.repair_prior() == 0


@torch.no_grad()
def test_mixture_means_reseed_dead_clusters():
    module = make_module(n_inputs=0, n_topics=4, n_clusters=3, cluster_means="mixtures")
    g = torch.Generator().manual_seed(0)
    # Documents on topics 0 and 1 only.
    latents = 3.0 * torch.eye(4)[torch.randint(2, (400,), generator=g)] + 0.3 * torch.randn(400, 4, generator=g)
    module._remember(latents)
    module.fit_prior()
    # A cluster on topic 3, which no document uses, explains none of them.
    module.prior.mix_logits[2] = torch.tensor([-20.0, -20.0, -20.0, 0.0])
    module.prior.raw_var[:] = inv_softplus(0.09 - module.prior.min_var)
    assert float(module.prior.posterior(latents).mean(0)[2]) < 0.2 / 3
    assert module.repair_prior() == 1
    assert float(module.prior.mixes()[2, :2].sum()) > 0.5
    assert float(module.prior.posterior(latents).mean(0)[2]) > 0.01


def test_mixture_means_learn_through_the_kl():
    module = make_module(n_topics=4, n_clusters=6, hidden_width=16, cluster_means="mixtures")
    module.train()
    pooled = torch.randn(12, 8)
    counts = torch.poisson(torch.full((12, 30), 0.5))
    _, theta, gamma, loss, _, kl, _ = module(pooled, counts)
    assert gamma.shape == (12, 6) and torch.isfinite(loss).all() and (kl >= -1e-5).all()
    loss.mean().backward()
    assert module.prior.mix_logits.grad is not None and module.prior.offset.grad is not None
