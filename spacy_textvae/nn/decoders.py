"""Decoders: topic proportions θ → log p(word | document).

Two ways to hold the topic-word weights, with one interface (`weights()` and
`regularization()`):
- `LinearTopicWords`: a free topic × word matrix (ProdLDA).
- `EmbeddingTopicWords`: topics are points in a fixed word-embedding space;
  word w's weight in topic k is softmax_k(-‖t_k - e_w‖² / τ), with ECRTM's
  embedding clustering regulariser keeping each topic on its own region.

References: Srivastava & Sutton 2017 (ProdLDA), Dieng et al. 2020 (ETM),
Wu et al. 2023 (ECRTM).
"""
from typing import Optional, Tuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .batch_norm import MaybeBatchNorm
from .counts import SparseCounts, segment_sum, weighted_rows_sum
from .transport import sinkhorn_plan

# Entropic OT of the embedding clustering regulariser: ECRTM's ε (1 / 20) and
# a fixed number of Sinkhorn iterations (no data-dependent loop).
SINKHORN_EPSILON = 0.05
SINKHORN_ITERATIONS = 30
# Inference takes the log-normaliser over the vocabulary in blocks of columns of
# about this many (doc, word) cells (and at least _MIN_BLOCK columns), so it
# never holds a (batch × vocabulary) array.
_BLOCK_CELLS = 1 << 16
_MIN_BLOCK = 256


class LinearTopicWords(nn.Module):
    """A free topic-word matrix β, (n_topics, n_vocab), Xavier-initialised."""

    def __init__(self, n_topics: int, n_vocab: int) -> None:
        super().__init__()
        self.beta = nn.Parameter(torch.empty(n_topics, n_vocab))
        nn.init.xavier_uniform_(self.beta)

    def weights(self) -> Tensor:
        """RETURNS (Tensor): β, (n_topics, n_vocab)."""
        return self.beta

    def regularization(self) -> Optional[Tensor]:
        """RETURNS (Optional[Tensor]): None: the free matrix has no regulariser."""
        return None

    def assignment_log_probs(self, columns: Tensor) -> Tensor:
        """How much each topic owns some words: log softmax over topics of the
        words' standardised columns of β. Standardised because the decoder's
        batch-norm makes a column's scale meaningless: only how far a topic's
        weight stands out counts.

        columns (Tensor): (n,) int64 vocabulary columns.
        RETURNS (Tensor): (n_topics, n) log-probabilities; each column sums to 1.
        """
        beta = self.beta[:, columns.to(self.beta.device)]
        z = (beta - beta.mean(0, keepdim=True)) / (beta.std(0, keepdim=True) + 1e-6)
        return F.log_softmax(z, dim=0)

    def topic_vectors(self) -> Tensor:
        """RETURNS (Tensor): each topic's own representation, its row of β, (n_topics, n_vocab)."""
        return self.beta


class EmbeddingTopicWords(nn.Module):
    """Topics as learned points in a fixed word-embedding space.

    word_embeddings (Tensor): (n_vocab, width) fixed embeddings; they carry the
        corpus's word similarities into the topics.
    n_topics (int): Number of topics.
    temperature (float): τ of the softmax over topics.
    ecr_weight (float): Weight of the embedding clustering regulariser (0: off).
    """

    def __init__(self, word_embeddings: Tensor, n_topics: int, temperature: float, ecr_weight: float) -> None:
        super().__init__()
        if word_embeddings.dim() != 2:
            raise ValueError(f"word_embeddings must be 2-d (n_vocab, width), not {tuple(word_embeddings.shape)}.")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, not {temperature}.")
        self.temperature = float(temperature)
        self.ecr_weight = float(ecr_weight)
        self.register_buffer("word_embeddings", word_embeddings.detach().clone().float())
        self.topic_embeddings = nn.Parameter(torch.randn(n_topics, word_embeddings.shape[1]) * 0.1)

    @torch.no_grad()
    def place_topics(self, topics: Tensor, points: Tensor) -> None:
        """Move some topics' points (e.g. to the mean of their seed words).

        topics (Tensor): (n,) int64 topic indices.
        points (Tensor): (n, width) their new points.
        """
        self.topic_embeddings[topics.to(self.topic_embeddings.device)] = points.to(self.topic_embeddings)

    def distances(self, columns: Optional[Tensor] = None) -> Tensor:
        """columns (Optional[Tensor]): (n,) int64 vocabulary columns; None: all.
        RETURNS (Tensor): ‖t_k - e_w‖², (n_topics, n_vocab) or (n_topics, n)."""
        t, e = self.topic_embeddings, self.word_embeddings
        if columns is not None:
            e = e[columns.to(e.device)]
        dist = t.pow(2).sum(1, keepdim=True) + e.pow(2).sum(1).unsqueeze(0) - 2.0 * t @ e.t()
        return dist.clamp_min(0.0)

    def topic_vectors(self) -> Tensor:
        """RETURNS (Tensor): each topic's own representation, its point in the
        word-embedding space, (n_topics, width)."""
        return self.topic_embeddings

    def weights(self) -> Tensor:
        """RETURNS (Tensor): softmax over topics of -distance / τ, (n_topics, n_vocab)."""
        return F.softmax(-self.distances() / self.temperature, dim=0)

    def assignment_log_probs(self, columns: Tensor) -> Tensor:
        """How much each topic owns some words: the log of their weights,
        log softmax over topics of -distance / τ.

        columns (Tensor): (n,) int64 vocabulary columns.
        RETURNS (Tensor): (n_topics, n) log-probabilities; each column sums to 1.
        """
        return F.log_softmax(-self.distances(columns) / self.temperature, dim=0)

    def regularization(self) -> Optional[Tensor]:
        """ECRTM's regulariser, times its weight: the cost of the entropic
        optimal transport plan P that moves the words (mass 1/V each) onto the
        topics (mass 1/K each), Σ P ∘ ‖t_k - e_w‖². P is held fixed in the
        gradient (by the envelope theorem it is the gradient of the transport
        cost). RETURNS (Optional[Tensor]): a scalar, or None when the weight is 0."""
        if self.ecr_weight <= 0:
            return None
        cost = self.distances().float()
        plan = sinkhorn_plan(cost, SINKHORN_EPSILON, SINKHORN_ITERATIONS)
        return self.ecr_weight * (plan * cost).sum()


class Decoder(nn.Module):
    """Product of experts: log_softmax(BN(θ · W) + background).

    topic_words (nn.Module): `LinearTopicWords` or `EmbeddingTopicWords`.
    n_vocab (int): Size of the vocabulary.
    batchnorm (bool): Batch-normalise the logits (against topic collapse, ProdLDA).
    background (Optional[Tensor]): (n_vocab,) fixed log corpus frequency added
        to the logits, so topics explain what is specific to them; None: zeros.
    """

    def __init__(self, topic_words: nn.Module, n_vocab: int, batchnorm: bool, background: Optional[Tensor]) -> None:
        super().__init__()
        self.topic_words = topic_words
        self.bn = MaybeBatchNorm(n_vocab, affine=False) if batchnorm else None
        if background is None:
            background = torch.zeros(n_vocab)
        if tuple(background.shape) != (n_vocab,):
            raise ValueError(f"background must have shape ({n_vocab},), not {tuple(background.shape)}.")
        self.register_buffer("background", background.detach().clone().float())
        # Seed words, from the settings: never saved with the weights.
        self.register_buffer("seed_topics", None, persistent=False)
        self.register_buffer("seed_columns", None, persistent=False)
        self.seed_strength = 0.0

    def set_seeds(self, topics: Optional[Tensor], columns: Optional[Tensor], strength: float) -> None:
        """Anchor word `columns[i]` on topic `topics[i]` in training (see `seed_anchor`).

        topics, columns (Optional[Tensor]): (n,) int64 cells; None removes the seeds.
        strength (float): The anchor's weight, in nats per seed word.
        """
        if topics is None or columns is None or not len(topics):
            self.seed_topics = self.seed_columns = None
            self.seed_strength = 0.0
            return
        topics, columns = topics.long().to(self.background.device), columns.long().to(self.background.device)
        if topics.shape != columns.shape or topics.dim() != 1:
            raise ValueError(f"seed topics and columns must be 1-d and alike, not {tuple(topics.shape)} and {tuple(columns.shape)}.")
        if int(columns.max()) >= self.n_vocab or int(columns.min()) < 0:
            raise ValueError(f"seed columns must be in [0, {self.n_vocab}).")
        self.seed_topics, self.seed_columns = topics, columns
        self.seed_strength = float(strength)

    def seed_anchor(self) -> Optional[Tensor]:
        """The seed words' training term: `seed_strength` times −log of the
        share of each seed word that its topic owns among all topics. It ties
        the topic's own weights to its seeds (nothing is added to the logits),
        so the topic holds its seeds by what it learns and inference is the
        model's alone. RETURNS (Optional[Tensor]): a scalar, or None without seeds."""
        if self.seed_topics is None or self.seed_strength <= 0:
            return None
        log_owned = self.topic_words.assignment_log_probs(self.seed_columns)
        picked = log_owned[self.seed_topics, torch.arange(len(self.seed_topics), device=log_owned.device)]
        return -self.seed_strength * picked.float().sum()

    def forward(self, theta: Tensor, train: Optional[bool] = None) -> Tensor:
        """theta (Tensor): (batch, n_topics) topic proportions.
        train (Optional[bool]): Batch statistics in the batch-norm; None: `self.training`.
        RETURNS (Tensor): (batch, n_vocab) log-probabilities of the words."""
        logits = theta @ self.topic_words.weights()
        if self.bn is not None:
            logits = self.bn(logits, self.training if train is None else train)
        logits = logits.float()
        return F.log_softmax(logits + self.background, dim=1)

    @property
    def n_vocab(self) -> int:
        """RETURNS (int): The size of the vocabulary."""
        return int(self.background.shape[0])

    def reconstruction(self, theta: Tensor, counts: SparseCounts, train: Optional[bool] = None) -> Tensor:
        """The reconstruction loss −Σ_w counts_dw · log p(w | θ_d) of each document.

        theta (Tensor): (batch, n_topics) topic proportions.
        counts (SparseCounts): The documents' bags of words.
        train (Optional[bool]): Batch statistics in the batch-norm; None: `self.training`.
        RETURNS (Tensor): (batch,) the losses.
        """
        train = self.training if train is None else train
        if train:
            # Batch statistics couple all cells: the full log-probabilities it is.
            log_probs = self(theta, train)
            return -segment_sum(counts.values * log_probs[counts.rows, counts.cols], counts.offsets)
        # With running statistics the logits are affine in θ, θ·A + b, so
        # −Σ_w c_w log p(w) = n·logsumexp(θA + b) − θ·(Σ_w c_w A_w) − Σ_w c_w b_w,
        # and only the normaliser needs the whole vocabulary (in blocks).
        weights, shift = self._affine_logits()
        theta = theta.float()
        n_vocab = weights.shape[1]
        block = max(_MIN_BLOCK, _BLOCK_CELLS // max(int(theta.shape[0]), 1))
        block_lse = [
            torch.logsumexp(theta @ weights[:, i : i + block] + shift[i : i + block], dim=1)
            for i in range(0, n_vocab, block)
        ]
        log_norm = torch.logsumexp(torch.stack(block_lse, dim=1), dim=1)
        n_words = segment_sum(counts.values, counts.offsets)
        word_sums = weighted_rows_sum(weights.t(), counts, counts.values)
        picked = (theta * word_sums).sum(1) + segment_sum(counts.values * shift[counts.cols], counts.offsets)
        return n_words * log_norm - picked

    def _affine_logits(self) -> Tuple[Tensor, Tensor]:
        """RETURNS (Tuple[Tensor, Tensor]): A (n_topics, n_vocab) and b (n_vocab,)
        with inference logits θ·A + b (batch-norm with running statistics and
        background folded in)."""
        weights = self.topic_words.weights().float()
        shift = self.background
        bn = self.bn
        if bn is not None:
            scale = torch.rsqrt(bn.running_var.float() + bn.eps)
            offset = -bn.running_mean.float() * scale
            if bn.weight is not None:
                scale, offset = scale * bn.weight, offset * bn.weight + bn.bias
            weights, shift = weights * scale, shift + offset
        return weights, shift
