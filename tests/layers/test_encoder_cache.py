"""A frozen encoder is run once per document in a training run."""
import importlib

import numpy
import spacy

from spacy_textvae.layers.encoder_cache import EncoderCache, doc_key

from ..conftest import SMALL_CONFIG, make_examples

textvae_model_module = importlib.import_module("spacy_textvae.layers.textvae_model")
FROZEN = {**SMALL_CONFIG, "model": {"grad_factor": 0.0}}


def count_encoded(pipe):
    """Wrap the token-vector layer's forward: count the docs it sees."""
    inner = pipe.model.get_ref("tok2vec").layers[0]
    seen = []
    original = inner._func

    def forward(model, docs, is_train):
        seen.extend(doc.text for doc in docs)
        return original(model, docs, is_train)

    inner._func = forward
    return seen


def train_frozen(texts, epochs=4, use_cache=True, monkeypatch=None):
    spacy.util.fix_random_seed(0)
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("textvae", config=FROZEN)
    examples = make_examples(nlp, texts)
    optimizer = nlp.initialize(lambda: examples)
    seen = count_encoded(pipe)
    if not use_cache:
        monkeypatch.setattr(textvae_model_module, "_encoder_cache", lambda model, is_train: None)
    for _ in range(epochs):
        for batch in spacy.util.minibatch(examples, size=16):
            nlp.update(batch, sgd=optimizer)
    return nlp, seen


def test_each_training_doc_is_encoded_once(corpus, monkeypatch):
    texts, _ = corpus
    nlp, seen = train_frozen(texts, epochs=4)
    # Once per distinct doc (the corpus repeats some texts).
    assert sorted(seen) == sorted(set(texts))
    # Evaluation reads (and extends) the same cache.
    list(nlp.pipe(texts[:10]))
    list(nlp.pipe(["A text the training never saw."]))
    assert len(seen) == len(set(texts)) + 1
    # Same model as without the cache.
    nlp2, seen2 = train_frozen(texts, epochs=4, use_cache=False, monkeypatch=monkeypatch)
    assert len(seen2) == 4 * len(texts)
    a = numpy.stack([d._.latent for d in nlp.pipe(texts[:20])])
    monkeypatch.undo()
    b = numpy.stack([d._.latent for d in nlp2.pipe(texts[:20])])
    numpy.testing.assert_allclose(a, b, atol=1e-5)


def test_a_trained_encoder_is_not_cached(corpus):
    texts, _ = corpus
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("textvae", config=SMALL_CONFIG)
    examples = make_examples(nlp, texts[:32])
    optimizer = nlp.initialize(lambda: examples)
    seen = count_encoded(pipe)
    for _ in range(2):
        nlp.update(examples[:16], sgd=optimizer)
    assert len(seen) == 32


def test_keys_follow_the_text_and_the_tokens():
    nlp = spacy.blank("en")
    a, b = nlp.make_doc("The rocket launched."), nlp.make_doc("The rocket launched.")
    assert doc_key(a) == doc_key(b)
    assert doc_key(a) != doc_key(nlp.make_doc("The rocket launched!"))
    words = spacy.tokens.Doc(nlp.vocab, words=["The", "rocket", "launched."], spaces=[True, True, False])
    assert words.text == a.text and doc_key(words) != doc_key(a)


def test_the_cache_spills_to_a_memory_mapped_file():
    nlp = spacy.blank("en")
    docs = [nlp.make_doc(f"doc number {i}") for i in range(300)]
    calls = []

    def encode(batch):
        calls.append(len(batch))
        return numpy.asarray([[float(len(d.text)), float(hash(d.text) % 97)] for d in batch], dtype="float32")

    cache = EncoderCache(width=2, xp=numpy, memory_limit=64 * 2 * 4)
    first = cache.get(docs[:100], encode)
    assert cache.on_disk
    again = cache.get(docs[:150] + docs[:5], encode)
    assert calls == [100, 50]
    numpy.testing.assert_array_equal(again[:100], first)
    numpy.testing.assert_array_equal(again[150:], first[:5])
    spill_dir = cache._dir
    cache.close()
    assert not spill_dir.exists()
