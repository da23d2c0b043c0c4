"""The composed VAE (`TextVAEModule`, `build_text_vae`): shapes, probabilities,
determinism, gradients, the training-only terms."""
import copy

import numpy
import pytest
import torch

from spacy_textvae.nn import sparse_counts

from .helpers import batch, embedding_module, make_module


def test_forward_shapes_and_probabilities():
    module = make_module()
    pooled, counts = batch()
    for training in (True, False):
        module.train(training)
        mu, theta, gamma, loss, recon, kl, _ = module(pooled, counts, kl_weight=0.5)
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


def test_gradients_reach_inputs_and_parameters():
    module = make_module().train()
    pooled, counts = batch()
    pooled.requires_grad_(True)
    loss = module(pooled, counts)[3].sum()
    loss.backward()
    assert pooled.grad is not None and torch.isfinite(pooled.grad).all() and pooled.grad.abs().sum() > 0
    assert module.decoder.topic_words.beta.grad is not None and module.prior.free_means.grad is not None


def test_batch_of_one_in_training():
    module = make_module().train()
    pooled, counts = batch(n=1)
    out = module(pooled, counts)
    assert torch.isfinite(out[3]).all()


@torch.no_grad()
def test_cluster_temperature_sharpens_training_assignments_only():
    pooled, counts = batch()
    outs = {}
    for t in (1.0, 0.3):
        module = make_module()
        module.prior.free_means.normal_()
        torch.manual_seed(1)
        train_gamma = module.train()(pooled, counts, cluster_temperature=t)[2]
        eval_gamma = module.eval()(pooled, counts, cluster_temperature=t)[2]
        outs[t] = (train_gamma, eval_gamma)
        torch.testing.assert_close(train_gamma.sum(1), torch.ones(12))
    # Same weights and noise: T < 1 gives more confident training assignments...
    assert float(outs[0.3][0].max(1).values.mean()) > float(outs[1.0][0].max(1).values.mean())
    # ...and inference reports the exact posterior either way.
    torch.testing.assert_close(outs[0.3][1], outs[1.0][1])


def test_embedding_clustering_loss_is_added_in_training_only():
    module = embedding_module()
    pooled, counts = batch()
    topic_words = module.decoder.topic_words
    # regularization() includes the weight (10): the raw transport cost is its share.
    ecr = float(topic_words.regularization().detach()) / topic_words.ecr_weight
    assert ecr > 0 and numpy.isfinite(ecr)
    for training in (True, False):
        module.train(training)
        torch.manual_seed(0)
        _, _, _, loss, recon, kl, _ = module(pooled, counts)
        extra = (loss - recon - kl).detach()
        expected = 10.0 * ecr if training else 0.0
        torch.testing.assert_close(extra, torch.full((12,), expected), rtol=1e-4, atol=1e-4)


def test_word_dropout_hides_words_from_the_encoder_in_training_only():
    module = make_module(n_inputs=0, word_dropout=0.5)
    seen = []
    original = module.encoder.forward

    def spy(pooled, counts, train=None):
        seen.append(counts.values.clone())
        return original(pooled, counts, train)

    module.encoder.forward = spy
    _, counts = batch()
    counts = counts + 1.0  # every entry non-zero
    pooled = torch.zeros(12, 0)
    module.train()
    module(pooled, counts)
    share_hidden = float((seen[-1] == 0).float().mean())
    assert 0.35 < share_hidden < 0.65
    module.eval()
    module(pooled, counts)
    assert torch.equal(seen[-1], counts.flatten())


def test_bad_word_embeddings_shape():
    with pytest.raises(ValueError, match="word_embeddings of shape"):
        make_module(decoder="embedding", word_embeddings=torch.zeros(29, 4))


def test_bad_cluster_means_name():
    with pytest.raises(ValueError, match="cluster_means"):
        make_module(n_topics=4, n_clusters=4, cluster_means="kmeans")


@pytest.mark.parametrize("decoder", ["linear", "embedding"])
@pytest.mark.parametrize("train", [True, False])
def test_reconstruction_is_the_dense_log_likelihood(decoder, train):
    emb = torch.randn(30, 4) if decoder == "embedding" else None
    module = make_module(decoder=decoder, word_embeddings=emb)
    pooled, counts = batch()
    counts[3] = 0.0  # a doc without words
    module.train()
    for _ in range(3):  # running statistics away from their start
        module(pooled, counts)
    out = module(pooled, sparse_counts(counts), train=train)
    log_probs = module.decoder(out.theta, train=train)  # dropout is 0: θ is what was decoded
    torch.testing.assert_close(out.recon, -(counts * log_probs).sum(1), rtol=1e-5, atol=1e-4)
    assert float(out.recon[3].detach()) == 0.0


def test_encoder_reads_the_counts_as_the_dense_layer_would():
    module = make_module()
    pooled, counts = batch()
    enc = module.encoder
    with torch.no_grad():
        # One dense layer over [pooled; log1p(counts)], as a single Linear would hold it.
        first = torch.cat([enc.hidden[0].weight, enc.word_weight.t()], dim=1)
        h = torch.nn.functional.linear(torch.cat([enc.input_norm(pooled), torch.log1p(counts)], dim=1), first, enc.hidden[0].bias)
        h = enc.hidden[1:](h)
        expected = enc.bn_mu(enc.fc_mu(h), False)
        mu, _ = enc(pooled, sparse_counts(counts), train=False)
    torch.testing.assert_close(mu, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("n_inputs", [8, 0])
def test_weights_saved_with_one_first_layer_load_into_the_split_layout(n_inputs):
    # TextVAE.v2/v3 saved the encoder's first layer as one (hidden × [pooled; vocabulary])
    # matrix; v4 keeps the vocabulary's part a row per word. Old weights must load
    # into the same model, giving the same outputs.
    module = make_module(n_inputs=n_inputs).eval()
    with torch.no_grad():
        module.encoder.word_weight.normal_()
    state = module.state_dict()
    joined = dict(state)
    joined["encoder.hidden.0.weight"] = torch.cat([state["encoder.hidden.0.weight"], state["encoder.word_weight"].t()], 1)
    del joined["encoder.word_weight"]
    loaded = make_module(n_inputs=n_inputs).eval()
    loaded.load_state_dict(joined, strict=True)
    assert set(loaded.state_dict()) == set(state)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in state.items())
    pooled, counts = batch()
    pooled = pooled[:, :n_inputs]
    with torch.no_grad():
        torch.testing.assert_close(loaded(pooled, counts).mu, module(pooled, counts).mu, rtol=0, atol=0)
    bad = dict(joined, **{"encoder.hidden.0.weight": joined["encoder.hidden.0.weight"][:, :-1]})
    with pytest.raises(RuntimeError):
        make_module(n_inputs=n_inputs).load_state_dict(bad, strict=True)


@pytest.mark.parametrize("scale", [1e-3, 1e3])
def test_first_layer_gradient_is_clipped_as_one_matrix(scale):
    from thinc.api import NumpyOps

    module = make_module().train()
    pooled, counts = batch()
    (module(pooled, counts).loss.sum() * scale).backward()
    enc = module.encoder
    joined = torch.cat([enc.hidden[0].weight.grad, enc.word_weight.grad.t()], dim=1).numpy().copy()
    expected = NumpyOps().clip_gradient(joined.copy(), 1.0)  # what thinc does to one weight matrix (in place)
    other = enc.fc_mu.weight.grad.clone()
    enc.clip_first_layer_gradient(1.0)
    got = torch.cat([enc.hidden[0].weight.grad, enc.word_weight.grad.t()], dim=1).numpy()
    numpy.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-9)
    assert (numpy.linalg.norm(got) <= 1.0 + 1e-5) and (scale < 1 or numpy.linalg.norm(joined) > 1.0)
    assert torch.equal(enc.fc_mu.weight.grad, other)  # only the first layer


def test_neighbour_term_is_added_per_word_in_training_only():
    from spacy_textvae.nn.vae import neighbour_consistency

    module = make_module()
    with torch.no_grad():
        module.prior.free_means.normal_()
    pooled, counts = batch()
    counts[2] = 0.0  # a doc without words gets no neighbour term
    targets = torch.eye(3)[torch.arange(12) % 3]
    for training in (True, False):
        module.train(training)
        torch.manual_seed(0)
        plain = module(pooled, counts)
        torch.manual_seed(0)
        out = module(pooled, counts, neighbour_targets=targets, neighbour_weight=0.5)
        extra = (out.loss - plain.loss).detach()
        if training:
            expected = 0.5 * counts.sum(1) * neighbour_consistency(module.prior.posterior(out.mu), targets).detach()
            torch.testing.assert_close(extra, expected, rtol=1e-4, atol=1e-4)
            assert extra[2] == 0 and extra.abs().sum() > 0
            # The assignment it compares is inference's: p(c | μ), rows summing to 1.
            torch.testing.assert_close(out.assignment, module.prior.posterior(out.mu).detach())
        else:
            torch.testing.assert_close(extra, torch.zeros(12))
            torch.testing.assert_close(out.assignment, out.gamma)


def test_pooled_term_is_the_squared_error_of_the_head_in_training_only():
    plain, module = make_module(), make_module(pooled_weight=0.5)
    # The head is made last: every other weight is the one the plain module draws.
    assert set(module.state_dict()) - set(plain.state_dict()) == {"pooled_head.weight", "pooled_head.bias"}
    for name, value in plain.state_dict().items():
        assert torch.equal(value, module.state_dict()[name]), name
    pooled, counts = batch()
    for training in (True, False):
        plain.train(training), module.train(training)
        torch.manual_seed(0)
        base = plain(pooled, counts)
        torch.manual_seed(0)
        out = module(pooled, counts)
        extra = (out.loss - base.loss).detach()
        torch.testing.assert_close(out.recon, base.recon)
        if training:
            # z itself is not returned; the same seed draws it again (in a copy:
            # a training pass moves the batch-norm statistics).
            torch.manual_seed(0)
            mu, logvar = copy.deepcopy(module.encoder)(pooled, sparse_counts(counts), True)
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            target = torch.nn.functional.layer_norm(pooled, (8,))
            expected = 0.5 * 0.5 * (module.pooled_head(z) - target).square().sum(1)
            torch.testing.assert_close(extra, expected.detach(), rtol=1e-4, atol=1e-4)
            assert bool((extra > 0).all())
        else:
            torch.testing.assert_close(extra, torch.zeros(12))


def test_pooled_term_puts_the_sentence_vectors_groups_into_the_latent():
    # Two groups that differ in their pooled vectors only; the words are the same
    # noise in both, so reconstructing them gives the latent no reason to keep
    # the groups apart, and reconstructing the pooled vector does.
    g = torch.Generator().manual_seed(0)
    n = 96
    group = torch.arange(n) % 2
    pooled = torch.randn(n, 8, generator=g) + torch.where(group[:, None] == 1, 1.5, -1.5) * torch.eye(8)[0]
    counts = torch.poisson(torch.full((n, 30), 0.5), generator=g)
    separation = {}
    for weight in (0.0, 1.0):
        module = make_module(pooled_weight=weight)
        opt = torch.optim.Adam(module.parameters(), lr=1e-2)
        module.train()
        for _ in range(150):
            opt.zero_grad()
            module(pooled, counts).loss.mean().backward()
            opt.step()
        mu = module(pooled, counts, train=False).mu.detach()
        gap = (mu[group == 1].mean(0) - mu[group == 0].mean(0)).norm()
        spread = torch.cat([mu[group == k] - mu[group == k].mean(0) for k in (0, 1)]).norm(dim=1).mean()
        separation[weight] = float(gap / spread)
    assert separation[1.0] > 3 * separation[0.0], separation
    assert separation[1.0] > 0.6, separation


def test_pooled_term_needs_pooled_vectors():
    with pytest.raises(ValueError, match="needs pooled vectors"):
        make_module(n_inputs=0, pooled_weight=1.0)


def test_all_finite_finds_any_nan_or_inf_and_never_overflows():
    from spacy_textvae.nn.vae import all_finite

    assert all_finite([])
    big = torch.full((1000,), 3e38)
    assert all_finite([torch.zeros(3), big])  # its float32 sum is inf
    assert all_finite([-big, torch.ones(5), big.view(10, 100)])
    overflowing_and_bad = big.clone()
    overflowing_and_bad[7] = float("nan")
    assert not all_finite([big, overflowing_and_bad])
    for bad in (float("nan"), float("inf"), float("-inf")):
        t = torch.zeros(10, 10)
        t[3, 4] = bad
        assert not all_finite([torch.ones(2), t])
    mixed = torch.zeros(4)
    mixed[0], mixed[1] = float("inf"), float("-inf")
    assert not all_finite([mixed])
