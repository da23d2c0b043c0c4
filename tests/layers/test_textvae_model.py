"""The composed textvae model: chunked inference gives the unchunked outputs."""
import importlib

import numpy

# The module, not the function of the same name that the package exports.
textvae_model_module = importlib.import_module("spacy_textvae.layers.textvae_model")


def test_inference_in_chunks_matches_one_pass(trained, corpus, monkeypatch):
    nlp, _ = trained
    texts, _ = corpus
    model = nlp.get_pipe("textvae").model
    docs = [nlp.make_doc(t) for t in texts[:40]] + [nlp.make_doc("")]
    whole = model.predict(docs)
    monkeypatch.setattr(textvae_model_module, "INFERENCE_CHUNK", 7)
    chunked = model.predict(docs)
    for name in ("latent", "topics", "cluster_probs", "recon", "kl", "n_words"):
        a, b = getattr(whole, name), getattr(chunked, name)
        assert a.shape == b.shape, name
        # recon and kl are sums of ~100 nats: float32 resolves them to ~1e-5, and
        # the matrix kernels' rounding follows the batch's size.
        rtol = 1e-6 if name in ("recon", "kl") else 0
        numpy.testing.assert_allclose(a, b, atol=1e-5, rtol=rtol, err_msg=name)
