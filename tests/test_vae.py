"""The torch VAE on its own: shapes, probabilities, KL, the mixture prior."""
import numpy
import torch

from spacy_textvae.vae import TextVAEModule


def make_module(**kwargs):
    torch.manual_seed(0)
    defaults = dict(n_inputs=8, n_vocab=30, n_topics=5, n_clusters=3, hidden_width=16, dropout=0.0)
    defaults.update(kwargs)
    return TextVAEModule(**defaults)


def batch(n=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    pooled = torch.randn(n, 8, generator=g)
    counts = torch.poisson(torch.full((n, 30), 0.5), generator=g)
    return pooled, counts


def test_forward_shapes_and_probabilities():
    module = make_module()
    pooled, counts = batch()
    for training in (True, False):
        module.train(training)
        mu, theta, gamma, loss, recon, kl = module(pooled, counts, kl_weight=0.5)
        assert mu.shape == (12, 5) and theta.shape == (12, 5) and gamma.shape == (12, 3)
        assert loss.shape == recon.shape == kl.shape == (12,)
        torch.testing.assert_close(theta.sum(1), torch.ones(12))
        torch.testing.assert_close(gamma.sum(1), torch.ones(12))
        assert torch.isfinite(loss).all()
        torch.testing.assert_close(loss, recon + 0.5 * kl)
        assert (kl >= -1e-5).all() and (recon >= 0).all()


def test_eval_is_deterministic():
    module = make_module().eval()
    pooled, counts = batch()
    a = module(pooled, counts)
    b = module(pooled, counts)
    for x, y in zip(a, b):
        torch.testing.assert_close(x, y)


@torch.no_grad()
def test_kl_matches_monte_carlo():
    """The closed-form VaDE KL equals E_q[log q(z) - log p(z|c)] weighted by γ, plus KL(γ‖π)."""
    module = make_module()
    with torch.no_grad():
        module.prior_means.normal_()
        module.prior_raw_var.normal_()
    mu = torch.randn(1, 5)
    logvar = torch.randn(1, 5) * 0.3
    gamma = torch.softmax(torch.randn(1, 3), 1)
    closed = module.kl_divergence(mu, logvar, gamma).detach()
    z = mu + torch.randn(200_000, 5) * torch.exp(0.5 * logvar)
    log_q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).log_prob(z).sum(1)
    std = module.prior_var()[0].sqrt()
    log_p = torch.stack(
        [torch.distributions.Normal(module.prior_means[c], std).log_prob(z).sum(1) for c in range(3)], 1
    )
    log_pi = torch.full((3,), -numpy.log(3.0))
    mc = (gamma * (log_q.unsqueeze(1) - log_p)).sum(1).mean() + (gamma * (gamma.log() - log_pi)).sum()
    assert abs(float(closed) - float(mc)) < 0.05 * max(1.0, abs(float(mc)))


def test_gradients_reach_inputs_and_parameters():
    module = make_module().train()
    pooled, counts = batch()
    pooled.requires_grad_(True)
    loss = module(pooled, counts)[3].sum()
    loss.backward()
    assert pooled.grad is not None and torch.isfinite(pooled.grad).all() and pooled.grad.abs().sum() > 0
    assert module.beta.grad is not None and module.prior_means.grad is not None


def test_batch_of_one_in_training():
    module = make_module().train()
    pooled, counts = batch(n=1)
    out = module(pooled, counts)
    assert torch.isfinite(out[3]).all()


def test_fit_prior_finds_separated_groups():
    module = make_module(n_clusters=3)
    centers = torch.tensor([[4.0, 0, 0, 0, 0], [0, 4.0, 0, 0, 0], [0, 0, 4.0, 0, 0]])
    g = torch.Generator().manual_seed(0)
    points = torch.cat([c + 0.2 * torch.randn(100, 5, generator=g) for c in centers])
    module._remember(points)
    assert module.fit_prior()
    module.eval()
    gamma = module.cluster_posterior(points)
    assign = gamma.argmax(1).numpy()
    # Each group lands in one component, and the three components differ.
    groups = [numpy.bincount(assign[i * 100:(i + 1) * 100], minlength=3).argmax() for i in range(3)]
    assert len(set(groups)) == 3
    assert all((assign[i * 100:(i + 1) * 100] == groups[i]).mean() > 0.95 for i in range(3))
    assert (module.prior_var() >= module.min_prior_var).all()
    # One variance shared by the components: the pooled within-group spread (0.2²).
    assert module.prior_var().shape == (1, 5)
    torch.testing.assert_close(module.prior_var(), torch.full((1, 5), 0.04), atol=0.01, rtol=0.0)


def test_mixture_weights_are_equal_and_fixed():
    module = make_module(n_clusters=4)
    torch.testing.assert_close(module.log_mixture_weights().exp(), torch.full((4,), 0.25))
    names = {name for name, _ in module.named_parameters()}
    assert "prior_means" in names and not any("logits" in n for n in names)


def test_fit_prior_needs_enough_latents():
    module = make_module(n_clusters=3)
    module._remember(torch.randn(4, 5))
    assert not module.fit_prior()
    # Unfitted, every component is still the same Dirichlet approximation.
    assert torch.equal(module.prior_means, torch.zeros_like(module.prior_means))


@torch.no_grad()
def test_repair_prior_reseeds_dead_components():
    module = make_module(n_clusters=3)
    g = torch.Generator().manual_seed(0)
    points = torch.cat([torch.randn(100, 5, generator=g) - 3, torch.randn(100, 5, generator=g) + 3])
    module._remember(points)
    module.fit_prior()
    with torch.no_grad():
        module.prior_means[2] = 100.0  # a component far from every document
    assert module.repair_prior() == 1
    assert float(module.prior_means[2].abs().max()) < 20
    share = module.cluster_posterior(points).mean(0)
    assert float(share[2]) > 0.0


@torch.no_grad()
def test_cluster_temperature_sharpens_training_assignments_only():
    pooled, counts = batch()
    outs = {}
    for t in (1.0, 0.3):
        module = make_module(cluster_temperature=t)
        module.prior_means.normal_()
        torch.manual_seed(1)
        train_gamma = module.train()(pooled, counts)[2]
        eval_gamma = module.eval()(pooled, counts)[2]
        outs[t] = (train_gamma, eval_gamma)
        torch.testing.assert_close(train_gamma.sum(1), torch.ones(12))
    # Same weights and noise: T < 1 gives more confident training assignments...
    assert float(outs[0.3][0].max(1).values.mean()) > float(outs[1.0][0].max(1).values.mean())
    # ...and inference reports the exact posterior either way.
    torch.testing.assert_close(outs[0.3][1], outs[1.0][1])


# -- the embedding decoder (ECRTM) and word dropout ------------------------------


def embedding_module(**kwargs):
    g = torch.Generator().manual_seed(1)
    emb = torch.nn.functional.normalize(torch.randn(30, 6, generator=g), dim=1)
    return make_module(word_embeddings=emb, ecr_weight=10.0, **kwargs)


def test_embedding_decoder_shapes_and_probabilities():
    module = embedding_module()
    assert module.has_embedding_decoder and not hasattr(module, "beta")
    weights = module.decoder_weights()
    assert weights.shape == (5, 30)
    # ECRTM normalises each word's weights over the topics.
    torch.testing.assert_close(weights.sum(0), torch.ones(30))
    module.eval()
    log_probs = module.decode(torch.eye(5))
    torch.testing.assert_close(log_probs.exp().sum(1), torch.ones(5))
    pooled, counts = batch()
    for training in (True, False):
        module.train(training)
        mu, theta, gamma, loss, recon, kl = module(pooled, counts)
        assert torch.isfinite(loss).all() and loss.shape == (12,)
    # The word embeddings are fixed (a buffer, saved with the weights); the topics learn.
    names = dict(module.named_parameters())
    assert "topic_embeddings" in names and "word_embeddings" not in names
    assert "word_embeddings" in module.state_dict()


def test_embedding_clustering_loss_is_added_in_training_only():
    module = embedding_module()
    pooled, counts = batch()
    ecr = float(module.embedding_clustering_loss().detach())
    assert ecr > 0 and numpy.isfinite(ecr)
    for training in (True, False):
        module.train(training)
        torch.manual_seed(0)
        _, _, _, loss, recon, kl = module(pooled, counts)
        extra = (loss - recon - kl).detach()
        expected = 10.0 * ecr if training else 0.0
        torch.testing.assert_close(extra, torch.full((12,), expected), rtol=1e-4, atol=1e-4)


def test_embedding_clustering_spreads_topics_over_the_words():
    # Words in 5 tight groups; all topics start at one point. Minimising the
    # regulariser alone must give each group its own topic (balanced transport).
    g = torch.Generator().manual_seed(0)
    centres = torch.nn.functional.normalize(torch.randn(5, 6, generator=g), dim=1) * 2
    emb = (centres.repeat_interleave(6, 0) + 0.01 * torch.randn(30, 6, generator=g))
    module = make_module(word_embeddings=emb, ecr_weight=1.0)
    with torch.no_grad():
        module.topic_embeddings.copy_(0.01 * torch.randn(5, 6, generator=g))
    opt = torch.optim.Adam([module.topic_embeddings], lr=0.05)
    first = float(module.embedding_clustering_loss().detach())
    for _ in range(300):
        opt.zero_grad()
        module.embedding_clustering_loss().backward()
        opt.step()
    assert float(module.embedding_clustering_loss().detach()) < 0.2 * first
    nearest = torch.cdist(module.topic_embeddings.detach(), centres).argmin(1)
    assert sorted(nearest.tolist()) == [0, 1, 2, 3, 4]


def test_word_dropout_hides_words_from_the_encoder_in_training_only():
    module = make_module(n_inputs=0, word_dropout=0.5)
    seen = []
    original = module.encode

    def spy(pooled, counts):
        seen.append(counts.clone())
        return original(pooled, counts)

    module.encode = spy
    _, counts = batch()
    counts = counts + 1.0  # every entry non-zero
    pooled = torch.zeros(12, 0)
    module.train()
    module(pooled, counts)
    share_hidden = float((seen[-1] == 0).float().mean())
    assert 0.35 < share_hidden < 0.65
    module.eval()
    module(pooled, counts)
    assert torch.equal(seen[-1], counts)


def test_bad_word_embeddings_shape():
    import pytest

    with pytest.raises(ValueError, match="word_embeddings must have shape"):
        make_module(word_embeddings=torch.zeros(29, 4))
