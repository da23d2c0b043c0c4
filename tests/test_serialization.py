"""Saving and loading: identical outputs, extensions that travel with docs,
clear errors for damaged directories."""

import numpy
import pytest
import spacy
from spacy.tokens import Doc, DocBin

from spacy_textvae import TextVAEError

from .conftest import SMALL_CONFIG


def rewrite_model(pipeline_dir, msg):
    """Write a changed textvae model file and its new checksum, as a saved
    pipeline that is consistent on disk but wrong inside."""
    import hashlib

    data = spacy.util.srsly.msgpack_dumps(msg)
    (pipeline_dir / "textvae" / "model").write_bytes(data)
    cfg_path = pipeline_dir / "textvae" / "cfg"
    cfg = spacy.util.srsly.read_json(cfg_path)
    cfg["model_sha256"] = hashlib.sha256(data).hexdigest()
    spacy.util.srsly.write_json(cfg_path, cfg)


def assert_same_outputs(docs_a, docs_b):
    for a, b in zip(docs_a, docs_b):
        numpy.testing.assert_allclose(a._.latent, b._.latent, atol=1e-5)
        numpy.testing.assert_allclose(a._.topics, b._.topics, atol=1e-5)
        numpy.testing.assert_allclose(a._.cluster_probs, b._.cluster_probs, atol=1e-5)
        assert a._.cluster == b._.cluster


def test_to_disk_spacy_load_identical(trained, corpus, tmp_path):
    nlp, _ = trained
    texts, _ = corpus
    nlp.to_disk(tmp_path / "model")
    nlp2 = spacy.load(tmp_path / "model")
    assert_same_outputs(list(nlp.pipe(texts)), list(nlp2.pipe(texts)))
    assert nlp2.get_pipe("textvae").topic_words(10) == nlp.get_pipe("textvae").topic_words(10)
    # The weights are a pickle-free msgpack of arrays.
    model_file = (tmp_path / "model" / "textvae" / "model").read_bytes()
    assert b"torch._utils" not in model_file and b"\x80\x02" not in model_file[:2]


def test_topic_word_ranking_is_a_load_time_setting(trained, tmp_path):
    nlp, _ = trained
    nlp.to_disk(tmp_path / "model")
    override = {"components": {"textvae": {"topic_word_ranking": "relevance", "topic_word_relevance": 1.0}}}
    nlp2 = spacy.load(tmp_path / "model", config=override)
    pipe, pipe2 = nlp.get_pipe("textvae"), nlp2.get_pipe("textvae")
    assert pipe2.topic_word_ranking == "relevance"
    assert pipe2.topic_words(10) == pipe.topic_words(10, relevance=1.0)
    assert pipe2.topic_words(10) != pipe.topic_words(10)


def test_to_bytes_from_bytes_identical(trained, corpus):
    nlp, _ = trained
    texts, _ = corpus
    data = nlp.to_bytes()
    nlp2 = spacy.blank("en")
    nlp2.add_pipe("textvae", config=SMALL_CONFIG)
    nlp2.from_bytes(data)
    assert_same_outputs(list(nlp.pipe(texts[:20])), list(nlp2.pipe(texts[:20])))
    assert nlp2.get_pipe("textvae").topic_words(10) == nlp.get_pipe("textvae").topic_words(10)


def test_extensions_travel_with_docs(trained, corpus):
    nlp, _ = trained
    texts, _ = corpus
    docs = list(nlp.pipe(texts[:5]))
    doc_bin = DocBin(store_user_data=True, docs=docs)
    loaded = list(DocBin(store_user_data=True).from_bytes(doc_bin.to_bytes()).get_docs(nlp.vocab))
    assert_same_outputs(docs, loaded)
    one = Doc(nlp.vocab).from_bytes(docs[0].to_bytes())
    assert_same_outputs(docs[:1], [one])
    assert type(one._.cluster) is int and one._.topics.dtype == numpy.float32


def test_pipe_multiprocess(trained, corpus):
    nlp, _ = trained
    texts, _ = corpus
    single = list(nlp.pipe(texts[:12]))
    multi = list(nlp.pipe(texts[:12], n_process=2, batch_size=4))
    assert len(multi) == 12
    assert_same_outputs(single, multi)


def test_missing_file_clear_error(trained, tmp_path):
    nlp, _ = trained
    nlp.to_disk(tmp_path / "model")
    (tmp_path / "model" / "textvae" / "model").unlink()
    with pytest.raises(TextVAEError, match="'model' is missing"):
        spacy.load(tmp_path / "model")


@pytest.mark.parametrize("part", ["model", "cfg"])
def test_damaged_file_clear_error(trained, tmp_path, part):
    nlp, _ = trained
    nlp.to_disk(tmp_path / "model")
    path = tmp_path / "model" / "textvae" / part
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(ValueError, match=r"\[textvae\]"):
        spacy.load(tmp_path / "model")


def test_mismatched_weights_clear_error(trained, tmp_path):
    """Weights saved for other sizes or another layout do not load silently:
    the error names the setting."""
    nlp, _ = trained
    nlp.to_disk(tmp_path / "model")
    with pytest.raises(TextVAEError, match="n_topics = 6, but the config says 9"):
        spacy.load(tmp_path / "model", config={"components": {"textvae": {"n_topics": 9}}})
    with pytest.raises(TextVAEError, match=r"do not fit the model the config describes"):
        spacy.load(tmp_path / "model", config={"components": {"textvae": {"model": {"hidden_width": 17}}}})
    with pytest.raises(TextVAEError, match="vocab_attr = 'LEMMA'"):
        spacy.load(tmp_path / "model", config={"components": {"textvae": {"vocab_attr": "LEMMA"}}})


def test_load_time_overrides_are_the_values_used(trained, corpus, tmp_path):
    """Settings that are not learned come from the config in force at load
    time, not from the saved pipeline."""
    nlp, _ = trained
    texts, _ = corpus
    nlp.to_disk(tmp_path / "model")
    override = {"components": {"textvae": {"kl_warmup_epochs": 7.0, "cluster_temperature": 0.5,
                                            "model": {"decoder_temperature": 0.25, "grad_factor": 0.0}}}}
    nlp2 = spacy.load(tmp_path / "model", config=override)
    assert nlp2.config["components"]["textvae"]["kl_warmup_epochs"] == 7.0
    pipe = nlp2.get_pipe("textvae")
    assert (pipe.kl_warmup_epochs, pipe.cluster_temperature) == (7.0, 0.5)
    assert pipe.torch_module.decoder.topic_words.temperature == 0.25
    assert pipe.model.get_ref("tok2vec").attrs["grad_factor"].value == 0.0
    # The learned state is the saved one.
    assert pipe.cfg["step"] == nlp.get_pipe("textvae").cfg["step"] > 0
    # One update: the KL weight of the warm-up and the temperature in force reach the VAE.
    seen = {}
    module = pipe.torch_module
    original = module.forward

    def spy(pooled, counts, kl_weight, cluster_temperature, train):
        seen.update(kl_weight=kl_weight, cluster_temperature=cluster_temperature)
        return original(pooled, counts, kl_weight=kl_weight, cluster_temperature=cluster_temperature, train=train)

    module.forward = spy
    from spacy.training import Example

    epochs_after = (pipe.cfg["docs_seen"] + 8) / pipe.topic_vocab.n_docs
    nlp2.update([Example(nlp2.make_doc(t), nlp2.make_doc(t)) for t in texts[:8]], sgd=nlp2.resume_training())
    assert seen == {"kl_weight": min(1.0, epochs_after / 7.0), "cluster_temperature": 0.5}


def test_model_bytes_alone_reproduce_the_outputs(trained, corpus):
    """The model carries its vocabulary and data-derived tensors: a fresh model
    from the same config, loaded from model.to_bytes(), predicts the same."""
    from spacy_textvae.vocab import TopicVocab
    from spacy_textvae.layers.textvae_model import set_topic_vocab

    nlp, _ = trained
    texts, _ = corpus
    pipe = nlp.get_pipe("textvae")
    config = nlp.config["components"]["textvae"]["model"]
    fresh = spacy.util.registry.resolve({"model": config})["model"]
    set_topic_vocab(fresh, TopicVocab(attr="LOWER", min_df=1, max_df=1.0, max_size=10, remove_stop_words=True,
                                      extra_stop_words=[]))
    fresh.from_bytes(pipe.model.to_bytes())
    docs = [nlp.make_doc(t) for t in texts[:20]]
    a, b = pipe.model.predict(docs), fresh.predict(docs)
    numpy.testing.assert_array_equal(a.latent, b.latent)
    numpy.testing.assert_array_equal(a.cluster_probs, b.cluster_probs)
    assert fresh.get_ref("bag_of_words").attrs["vocab"].words == pipe.topic_vocab.words


def test_word_embeddings_are_saved_with_the_weights(trained, tmp_path):
    # The default embedding decoder's word vectors come from the training docs at
    # initialize(); a loaded pipeline must get them from disk, not recompute them.
    nlp, _ = trained
    module = nlp.get_pipe("textvae").torch_module
    words = module.decoder.topic_words.word_embeddings
    assert float(words.abs().sum()) > 0
    nlp.to_disk(tmp_path / "model")
    loaded = spacy.load(tmp_path / "model").get_pipe("textvae").torch_module
    assert numpy.array_equal(loaded.decoder.topic_words.word_embeddings.numpy(), words.numpy())


def test_linear_decoder_trains_saves_and_loads(corpus, tmp_path):
    # ProdLDA's free topic-word matrix, without word dropout.
    from .conftest import train

    texts, _ = corpus
    nlp = spacy.blank("en")
    model = {
        "hidden_width": 32,
        "decoder": "linear",
        "word_dropout": 0.0,
        "tok2vec": {
            "@architectures": "spacy.HashEmbedCNN.v2", "pretrained_vectors": None, "width": 16,
            "depth": 1, "embed_size": 500, "window_size": 1, "maxout_pieces": 2, "subword_features": False,
        },
    }
    nlp.add_pipe("textvae", config={**SMALL_CONFIG, "model": model})
    history = train(nlp, texts, epochs=6)
    assert history[-1] < history[0]
    module = nlp.get_pipe("textvae").torch_module
    assert hasattr(module.decoder.topic_words, "beta") and module.word_dropout == 0.0
    nlp.to_disk(tmp_path / "linear")
    nlp2 = spacy.load(tmp_path / "linear")
    assert_same_outputs(list(nlp.pipe(texts[:20])), list(nlp2.pipe(texts[:20])))


def test_vocabulary_and_weights_checked_against_each_other(trained, tmp_path):
    """A model file whose vocabulary does not match its VAE is refused."""
    nlp, _ = trained
    nlp.to_disk(tmp_path / "model")
    path = tmp_path / "model" / "textvae" / "model"
    msg = spacy.util.srsly.msgpack_loads(path.read_bytes())
    for attrs in msg["attrs"]:
        if "vocab" in attrs:
            vocab = spacy.util.srsly.json_loads(attrs["vocab"])
            for key in ("words", "doc_freqs", "word_counts"):
                vocab[key] = vocab[key][:-1]
            attrs["vocab"] = spacy.util.srsly.json_dumps(vocab).encode("utf8")
    rewrite_model(tmp_path / "model", msg)
    with pytest.raises(TextVAEError, match="inconsistent: its VAE has"):
        spacy.load(tmp_path / "model")


def test_checksum_catches_silent_corruption(trained, tmp_path):
    """One flipped byte in the weights changes outputs without breaking the
    format: the checksum saved beside the model refuses it."""
    nlp, _ = trained
    nlp.to_disk(tmp_path / "model")
    path = tmp_path / "model" / "textvae" / "model"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(TextVAEError, match="does not match its checksum"):
        spacy.load(tmp_path / "model")


@pytest.mark.parametrize(
    "cfg,match",
    [([], "TypeError"), ({"step": "abc", "docs_seen": 0, "prior_fitted": True, "model_sha256": "0"}, "step = 'abc'"),
     ({"step": 3, "prior_fitted": True}, "KeyError")],
)
def test_damaged_cfg_values_clear_error(trained, tmp_path, cfg, match):
    nlp, _ = trained
    nlp.to_disk(tmp_path / "model")
    spacy.util.srsly.write_json(tmp_path / "model" / "textvae" / "cfg", cfg)
    with pytest.raises(TextVAEError, match=rf"saved state \('cfg'\).*{match}"):
        spacy.load(tmp_path / "model")


def test_saved_vocabulary_values_are_checked(trained, tmp_path):
    nlp, _ = trained
    nlp.to_disk(tmp_path / "model")
    msg = spacy.util.srsly.msgpack_loads((tmp_path / "model" / "textvae" / "model").read_bytes())
    for attrs in msg["attrs"]:
        if "vocab" in attrs:
            vocab = spacy.util.srsly.json_loads(attrs["vocab"])
            vocab["attr"] = "POS"
            attrs["vocab"] = spacy.util.srsly.json_dumps(vocab).encode("utf8")
    rewrite_model(tmp_path / "model", msg)
    with pytest.raises(TextVAEError, match="names words by 'POS'"):
        spacy.load(tmp_path / "model")


def test_v2_models_keep_their_weights_and_v3_adds_the_pooled_head(corpus, tmp_path):
    # A model trained with v2 (no pooled head) loads with its own config; v4 with
    # a pooled weight trains a head that is saved and loaded with the rest.
    from .conftest import train

    texts, _ = corpus
    tok2vec = {
        "@architectures": "spacy.HashEmbedCNN.v2", "pretrained_vectors": None, "width": 16,
        "depth": 1, "embed_size": 500, "window_size": 1, "maxout_pieces": 2, "subword_features": False,
    }
    from spacy_textvae.component import DEFAULT_MODEL

    for arch, weight in (("spacy-textvae.TextVAE.v2", None), ("spacy-textvae.TextVAE.v4", 1.0)):
        nlp = spacy.blank("en")
        # A config names every argument of its architecture: v2 has no pooled_weight.
        model = {**DEFAULT_MODEL, "@architectures": arch, "hidden_width": 32, "tok2vec": tok2vec}
        del model["pooled_weight"]
        if weight is not None:
            model["pooled_weight"] = weight
        nlp.add_pipe("textvae", config={**SMALL_CONFIG, "model": model})
        history = train(nlp, texts, epochs=4)
        assert history[-1] < history[0]
        module = nlp.get_pipe("textvae").torch_module
        assert (module.pooled_head is not None) == (weight is not None)
        nlp.to_disk(tmp_path / arch)
        nlp2 = spacy.load(tmp_path / arch)
        assert_same_outputs(list(nlp.pipe(texts[:20])), list(nlp2.pipe(texts[:20])))
        loaded = nlp2.get_pipe("textvae").torch_module
        assert set(loaded.state_dict()) == set(module.state_dict())
