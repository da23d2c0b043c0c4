"""benchmarks/update_cost.py on a tiny corpus: each form it times is the same
computation as the shipped step, the replaced forms are restored after it, and
the alternation times every setup."""
import numpy
import torch

from benchmarks import update_cost
from spacy_textvae.nn import decoders, vae

from .conftest import make_corpus


def _small_config(tmp_path):
    config = tmp_path / "small.cfg"
    text = (update_cost.ROOT / "configs" / "cpu.cfg").read_text(encoding="utf8")
    config.write_text(text.replace("size = 64", "size = 16"), encoding="utf8")
    return config


def test_each_setup_is_the_same_step_and_the_shipped_forms_are_restored(tmp_path):
    texts, _ = make_corpus(n_per_theme=12, seed=2)
    runs_of, examples = update_cost.setups(_small_config(tmp_path), texts, warmup_epochs=2)
    assert list(runs_of) == list(update_cost.SETUPS)
    joined, shipped = runs_of[update_cost.JOINED][0], runs_of[update_cost.SHIPPED][0]
    # The joined layer holds the same weights as the shipped pair.
    enc_j, enc_s = joined.get_pipe("textvae").torch_module.encoder, shipped.get_pipe("textvae").torch_module.encoder
    assert enc_j.word_weight is None and "word_weight" not in dict(enc_j.named_parameters())
    expected = torch.cat([enc_s.hidden[0].weight, enc_s.word_weight.t()], dim=1)
    assert torch.equal(enc_j.hidden[0].weight, expected)
    # The same loss (its ECR term included) from the same state, for each setup.
    losses = {}
    for name, (nlp, sgd, context) in runs_of.items():
        module = nlp.get_pipe("textvae").torch_module
        before = {k: v.clone() for k, v in module.state_dict().items()}
        torch.manual_seed(0)
        with context():
            losses[name] = nlp.update(examples[:16], sgd=sgd)["textvae"]
        module.load_state_dict(before)
    assert numpy.isfinite(losses[update_cost.SHIPPED]) and losses[update_cost.SHIPPED] > 0
    for name in update_cost.SETUPS:
        numpy.testing.assert_allclose(losses[name], losses[update_cost.SHIPPED], rtol=1e-6)
    # And the same steps: the split first layer is clipped as the joined one is,
    # so the two pipelines' losses stay together over updates (gradients clipped
    # at every one of them).
    runs_of, examples = update_cost.setups(_small_config(tmp_path), texts, warmup_epochs=2)
    paths = {}
    for name in (update_cost.JOINED, update_cost.SHIPPED):
        nlp, _, context = runs_of[name]
        sgd = update_cost._optimizer(nlp)  # both without moments: the joined one's are new
        torch.manual_seed(0)
        with context():
            paths[name] = [nlp.update(examples[s % 48 : s % 48 + 16], sgd=sgd)["textvae"] for s in range(0, 16 * 12, 16)]
    numpy.testing.assert_allclose(paths[update_cost.JOINED], paths[update_cost.SHIPPED], rtol=1e-5)
    with update_cost.old_sinkhorn_and_checks():
        assert decoders.sinkhorn_plan.__name__ == "_log_domain_plan" and vae.all_finite.__name__ == "_isfinite_all"
    with update_cost.float64_checks():
        assert decoders.sinkhorn_plan.__name__ == "sinkhorn_plan" and vae.all_finite.__name__ == "_float64_sums_all"
    assert decoders.sinkhorn_plan.__name__ == "sinkhorn_plan" and vae.all_finite.__name__ == "all_finite"
    times = update_cost.alternate(runs_of, examples, updates=1, runs=1)
    assert {k: len(v) for k, v in times.items()} == {name: 1 for name in update_cost.SETUPS}
