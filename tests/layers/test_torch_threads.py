"""The torch thread choice: automatic, kept, or set; applied once per setting; logged."""
import logging

import pytest
import torch

from spacy_textvae import TextVAEError
from spacy_textvae.layers import torch_threads
from spacy_textvae.layers.torch_threads import (
    TorchThreads,
    apply_torch_threads,
    auto_threads,
    check_torch_threads,
    choose_torch_threads,
)


def test_auto_uses_half_the_cpus_within_bounds():
    assert [auto_threads(n) for n in (1, 2, 3, 4, 8, 16, 64)] == [1, 1, 1, 2, 4, 4, 4]


def test_choice():
    assert choose_torch_threads(None, 2, 2, {})[0] == 1
    # never raised above torch's count (a lower count the user set stays)
    assert choose_torch_threads(None, 1, 16, {})[0] == 1
    assert choose_torch_threads(None, 16, 16, {})[0] == 4
    # OMP_NUM_THREADS in the environment: the user chose
    count, reason = choose_torch_threads(None, 2, 2, {"OMP_NUM_THREADS": "2"})
    assert count == 2 and "OMP_NUM_THREADS" in reason
    assert choose_torch_threads(0, 7, 2, {})[0] == 7
    assert choose_torch_threads(3, 1, 2, {"OMP_NUM_THREADS": "1"})[0] == 3


@pytest.mark.parametrize("bad", [-1, 1.5, "2", True])
def test_bad_setting_names_the_value_and_the_fix(bad):
    with pytest.raises(TextVAEError, match=r"torch_threads.*\[components.mine\] torch_threads"):
        check_torch_threads(bad, "mine")


def test_applied_once_and_logged(caplog):
    before = torch.get_num_threads()
    torch_threads.reset_applied()
    try:
        with caplog.at_level(logging.INFO, logger="spacy_textvae"):
            assert apply_torch_threads(TorchThreads(1)) == 1
            torch.set_num_threads(before)  # the user's later choice is not clobbered
            assert apply_torch_threads(TorchThreads(1)) == 1
        assert torch.get_num_threads() == before
        logged = [r.getMessage() for r in caplog.records if "intra-op" in r.getMessage()]
        assert len(logged) == 1 and "torch_threads = 1" in logged[0]
    finally:
        torch.set_num_threads(before)
        torch_threads.reset_applied()


def test_the_component_setting_reaches_the_model():
    import spacy

    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("textvae", config={"torch_threads": 0})
    assert pipe.model.get_ref("vae").attrs["torch_threads"] == TorchThreads(0)
    with pytest.raises(TextVAEError, match=r"\[components.other\] torch_threads"):
        nlp.add_pipe("textvae", name="other", config={"torch_threads": -2})
