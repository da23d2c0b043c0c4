"""Training that survives a bad batch, and models with NaN that are never
saved or loaded."""
import logging

import numpy
import pytest
import spacy

from spacy_textvae import TextVAEError

from .conftest import SMALL_CONFIG, make_examples, train
from .test_serialization import rewrite_model
from .test_threads import model_state


@pytest.fixture()
def fresh(corpus):
    texts, _ = corpus
    nlp = spacy.blank("en")
    nlp.add_pipe("textvae", config=SMALL_CONFIG)
    train(nlp, texts, epochs=2)
    return nlp


def poison_tok2vec(pipe, doc_index: int = 3):
    """Make the token vectors of one doc of each batch NaN (as a broken upstream would)."""
    wrapper = pipe.model.get_ref("tok2vec")
    inner = wrapper.layers[0]
    original = inner._func

    def forward(model, docs, is_train):
        Y, backprop = original(model, docs, is_train)
        Y = [y.copy() for y in Y]
        Y[min(doc_index, len(Y) - 1)][:] = numpy.nan
        return Y, backprop

    inner._func = forward
    return lambda: setattr(inner, "_func", original)


def test_a_batch_with_nan_token_vectors_is_skipped_and_changes_nothing(fresh, corpus, caplog):
    nlp = fresh
    texts, _ = corpus
    pipe = nlp.get_pipe("textvae")
    optimizer = nlp.resume_training()
    before = model_state(nlp)
    step = pipe.cfg["step"]
    undo = poison_tok2vec(pipe)
    try:
        with caplog.at_level(logging.WARNING, logger="spacy_textvae"):
            losses = nlp.update(make_examples(nlp, texts[:32]), sgd=optimizer)
    finally:
        undo()
    assert "(non-finite token vectors): nothing was updated" in caplog.text
    assert losses["textvae"] == 0.0 and pipe.cfg["step"] == step
    after = model_state(nlp)
    for key in before:
        numpy.testing.assert_array_equal(before[key], after[key], err_msg=key)
    # Training goes on, and the model stays finite.
    history = train_more(nlp, texts, optimizer)
    assert all(numpy.isfinite(history)) and pipe.cfg["step"] > step
    docs = list(nlp.pipe(texts[:20]))
    assert all(numpy.isfinite(d._.latent).all() and numpy.isfinite(d._.topics).all() for d in docs)


def train_more(nlp, texts, optimizer, batches=3):
    history = []
    for batch in spacy.util.minibatch(make_examples(nlp, texts[: 16 * batches]), size=16):
        losses = {}
        nlp.update(batch, sgd=optimizer, losses=losses)
        history.append(losses["textvae"])
    return history


def test_non_finite_gradients_are_skipped(fresh, corpus, caplog, monkeypatch):
    nlp = fresh
    texts, _ = corpus
    pipe = nlp.get_pipe("textvae")
    optimizer = nlp.resume_training()
    before = model_state(nlp)
    module = pipe.torch_module
    monkeypatch.setattr(module, "gradients_are_finite", lambda: False)
    with caplog.at_level(logging.WARNING, logger="spacy_textvae"):
        nlp.update(make_examples(nlp, texts[:16]), sgd=optimizer)
    assert "(non-finite gradients)" in caplog.text
    assert all(p.grad is None for p in module.parameters())
    after = model_state(nlp)
    for key in before:
        numpy.testing.assert_array_equal(before[key], after[key], err_msg=key)


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning", "ignore:invalid value encountered:RuntimeWarning")
def test_a_diverging_optimizer_stops_training_and_nothing_is_saved(fresh, corpus, tmp_path):
    nlp = fresh
    texts, _ = corpus
    from thinc.api import SGD

    # Finite gradients, but a step so large that the weights overflow.
    with pytest.raises(TextVAEError, match="Training diverged"):
        nlp.update(make_examples(nlp, texts[:16]), sgd=SGD(learn_rate=1e39))
    with pytest.raises(TextVAEError, match="NaN or infinite weights"):
        nlp.to_disk(tmp_path / "model")
    assert not (tmp_path / "model" / "textvae" / "model").exists()


def test_loading_non_finite_weights_raises(fresh, tmp_path):
    nlp = fresh
    nlp.to_disk(tmp_path / "model")
    path = tmp_path / "model" / "textvae" / "model"
    msg = spacy.util.srsly.msgpack_loads(path.read_bytes())
    for shims in msg["shims"]:
        for i, shim_bytes in enumerate(shims):
            shim = spacy.util.srsly.msgpack_loads(shim_bytes)
            state = spacy.util.srsly.msgpack_loads(shim["state"])
            key = next(k for k in state["tensors"] if k.endswith("free_means") or k.endswith("raw_var"))
            state["tensors"][key] = numpy.full_like(numpy.asarray(state["tensors"][key]), numpy.nan)
            shim["state"] = spacy.util.srsly.msgpack_dumps(state)
            shims[i] = spacy.util.srsly.msgpack_dumps(shim)
    rewrite_model(tmp_path / "model", msg)
    with pytest.raises(TextVAEError, match="NaN or infinite values"):
        spacy.load(tmp_path / "model")
