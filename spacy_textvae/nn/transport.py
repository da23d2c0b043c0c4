"""Entropic optimal transport between uniform masses (Sinkhorn), for the
embedding clustering regulariser of `EmbeddingTopicWords`.

Reference: Cuturi 2013 (Sinkhorn distances).
"""
import math

import torch
from torch import Tensor

# On the CPU the scaling form is exact while every entry of exp(-cost / ε) is
# a normal float64 (above ~1e-308): below this many nats the kernel never
# underflows, and the row and column sums never overflow their reciprocals.
_SCALING_MAX_NATS = 600.0


@torch.no_grad()
def sinkhorn_plan(cost: Tensor, epsilon: float, iterations: int) -> Tensor:
    """The entropic transport plan from rows (mass 1/n_rows each) to columns
    (mass 1/n_cols each) after a fixed number of Sinkhorn iterations from zero
    potentials (no data-dependent loop).

    Two forms, with the same iterates up to rounding:
    - scaling vectors u, v on the kernel exp(-cost / ε) in float64: a kernel
      computed once and two matrix-vector products an iteration. Used on the
      CPU when no entry of the kernel can underflow, where the log form's
      exponentials each iteration dominate the cost of a training step;
    - log-domain potentials (logsumexp), safe for any cost. Used on other
      devices, where choosing the form would need the cost's maximum on the
      host: a synchronisation each training step.

    cost (Tensor): (n_rows, n_cols) non-negative costs.
    epsilon (float): The entropic regularisation ε, in the cost's units.
    iterations (int): Sinkhorn iterations (each updates both sides).
    RETURNS (Tensor): float32 (n_rows, n_cols) plan; rows sum to 1/n_rows.
    """
    cost = cost.detach().float()
    if cost.device.type == "cpu" and float(cost.max()) / epsilon < _SCALING_MAX_NATS:
        return _scaling_plan(cost, epsilon, iterations)
    return _log_domain_plan(cost, epsilon, iterations)


def _scaling_plan(cost: Tensor, epsilon: float, iterations: int) -> Tensor:
    n_rows, n_cols = cost.shape
    kernel = torch.exp(cost.double() / -epsilon)
    u = torch.ones(n_rows, dtype=torch.float64, device=cost.device)
    v = torch.ones(n_cols, dtype=torch.float64, device=cost.device)
    for _ in range(iterations):
        u = (1.0 / n_rows) / (kernel @ v)
        v = (1.0 / n_cols) / (kernel.t() @ u)
    return (u.unsqueeze(1) * kernel * v.unsqueeze(0)).float()


def _log_domain_plan(cost: Tensor, epsilon: float, iterations: int) -> Tensor:
    n_rows, n_cols = cost.shape
    kernel = -cost / epsilon
    log_a, log_b = -math.log(n_rows), -math.log(n_cols)
    f = torch.zeros(n_rows, device=cost.device)
    g = torch.zeros(n_cols, device=cost.device)
    for _ in range(iterations):
        f = log_a - torch.logsumexp(kernel + g.unsqueeze(0), dim=1)
        g = log_b - torch.logsumexp(kernel + f.unsqueeze(1), dim=0)
    return torch.exp(kernel + f.unsqueeze(1) + g.unsqueeze(0))
