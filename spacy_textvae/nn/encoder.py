"""The encoder: a document's pooled token vectors and bag of words → the
parameters of q(z | x), a diagonal Gaussian over the latent space."""
from typing import Optional, Tuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .batch_norm import MaybeBatchNorm
from .counts import SparseCounts, weighted_rows_sum

# Bounds of the log-variance: exp() never overflows on odd inputs.
LOGVAR_MIN, LOGVAR_MAX = -10.0, 10.0


class Encoder(nn.Module):
    """Two softplus layers over [LayerNorm(pooled); log(1 + counts)], then μ
    and log σ², each batch-normalised (ProdLDA: keeps every latent dimension
    in use, against posterior collapse). The first layer's weights are held
    as `hidden[0].weight` (pooled part) and `word_weight` (bag-of-words part,
    a row per word); an optimizer that clips by parameter must be given
    `clip_first_layer_gradient` first to clip them as one layer.

    n_inputs (int): Width of the pooled token vectors (0: bag of words only).
    n_vocab (int): Size of the vocabulary.
    n_latent (int): Latent dimensions.
    hidden_width (int): Width of the hidden layers.
    dropout (float): Dropout on the last hidden layer.
    use_counts (bool): Feed log(1 + counts) to the encoder.
    """

    def __init__(
        self, n_inputs: int, n_vocab: int, n_latent: int, hidden_width: int, dropout: float, use_counts: bool
    ) -> None:
        super().__init__()
        if n_inputs <= 0 and not use_counts:
            raise ValueError("Encoder needs n_inputs > 0 or use_counts=True: it has no input otherwise.")
        self.use_counts = use_counts
        self.input_norm = nn.LayerNorm(n_inputs) if n_inputs > 0 else None
        n_in = n_inputs + (n_vocab if use_counts else 0)
        self.hidden = nn.Sequential(
            nn.Linear(n_in, hidden_width),
            nn.Softplus(),
            nn.Linear(hidden_width, hidden_width),
            nn.Softplus(),
        )
        # The first layer reads [pooled; log1p(counts)]. Its bag-of-words
        # columns are kept apart, a row per vocabulary word: the sparse product
        # then reads and writes its gradient in place, where columns of the
        # (hidden × inputs) matrix would be copied and transposed at every
        # step. Drawn as one layer, so the start is that of a single Linear.
        first = self.hidden[0]
        self.word_weight: Optional[nn.Parameter] = None
        if use_counts:
            self.word_weight = nn.Parameter(first.weight.data[:, n_inputs:].t().contiguous())
            first.weight = nn.Parameter(first.weight.data[:, :n_inputs].contiguous())
            first.in_features = n_inputs
        self.dropout = float(dropout)
        self.fc_mu = nn.Linear(hidden_width, n_latent)
        self.fc_logvar = nn.Linear(hidden_width, n_latent)
        self.bn_mu = MaybeBatchNorm(n_latent, affine=False)
        self.bn_logvar = MaybeBatchNorm(n_latent, affine=False)

    def forward(
        self, pooled: Tensor, counts: SparseCounts, train: Optional[bool] = None
    ) -> Tuple[Tensor, Tensor]:
        """pooled (Tensor): (batch, n_inputs). counts (SparseCounts): the bag of words.
        train (Optional[bool]): Dropout and batch statistics; None: `self.training`.
        RETURNS (Tuple[Tensor, Tensor]): μ and log σ², each (batch, n_latent)."""
        train = self.training if train is None else train
        h = self.hidden[1:](self.first_layer(pooled, counts))
        h = F.dropout(h, self.dropout, training=train)
        mu = self.bn_mu(self.fc_mu(h), train)
        logvar = self.bn_logvar(self.fc_logvar(h), train).clamp(LOGVAR_MIN, LOGVAR_MAX)
        return mu, logvar

    def first_layer(self, pooled: Tensor, counts: SparseCounts) -> Tensor:
        """The first layer, before its activation, on [pooled; log1p(counts)],
        the counts' part as a sparse product: only the doc's words are read,
        never a dense row. RETURNS (Tensor): (batch, hidden_width)."""
        first = self.hidden[0]
        h = first.bias.expand(counts.n_docs, -1)
        if self.input_norm is not None:
            h = h + self.input_norm(pooled) @ first.weight.t()
        if self.word_weight is not None:
            h = h + weighted_rows_sum(self.word_weight, counts, torch.log1p(counts.values))
        return h

    @torch.no_grad()
    def clip_first_layer_gradient(self, max_norm: float) -> None:
        """Scale the first layer's weight gradient, its pooled and its
        bag-of-words parts together, to a norm of at most `max_norm`, as an
        optimizer that clips each parameter by its own norm (thinc's) clips one
        weight matrix: the two parts are stored apart, and clipped one by one
        they would each be scaled by their own norm. Device-side, no sync.

        max_norm (float): The optimizer's `grad_clip`.
        """
        grads = [p.grad for p in (self.hidden[0].weight, self.word_weight) if p is not None and p.grad is not None]
        if len(grads) < 2 or max_norm <= 0:
            return
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g, dtype=torch.float32) for g in grads]))
        scale = (max_norm / norm.clamp(min=1e-12)).clamp(max=1.0)
        for g in grads:
            g.mul_(scale.to(g.dtype))

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs):  # type: ignore[no-untyped-def]
        # Weights saved with one (hidden × [pooled; vocabulary]) first layer
        # (`TextVAE.v2`/`v3`) are split into this layout on load.
        first_key, words_key = prefix + "hidden.0.weight", prefix + "word_weight"
        if self.word_weight is not None and words_key not in state_dict and first_key in state_dict:
            n_inputs = self.hidden[0].in_features
            joined = state_dict[first_key]
            if joined.dim() == 2 and joined.shape[1] > n_inputs:
                state_dict[first_key] = joined[:, :n_inputs].contiguous()
                state_dict[words_key] = joined[:, n_inputs:].t().contiguous()
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs)
