"""Batch normalisation that also trains on a batch of one."""
from torch import Tensor, nn
from torch.nn import functional as F


class MaybeBatchNorm(nn.BatchNorm1d):
    """BatchNorm1d that falls back to its running statistics on a training
    batch of one (plain BatchNorm raises there), so updating on a single
    document works."""

    def forward(self, x: Tensor) -> Tensor:
        if self.training and x.shape[0] < 2:
            return F.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias,
                False, 0.0, self.eps,
            )
        return super().forward(x)
