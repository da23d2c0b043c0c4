"""The encoder: a document's pooled token vectors and bag of words → the
parameters of q(z | x), a diagonal Gaussian over the latent space."""
from typing import Optional, Tuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from .batch_norm import MaybeBatchNorm

# Bounds of the log-variance: exp() never overflows on odd inputs.
LOGVAR_MIN, LOGVAR_MAX = -10.0, 10.0


class Encoder(nn.Module):
    """Two softplus layers over [LayerNorm(pooled); log(1 + counts)], then μ
    and log σ², each batch-normalised (ProdLDA: keeps every latent dimension
    in use, against posterior collapse).

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
        self.dropout = float(dropout)
        self.fc_mu = nn.Linear(hidden_width, n_latent)
        self.fc_logvar = nn.Linear(hidden_width, n_latent)
        self.bn_mu = MaybeBatchNorm(n_latent, affine=False)
        self.bn_logvar = MaybeBatchNorm(n_latent, affine=False)

    def forward(self, pooled: Tensor, counts: Tensor, train: Optional[bool] = None) -> Tuple[Tensor, Tensor]:
        """pooled (Tensor): (batch, n_inputs). counts (Tensor): (batch, n_vocab).
        train (Optional[bool]): Dropout and batch statistics; None: `self.training`.
        RETURNS (Tuple[Tensor, Tensor]): μ and log σ², each (batch, n_latent)."""
        train = self.training if train is None else train
        parts = []
        if self.input_norm is not None:
            parts.append(self.input_norm(pooled))
        if self.use_counts:
            parts.append(torch.log1p(counts))
        h = self.hidden(torch.cat(parts, dim=1) if len(parts) > 1 else parts[0])
        h = F.dropout(h, self.dropout, training=train)
        mu = self.bn_mu(self.fc_mu(h), train)
        logvar = self.bn_logvar(self.fc_logvar(h), train).clamp(LOGVAR_MIN, LOGVAR_MAX)
        return mu, logvar
