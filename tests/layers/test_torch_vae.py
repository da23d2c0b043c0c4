"""The torch VAE layer: converters, per-update state, pickle-free serialisation."""
import dataclasses

import numpy
import pytest
import srsly
from thinc.api import NumpyOps

from spacy_textvae import TextVAEError
from spacy_textvae.layers import VAESettings, build_torch_vae
from spacy_textvae.layers.bag_of_words import BagOfWords
from spacy_textvae.layers.torch_vae import StepState, build_module, get_module

OPS = NumpyOps()
SETTINGS = VAESettings(
    hidden_width=8, dropout=0.0, word_dropout=0.0, encoder_bow=True, decoder="linear", word_embedding_width=4,
    decoder_temperature=0.5, ecr_weight=0.0, decoder_batchnorm=True, decoder_background=True,
    cluster_means="auto", mixed_precision=False, pooled_weight=0.0,
)


def make_layer(settings=SETTINGS, n_topics=3, n_clusters=3):
    layer = build_torch_vae(settings)
    rng = numpy.random.default_rng(0)
    build_module(
        layer, n_inputs=4, n_vocab=6, n_topics=n_topics, n_clusters=n_clusters,
        background=numpy.log(numpy.full(6, 1 / 6, dtype="float32")),
        word_embeddings=rng.normal(size=(6, 4)).astype("float32"),
    )
    return layer


def dense_inputs(n=5):
    rng = numpy.random.default_rng(1)
    return rng.normal(size=(n, 4)).astype("float32"), rng.poisson(1.0, size=(n, 6)).astype("float32")


def inputs(n=5):
    pooled, counts = dense_inputs(n)
    return pooled, BagOfWords.from_dense(counts, OPS)


def test_output_and_gradient():
    layer = make_layer()
    pooled, dense = dense_inputs()
    out, backprop = layer((pooled, BagOfWords.from_dense(dense, OPS)), is_train=True)
    assert out.latent.shape == (5, 3) and out.cluster_probs.shape == (5, 3)
    numpy.testing.assert_allclose(out.topics.sum(1), 1.0, atol=1e-5)
    numpy.testing.assert_allclose(out.n_words, dense.sum(1))
    d_pooled = backprop(OPS.alloc1f(5) + 0.2)
    assert d_pooled.shape == pooled.shape and numpy.isfinite(d_pooled).all() and numpy.abs(d_pooled).sum() > 0
    module = get_module(layer)
    assert all(p.grad is not None for p in module.encoder.parameters())


def test_step_state_reaches_the_module_in_training_only():
    layer = make_layer()
    seen = []
    module = get_module(layer)
    original = module.forward

    def spy(pooled, counts, kl_weight, cluster_temperature, train):
        seen.append((kl_weight, cluster_temperature, train))
        return original(pooled, counts, kl_weight=kl_weight, cluster_temperature=cluster_temperature, train=train)

    module.forward = spy
    layer.attrs["step"] = StepState(kl_weight=0.25, cluster_temperature=0.5)
    layer(inputs(), is_train=True)
    layer.predict(inputs())
    assert seen == [(0.25, 0.5, True), (1.0, 1.0, False)]


def test_serialisation_round_trip_rebuilds_the_module():
    layer = make_layer()
    data = layer.to_bytes()
    fresh = build_torch_vae(SETTINGS)
    assert get_module(fresh) is None
    fresh.from_bytes(data)
    pooled, counts = inputs()
    a, b = layer.predict((pooled, counts)), fresh.predict((pooled, counts))
    numpy.testing.assert_array_equal(a.latent, b.latent)
    numpy.testing.assert_array_equal(a.cluster_probs, b.cluster_probs)
    # msgpack of arrays, no pickle
    assert b"torch._utils" not in data and b"cnumpy" not in data


def test_unbuilt_layer_round_trips_as_unbuilt():
    fresh = build_torch_vae(SETTINGS)
    fresh.from_bytes(build_torch_vae(SETTINGS).to_bytes())
    assert get_module(fresh) is None


def test_other_settings_give_a_clear_error():
    data = make_layer().to_bytes()
    other = build_torch_vae(dataclasses.replace(SETTINGS, hidden_width=9))
    with pytest.raises(TextVAEError, match="do not fit the model the config describes"):
        other.from_bytes(data)
    with pytest.raises(TextVAEError, match="damaged"):
        shim_bytes = srsly.msgpack_dumps({"config": {}, "state": b"\x00\x01garbage"})
        build_torch_vae(SETTINGS).shims[0].from_bytes(shim_bytes)


def test_topic_means_need_one_cluster_per_topic():
    settings = dataclasses.replace(SETTINGS, cluster_means="topics")
    with pytest.raises(TextVAEError, match="n_clusters == n_topics"):
        make_layer(settings, n_topics=3, n_clusters=2)
    assert type(get_module(make_layer(SETTINGS, 3, 2)).prior).__name__ == "TopicMixturePrior"
    assert type(get_module(make_layer(SETTINGS, 3, 3)).prior).__name__ == "TopicMeansPrior"
