"""The component as a user meets it: registration, outputs, determinism, errors."""
import subprocess
import sys

import numpy
import pytest
import spacy

from spacy_textvae import TextVAE, TextVAEError
from spacy_textvae.topic_words import frex_scores

from .conftest import SMALL_CONFIG, THEMES


def test_factory_registered_without_import():
    # A fresh interpreter that never imports spacy_textvae: entry points do it.
    code = (
        "import spacy, sys\n"
        "nlp = spacy.blank('en')\n"
        "pipe = nlp.add_pipe('textvae')\n"
        "assert type(pipe).__name__ == 'TextVAE'\n"
        "assert 'spacy_textvae' in sys.modules\n"
        "from spacy.util import registry\n"
        "registry.architectures.get('spacy-textvae.TextVAE.v2')\n"
        "registry.architectures.get('spacy-textvae.TextVAE.v3')\n"
        "registry.architectures.get('spacy-textvae.TextVAE.v4')\n"
        "assert 'spacy-textvae.TextVAE.v1' not in registry.architectures.get_all()\n"
        "registry.scorers.get('spacy-textvae.textvae_scorer.v1')\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().endswith("ok")


def test_default_config_values():
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("textvae")
    assert isinstance(pipe, TextVAE)
    cfg = nlp.config["components"]["textvae"]
    assert cfg["n_topics"] == 20 and cfg["n_clusters"] == 20
    expected = {"kl_warmup_epochs": 3.0, "vocab_attr": "LOWER", "min_df": 2, "max_df": 0.7,
                "max_vocab_size": 10000, "remove_stop_words": True, "extension_prefix": None}
    assert {key: cfg[key] for key in expected} == expected
    model_cfg = cfg["model"]
    assert model_cfg["@architectures"] == "spacy-textvae.TextVAE.v4"
    assert model_cfg["pooled_weight"] == 0.0
    assert model_cfg["dropout"] == 0.2 and model_cfg["grad_factor"] == 1.0
    assert model_cfg["decoder"] == "embedding" and model_cfg["word_dropout"] == 0.3
    assert model_cfg["cluster_means"] == "auto"
    # The component holds the settings of the config it was built from.
    assert (pipe.n_topics, pipe.kl_warmup_epochs, pipe.cluster_temperature) == (20, 3.0, 0.1)


def test_not_initialized_error():
    nlp = spacy.blank("en")
    nlp.add_pipe("textvae")
    with pytest.raises(TextVAEError, match=r"E109.*nlp\.initialize"):
        nlp("This will not work yet.")
    with pytest.raises(ValueError, match="nlp.initialize"):
        nlp.get_pipe("textvae").topic_words()


def test_output_shapes_and_sums(trained, corpus):
    nlp, _ = trained
    texts, _ = corpus
    doc = nlp(texts[0])
    k, c = SMALL_CONFIG["n_topics"], SMALL_CONFIG["n_clusters"]
    assert isinstance(doc._.latent, numpy.ndarray) and doc._.latent.dtype == numpy.float32
    assert doc._.latent.shape == (k,)
    assert doc._.topics.shape == (k,) and doc._.topics.dtype == numpy.float32
    assert (doc._.topics >= 0).all() and abs(float(doc._.topics.sum()) - 1.0) < 1e-5
    assert isinstance(doc._.cluster, int) and 0 <= doc._.cluster < c
    assert doc._.cluster_probs.shape == (c,) and doc._.cluster_probs.dtype == numpy.float32
    assert abs(float(doc._.cluster_probs.sum()) - 1.0) < 1e-5
    assert doc._.cluster == int(doc._.cluster_probs.argmax())


def test_deterministic_and_pipe_equals_call(trained, corpus):
    nlp, _ = trained
    texts, _ = corpus
    single = [nlp(t) for t in texts[:10]]
    again = [nlp(t) for t in texts[:10]]
    piped = list(nlp.pipe(texts[:10], batch_size=4))
    for a, b, p in zip(single, again, piped):
        numpy.testing.assert_array_equal(a._.latent, b._.latent)
        numpy.testing.assert_allclose(a._.latent, p._.latent, atol=1e-5)
        numpy.testing.assert_allclose(a._.topics, p._.topics, atol=1e-5)
        assert a._.cluster == p._.cluster


def test_topic_words(trained):
    nlp, _ = trained
    pipe = nlp.get_pipe("textvae")
    assert pipe.topic_word_ranking == "frex"
    words = pipe.topic_words(top_n=5)
    assert len(words) == SMALL_CONFIG["n_topics"]
    assert all(len(ws) == 5 and all(isinstance(w, str) for w in ws) for ws in words)
    vocab = set(pipe.topic_vocab.words)
    assert all(w in vocab for ws in words for w in ws)
    weights = pipe.topic_word_weights(top_n=5)
    matrix = pipe.topic_word_matrix()
    assert matrix.shape == (SMALL_CONFIG["n_topics"], len(vocab))
    numpy.testing.assert_allclose(matrix.sum(axis=1), 1.0, atol=1e-5)
    index = {w: i for i, w in enumerate(pipe.topic_vocab.words)}
    scores = pipe.topic_word_scores()
    # The default ranking is FREX on the decoder's p(word | topic).
    numpy.testing.assert_allclose(scores, frex_scores(numpy.log(matrix), 0.5), atol=1e-6)
    for k, (topic, ws) in enumerate(zip(weights, words)):
        assert [w for w, _ in topic] == ws
        # Weights are p(word | topic); the ranking follows the scores.
        for w, p in topic:
            assert abs(p - matrix[k, index[w]]) < 1e-6
        ranked = [scores[k, index[w]] for w in ws]
        assert ranked == sorted(ranked, reverse=True)
        assert ranked[-1] >= numpy.sort(scores[k])[-5]


def test_topic_word_rankings(trained):
    nlp, _ = trained
    pipe = nlp.get_pipe("textvae")
    matrix = pipe.topic_word_matrix()
    index = {w: i for i, w in enumerate(pipe.topic_vocab.words)}
    # relevance=1 ranks by probability alone; relevance=0 by lift.
    by_prob = pipe.topic_word_weights(top_n=5, relevance=1.0)
    for k, topic in enumerate(by_prob):
        probs = [p for _, p in topic]
        assert probs == sorted(probs, reverse=True)
        assert abs(probs[0] - matrix[k].max()) < 1e-6
    lift = numpy.log(matrix) - pipe.topic_vocab.log_frequencies()[None, :]
    for k, ws in enumerate(pipe.topic_words(top_n=3, relevance=0.0)):
        assert index[ws[0]] == int(numpy.argmax(lift[k]))
    # FREX with all weight on probability ranks as relevance=1 does.
    assert pipe.topic_words(top_n=5, exclusivity=0.0) == pipe.topic_words(top_n=5, relevance=1.0)
    # The setting picks the ranking when none is passed.
    pipe.topic_word_ranking = "relevance"
    try:
        assert pipe.topic_words(top_n=5) == pipe.topic_words(top_n=5, relevance=pipe.topic_word_relevance)
        pipe.topic_word_ranking = "tfidf"
        with pytest.raises(ValueError, match="topic_word_ranking"):
            pipe.topic_words()
    finally:
        pipe.topic_word_ranking = "frex"
    with pytest.raises(ValueError, match="relevance"):
        pipe.topic_words(relevance=1.5)
    with pytest.raises(ValueError, match="exclusivity"):
        pipe.topic_words(exclusivity=-1.0)
    with pytest.raises(ValueError, match="not both"):
        pipe.topic_words(relevance=0.5, exclusivity=0.5)


def test_learning_lowers_loss(trained):
    _, history = trained
    # The floor is the entropy of words within a theme (~log 50 vs ~log 150 for
    # the whole vocabulary), so a fall of several percent is real learning.
    assert history[-1] < 0.95 * history[0]
    assert history[-1] < min(history[:3])
    assert all(numpy.isfinite(history))


def test_themes_separate(trained, corpus):
    """Docs of one theme share top topic and cluster far more often than docs
    of different themes."""
    nlp, _ = trained
    texts, labels = corpus
    docs = list(nlp.pipe(texts))
    labels = numpy.asarray(labels)
    top = numpy.asarray([int(d._.topics.argmax()) for d in docs])
    clusters = numpy.asarray([d._.cluster for d in docs])
    same = labels[:, None] == labels[None, :]
    off_diag = ~numpy.eye(len(docs), dtype=bool)
    for assignment in (top, clusters):
        agree = assignment[:, None] == assignment[None, :]
        within = agree[same & off_diag].mean()
        across = agree[~same].mean()
        assert within >= 0.6, (within, across)
        assert across <= 0.25, (within, across)
        assert within >= across + 0.5
    # Each theme's most common cluster differs from the others'.
    majority = {lab: numpy.bincount(clusters[labels == lab]).argmax() for lab in THEMES}
    assert len(set(majority.values())) == len(THEMES)


def test_scores(trained, corpus):
    nlp, _ = trained
    texts, labels = corpus
    examples = []
    from spacy.training import Example

    for text, label in zip(texts, labels):
        ref = nlp.make_doc(text)
        ref.cats = {lab: float(lab == label) for lab in THEMES}
        examples.append(Example(nlp.make_doc(text), ref))
    scores = nlp.evaluate(examples)
    for key in ("textvae_npmi", "textvae_diversity", "textvae_perplexity", "textvae_cluster_nmi",
                "textvae_cluster_ari", "textvae_cluster_purity"):
        assert scores[key] is not None and numpy.isfinite(scores[key]), key
    assert -1.0 <= scores["textvae_npmi"] <= 1.0
    assert 0.0 < scores["textvae_diversity"] <= 1.0
    assert scores["textvae_cluster_nmi"] > 0.5
    assert scores["textvae_perplexity"] > 1.0
    # The trained model explains the words better than their frequencies do.
    assert scores["textvae_perplexity_gain"] > 1.0


def test_the_selection_score_waits_for_the_prior(corpus):
    """Before the mixture prior is fitted, textvae_perplexity_gain is 0, below
    any fitted snapshot's, so model-best is never an early one."""
    from spacy.training import Example

    from .conftest import train

    texts, _ = corpus
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("textvae", config={**SMALL_CONFIG, "prior_fit_epochs": 3.0})
    train(nlp, texts, epochs=2)
    examples = [Example(nlp.make_doc(t), nlp.make_doc(t)) for t in texts]
    assert not pipe.cfg["prior_fitted"]
    scores = nlp.evaluate(examples)
    assert scores["textvae_perplexity_gain"] == 0.0 and scores["textvae_perplexity"] > 1.0
    optimizer = nlp.resume_training()
    for batch in spacy.util.minibatch(examples, size=16):
        nlp.update(batch, sgd=optimizer)
    assert pipe.cfg["prior_fitted"]
    # Positive once fitted, however little trained: it beats any unfitted snapshot.
    assert nlp.evaluate(examples)["textvae_perplexity_gain"] > 0.0


def test_spacy_selects_on_the_gain_after_an_unfitted_first_evaluation(corpus):
    """spaCy's evaluation callback keeps only the weighted scores present at
    its first call: the gain must be there before the prior is fitted too."""
    from spacy.training import Example
    from spacy.training.loop import create_evaluation_callback

    from .conftest import train

    texts, _ = corpus
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("textvae", config={**SMALL_CONFIG, "prior_fit_epochs": 3.0})
    train(nlp, texts, epochs=2)
    examples = [Example(nlp.make_doc(t), nlp.make_doc(t)) for t in texts]
    evaluate = create_evaluation_callback(nlp, lambda _: examples, {"textvae_perplexity_gain": 1.0})
    assert evaluate()[0] == 0.0 and not pipe.cfg["prior_fitted"]
    optimizer = nlp.resume_training()
    for batch in spacy.util.minibatch(examples, size=16):
        nlp.update(batch, sgd=optimizer)
    score, scores = evaluate()
    assert pipe.cfg["prior_fitted"] and score == scores["textvae_perplexity_gain"] > 0.0


def test_score_reads_perplexity_from_annotations(trained, corpus, monkeypatch):
    nlp, _ = trained
    texts, _ = corpus
    from spacy.training import Example

    pipe = nlp.get_pipe("textvae")
    docs = list(nlp.pipe(texts + ["", "zzzz qqqq"]))
    expected = pipe.perplexity(docs)
    examples = [Example(doc, nlp.make_doc(doc.text)) for doc in docs]

    # Annotated docs: score() must not run the model again, and agree with perplexity().
    def no_predict(_docs):
        raise AssertionError("score() ran the model on docs it had annotated")

    monkeypatch.setattr(pipe, "predict", no_predict)
    assert pipe.score(examples)["textvae_perplexity"] == pytest.approx(expected, rel=1e-5)
    monkeypatch.undo()
    # A doc the component never annotated: the model runs for it, same figure.
    examples[0] = Example(nlp.make_doc(docs[0].text), examples[0].reference)
    assert pipe.score(examples)["textvae_perplexity"] == pytest.approx(expected, rel=1e-5)


def test_component_module_imports_no_torch():
    """The component reaches the model only through its Thinc functions."""
    import ast
    from pathlib import Path

    import spacy_textvae.component as component

    tree = ast.parse(Path(component.__file__).read_text(encoding="utf8"))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert "spacy" in imported and "thinc" in imported
    assert "torch" not in imported


def test_two_components_keep_their_own_extensions(corpus):
    """The first textvae component writes doc._.topics; a second one writes
    doc._.<name>_topics, so neither overwrites the other."""
    texts, _ = corpus
    nlp = spacy.blank("en")
    first = nlp.add_pipe("textvae", config=SMALL_CONFIG)
    second = nlp.add_pipe("textvae", name="coarse", config={**SMALL_CONFIG, "n_topics": 2, "n_clusters": 2})
    explicit = nlp.add_pipe("textvae", name="fine", config={**SMALL_CONFIG, "extension_prefix": "fine_grained_"})
    assert (first.extension_prefix, second.extension_prefix, explicit.extension_prefix) == ("", "coarse_", "fine_grained_")
    from .conftest import train

    train(nlp, texts[:40], epochs=2)
    doc = nlp(texts[0])
    assert doc._.topics.shape == (SMALL_CONFIG["n_topics"],)
    assert doc._.coarse_topics.shape == (2,) and doc._.coarse_cluster_probs.shape == (2,)
    assert doc._.fine_grained_latent.shape == (SMALL_CONFIG["n_topics"],)
    assert 0 <= doc._.coarse_cluster < 2
    numpy.testing.assert_allclose(doc._.coarse_topics.sum(), 1.0, atol=1e-5)
    # Each component's annotations are its own model's outputs.
    alone = first.predict([nlp.make_doc(texts[0])])
    numpy.testing.assert_allclose(doc._.topics, first.model.ops.to_numpy(alone.topics)[0], atol=1e-6)


@pytest.mark.parametrize("batch_size", [8, 30])
def test_the_schedule_counts_passes_over_the_corpus_not_updates(corpus, batch_size):
    """The KL warm-up and the prior fit follow the share of the corpus seen, so
    another batch size gives the same schedule."""
    from spacy.training import Example

    texts, _ = corpus
    texts = texts[:60]
    nlp = spacy.blank("en")
    pipe = nlp.add_pipe("textvae", config={**SMALL_CONFIG, "kl_warmup_epochs": 4.0, "prior_fit_epochs": 2.0})
    examples = [Example(nlp.make_doc(t), nlp.make_doc(t)) for t in texts]
    optimizer = nlp.initialize(lambda: examples)
    weights = []
    module = pipe.torch_module
    original = module.forward

    def spy(pooled, counts, kl_weight, cluster_temperature, train):
        weights.append(kl_weight)
        return original(pooled, counts, kl_weight=kl_weight, cluster_temperature=cluster_temperature, train=train)

    module.forward = spy
    fitted_after = []
    for epoch in range(3):
        for batch in spacy.util.minibatch(examples, size=batch_size):
            nlp.update(batch, sgd=optimizer)
        fitted_after.append(pipe.cfg["prior_fitted"])
    assert pipe.epochs_seen == pytest.approx(3.0) and pipe.cfg["docs_seen"] == 180
    assert fitted_after == [False, True, True]
    # The weight after each batch: the share of the warm-up's 4 passes done so far.
    steps_per_epoch = -(-60 // batch_size)
    assert weights[steps_per_epoch - 1] == pytest.approx(0.25)
    assert weights[-1] == pytest.approx(0.75)


def test_an_unfitted_prior_gives_the_dominant_topic_with_a_warning(corpus, caplog):
    import logging

    texts, _ = corpus
    nlp = spacy.blank("en")
    nlp.add_pipe("textvae", config={**SMALL_CONFIG, "prior_fit_epochs": 10_000.0})
    from .conftest import train

    train(nlp, texts, epochs=10)
    pipe = nlp.get_pipe("textvae")
    assert not pipe.cfg["prior_fitted"]
    with caplog.at_level(logging.WARNING, logger="spacy_textvae"):
        docs = list(nlp.pipe(texts[:30]))
    assert caplog.text.count("mixture prior is not fitted yet") == 1
    k, c = SMALL_CONFIG["n_topics"], SMALL_CONFIG["n_clusters"]
    for doc in docs:
        expected = numpy.asarray([doc._.topics[numpy.arange(k) % c == j].sum() for j in range(c)])
        numpy.testing.assert_allclose(doc._.cluster_probs, expected, atol=1e-6)
        assert doc._.cluster == int(numpy.argmax(expected))
    # Not all in cluster 0, as the unfitted mixture alone would give.
    assert len({doc._.cluster for doc in docs}) > 1


def test_docs_without_topic_words_are_counted_not_averaged(trained, corpus):
    from spacy.training import Example

    nlp, _ = trained
    texts, _ = corpus
    pipe = nlp.get_pipe("textvae")
    docs = list(nlp.pipe(texts[:20]))
    empty = list(nlp.pipe(["", "   ", "zzzz qqqq", "!!! ..."]))
    assert pipe.perplexity(empty) is None
    assert pipe.perplexity(docs + empty) == pytest.approx(pipe.perplexity(docs), rel=1e-9)
    scores = pipe.score([Example(d, nlp.make_doc(d.text)) for d in docs + empty])
    assert scores["textvae_docs_without_topic_words"] == 4.0
    assert scores["textvae_perplexity"] == pytest.approx(pipe.perplexity(docs), rel=1e-5)
    assert 1.0 < scores["textvae_perplexity"] < len(pipe.topic_vocab)


def test_averaged_weights_never_reach_the_torch_vae_and_initialize_says_so(corpus, caplog):
    """With use_averages, spaCy evaluates and saves under nlp.use_params(optimizer.averages);
    thinc's torch shim never loads them, so the VAE keeps its trained weights."""
    import logging

    import torch
    from spacy.training import Example
    from thinc.api import Adam

    from spacy_textvae.layers.torch_vae import get_module

    texts, _ = corpus
    nlp = spacy.blank("en")
    nlp.add_pipe("textvae", config=SMALL_CONFIG)
    nlp.config["training"]["optimizer"] = {"@optimizers": "Adam.v1", "use_averages": True}
    examples = [Example(nlp.make_doc(t), nlp.make_doc(t)) for t in texts]
    with caplog.at_level(logging.WARNING, logger="spacy_textvae"):
        nlp.initialize(lambda: examples)
    assert "use_averages does not reach the 'textvae' component's VAE" in caplog.text
    optimizer = Adam(0.01, use_averages=True)
    for _ in range(3):
        for start in range(0, len(examples), 16):
            nlp.update(examples[start : start + 16], sgd=optimizer)
    module = get_module(nlp.get_pipe("textvae").model.get_ref("vae"))
    assert any(isinstance(key, tuple) and "encoder.hidden.0.weight" in key for key in optimizer.averages)
    latest = {name: value.clone() for name, value in module.state_dict().items()}
    with nlp.use_params(optimizer.averages):  # kept for the VAE's weights, never loaded
        inside = module.state_dict()
        assert all(torch.equal(inside[name], value) for name, value in latest.items())


def test_a_training_plan_shorter_than_the_schedule_is_reported(corpus, caplog):
    """nlp.initialize reads [training]: 4 updates of 16 over 90 docs are 0.7
    passes, fewer than the 7-epoch KL warm-up."""
    import logging

    from spacy.training import Example

    texts, _ = corpus
    nlp = spacy.blank("en")
    nlp.add_pipe("textvae", config=SMALL_CONFIG)
    nlp.config["training"]["max_steps"] = 4
    nlp.config["training"]["max_epochs"] = 0
    nlp.config["training"]["batcher"] = {"@batchers": "spacy.batch_by_sequence.v1", "size": 16, "get_length": None}
    examples = [Example(nlp.make_doc(t), nlp.make_doc(t)) for t in texts]
    with caplog.at_level(logging.WARNING, logger="spacy_textvae"):
        nlp.initialize(lambda: examples)
    assert "plans at most 0.71 passes over the 90 training docs" in caplog.text
    caplog.clear()
    nlp.config["training"]["max_epochs"] = 20
    nlp.config["training"]["max_steps"] = 0
    with caplog.at_level(logging.WARNING, logger="spacy_textvae"):
        nlp.initialize(lambda: examples)
    assert "plans at most" not in caplog.text
