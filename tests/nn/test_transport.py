import torch
from torch.nn import functional as F

from spacy_textvae.nn.transport import _log_domain_plan, _scaling_plan, sinkhorn_plan


def _cost(n_rows: int, n_cols: int, topic_norm: float, seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    words = F.normalize(torch.randn(n_cols, 16, generator=gen), dim=1)
    topics = F.normalize(torch.randn(n_rows, 16, generator=gen), dim=1) * topic_norm
    return torch.cdist(topics, words).square()


def test_scaling_form_gives_the_log_domain_iterates():
    cost = _cost(7, 500, topic_norm=0.5)
    for iterations in (1, 5, 30):
        fast = _scaling_plan(cost, 0.05, iterations)
        safe = _log_domain_plan(cost, 0.05, iterations)
        assert fast.dtype == torch.float32
        torch.testing.assert_close(fast, safe, rtol=1e-4, atol=1e-9)


def test_plan_has_the_uniform_masses():
    cost = _cost(5, 300, topic_norm=1.0)
    plan = sinkhorn_plan(cost, 0.05, 200)
    torch.testing.assert_close(plan.sum(1), torch.full((5,), 1 / 5), rtol=1e-4, atol=0)
    torch.testing.assert_close(plan.sum(0), torch.full((300,), 1 / 300), rtol=1e-3, atol=0)


def test_costs_that_would_underflow_take_the_log_domain():
    # Every cost above 745 · 0.05: exp(-cost / ε) is 0 in float64 everywhere.
    cost = _cost(4, 200, topic_norm=8.0)
    assert float(cost.min()) / 0.05 > 745
    plan = sinkhorn_plan(cost, 0.05, 30)
    assert torch.isfinite(plan).all()
    torch.testing.assert_close(plan, _log_domain_plan(cost, 0.05, 30))
    torch.testing.assert_close(plan.sum(), torch.tensor(1.0), rtol=1e-4, atol=0)
    assert not torch.isfinite(_scaling_plan(cost, 0.05, 30)).all()
