"""The Gaussian-mixture prior p(z) = Σ_c π_c N(z; m_c, v), learned jointly
with the VAE (VaDE-style one-step clustering).

The components have equal, fixed weights and share one diagonal variance (a
tied covariance, as in linear discriminant analysis), so p(c | z) ranks
components by a scaled distance to their means, like k-means: with learned
weights and per-component variances a few broad components take most
documents. Three ways to hold the means, one interface (`means()`, `fit()`,
`repair()`):
- `FreeMeansPrior`: every mean is its own parameter, fitted by k-means++ (VaDE).
- `TopicMeansPrior`: m_c = b + a·e_c, tied to topic c's corner of the latent
  space, so cluster c holds the documents whose dominant topic is c.
- `TopicMixturePrior`: m_c = b + a·w_c, with w_c a learned mix of topic
  corners, for any number of clusters: a cluster is a set of topics.

Reference: Jiang et al. 2017 (VaDE).
"""
import math
from typing import Tuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

LOG_2PI = math.log(2.0 * math.pi)


def inv_softplus(x) -> Tensor:
    """The inverse of softplus, as a float32 tensor."""
    x = torch.as_tensor(x, dtype=torch.float32)
    return x + torch.log(-torch.expm1(-x))


class MixturePrior(nn.Module):
    """What both kinds of mean share: equal weights, one shared variance.

    n_latent (int): Latent dimensions.
    n_clusters (int): Mixture components.
    min_var (float): Floor of the shared variance.
    """

    def __init__(self, n_latent: int, n_clusters: int, min_var: float) -> None:
        super().__init__()
        if n_clusters < 1:
            raise ValueError(f"n_clusters must be >= 1, not {n_clusters}.")
        self.n_latent = n_latent
        self.n_clusters = n_clusters
        self.min_var = min_var
        # Subclasses register their mean parameters before `raw_var`.

    def _init_variance(self) -> None:
        # Before it is fitted every component is the Laplace approximation of a
        # symmetric Dirichlet(1) in softmax basis, so the model starts as ProdLDA.
        dir_var = 1.0 - 1.0 / self.n_latent if self.n_latent > 1 else 1.0
        self.raw_var = nn.Parameter(torch.full((1, self.n_latent), inv_softplus(dir_var - self.min_var)))

    def means(self) -> Tensor:
        """RETURNS (Tensor): the components' means, (n_clusters, n_latent)."""
        raise NotImplementedError

    def variance(self) -> Tensor:
        """RETURNS (Tensor): the variance per latent dimension, (1, n_latent)."""
        return F.softplus(self.raw_var) + self.min_var

    def log_weights(self) -> Tensor:
        """RETURNS (Tensor): log π_c, (n_clusters,): equal and fixed."""
        return torch.full((self.n_clusters,), -math.log(self.n_clusters), device=self.raw_var.device)

    def component_log_likelihood(self, z: Tensor) -> Tensor:
        """RETURNS (Tensor): log π_c + log N(z; m_c, v) for every component, (batch, n_clusters)."""
        var = self.variance()
        diff = z.unsqueeze(1) - self.means().unsqueeze(0)
        log_norm = -0.5 * (LOG_2PI + torch.log(var).unsqueeze(0) + diff.pow(2) / var.unsqueeze(0)).sum(-1)
        return self.log_weights().unsqueeze(0) + log_norm

    def posterior(self, z: Tensor, temperature: float = 1.0) -> Tensor:
        """RETURNS (Tensor): γ = p(c | z), or softmax(log p(c, z) / temperature),
        (batch, n_clusters), rows summing to 1."""
        return F.softmax(self.component_log_likelihood(z) / temperature, dim=1)

    def kl_divergence(self, mu: Tensor, logvar: Tensor, gamma: Tensor) -> Tensor:
        """RETURNS (Tensor): VaDE's KL(q(z, c | x) ‖ p(z, c)) with q(c | x) = γ, (batch,)."""
        var = self.variance().unsqueeze(0)  # 1 × 1 × D
        means = self.means().unsqueeze(0)
        mu_ = mu.unsqueeze(1)
        post_var = logvar.exp().unsqueeze(1)
        kl_gauss = 0.5 * (
            torch.log(var) - logvar.unsqueeze(1) + (post_var + (mu_ - means).pow(2)) / var - 1.0
        ).sum(-1)  # B × C
        log_pi = self.log_weights().unsqueeze(0)
        kl_cat = gamma * (torch.log(gamma.clamp_min(1e-10)) - log_pi)
        return (gamma * kl_gauss).sum(1) + kl_cat.sum(1)

    @torch.no_grad()
    def fit(self, X: Tensor, seed: int = 0) -> bool:
        """Fit the means and the shared variance to posterior means X, (n, n_latent).
        RETURNS (bool): whether it was fitted (it needs at least 2 points per component)."""
        if X.shape[0] < 2 * self.n_clusters:
            return False
        centers, assign = self._fit_means(X, seed)
        # The shared variance is the pooled within-cluster variance.
        var = (X - centers[assign]).pow(2).mean(0, keepdim=True).clamp_min(2 * self.min_var)
        self.raw_var.data.copy_(inv_softplus(var - self.min_var))
        return True

    def _fit_means(self, X: Tensor, seed: int) -> Tuple[Tensor, Tensor]:
        """RETURNS (Tuple[Tensor, Tensor]): the fitted means and each point's component."""
        raise NotImplementedError

    @torch.no_grad()
    def repair(self, X: Tensor, min_share: float = 0.2) -> int:
        """Re-seed components that explain (almost) no recent documents.
        RETURNS (int): how many were re-seeded."""
        return 0

    def _dead_components(self, X: Tensor, min_share: float) -> Tuple[Tensor, Tensor]:
        """RETURNS (Tuple[Tensor, Tensor]): the components whose share of X's
        responsibility is below min_share / n_clusters, and as many of X's
        worst-explained points, to re-seed them at (none if X is too small)."""
        if X.shape[0] < 2 * self.n_clusters:
            return X.new_zeros((0,), dtype=torch.long), X[:0]
        log_lik = self.component_log_likelihood(X)
        share = F.softmax(log_lik, dim=1).mean(0)
        dead = torch.nonzero(share < min_share / self.n_clusters).flatten()
        worst = torch.argsort(torch.logsumexp(log_lik, dim=1))[: dead.numel()]
        return dead, X[worst]


class FreeMeansPrior(MixturePrior):
    """Free means, fitted by k-means++ and k-means on the posterior means (VaDE)."""

    def __init__(self, n_latent: int, n_clusters: int, min_var: float, n_iter: int = 25) -> None:
        super().__init__(n_latent, n_clusters, min_var)
        self.n_iter = n_iter
        self.free_means = nn.Parameter(torch.zeros(n_clusters, n_latent))
        self._init_variance()

    def means(self) -> Tensor:
        return self.free_means

    def _fit_means(self, X: Tensor, seed: int) -> Tuple[Tensor, Tensor]:
        centers = _kmeans(X, self.n_clusters, seed, self.n_iter)
        assign = torch.cdist(X, centers).argmin(1)
        self.free_means.data.copy_(centers)
        return centers, assign

    @torch.no_grad()
    def repair(self, X: Tensor, min_share: float = 0.2) -> int:
        """Re-seed components whose share of X's responsibility is below
        min_share / n_clusters at the worst-explained points of X."""
        dead, worst = self._dead_components(X, min_share)
        if dead.numel():
            self.free_means.data[dead] = worst
        return int(dead.numel())


class TopicMeansPrior(MixturePrior):
    """Means tied to the topic corners, m_c = b + a·e_c with a = softplus(raw) > 0
    and b learned; needs one component per latent dimension. p(c | z) then
    ranks clusters by z_c, so topics and clusters agree. Never re-seeded: the
    decoder's batch-norm keeps every topic in use."""

    def __init__(self, n_latent: int, n_clusters: int, min_var: float) -> None:
        if n_clusters != n_latent:
            raise ValueError(
                f"TopicMeansPrior ties one component to each latent dimension: n_clusters "
                f"({n_clusters}) must equal n_latent ({n_latent})."
            )
        super().__init__(n_latent, n_clusters, min_var)
        self.offset = nn.Parameter(torch.zeros(n_latent))
        # Shape (1,), not a scalar: optimizers that keep per-array state need a sized array.
        self.raw_scale = nn.Parameter(inv_softplus(1e-3).reshape(1))
        self._init_variance()

    def means(self) -> Tensor:
        scale = F.softplus(self.raw_scale)
        return self.offset.unsqueeze(0) + scale * torch.eye(self.n_latent, device=self.offset.device, dtype=self.offset.dtype)

    def _fit_means(self, X: Tensor, seed: int) -> Tuple[Tensor, Tensor]:
        # Documents are grouped by their dominant topic; a is the mean margin of
        # that topic's z over the others' mean, b centres the corners on the data.
        C = self.n_clusters
        assign = X.argmax(1)
        top = X.gather(1, assign.unsqueeze(1)).squeeze(1)
        rest = (X.sum(1) - top) / max(C - 1, 1)
        scale = (top - rest).mean().clamp_min(2 * self.min_var)
        self.raw_scale.data.copy_(inv_softplus(scale).reshape(1))
        self.offset.data.copy_(X.mean(0) - scale / C)
        return self.means(), assign


class TopicMixturePrior(MixturePrior):
    """Means on the topic simplex, for any number of clusters:
    m_c = b + a·w_c, with w_c = softmax(l_c) a mix of topic corners (learned)
    and a = softplus(raw) > 0, b as in `TopicMeansPrior`. A cluster is thus a
    set of topics, and its mean is flat along the topics it does not use, so
    those dimensions add the same distance to every cluster and p(c | z) is
    decided by the topics that matter: free means drift in every dimension,
    and on short texts the noisy ones decide. With one cluster per topic and
    w_c = e_c this is `TopicMeansPrior`.

    Fitted by k-means++ and k-means on the topic proportions softmax(z) of
    the posterior means (distances there are led by each doc's dominant
    topics); clusters that explain no recent documents are re-seeded.
    """

    def __init__(self, n_latent: int, n_clusters: int, min_var: float, n_iter: int = 25) -> None:
        super().__init__(n_latent, n_clusters, min_var)
        self.n_iter = n_iter
        self.offset = nn.Parameter(torch.zeros(n_latent))
        self.raw_scale = nn.Parameter(inv_softplus(1e-3).reshape(1))
        # Zero logits: every cluster starts as the even mix (all means alike,
        # as the unfitted prior should be).
        self.mix_logits = nn.Parameter(torch.zeros(n_clusters, n_latent))
        self._init_variance()

    def mixes(self) -> Tensor:
        """RETURNS (Tensor): w_c, each cluster's mix of topics, (n_clusters, n_latent), rows sum to 1."""
        return F.softmax(self.mix_logits, dim=1)

    def means(self) -> Tensor:
        return self.offset.unsqueeze(0) + F.softplus(self.raw_scale) * self.mixes()

    def _fit_means(self, X: Tensor, seed: int) -> Tuple[Tensor, Tensor]:
        centers = _kmeans(F.softmax(X, dim=1), self.n_clusters, seed, self.n_iter)
        self.mix_logits.data.copy_(_mix_logits(centers))
        # a: the mean margin of a doc's dominant topic over the others' mean, as
        # for topic-tied means; b centres the means on the data.
        top = X.max(1).values
        rest = (X.sum(1) - top) / max(X.shape[1] - 1, 1)
        scale = (top - rest).mean().clamp_min(2 * self.min_var)
        self.raw_scale.data.copy_(inv_softplus(scale).reshape(1))
        self.offset.data.copy_(X.mean(0) - scale * self.mixes().mean(0))
        means = self.means()
        return means, torch.cdist(X, means).argmin(1)

    @torch.no_grad()
    def repair(self, X: Tensor, min_share: float = 0.2) -> int:
        """Re-seed clusters whose share of X's responsibility is below
        min_share / n_clusters, at the topic mixes of the worst-explained points of X."""
        dead, worst = self._dead_components(X, min_share)
        if dead.numel():
            self.mix_logits.data[dead] = _mix_logits(F.softmax(worst, dim=1))
        return int(dead.numel())


def _mix_logits(mixes: Tensor) -> Tensor:
    """Logits whose softmax is `mixes` (rows on the simplex), floored so that
    no topic is ruled out for good."""
    logits = torch.log(mixes.clamp_min(1e-3))
    return logits - logits.mean(1, keepdim=True)


def _kmeans(X: Tensor, k: int, seed: int, n_iter: int) -> Tensor:
    """k-means++ seeding, then n_iter Lloyd steps (an empty cluster keeps its
    centre). RETURNS (Tensor): the centres, (k, dims)."""
    gen = torch.Generator(device="cpu").manual_seed(seed)
    centers = _kmeans_pp(X, k, gen)
    for _ in range(n_iter):
        onehot = F.one_hot(torch.cdist(X, centers).argmin(1), k).to(X.dtype)
        sizes = onehot.sum(0)
        nonempty = sizes > 0
        centers[nonempty] = (onehot.t() @ X)[nonempty] / sizes[nonempty].unsqueeze(1)
    return centers


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
