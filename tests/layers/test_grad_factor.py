"""The grad-factor wrapper: scaled, or no, gradient into the token vectors."""
import numpy
import pytest
import spacy
from thinc.api import Model

from spacy_textvae.layers import with_grad_factor


def recording_tok2vec(width=2):
    """A stand-in token-vector layer that records what reaches its backprop."""
    seen = {"train": [], "grads": []}

    def forward(model, docs, is_train):
        seen["train"].append(is_train)
        Y = [numpy.ones((len(d), width), dtype="float32") for d in docs]

        def backprop(dY):
            seen["grads"].append([d.copy() for d in dY])
            return docs

        return Y, backprop

    return Model("recorder", forward, dims={"nO": width}), seen


@pytest.mark.parametrize("factor", [1.0, 0.5])
def test_gradient_is_scaled(factor):
    tok2vec, seen = recording_tok2vec()
    layer = with_grad_factor(tok2vec, factor)
    docs = [spacy.blank("en").make_doc("two words")]
    Y, backprop = layer(docs, is_train=True)
    backprop([numpy.full_like(y, 2.0) for y in Y])
    numpy.testing.assert_allclose(seen["grads"][0][0], 2.0 * factor)


def test_zero_runs_an_own_layer_in_inference_mode_and_sends_nothing():
    tok2vec, seen = recording_tok2vec()
    layer = with_grad_factor(tok2vec, 0.0)
    docs = [spacy.blank("en").make_doc("two words")]
    Y, backprop = layer(docs, is_train=True)
    assert seen["train"] == [False]
    assert backprop([numpy.ones_like(y) for y in Y]) == docs
    assert seen["grads"] == []


def test_batch_without_tokens_sends_nothing():
    tok2vec, seen = recording_tok2vec()
    layer = with_grad_factor(tok2vec, 1.0)
    docs = [spacy.blank("en").make_doc("")]
    Y, backprop = layer(docs, is_train=True)
    backprop([numpy.zeros((0, 2), dtype="float32")])
    assert seen["grads"] == []


def test_grad_factor_is_not_saved():
    """A setting, not learned state: loading keeps the config's value."""
    saved = with_grad_factor(recording_tok2vec()[0], 0.0)
    loaded = with_grad_factor(recording_tok2vec()[0], 1.0)
    loaded.from_bytes(saved.to_bytes())
    assert loaded.attrs["grad_factor"].value == 1.0
