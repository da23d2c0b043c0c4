"""Growing a trained component's topic vocabulary from new documents."""
import random
import re

import numpy
import pytest
import spacy
from spacy.tokens import DocBin
from spacy.training import Example

from .conftest import SMALL_CONFIG, THEMES, make_corpus, make_examples, train

SAILING = (
    "The sailors hoisted the sail and the yacht left the harbour at dawn. "
    "The captain steered the boat through the waves towards the lighthouse. "
    "A strong breeze filled the canvas and the hull cut through the sea. "
    "The crew tied the ropes and dropped the anchor in the quiet bay. "
    "The regatta fleet raced past the buoy while the skipper trimmed the mainsail."
)
SAILING_WORDS = {"sailors", "sail", "yacht", "harbour", "captain", "boat", "waves", "lighthouse", "breeze",
                 "canvas", "hull", "sea", "crew", "ropes", "anchor", "bay", "regatta", "fleet", "buoy", "skipper"}

THEME_WORDS = {theme: set(re.findall(r"[a-z]+", text.lower())) for theme, text in THEMES.items()}


def sailing_texts(n: int, seed: int = 1):
    rng = random.Random(seed)
    sents = [s.strip() + "." for s in SAILING.split(".") if s.strip()]
    return [" ".join(rng.sample(sents, 3)) for _ in range(n)]


def top_sets(pipe, n):
    return [set(words) for words in pipe.topic_words(n)]


@pytest.fixture(scope="module")
def grown():
    """A pipeline trained on three themes, then grown with a fourth and trained on all four."""
    texts, _ = make_corpus()
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("textvae", config=SMALL_CONFIG)
    train(nlp, texts)
    before = {
        "words": list(pipe.topic_vocab.words),
        "state": {k: v.clone() for k, v in pipe.torch_module.state_dict().items()},
        "theme_overlap": {t: max(len(w & topic) for topic in top_sets(pipe, 10)) for t, w in THEME_WORDS.items()},
        "old_latent": nlp(texts[0])._.latent.copy(),
        "sailing_topics": nlp(sailing_texts(1, seed=9)[0])._.topics.copy(),
    }
    new = sailing_texts(30)
    optimizer = nlp.resume_training()
    added = pipe.grow_vocab([nlp.make_doc(t) for t in new])
    after_growth = {
        "state": {k: v.clone() for k, v in pipe.torch_module.state_dict().items()},
        "old_latent": nlp(texts[0])._.latent.copy(),
    }
    examples = make_examples(nlp, texts + new)
    rng = random.Random(0)
    for _ in range(20):
        rng.shuffle(examples)
        for batch in spacy.util.minibatch(examples, size=16):
            nlp.update(batch, sgd=optimizer)
    return nlp, pipe, before, added, after_growth, texts


def test_new_words_are_added_after_the_old_ones(grown):
    nlp, pipe, before, added, _, _ = grown
    assert len(added) >= 10 and set(added) <= set(re.findall(r"[a-z]+", SAILING.lower()))
    assert SAILING_WORDS & set(added)
    assert pipe.topic_vocab.words == before["words"] + added
    assert pipe.model.get_ref("vae").get_dim("nV") == len(pipe.topic_vocab)


def test_growth_keeps_every_weight_and_output(grown):
    _, _, before, added, after_growth, _ = grown
    old, new = before["state"], after_growth["state"]
    assert set(old) == set(new)
    n_old = len(before["words"])
    for name, value in old.items():
        grown_value = new[name]
        if grown_value.shape == value.shape:
            assert (grown_value == value).all(), name
        else:
            axis = [i for i, (a, b) in enumerate(zip(value.shape, grown_value.shape)) if a != b]
            assert len(axis) == 1 and grown_value.shape[axis[0]] - value.shape[axis[0]] == len(added), name
            kept = grown_value.narrow(axis[0], 0, value.shape[axis[0]])
            assert (kept == value).all(), name
    assert n_old + len(added) == new["decoder.background"].shape[0]
    # The same weights; the sums run over other shapes, so float rounding may differ.
    numpy.testing.assert_allclose(after_growth["old_latent"], before["old_latent"], atol=1e-5)


def test_the_new_theme_is_learned_and_the_old_topics_kept(grown):
    nlp, pipe, before, _, _, _ = grown
    top10 = top_sets(pipe, 10)
    assert any(SAILING_WORDS & words for words in top10)
    # A held-out sailing doc gets a clear topic mixture (it had no topic words before).
    topics = nlp(sailing_texts(1, seed=9)[0])._.topics
    assert topics.max() > before["sailing_topics"].max() + 0.15
    assert topics.max() > 0.5
    # Each old theme is still some topic's: its best topic keeps (nearly) as many of its words.
    for theme, words in THEME_WORDS.items():
        kept = max(len(words & topic) for topic in top10)
        assert kept >= 5 and kept >= before["theme_overlap"][theme] - 2, (theme, kept, top10)


def test_grown_model_saves_and_loads(grown, tmp_path):
    nlp, pipe, _, _, _, texts = grown
    nlp.to_disk(tmp_path / "grown")
    loaded = spacy.load(tmp_path / "grown")
    assert loaded.get_pipe("textvae").topic_vocab.words == pipe.topic_vocab.words
    text = sailing_texts(1, seed=4)[0]
    numpy.testing.assert_allclose(loaded(text)._.topics, nlp(text)._.topics, atol=1e-6)


def test_nothing_new_or_bad_settings(grown):
    nlp, pipe, _, _, _, texts = grown
    n = len(pipe.topic_vocab)
    assert pipe.grow_vocab([nlp.make_doc(t) for t in texts[:10]]) == []
    assert len(pipe.topic_vocab) == n
    with pytest.raises(ValueError, match="max_new"):
        pipe.grow_vocab([nlp.make_doc("sailing boats")], max_new=-1)
    assert len(pipe.topic_vocab) == n


def test_max_new_caps_and_linear_decoder_grows(corpus):
    texts, _ = corpus
    nlp = spacy.blank("en")
    config = {**SMALL_CONFIG, "model": {"decoder": "linear"}}
    pipe = nlp.add_pipe("textvae", config=config)
    train(nlp, texts[:40], epochs=2)
    n = len(pipe.topic_vocab)
    added = pipe.grow_vocab([nlp.make_doc(t) for t in sailing_texts(20)], max_new=5)
    assert len(added) == 5 and len(pipe.topic_vocab) == n + 5
    optimizer = nlp.resume_training()
    for batch in spacy.util.minibatch(make_examples(nlp, sailing_texts(32)), size=16):
        nlp.update(batch, sgd=optimizer)
    assert numpy.isfinite(nlp(sailing_texts(1)[0])._.topics).all()


def test_spacy_train_callback_grows_a_sourced_component(trained, tmp_path):
    from spacy.cli.train import train as spacy_train
    from spacy.util import load_config

    from .test_configs import CONFIG_DIR

    base, _ = trained
    base.to_disk(tmp_path / "base")
    db = DocBin(docs=[base.make_doc(t) for t in sailing_texts(30)])
    db.to_disk(tmp_path / "sailing.spacy")
    config = load_config(CONFIG_DIR / "cpu.cfg")
    config["components"]["textvae"] = {"source": str(tmp_path / "base")}
    config["paths"]["train"] = config["paths"]["dev"] = str(tmp_path / "sailing.spacy")
    config["training"].update({"max_steps": 3, "eval_frequency": 3})
    config["training"]["batcher"]["size"] = 16
    config["initialize"]["after_init"] = {
        "@callbacks": "spacy-textvae.grow_vocab.v1", "component": "textvae",
        "path": "${paths.train}", "min_df": 2, "max_new": 1000,
    }
    config.to_disk(tmp_path / "grow.cfg")
    spacy_train(tmp_path / "grow.cfg", tmp_path / "out", use_gpu=-1)
    words = spacy.load(tmp_path / "out" / "model-last").get_pipe("textvae").topic_vocab.words
    assert words[: len(base.get_pipe("textvae").topic_vocab)] == base.get_pipe("textvae").topic_vocab.words
    assert SAILING_WORDS & set(words)
