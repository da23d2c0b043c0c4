"""The training configs in configs/: each passes `spacy debug config`, names
the component `textvae` with n_topics/n_clusters in its own block (so
`--components.textvae.n_topics=50` works), and trains for a couple of steps."""
import json
from pathlib import Path

import pytest
import spacy
from spacy.cli.debug_config import debug_config
from spacy.cli.train import train
from spacy.util import load_config, load_model_from_config

from spacy_textvae.project.corpus import preprocess_corpus
from spacy_textvae.project.demo_corpus import generate_demo_docs

from .conftest import build_tiny_bert

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = ROOT / "configs"
CONFIGS = ["cpu", "shared", "trf"]
# Configs of pipelines around textvae, tested where their feature is.
OTHER_CONFIGS = ["textcat_features"]


def config_path(name: str) -> Path:
    return CONFIG_DIR / f"{name}.cfg"


@pytest.fixture(scope="module")
def spacy_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    records = list(generate_demo_docs(n_docs=40, seed=5, themes=["space", "cooking", "finance", "music"]))
    src = root / "demo.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf8")
    preprocess_corpus(src, root / "train.spacy", root / "dev.spacy", dev_share=0.25, progress=False)
    return root


@pytest.fixture(scope="module")
def tiny_bert(tmp_path_factory):
    """A randomly initialised two-layer BERT with a word-piece tokenizer, built
    offline and saved like a Hugging Face model directory."""
    pytest.importorskip("spacy_transformers")
    path = tmp_path_factory.mktemp("tiny_bert")
    # Whole words of the demo corpus, so a 128-token span stays well under 512 pieces.
    words = set()
    for record in generate_demo_docs(n_docs=200, seed=0):
        words.update(w for w in record["text"].lower().replace(".", " ").replace(",", " ").split() if w.isalpha())
    return build_tiny_bert(path, words)


def overrides_for(name: str, corpus: Path, tiny_bert_path=None) -> dict:
    overrides = {"paths.train": str(corpus / "train.spacy"), "paths.dev": str(corpus / "dev.spacy")}
    if name == "trf" and tiny_bert_path is not None:
        overrides["paths.transformer"] = str(tiny_bert_path)
    return overrides


def test_configs_present():
    assert sorted(p.stem for p in CONFIG_DIR.glob("*.cfg")) == sorted(CONFIGS + OTHER_CONFIGS)


@pytest.mark.parametrize("name", CONFIGS)
def test_debug_config_passes(name, spacy_corpus, capsys):
    if name == "trf":
        pytest.importorskip("spacy_transformers")
    debug_config(config_path(name), overrides=overrides_for(name, spacy_corpus))  # exits if invalid
    assert "Config is valid" in capsys.readouterr().out


@pytest.mark.parametrize("name", CONFIGS)
def test_textvae_block_and_command_line_override(name):
    if name == "trf":
        pytest.importorskip("spacy_transformers")
    plain = load_config(config_path(name))
    block = plain["components"]["textvae"]
    assert block["factory"] == "textvae"
    assert isinstance(block["n_topics"], int) and block["n_topics"] >= 2
    assert isinstance(block["n_clusters"], int) and block["n_clusters"] >= 1
    assert plain["training"]["optimizer"]["L2"] == 0.0
    assert plain["training"]["batcher"]["size"] >= 32  # batch-norm needs real batches
    # Model selection follows the dev perplexity gain, not the noisy dev NPMI.
    assert plain["training"]["score_weights"]["textvae_perplexity_gain"] > 0
    assert not plain["training"]["score_weights"]["textvae_npmi"]
    # The same override spacy train gets from `--components.textvae.n_topics=50`.
    config = load_config(
        config_path(name),
        overrides={"components.textvae.n_topics": 50, "components.textvae.n_clusters": 7},
        interpolate=False,
    )
    nlp = load_model_from_config(config, auto_fill=True, validate=True)
    pipe = nlp.get_pipe("textvae")
    assert (pipe.n_topics, pipe.n_clusters) == (50, 7)


@pytest.mark.parametrize("name", CONFIGS)
def test_config_trains_a_few_steps(name, spacy_corpus, tmp_path, request):
    tiny = request.getfixturevalue("tiny_bert") if name == "trf" else None
    overrides = overrides_for(name, spacy_corpus, tiny)
    overrides.update(
        {
            "training.max_steps": 2,
            "training.eval_frequency": 1,
            "components.textvae.n_topics": 4,
            "components.textvae.n_clusters": 4,
            "components.textvae.prior_fit_epochs": 0.01,
            "training.batcher.size": 16,
        }
    )
    train(config_path(name), tmp_path / "out", use_gpu=-1, overrides=overrides)
    nlp = spacy.load(tmp_path / "out" / "model-last")
    doc = nlp("The rocket reached orbit and the band played a song.")
    assert doc._.topics.shape == (4,)
    assert abs(float(doc._.topics.sum()) - 1.0) < 1e-4
    assert 0 <= doc._.cluster < 4
    if name == "shared":
        assert set(doc.cats) == {"space", "cooking", "finance", "music"}
