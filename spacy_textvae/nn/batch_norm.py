"""Batch normalisation that also trains on a batch of one."""
from typing import Optional

from torch import Tensor, nn
from torch.nn import functional as F


class MaybeBatchNorm(nn.BatchNorm1d):
    """BatchNorm1d whose mode is an argument, not the module's global
    `training` flag, so one thread's inference never updates the running
    statistics while another trains. It falls back to its running statistics
    on a training batch of one (plain BatchNorm raises there), so updating on
    a single document works."""

    def forward(self, x: Tensor, train: Optional[bool] = None) -> Tensor:
        """x (Tensor): (batch, features). train (Optional[bool]): batch
        statistics (and update the running ones); None: `self.training`."""
        train = self.training if train is None else train
        if train and x.shape[0] >= 2:
            self.num_batches_tracked.add_(1)
            return F.batch_norm(
                x, self.running_mean, self.running_var, self.weight, self.bias, True, self.momentum, self.eps
            )
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.0, self.eps)
