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


def test_auto_in_training_uses_every_cpu_within_bounds():
    assert [auto_threads(n, training=True) for n in (1, 2, 3, 4, 8, 16, 64)] == [1, 2, 3, 4, 8, 8, 8]


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
    assert choose_torch_threads(None, 2, 2, {}, training=True)[0] == 2
    assert choose_torch_threads(None, 1, 16, {}, training=True)[0] == 1
    assert choose_torch_threads(None, 2, 2, {"OMP_NUM_THREADS": "1"}, training=True)[0] == 2


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


@pytest.fixture
def four_free_cpus(monkeypatch):
    """torch at 4 threads on 4 usable CPUs, no thread variable set, nothing applied yet."""
    before = torch.get_num_threads()
    for var in torch_threads.THREAD_ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(torch_threads, "usable_cpus", lambda: 4)
    torch.set_num_threads(4)
    torch_threads.reset_applied()
    yield
    torch.set_num_threads(before)
    torch_threads.reset_applied()


def test_training_raises_the_automatic_count_and_inference_then_keeps_it(four_free_cpus):
    assert apply_torch_threads(None) == 2 and torch.get_num_threads() == 2
    assert apply_torch_threads(None, training=True) == 4 and torch.get_num_threads() == 4
    # spaCy's evaluation between updates: the training count stays
    assert apply_torch_threads(None) == 4 and torch.get_num_threads() == 4


def test_training_keeps_a_count_the_user_set_after_textvae(four_free_cpus):
    assert apply_torch_threads(None) == 2
    torch.set_num_threads(3)
    assert apply_torch_threads(None, training=True) == 3 and torch.get_num_threads() == 3


def test_a_given_count_holds_in_training(four_free_cpus):
    assert apply_torch_threads(TorchThreads(1)) == 1
    assert apply_torch_threads(TorchThreads(1), training=True) == 1 and torch.get_num_threads() == 1


def test_the_component_setting_reaches_the_model():
    import spacy

    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("textvae", config={"torch_threads": 0})
    assert pipe.model.get_ref("vae").attrs["torch_threads"] == TorchThreads(0)
    with pytest.raises(TextVAEError, match=r"\[components.other\] torch_threads"):
        nlp.add_pipe("textvae", name="other", config={"torch_threads": -2})


def test_a_training_update_takes_the_training_count(four_free_cpus):
    import spacy

    from ..conftest import SMALL_CONFIG, make_corpus, train

    nlp = spacy.blank("en")
    nlp.add_pipe("textvae", config=SMALL_CONFIG)
    texts, _ = make_corpus(n_per_theme=4)
    train(nlp, texts, epochs=1)
    assert torch.get_num_threads() == 4
