"""The PyTorch VAE: encoder, logistic-normal topics, product-of-experts decoder,
and a Gaussian-mixture prior learned jointly (VaDE-style one-step clustering).

The mixture has equal weights and one diagonal variance shared by all
components (a tied covariance, as in linear discriminant analysis), so p(c | z)
ranks components by a scaled distance to their means, like k-means. With
learned weights and per-component variances a few broad components absorbed
most documents on 20 Newsgroups (see benchmarks/NOTES_textvae.md). The means
are either free (VaDE) or tied to the topic corners of the latent space,
m_c = b + a·e_c, so that cluster c holds the documents whose dominant topic
is c and the prior pulls each document towards one topic.

The decoder is either ProdLDA's free topic-word matrix or, given word
embeddings, ECRTM's: topics are points in the word-embedding space, word w's
weight in topic k is softmax_k(-‖t_k - e_w‖² / τ), and an embedding clustering
regulariser (entropic optimal transport of the words onto the topics, equal mass
per topic) keeps each topic on its own region of the space, so topics stay
coherent and distinct.

References: Srivastava & Sutton 2017 (ProdLDA), Miao et al. 2017 (NVDM-GSM),
Jiang et al. 2017 (VaDE), Dieng et al. 2020 (ETM), Wu et al. 2023 (ECRTM).
"""
import math
from typing import Optional, Tuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

LOG_2PI = math.log(2.0 * math.pi)
# Entropic OT of the embedding clustering regulariser: ECRTM's ε (1 / 20) and
# a fixed number of log-domain Sinkhorn iterations (no data-dependent loop).
SINKHORN_EPSILON = 0.05
SINKHORN_ITERATIONS = 30
# How the mixture prior's means are parameterised (see TextVAEModule).
CLUSTER_MEANS = ("free", "topics")


def check_cluster_means(cluster_means: str, n_topics: int, n_clusters: int) -> None:
    """A clear error for an unknown `cluster_means`, or for topic-tied means
    without one cluster per topic."""
    if cluster_means not in CLUSTER_MEANS:
        raise ValueError(
            f"[textvae] cluster_means must be {' or '.join(repr(m) for m in CLUSTER_MEANS)} "
            f"(or \"auto\" in the component's config), not {cluster_means!r}."
        )
    if cluster_means == "topics" and n_clusters != n_topics:
        raise ValueError(
            f"[textvae] cluster_means = \"topics\" ties one cluster to each topic, so it needs "
            f"n_clusters == n_topics (here {n_clusters} and {n_topics}). Set them equal or use "
            "cluster_means = \"free\" (or \"auto\")."
        )


class MaybeBatchNorm(nn.BatchNorm1d):
    """BatchNorm1d that falls back to its running statistics on a training
    batch of one (plain BatchNorm raises there), so `nlp.update` on a single
    document works."""

    def forward(self, x: Tensor) -> Tensor:
        if self.training and x.shape[0] < 2:
            return F.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias,
                False, 0.0, self.eps,
            )
        return super().forward(x)


class TextVAEModule(nn.Module):
    """A VAE over a pooled document vector and the document's bag of words.

    n_inputs (int): Width of the pooled token vectors (0: bag of words only).
    n_vocab (int): Size of the topic vocabulary.
    n_topics (int): Number of topics (= latent dimensions; θ = softmax(z)).
    n_clusters (int): Number of mixture components of the prior.
    hidden_width (int): Width of the encoder's hidden layers.
    dropout (float): Dropout on the encoder's hidden layer and on θ.
    encoder_bow (bool): Feed log(1 + counts) of the bag of words to the encoder.
    decoder_batchnorm (bool): Batch-normalise the decoder logits (against
        component collapse, as in ProdLDA).
    background (Optional[Tensor]): Fixed log corpus frequency per word, added
        to the decoder logits so topics explain what is specific to them.
    cluster_temperature (float): In training, q(c | x) = softmax(log p(c, z) / T),
        sharper than the exact posterior p(c | z) for T < 1 (still a valid ELBO).
        Inference always reports p(c | z).
    word_dropout (float): Share of word types hidden from the encoder's bag of
        words in training (the decoder still reconstructs them): a denoising
        regulariser that makes the latent depend on more than a few words.
    word_embeddings (Optional[Tensor]): (n_vocab, width) fixed word embeddings;
        given, the decoder is ECRTM's embedding decoder instead of a free matrix.
    decoder_temperature (float): τ of the embedding decoder.
    ecr_weight (float): Weight of the embedding clustering regulariser (0: off).
    cluster_means (str): "free": every component's mean is its own parameter,
        fitted by k-means++ on the posterior means (VaDE). "topics": component
        c's mean is m_c = b + a·e_c (a > 0 and b learned; needs
        n_clusters == n_topics), so p(c | z) ranks clusters by z_c, the
        document's weight on topic c, and the topics and clusters agree.
    """

    def __init__(
        self,
        n_inputs: int,
        n_vocab: int,
        n_topics: int,
        n_clusters: int,
        hidden_width: int = 256,
        dropout: float = 0.2,
        encoder_bow: bool = True,
        decoder_batchnorm: bool = True,
        background: Optional[Tensor] = None,
        cluster_temperature: float = 1.0,
        min_prior_var: float = 1e-2,
        buffer_size: int = 4096,
        word_dropout: float = 0.0,
        word_embeddings: Optional[Tensor] = None,
        decoder_temperature: float = 0.5,
        ecr_weight: float = 0.0,
        cluster_means: str = "free",
    ) -> None:
        super().__init__()
        if n_inputs <= 0 and not encoder_bow:
            raise ValueError("[textvae] The encoder needs token vectors or encoder_bow=true.")
        check_cluster_means(cluster_means, n_topics, n_clusters)
        self.cluster_means = cluster_means
        self.n_inputs = n_inputs
        self.n_vocab = n_vocab
        self.n_topics = n_topics
        self.n_clusters = n_clusters
        self.encoder_bow = encoder_bow
        self.min_prior_var = min_prior_var
        self.cluster_temperature = float(cluster_temperature)
        self.word_dropout = float(word_dropout)
        self.decoder_temperature = float(decoder_temperature)
        self.ecr_weight = float(ecr_weight)
        self.input_norm = nn.LayerNorm(n_inputs) if n_inputs > 0 else None
        n_in = n_inputs + (n_vocab if encoder_bow else 0)
        self.encoder = nn.Sequential(
            nn.Linear(n_in, hidden_width),
            nn.Softplus(),
            nn.Linear(hidden_width, hidden_width),
            nn.Softplus(),
            nn.Dropout(dropout),
        )
        self.fc_mu = nn.Linear(hidden_width, n_topics)
        self.fc_logvar = nn.Linear(hidden_width, n_topics)
        # ProdLDA: batch-norm on the posterior parameters keeps every latent
        # dimension in use (against posterior collapse).
        self.bn_mu = MaybeBatchNorm(n_topics, affine=False)
        self.bn_logvar = MaybeBatchNorm(n_topics, affine=False)
        self.theta_dropout = nn.Dropout(dropout)
        if word_embeddings is None:
            self.beta = nn.Parameter(torch.empty(n_topics, n_vocab))
            nn.init.xavier_uniform_(self.beta)
        else:
            if tuple(word_embeddings.shape[:1]) != (n_vocab,) or word_embeddings.dim() != 2:
                raise ValueError(
                    f"[textvae] word_embeddings must have shape (n_vocab={n_vocab}, width), "
                    f"not {tuple(word_embeddings.shape)}."
                )
            # Fixed: they carry the corpus's word similarities into the topics.
            self.register_buffer("word_embeddings", word_embeddings.detach().clone().float())
            self.topic_embeddings = nn.Parameter(torch.randn(n_topics, word_embeddings.shape[1]) * 0.1)
        self.bn_decoder = MaybeBatchNorm(n_vocab, affine=False) if decoder_batchnorm else None
        if background is None:
            background = torch.zeros(n_vocab)
        self.register_buffer("background", background.detach().clone().float())
        # Prior: before it is fitted every component is the Laplace approximation
        # of a symmetric Dirichlet(1) in softmax basis, so the model starts as ProdLDA.
        dir_var = 1.0 - 1.0 / n_topics if n_topics > 1 else 1.0
        if cluster_means == "topics":
            # m_c = b + a·e_c with a = softplus(raw) > 0, starting (almost) at 0.
            # Shape (1,), not a scalar: thinc's optimizer needs a sized array.
            self.prior_offset = nn.Parameter(torch.zeros(n_topics))
            self.prior_raw_scale = nn.Parameter(_inv_softplus(1e-3).reshape(1))
        else:
            self.prior_means = nn.Parameter(torch.zeros(n_clusters, n_topics))
        # One variance per latent dimension, shared by all components.
        self.prior_raw_var = nn.Parameter(torch.full((1, n_topics), _inv_softplus(dir_var - min_prior_var)))
        # Recent posterior means seen in training, to fit and repair the mixture.
        self.register_buffer("latent_buffer", torch.zeros(buffer_size, n_topics), persistent=False)
        # A python int, not a tensor: reading it never synchronises with the GPU.
        self.buffer_count = 0

    # -- the pieces ---------------------------------------------------------

    def prior_var(self) -> Tensor:
        """The prior's variance per latent dimension, (1, n_topics), shared by all components."""
        return F.softplus(self.prior_raw_var) + self.min_prior_var

    def mixture_means(self) -> Tensor:
        """The components' means, (n_clusters, n_topics)."""
        if self.cluster_means == "topics":
            scale = F.softplus(self.prior_raw_scale)
            return self.prior_offset.unsqueeze(0) + scale * torch.eye(
                self.n_topics, device=self.prior_offset.device, dtype=self.prior_offset.dtype
            )
        return self.prior_means

    def log_mixture_weights(self) -> Tensor:
        """log π_c: the components have equal, fixed weights. (Learned weights let
        a few components take most documents.)"""
        return torch.full((self.n_clusters,), -math.log(self.n_clusters), device=self.background.device)

    def encode(self, pooled: Tensor, counts: Tensor) -> Tuple[Tensor, Tensor]:
        parts = []
        if self.input_norm is not None:
            parts.append(self.input_norm(pooled))
        if self.encoder_bow:
            parts.append(torch.log1p(counts))
        h = self.encoder(torch.cat(parts, dim=1) if len(parts) > 1 else parts[0])
        mu = self.bn_mu(self.fc_mu(h))
        # Bounded log-variance: no overflow in exp() on odd inputs.
        logvar = self.bn_logvar(self.fc_logvar(h)).clamp(-10.0, 10.0)
        return mu, logvar

    def component_log_likelihood(self, z: Tensor) -> Tensor:
        """log π_c + log N(z; m_c, v_c) for every component: (batch, n_clusters)."""
        var = self.prior_var()
        diff = z.unsqueeze(1) - self.mixture_means().unsqueeze(0)
        log_norm = -0.5 * (LOG_2PI + torch.log(var).unsqueeze(0) + diff.pow(2) / var.unsqueeze(0)).sum(-1)
        return self.log_mixture_weights().unsqueeze(0) + log_norm

    def cluster_posterior(self, z: Tensor, temperature: float = 1.0) -> Tensor:
        """γ = p(c | z) (or softmax(log p(c, z) / temperature)), (batch, n_clusters),
        rows summing to 1."""
        return F.softmax(self.component_log_likelihood(z) / temperature, dim=1)

    def kl_divergence(self, mu: Tensor, logvar: Tensor, gamma: Tensor) -> Tensor:
        """VaDE's KL(q(z, c | x) ‖ p(z, c)) with q(c | x) = γ, per document."""
        var = self.prior_var().unsqueeze(0)  # 1 × 1 × D
        means = self.mixture_means().unsqueeze(0)
        mu_ = mu.unsqueeze(1)
        post_var = logvar.exp().unsqueeze(1)
        kl_gauss = 0.5 * (
            torch.log(var) - logvar.unsqueeze(1) + (post_var + (mu_ - means).pow(2)) / var - 1.0
        ).sum(-1)  # B × C
        log_pi = self.log_mixture_weights().unsqueeze(0)
        kl_cat = gamma * (torch.log(gamma.clamp_min(1e-10)) - log_pi)
        return (gamma * kl_gauss).sum(1) + kl_cat.sum(1)

    @property
    def has_embedding_decoder(self) -> bool:
        return hasattr(self, "topic_embeddings")

    def _topic_word_distances(self) -> Tensor:
        """‖t_k - e_w‖², (n_topics, n_vocab)."""
        t, e = self.topic_embeddings, self.word_embeddings
        dist = t.pow(2).sum(1, keepdim=True) + e.pow(2).sum(1).unsqueeze(0) - 2.0 * t @ e.t()
        return dist.clamp_min(0.0)

    def decoder_weights(self) -> Tensor:
        """The decoder's topic-word matrix, (n_topics, n_vocab): the free matrix,
        or the embedding decoder's softmax over topics of -distance / τ."""
        if not self.has_embedding_decoder:
            return self.beta
        return F.softmax(-self._topic_word_distances() / self.decoder_temperature, dim=0)

    def embedding_clustering_loss(self) -> Tensor:
        """ECRTM's regulariser: the cost of the entropic optimal transport plan
        P that moves the words (mass 1/V each) onto the topics (mass 1/K each),
        Σ P ∘ ‖t_k - e_w‖². P is held fixed in the gradient (by the envelope
        theorem it is the gradient of the transport cost)."""
        cost = self._topic_word_distances().float()
        n_topics, n_vocab = cost.shape
        with torch.no_grad():
            kernel = -cost / SINKHORN_EPSILON
            log_a = -math.log(n_topics)
            log_b = -math.log(n_vocab)
            f = torch.zeros(n_topics, device=cost.device)
            g = torch.zeros(n_vocab, device=cost.device)
            for _ in range(SINKHORN_ITERATIONS):
                f = log_a - torch.logsumexp(kernel + g.unsqueeze(0), dim=1)
                g = log_b - torch.logsumexp(kernel + f.unsqueeze(1), dim=0)
            plan = torch.exp(kernel + f.unsqueeze(1) + g.unsqueeze(0))
        return (plan * cost).sum()

    def decode(self, theta: Tensor) -> Tensor:
        """Log-probabilities of the vocabulary per document: (batch, n_vocab)."""
        logits = theta @ self.decoder_weights()
        if self.bn_decoder is not None:
            logits = self.bn_decoder(logits)
        return F.log_softmax(logits.float() + self.background, dim=1)

    # -- forward ------------------------------------------------------------

    def forward(
        self, pooled: Tensor, counts: Tensor, kl_weight: float = 1.0
    ) -> Tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Encode, sample (training only), decode and score a batch.

        pooled (Tensor): (batch, n_inputs) pooled token vectors.
        counts (Tensor): (batch, n_vocab) bag-of-words counts.
        kl_weight (float): Weight of the KL term (KL warm-up).
        RETURNS: μ, θ, γ, loss, reconstruction loss, KL; the last three per document.
        """
        counts = counts.float()
        encoder_counts = counts
        if self.training and self.word_dropout > 0:
            encoder_counts = counts * (torch.rand_like(counts) >= self.word_dropout)
        mu, logvar = self.encode(pooled, encoder_counts)
        mu, logvar = mu.float(), logvar.float()
        if self.training:
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            self._remember(mu.detach())
        else:
            z = mu  # posterior mean: the same text always gives the same output
        theta = F.softmax(z, dim=1)
        # γ is the optimal q(c|x) for the current z (VaDE), so it is held fixed
        # in the gradient, as in EM; a temperature < 1 sharpens it in training.
        temperature = self.cluster_temperature if self.training else 1.0
        gamma = self.cluster_posterior(z, temperature).detach()
        log_probs = self.decode(self.theta_dropout(theta))
        recon = -(counts * log_probs).sum(1)
        kl = self.kl_divergence(mu, logvar, gamma)
        loss = recon + kl_weight * kl
        if self.training and self.has_embedding_decoder and self.ecr_weight > 0:
            # A batch-level term, added to every doc's loss: the component
            # averages the loss over the batch.
            loss = loss + self.ecr_weight * self.embedding_clustering_loss()
        # In eval z = μ, so θ and γ above are already the posterior-mean values.
        return mu, theta, gamma, loss, recon, kl

    # -- the mixture prior: fitting and repair ------------------------------

    @torch.no_grad()
    def _remember(self, mu: Tensor) -> None:
        size = self.latent_buffer.shape[0]
        n = min(mu.shape[0], size)
        start = self.buffer_count % size
        idx = (torch.arange(n, device=mu.device) + start) % size
        self.latent_buffer[idx] = mu[-n:]
        self.buffer_count += n

    def buffered_latents(self) -> Tensor:
        n = min(self.buffer_count, self.latent_buffer.shape[0])
        return self.latent_buffer[:n]

    @torch.no_grad()
    def fit_prior(self, n_iter: int = 25, seed: int = 0) -> bool:
        """Fit the mixture to the buffered posterior means. Free means: k-means++
        (VaDE's initialisation), the means are the k-means centres. Topic means:
        documents are grouped by their dominant topic, a is the mean margin of
        that topic's z over the others' mean, b centres the corners on the data.
        Either way the shared variance is the pooled within-cluster variance.
        RETURNS (bool): whether it was fitted."""
        X = self.buffered_latents()
        C = self.n_clusters
        if X.shape[0] < 2 * C:
            return False
        if self.cluster_means == "topics":
            assign = X.argmax(1)
            top = X.gather(1, assign.unsqueeze(1)).squeeze(1)
            rest = (X.sum(1) - top) / max(C - 1, 1)
            scale = (top - rest).mean().clamp_min(2 * self.min_prior_var)
            self.prior_raw_scale.data.copy_(_inv_softplus(scale).reshape(1))
            self.prior_offset.data.copy_(X.mean(0) - scale / C)
            centers = self.mixture_means()
        else:
            gen = torch.Generator(device="cpu").manual_seed(seed)
            centers = _kmeans_pp(X, C, gen)
            for _ in range(n_iter):
                assign = torch.cdist(X, centers).argmin(1)
                onehot = F.one_hot(assign, C).to(X.dtype)
                sizes = onehot.sum(0)
                sums = onehot.t() @ X
                nonempty = sizes > 0
                centers[nonempty] = sums[nonempty] / sizes[nonempty].unsqueeze(1)
            assign = torch.cdist(X, centers).argmin(1)
            self.prior_means.data.copy_(centers)
        var = (X - centers[assign]).pow(2).mean(0, keepdim=True).clamp_min(2 * self.min_prior_var)
        self.prior_raw_var.data.copy_(_inv_softplus(var - self.min_prior_var))
        return True

    @torch.no_grad()
    def repair_prior(self, min_share: float = 0.2) -> int:
        """Re-seed components that explain (almost) no recent documents at the
        worst-explained latents; call only after `fit_prior`. Topic-tied means
        are never re-seeded (the decoder's batch-norm keeps every topic in use).
        RETURNS (int): how many were re-seeded."""
        if self.cluster_means == "topics":
            return 0
        X = self.buffered_latents()
        if X.shape[0] < 2 * self.n_clusters:
            return 0
        log_lik = self.component_log_likelihood(X)
        share = F.softmax(log_lik, dim=1).mean(0)
        dead = torch.nonzero(share < min_share / self.n_clusters).flatten()
        if dead.numel() == 0:
            return 0
        worst = torch.argsort(torch.logsumexp(log_lik, dim=1))[: dead.numel()]
        self.prior_means.data[dead] = X[worst]
        return int(dead.numel())


def _inv_softplus(x):
    x = torch.as_tensor(x, dtype=torch.float32)
    return x + torch.log(-torch.expm1(-x))


def _kmeans_pp(X: Tensor, k: int, gen: torch.Generator) -> Tensor:
    """k-means++ seeding, on the device of X."""
    n = X.shape[0]
    first = int(torch.randint(n, (1,), generator=gen).item())
    centers = [X[first]]
    d2 = (X - X[first]).pow(2).sum(1)
    for _ in range(1, k):
        probs = (d2 / d2.sum().clamp_min(1e-12)).cpu()
        if not torch.isfinite(probs).all() or float(probs.sum()) <= 0:
            probs = torch.full((n,), 1.0 / n)
        idx = int(torch.multinomial(probs, 1, generator=gen).item())
        centers.append(X[idx])
        d2 = torch.minimum(d2, (X - X[idx]).pow(2).sum(1))
    return torch.stack(centers).clone()
