"""spacy-textvae.Tok2VecTransformer.v1: a transformer inside the component whose
weights are saved as safetensors, so loading never unpickles, whatever the
torch version. The transformer is the tiny offline BERT of conftest.py."""
import hashlib
import io
import json
import shutil
import struct
from pathlib import Path

import numpy
import pytest
import spacy
import srsly
from spacy.training import Example

from spacy_textvae.errors import TextVAEError
from spacy_textvae.layers.safe_transformer import SafeHFShim, use_safe_shims

from ..conftest import build_tiny_bert, make_corpus

pytest.importorskip("spacy_transformers")
torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parents[2]

SAFE_TRF_CONFIG = """
[nlp]
lang = "en"
pipeline = ["textvae"]

[components]

[components.textvae]
factory = "textvae"
n_topics = 4
n_clusters = 2
kl_warmup_epochs = 2.0
prior_fit_epochs = 0.1

[components.textvae.model]
@architectures = "spacy-textvae.TextVAE.v4"
grad_factor = 0.0
pooling = "mean"

[components.textvae.model.tok2vec]
@architectures = "spacy-textvae.Tok2VecTransformer.v1"
name = "MODEL_PATH"
grad_factor = 1.0
tokenizer_config = {"use_fast": true}

[components.textvae.model.tok2vec.get_spans]
@span_getters = "spacy-transformers.strided_spans.v1"
window = 64
stride = 48

[components.textvae.model.tok2vec.pooling]
@layers = "reduce_mean.v1"
"""

# What a torch.save pickle of a state dict holds, in any pickle protocol.
PICKLE_MARKERS = (b"torch._utils", b"_rebuild_tensor", b"data.pkl", b"OrderedDict")


class WritesMarker:
    """Unpickling it opens (so creates) the marker file: a stand-in for any code."""

    def __init__(self, path):
        self.path = str(path)

    def __reduce__(self):
        return (open, (self.path, "w"))


@pytest.fixture(scope="module")
def saved_pipeline(tmp_path_factory):
    """A textvae pipeline over the safe transformer, trained for 2 updates and
    saved. RETURNS (path, texts, latents before saving); the tiny BERT is in
    path.parent / "bert"."""
    root = tmp_path_factory.mktemp("safe_trf")
    texts, _ = make_corpus(n_per_theme=4)
    words = {w.lower().strip(".,") for t in texts for w in t.split()}
    bert = build_tiny_bert(root / "bert", words)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        spacy.util.fix_random_seed(0)
        config = spacy.util.load_config_from_str(SAFE_TRF_CONFIG.replace("MODEL_PATH", str(bert)))
        nlp = spacy.util.load_model_from_config(config, auto_fill=True, validate=True)
        examples = [Example(nlp.make_doc(t), nlp.make_doc(t)) for t in texts]
        optimizer = nlp.initialize(lambda: examples)
        for i in range(2):
            losses = nlp.update(examples[i * 6:(i + 1) * 6], sgd=optimizer)
            assert numpy.isfinite(losses["textvae"])
        latents = [doc._.latent.copy() for doc in nlp.pipe(texts[:4])]
        nlp.to_disk(root / "pipeline")
    return root / "pipeline", texts[:4], latents


def transformer_shim_messages(model_bytes):
    """RETURNS (dict, list): the textvae model's msgpack message, and (node, shim,
    decoded message) for each shim of the safe transformer in it."""
    msg = srsly.msgpack_loads(model_bytes)
    found = []
    for n, node_shims in enumerate(msg["shims"]):
        for s, shim_bytes in enumerate(node_shims):
            try:
                shim_msg = srsly.msgpack_loads(shim_bytes)
            except Exception:
                continue
            if isinstance(shim_msg, dict) and "tokenizer" in shim_msg and "state" in shim_msg:
                found.append((n, s, shim_msg))
    return msg, found


def rewrite_model(pipeline_dir, edit_shim_msg):
    """Rewrite the transformer shim's message in pipeline_dir's textvae/model
    with `edit_shim_msg`, as an attacker would: a checksum saved beside the
    model (in textvae/cfg) is recomputed too, so what is tested is the loader."""
    model_file = pipeline_dir / "textvae" / "model"
    old_bytes = model_file.read_bytes()
    msg, found = transformer_shim_messages(old_bytes)
    assert len(found) == 1
    n, s, shim_msg = found[0]
    edit_shim_msg(shim_msg)
    msg["shims"][n][s] = srsly.msgpack_dumps(shim_msg)
    new_bytes = srsly.msgpack_dumps(msg)
    model_file.write_bytes(new_bytes)
    cfg_file = pipeline_dir / "textvae" / "cfg"
    old_digest = hashlib.sha256(old_bytes).hexdigest()
    cfg = srsly.read_json(cfg_file)
    cfg = {k: hashlib.sha256(new_bytes).hexdigest() if v == old_digest else v for k, v in cfg.items()}
    srsly.write_json(cfg_file, cfg)


def plant(pipeline_dir, new_state, keep_format_key=True):
    """Replace the transformer's saved weights in pipeline_dir's textvae/model."""

    def edit(shim_msg):
        shim_msg["state"] = new_state
        if not keep_format_key:
            del shim_msg["weights_format"]

    rewrite_model(pipeline_dir, edit)


def torch_save_bytes(obj):
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def test_round_trip_identical_and_no_pickle(saved_pipeline, monkeypatch):
    path, texts, latents = saved_pipeline
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    nlp = spacy.load(path)
    for before, doc in zip(latents, nlp.pipe(texts)):
        numpy.testing.assert_array_equal(before, doc._.latent)
    raw = (path / "textvae" / "model").read_bytes()
    for marker in PICKLE_MARKERS:
        assert marker not in raw
    _, found = transformer_shim_messages(raw)
    assert len(found) == 1
    state = found[0][2]["state"]
    assert found[0][2]["weights_format"] == "safetensors"
    # safetensors: an 8-byte little-endian header length, then a JSON header.
    (header_len,) = struct.unpack("<Q", state[:8])
    header = json.loads(state[8:8 + header_len])
    assert any(key.startswith("encoder.layer.") for key in header)
    assert not state.startswith(b"PK\x03\x04")  # not torch.save's zip archive


def test_config_trf_uses_the_safe_transformer():
    config = spacy.util.load_config(ROOT / "configs" / "trf.cfg", interpolate=False)
    arch = config["components"]["textvae"]["model"]["tok2vec"]["@architectures"]
    assert arch == "spacy-textvae.Tok2VecTransformer.v2"
    # The transformer reads a bounded opening of each doc, one window of it.
    tok2vec = config["components"]["textvae"]["model"]["tok2vec"]
    assert 0 < tok2vec["max_tokens"] <= tok2vec["get_spans"]["window"]


@pytest.mark.parametrize("keep_format_key", [True, False], ids=["planted", "old_format"])
def test_planted_pickle_is_refused_and_never_run(saved_pipeline, tmp_path, monkeypatch, keep_format_key):
    """A pickle in the transformer's weights, as torch.save writes it, does not
    run on spacy.load even when torch is told to unpickle by default."""
    path, _, _ = saved_pipeline
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    marker = tmp_path / "payload_ran"
    payload = torch_save_bytes(WritesMarker(marker))
    # The payload is live: torch.load, as spacy-transformers calls it, runs it here.
    with pytest.warns(UserWarning, match="TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"):
        torch.load(io.BytesIO(payload))
    assert marker.exists()
    marker.unlink()

    planted = tmp_path / "pipeline"
    shutil.copytree(path, planted)
    plant(planted, payload, keep_format_key=keep_format_key)
    with pytest.raises(TextVAEError) as excinfo:
        spacy.load(planted)
    assert not marker.exists()
    message = str(excinfo.value)
    assert message.startswith("[textvae]")
    if keep_format_key:
        assert "not valid safetensors" in message
    else:
        assert "Re-save the pipeline" in message


def test_old_format_weights_are_refused(saved_pipeline, tmp_path, monkeypatch):
    """Genuine weights in spacy-transformers' format (a torch.save pickle) are
    not loaded either: the pipeline must be saved again in the safe format."""
    path, _, _ = saved_pipeline
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    nlp = spacy.load(path)
    (shim,) = [s for node in nlp.get_pipe("textvae").model.walk() for s in node.shims if hasattr(s, "_hfmodel")]
    old_state = torch_save_bytes(shim._model.state_dict())
    planted = tmp_path / "pipeline"
    shutil.copytree(path, planted)
    plant(planted, old_state, keep_format_key=False)
    with pytest.raises(TextVAEError, match="Re-save the pipeline"):
        spacy.load(planted)


def test_tokenizer_file_names_cannot_leave_the_temporary_directory(saved_pipeline, tmp_path, monkeypatch):
    path, _, _ = saved_pipeline
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    planted = tmp_path / "pipeline"
    shutil.copytree(path, planted)
    outside = tmp_path / "written_outside"
    rewrite_model(planted, lambda shim_msg: shim_msg["tokenizer"].update({"../" * 12 + str(outside)[1:]: b"x"}))
    with pytest.raises(TextVAEError, match="bad entry"):
        spacy.load(planted)
    assert not outside.exists()


def test_converting_a_v3_pipeline(saved_pipeline, tmp_path, monkeypatch):
    """The conversion docs/model.md describes: a trusted pipeline saved with
    spacy-transformers' layer, loaded, given the safe shims and saved, loads
    with the safe layer and gives the same outputs."""
    path, texts, _ = saved_pipeline
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    spacy.util.fix_random_seed(0)
    config_str = SAFE_TRF_CONFIG.replace("MODEL_PATH", str(path.parent / "bert"))
    config_str = config_str.replace("spacy-textvae.Tok2VecTransformer.v1", "spacy-transformers.Tok2VecTransformer.v3")
    nlp = spacy.util.load_model_from_config(spacy.util.load_config_from_str(config_str), auto_fill=True)
    examples = [Example(nlp.make_doc(t), nlp.make_doc(t)) for t in texts]
    nlp.update(examples, sgd=nlp.initialize(lambda: examples))
    nlp.to_disk(tmp_path / "v3")

    old = spacy.load(tmp_path / "v3")
    expected = [doc._.latent for doc in old.pipe(texts)]
    use_safe_shims(old.get_pipe("textvae").model)
    old.to_disk(tmp_path / "converted")
    config_file = tmp_path / "converted" / "config.cfg"
    config_text = config_file.read_text().replace(
        "spacy-transformers.Tok2VecTransformer.v3", "spacy-textvae.Tok2VecTransformer.v1"
    )
    config_file.write_text(config_text)
    converted = spacy.load(tmp_path / "converted")
    for before, doc in zip(expected, converted.pipe(texts)):
        numpy.testing.assert_array_equal(before, doc._.latent)
    shims = [type(s) for node in converted.get_pipe("textvae").model.walk() for s in node.shims]
    assert SafeHFShim in shims
