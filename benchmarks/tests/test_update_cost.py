"""benchmarks/update_cost.py on a tiny corpus: the baseline it times is the
same computation as the shipped step, and the alternation times both."""
import numpy
import torch

from benchmarks import update_cost
from spacy_textvae.nn import decoders, vae

from .conftest import make_corpus


def _losses(config, texts, use_baseline: bool):
    nlp, examples, sgd = update_cost.setup(config, texts, warmup_epochs=2)
    out = []
    torch.manual_seed(0)
    with update_cost.baseline() if use_baseline else update_cost.contextlib.nullcontext():
        for start in range(0, 48, 16):
            out.append(nlp.update(examples[start : start + 16], sgd=sgd)["textvae"])
    return numpy.asarray(out)


def test_baseline_is_the_same_step_and_is_restored(tmp_path):
    texts, _ = make_corpus(n_per_theme=12, seed=2)
    config = tmp_path / "small.cfg"
    text = (update_cost.ROOT / "configs" / "cpu.cfg").read_text(encoding="utf8")
    config.write_text(text.replace("size = 64", "size = 16"), encoding="utf8")
    fast = _losses(config, texts, use_baseline=False)
    slow = _losses(config, texts, use_baseline=True)
    assert numpy.isfinite(fast).all() and fast.min() > 0
    # The same loss (its ECR term included) on the same state; after that Adam,
    # which divides by the gradients' scale, lets rounding grow a little.
    numpy.testing.assert_allclose(fast[0], slow[0], rtol=1e-6)
    numpy.testing.assert_allclose(fast, slow, rtol=1e-3)
    with update_cost.baseline():
        assert decoders.sinkhorn_plan.__name__ == "_log_domain_plan" and vae.all_finite.__name__ == "_isfinite_all"
    assert decoders.sinkhorn_plan.__name__ == "sinkhorn_plan" and vae.all_finite.__name__ == "all_finite"
    nlp, examples, sgd = update_cost.setup(config, texts, warmup_epochs=0)
    times = update_cost.alternate(nlp, examples, sgd, updates=1, runs=1)
    assert {k: len(v) for k, v in times.items()} == {update_cost.BASELINE: 1, update_cost.SHIPPED: 1}
