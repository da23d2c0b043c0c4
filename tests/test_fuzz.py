"""Generated bad input, in training and in inference: no crash, no NaN,
topics and cluster probabilities that sum to 1."""
import random

import numpy
import pytest
import spacy

from .conftest import SMALL_CONFIG, make_examples, train


def bad_texts(seed: int = 0, huge: bool = False):
    rng = random.Random(seed)
    scripts = "Ελληνικά русский 中文字符 العربية हिन्दी 日本語 한국어 ไทย עברית"
    emoji = "😀🚀🍕⚽️👩‍👩‍👧‍👦🏳️‍🌈"
    texts = [
        "",
        " ",
        "\n\n\t  \r\n",
        "!!! ??? ... ,,, ;;; --- ((( )))",
        "\x00\x01\x02 nul \x00 and control \x07\x1b[31m chars \x7f",
        scripts,
        emoji * 20,
        "rocket " * 3 + "\x00" * 50 + " launch orbit",
        "a" * 5000,
    ]
    if huge:
        texts.append(("orbit launch " * 76_924)[:1_000_000])
    for _ in range(10):
        raw = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
        texts.append(raw.decode("utf8", errors="replace"))
        texts.append(raw.decode("latin-1"))
    for _ in range(10):
        texts.append("".join(chr(rng.randrange(1, 0x2FFFF)) for _ in range(rng.randrange(1, 200)))
        .encode("utf8", errors="replace").decode("utf8", errors="replace"))
    return texts


def check_docs(docs, k, c):
    for doc in docs:
        assert numpy.isfinite(doc._.latent).all() and doc._.latent.shape == (k,)
        assert numpy.isfinite(doc._.topics).all() and abs(float(doc._.topics.sum()) - 1.0) < 1e-5
        assert numpy.isfinite(doc._.cluster_probs).all() and abs(float(doc._.cluster_probs.sum()) - 1.0) < 1e-5
        assert 0 <= doc._.cluster < c


@pytest.fixture(scope="module")
def fuzz_nlp(corpus):
    texts, _ = corpus
    nlp = spacy.blank("en")
    nlp.max_length = 2_000_000
    nlp.add_pipe("textvae", config=SMALL_CONFIG)
    train(nlp, texts, epochs=3)
    return nlp


def test_inference_on_bad_input(fuzz_nlp):
    texts = bad_texts(huge=True)
    docs = list(fuzz_nlp.pipe(texts, batch_size=8))
    assert len(docs) == len(texts)
    check_docs(docs, SMALL_CONFIG["n_topics"], SMALL_CONFIG["n_clusters"])
    # One at a time gives the same.
    for text, doc in zip(texts[:12], docs[:12]):
        numpy.testing.assert_allclose(fuzz_nlp(text)._.latent, doc._.latent, atol=1e-5)


def test_training_on_bad_input(corpus):
    texts, _ = corpus
    nlp = spacy.blank("en")
    nlp.max_length = 2_000_000
    nlp.add_pipe("textvae", config=SMALL_CONFIG)
    # Bad texts mixed into the training corpus, from initialisation on.
    mixed = texts[:60] + bad_texts(seed=1, huge=True)
    random.Random(0).shuffle(mixed)
    examples = make_examples(nlp, mixed)
    optimizer = nlp.initialize(lambda: examples)
    for _ in range(3):
        for batch in spacy.util.minibatch(examples, size=16):
            losses = {}
            nlp.update(batch, sgd=optimizer, losses=losses)
            assert numpy.isfinite(losses["textvae"])
    check_docs(list(nlp.pipe(bad_texts(seed=2), batch_size=8)), SMALL_CONFIG["n_topics"], SMALL_CONFIG["n_clusters"])
    # A batch of nothing but bad input trains too.
    nlp.update(make_examples(nlp, bad_texts(seed=3)[:16]), sgd=optimizer)
    check_docs(list(nlp.pipe(texts[:10])), SMALL_CONFIG["n_topics"], SMALL_CONFIG["n_clusters"])
