"""The VAE: encoder, logistic-normal topics θ = softmax(z), a decoder over the
bag of words and a Gaussian-mixture prior, composed; `build_text_vae` picks the
decoder and the prior's means.

References: Srivastava & Sutton 2017 (ProdLDA), Miao et al. 2017 (NVDM-GSM),
Jiang et al. 2017 (VaDE), Wu et al. 2023 (ECRTM).
"""
from typing import Any, Dict, List, NamedTuple, Optional, Union

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .batch_norm import MaybeBatchNorm
from .counts import SparseCounts, segment_sum, sparse_counts
from .decoders import Decoder, EmbeddingTopicWords, LinearTopicWords
from .encoder import Encoder
from .prior import FreeMeansPrior, MixturePrior, TopicMeansPrior, TopicMixturePrior

DECODERS = ("embedding", "linear")
CLUSTER_MEANS = ("free", "topics", "mixtures")
# Floor of the prior's shared variance: keeps the mixture from collapsing onto points.
MIN_PRIOR_VAR = 1e-2
# Recent posterior means kept in training, to fit and repair the mixture.
LATENT_BUFFER_SIZE = 4096


class VAEForward(NamedTuple):
    """What `TextVAEModule.forward` returns for a batch.

    mu: (batch, n_topics) posterior means.
    theta: (batch, n_topics) topic proportions softmax(z) (z = μ in eval mode).
    gamma: (batch, n_clusters) q(c | x), held fixed in the gradient.
    loss: (batch,) reconstruction + weighted KL (+ the decoder's regulariser).
    recon: (batch,) reconstruction loss.
    kl: (batch,) KL divergence.
    assignment: (batch, n_clusters) p(c | μ): the clusters inference would give
        (γ itself in eval mode).
    """

    mu: Tensor
    theta: Tensor
    gamma: Tensor
    loss: Tensor
    recon: Tensor
    kl: Tensor
    assignment: Tensor


class TextVAEModule(nn.Module):
    """A VAE over a pooled document vector and the document's bag of words.

    encoder (Encoder): x → μ, log σ².
    decoder (Decoder): θ → log p(word | doc).
    prior (MixturePrior): The mixture prior over z.
    dropout (float): Dropout on θ before decoding.
    word_dropout (float): Share of word types hidden from the encoder's bag of
        words in training (the decoder still reconstructs them): a denoising
        regulariser that makes the latent depend on more than a few words.
    pooled_head (Optional[nn.Linear]): z → the layer-normed pooled vector, for
        the pooled-vector reconstruction term in training (None: no such term).
    pooled_weight (float): Weight of that term: pooled_weight × ½‖head(z) −
        LayerNorm(pooled)‖² per doc, a unit-variance Gaussian likelihood of the
        doc's sentence vector. It does not grow with the doc's length, so it
        shapes the latent most where the bag of words says least: short texts.
    buffer_size (int): How many recent posterior means to keep for `fit_prior`.
    """

    def __init__(
        self, encoder: Encoder, decoder: Decoder, prior: MixturePrior, dropout: float, word_dropout: float,
        pooled_head: Optional[nn.Linear] = None, pooled_weight: float = 0.0,
        buffer_size: int = LATENT_BUFFER_SIZE,
    ) -> None:
        super().__init__()
        if (pooled_head is None) != (pooled_weight <= 0):
            raise ValueError("pooled_head and pooled_weight > 0 go together.")
        self.encoder = encoder
        self.dropout = float(dropout)
        self.decoder = decoder
        self.prior = prior
        self.word_dropout = float(word_dropout)
        self.pooled_head = pooled_head
        self.pooled_weight = float(pooled_weight)
        self.register_buffer("latent_buffer", torch.zeros(buffer_size, prior.n_latent), persistent=False)
        # A python int, not a tensor: reading it never synchronises with the GPU.
        self.buffer_count = 0

    def forward(
        self,
        pooled: Tensor,
        counts: Union[SparseCounts, Tensor],
        kl_weight: float = 1.0,
        cluster_temperature: float = 1.0,
        train: Optional[bool] = None,
        neighbour_targets: Optional[Tensor] = None,
        neighbour_weight: float = 0.0,
    ) -> VAEForward:
        """Encode, sample (training only), decode and score a batch.

        pooled (Tensor): (batch, n_inputs) pooled token vectors.
        counts (Union[SparseCounts, Tensor]): The bag of words: its nonzero
            cells, or a dense (batch, n_vocab) count matrix.
        kl_weight (float): Weight of the KL term (KL warm-up).
        cluster_temperature (float): In training, q(c | x) = softmax(log p(c, z) / T):
            sharper than the exact p(c | z) for T < 1, which keeps the means
            apart (still a valid ELBO). Inference always uses p(c | z).
        train (Optional[bool]): Training (sampling, dropout, batch statistics,
            remembering the latents) or inference; None: `self.training`. Pass
            it explicitly to share the module between threads: inference then
            reads no global mode and changes no state.
        neighbour_targets (Optional[Tensor]): (batch, n_clusters) in training:
            the mean cluster assignment of each doc's neighbours. Adds
            neighbour_weight × words in the doc × (−log ⟨p(c | μ), target⟩ −
            H(batch mean of p(c | μ))): neighbours share a cluster, and the
            clusters stay in use.
        neighbour_weight (float): Weight of that term, per word.
        RETURNS (VAEForward): The named outputs.
        """
        train = self.training if train is None else train
        if isinstance(counts, Tensor):
            counts = sparse_counts(counts)
        encoder_counts = counts
        if train and self.word_dropout > 0:
            # One draw per (doc, word) cell, as a dense mask would take: a seed
            # hides the same words whichever form the counts come in, and the
            # training pass holds batch × vocabulary log-probabilities anyway.
            draws = torch.rand(counts.n_docs, self.decoder.n_vocab, device=counts.values.device)
            kept = draws[counts.rows, counts.cols] >= self.word_dropout
            encoder_counts = counts._replace(values=counts.values * kept)
        mu, logvar = self.encoder(pooled, encoder_counts, train)
        mu, logvar = mu.float(), logvar.float()
        if train:
            z = mu + torch.randn_like(mu) * torch.exp(0.5 * logvar)
            self._remember(mu.detach())
        else:
            z = mu  # posterior mean: the same text always gives the same output
        theta = F.softmax(z, dim=1)
        # γ is the optimal q(c|x) for the current z (VaDE), so it is held fixed
        # in the gradient, as in EM.
        temperature = cluster_temperature if train else 1.0
        gamma = self.prior.posterior(z, temperature).detach()
        # The neighbour term compares what inference would assign (p(c | μ)), not
        # the sampled z's sharpened γ: on short texts the sample is mostly noise.
        assignment = self.prior.posterior(mu) if train else gamma
        recon = self.decoder.reconstruction(F.dropout(theta, self.dropout, training=train), counts, train)
        kl = self.prior.kl_divergence(mu, logvar, gamma)
        loss = recon + kl_weight * kl
        if train:
            # Batch-level terms, added to every doc's loss: the caller
            # averages the loss over the batch.
            for term in (self.decoder.topic_words.regularization(), self.decoder.seed_anchor()):
                if term is not None:
                    loss = loss + term
            if self.pooled_head is not None:
                target = F.layer_norm(pooled.detach().float(), pooled.shape[1:])
                error = self.pooled_head(z.to(self.pooled_head.weight.dtype)).float() - target
                loss = loss + self.pooled_weight * 0.5 * error.square().sum(1)
            if neighbour_targets is not None and neighbour_weight > 0:
                # Per word of the doc, as the reconstruction is: the term keeps its
                # share of the loss whatever the texts' length.
                n_words = segment_sum(counts.values, counts.offsets).to(loss.dtype)
                term = neighbour_consistency(assignment, neighbour_targets)
                loss = loss + neighbour_weight * n_words * term
        return VAEForward(mu, theta, gamma, loss, recon, kl, assignment.detach())

    @torch.no_grad()
    def topic_log_probs(self) -> Tensor:
        """log p(word | topic): the decoder's distribution for a document of one
        topic only (θ = one-hot), batch-norm running statistics and background
        included. RETURNS (Tensor): float32 (n_topics, n_vocab)."""
        eye = torch.eye(self.prior.n_latent, device=self.latent_buffer.device)
        return self.decoder(eye, train=False).float()

    @torch.no_grad()
    def word_log_probs(self, theta: Tensor) -> Tensor:
        """log p(word | θ): the decoder's distribution for documents of the given
        topic proportions, as inference applies it (running statistics).

        theta (Tensor): (batch, n_topics) topic proportions.
        RETURNS (Tensor): float32 (batch, n_vocab)."""
        return self.decoder(theta, train=False).float()

    @torch.no_grad()
    def topic_vectors(self) -> Tensor:
        """RETURNS (Tensor): each topic's own representation in the decoder: its
        point among the word embeddings, or its row of β. (n_topics, width)."""
        return self.decoder.topic_words.topic_vectors().detach().float()

    @torch.no_grad()
    def snapshot(self) -> Dict[str, Any]:
        """RETURNS (Dict[str, Any]): copies of the state a training forward pass
        changes besides the parameters (the batch-norm statistics and the latent
        buffer; the fixed buffers, such as the word embeddings, are left out), for
        `restore`."""
        changing = {"latent_buffer"} | {
            f"{name}.{buf}" for name, m in self.named_modules() if isinstance(m, MaybeBatchNorm)
            for buf, _ in m.named_buffers(recurse=False)
        }
        buffers = {k: v.clone() for k, v in self.named_buffers() if k in changing}
        return {"buffers": buffers, "buffer_count": self.buffer_count}

    @torch.no_grad()
    def restore(self, snapshot: Dict[str, Any]) -> None:
        """Put back the state of a `snapshot` and drop the parameters' gradients:
        the training step that followed it leaves no trace."""
        buffers = dict(self.named_buffers())
        for name, value in snapshot["buffers"].items():
            buffers[name].copy_(value)
        self.buffer_count = snapshot["buffer_count"]
        for p in self.parameters():
            p.grad = None

    @torch.no_grad()
    def gradients_are_finite(self) -> bool:
        """RETURNS (bool): whether every parameter's gradient is finite."""
        return all_finite([p.grad for p in self.parameters() if p.grad is not None])

    @torch.no_grad()
    def state_is_finite(self) -> bool:
        """RETURNS (bool): whether every parameter and buffer is finite."""
        return all_finite([t for t in (*self.parameters(), *self.buffers()) if t.is_floating_point()])

    @torch.no_grad()
    def _remember(self, mu: Tensor) -> None:
        size = self.latent_buffer.shape[0]
        n = min(mu.shape[0], size)
        start = self.buffer_count % size
        idx = (torch.arange(n, device=mu.device) + start) % size
        self.latent_buffer[idx] = mu[-n:]
        self.buffer_count += n

    def buffered_latents(self) -> Tensor:
        """RETURNS (Tensor): the recent posterior means kept in training, (n, n_topics)."""
        n = min(self.buffer_count, self.latent_buffer.shape[0])
        return self.latent_buffer[:n]

    def fit_prior(self, seed: int = 0) -> bool:
        """Fit the mixture to the buffered posterior means.
        RETURNS (bool): whether it was fitted (it needs 2 per component)."""
        return self.prior.fit(self.buffered_latents(), seed=seed)

    def repair_prior(self) -> int:
        """Re-seed components that explain no recent documents (free means only).
        RETURNS (int): how many were re-seeded."""
        return self.prior.repair(self.buffered_latents())


@torch.no_grad()
def all_finite(tensors: List[Tensor]) -> bool:
    """Whether every value of the tensors is finite, with one reduction each,
    checked after every training step. A NaN or ±inf makes a sum non-finite,
    so a finite float32 sum proves its tensor finite; it reads the tensor once,
    without the boolean copy that isfinite(t).all() writes. A non-finite sum
    may also be finite values overflowing float32: those tensors are decided
    again by a float64 sum, which cannot overflow (isfinite on MPS, which has
    no float64).

    tensors (List[Tensor]): Floating-point tensors, on one device.
    RETURNS (bool): True for an empty list.
    """
    if not tensors:
        return True
    finite = torch.isfinite(torch.stack([t.sum(dtype=torch.float32) for t in tensors]))
    if bool(finite.all()):
        return True
    doubtful = [t for t, ok in zip(tensors, finite.tolist()) if not ok]
    if doubtful[0].device.type == "mps":
        return all(bool(torch.isfinite(t).all()) for t in doubtful)
    return all(bool(torch.isfinite(t.sum(dtype=torch.float64))) for t in doubtful)


def neighbour_consistency(gamma: Tensor, targets: Tensor, eps: float = 1e-6) -> Tensor:
    """SCAN's clustering loss per doc: −log ⟨γ_i, t_i⟩ against the neighbours'
    mean assignment t_i, minus the entropy of the batch's mean γ (added to every
    doc: without it, one cluster for all would satisfy every neighbour).

    gamma (Tensor): (batch, n_clusters) q(c | x), with its gradient.
    targets (Tensor): (batch, n_clusters), rows summing to 1.
    RETURNS (Tensor): (batch,).
    """
    agreement = (gamma * targets.to(gamma.dtype)).sum(1).clamp_min(eps)
    mean = gamma.mean(0).clamp_min(eps)
    entropy = -(mean * mean.log()).sum()
    return -agreement.log() - entropy


def build_text_vae(
    *,
    n_inputs: int,
    n_vocab: int,
    n_topics: int,
    n_clusters: int,
    hidden_width: int,
    dropout: float,
    use_counts: bool,
    word_dropout: float,
    decoder: str,
    word_embeddings: Optional[Tensor],
    decoder_temperature: float,
    ecr_weight: float,
    decoder_batchnorm: bool,
    background: Optional[Tensor],
    cluster_means: str,
    pooled_weight: float,
) -> TextVAEModule:
    """Build the VAE for the given sizes.

    decoder (str): "embedding" (topics as points among `word_embeddings`, which
        must then be given) or "linear" (a free topic-word matrix).
    cluster_means (str): "free", "mixtures" or "topics" (needs n_clusters == n_topics).
    pooled_weight (float): Weight of reconstructing the pooled vector from z
        (0: no such term, and no head among the weights).
    The other arguments are those of `Encoder`, `EmbeddingTopicWords`,
    `Decoder` and `TextVAEModule`.
    RETURNS (TextVAEModule): The module, on the CPU.
    """
    if decoder not in DECODERS:
        raise ValueError(f"decoder must be one of {DECODERS}, not {decoder!r}.")
    if cluster_means not in CLUSTER_MEANS:
        raise ValueError(f"cluster_means must be one of {CLUSTER_MEANS}, not {cluster_means!r}.")
    # Creation order fixes the random draws of the initial weights.
    encoder = Encoder(n_inputs, n_vocab, n_topics, hidden_width, dropout, use_counts)
    if decoder == "embedding":
        if word_embeddings is None or tuple(word_embeddings.shape[:1]) != (n_vocab,):
            shape = None if word_embeddings is None else tuple(word_embeddings.shape)
            raise ValueError(f"The embedding decoder needs word_embeddings of shape ({n_vocab}, width), not {shape}.")
        topic_words: nn.Module = EmbeddingTopicWords(word_embeddings, n_topics, decoder_temperature, ecr_weight)
    else:
        topic_words = LinearTopicWords(n_topics, n_vocab)
    dec = Decoder(topic_words, n_vocab, decoder_batchnorm, background)
    prior_cls = {"topics": TopicMeansPrior, "mixtures": TopicMixturePrior, "free": FreeMeansPrior}[cluster_means]
    prior = prior_cls(n_topics, n_clusters, MIN_PRIOR_VAR)
    head = None
    if pooled_weight > 0:
        if n_inputs <= 0:
            raise ValueError("pooled_weight > 0 needs pooled vectors (n_inputs > 0).")
        # Made last: the other weights draw the same values with or without it.
        head = nn.Linear(n_topics, n_inputs)
    return TextVAEModule(
        encoder, dec, prior, dropout=dropout, word_dropout=word_dropout, pooled_head=head, pooled_weight=pooled_weight
    )
