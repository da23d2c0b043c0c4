"""`spacy train` trains the component from a config, with thinc's optimizer."""
import subprocess
import sys

import numpy
import pytest
import spacy
from spacy.tokens import DocBin

from ..conftest import make_corpus

CONFIG = """
[paths]
train = null
dev = null

[nlp]
lang = "en"
pipeline = ["textvae"]
batch_size = 64

[components]

[components.textvae]
factory = "textvae"
n_topics = 6
n_clusters = 3
kl_warmup_epochs = 2.0
prior_fit_epochs = 1.0

[corpora]

[corpora.train]
@readers = "spacy.Corpus.v1"
path = ${paths.train}

[corpora.dev]
@readers = "spacy.Corpus.v1"
path = ${paths.dev}

[training]
max_steps = 100
eval_frequency = 10
seed = 0

[training.batcher]
@batchers = "spacy.batch_by_sequence.v1"
size = 16

[training.optimizer]
@optimizers = "Adam.v1"
learn_rate = 0.002
L2 = 0.0

[training.score_weights]
textvae_npmi = 0.5
textvae_diversity = 0.5
"""


def train_command(tmp_path, texts, *overrides):
    """Write train/dev corpora and the filled config; RETURNS the `spacy train` command."""
    nlp = spacy.blank("en")
    for name, chunk in (("train", texts[:30]), ("dev", texts[30:])):
        DocBin(docs=[nlp.make_doc(t) for t in chunk]).to_disk(tmp_path / f"{name}.spacy")
    # As `spacy init fill-config` does: fill in every default of the partial config.
    (tmp_path / "partial.cfg").write_text(CONFIG, encoding="utf8")
    fill = [sys.executable, "-m", "spacy", "init", "fill-config", str(tmp_path / "partial.cfg"),
            str(tmp_path / "config.cfg")]
    assert subprocess.run(fill, capture_output=True, timeout=120).returncode == 0
    return [
        sys.executable, "-m", "spacy", "train", str(tmp_path / "config.cfg"),
        "--output", str(tmp_path / "out"),
        "--paths.train", str(tmp_path / "train.spacy"),
        "--paths.dev", str(tmp_path / "dev.spacy"),
        "--training.max_steps", "20",
        *overrides,
    ]


def test_spacy_train(tmp_path):
    texts, labels = make_corpus(n_per_theme=12)
    cmd = train_command(tmp_path, texts, "--components.textvae.n_topics", "5")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    # The score columns spacy train prints come from the component's scorer.
    assert "TEXTVAE" in out.stdout.upper()
    trained = spacy.load(tmp_path / "out" / "model-last")
    doc = trained(texts[0])
    # The command-line override reached the component.
    assert doc._.topics.shape == (5,) and abs(float(doc._.topics.sum()) - 1) < 1e-5
    # spacy train stops after step max_steps (counted from 0).
    assert trained.get_pipe("textvae").cfg["step"] in (20, 21)
    assert numpy.isfinite(doc._.latent).all()
    assert (tmp_path / "out" / "model-best").exists()


def test_spacy_train_never_saves_a_diverged_model(tmp_path):
    """An optimizer step that makes the weights non-finite stops `spacy train`
    with a message saying so, and no model with NaN is written."""
    texts, _ = make_corpus(n_per_theme=12)
    # Adam's steps are about learn_rate in size: this one overflows float32.
    cmd = train_command(tmp_path, texts, "--training.optimizer.learn_rate", "1e39", "--training.optimizer.grad_clip", "0")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    assert "Training diverged" in " ".join((out.stdout + out.stderr).split())
    from spacy_textvae import TextVAEError

    # spacy train tries to save model-last on the error: textvae refuses to write
    # its non-finite weights, so what is there does not load, and says why.
    for name in ("model-last", "model-best"):
        path = tmp_path / "out" / name
        if path.exists():
            try:
                loaded = spacy.load(path)
            except TextVAEError as e:
                assert "saving it did not complete" in str(e)
            else:
                assert numpy.isfinite(loaded(texts[0])._.latent).all()


@pytest.mark.parametrize(
    "overrides,message",
    [
        # Evaluated at step 0 only, fitted after it: model-best is that early snapshot.
        (["--training.eval_frequency", "50"], "model-best is that early snapshot"),
        # Ends before the prior is fitted.
        (["--components.textvae.prior_fit_epochs", "100"], "before its mixture prior is fitted"),
    ],
    ids=["never-evaluated-after-the-fit", "too-short-for-the-prior"],
)
def test_spacy_train_says_when_model_best_cannot_be_trusted(tmp_path, overrides, message):
    texts, _ = make_corpus(n_per_theme=12)
    out = subprocess.run(train_command(tmp_path, texts, *overrides), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert message in " ".join((out.stdout + out.stderr).split())


def test_spacy_train_best_model_is_fitted(tmp_path):
    """With an evaluation after the fit, model-best is never an unfitted snapshot."""
    texts, _ = make_corpus(n_per_theme=12)
    out = subprocess.run(train_command(tmp_path, texts), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "model-best is that early snapshot" not in out.stdout + out.stderr
    best = spacy.load(tmp_path / "out" / "model-best").get_pipe("textvae")
    assert best.cfg["prior_fitted"] and best.cfg["step"] > 1
