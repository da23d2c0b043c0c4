"""A transformer as the component's own token-vector layer, saved without pickle.

`spacy-textvae.Tok2VecTransformer.v1` builds the same Thinc model as
`spacy-transformers.Tok2VecTransformer.v3`, but its Hugging Face shim saves
the transformer's weights as safetensors bytes and loads them with a strict
`load_state_dict`. spacy-transformers saves them with `torch.save` and loads
them with `torch.load`, which unpickles, and so runs code from the file,
under torch < 2.6 or with TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD set. Nothing in
this module calls `torch.load`.
"""
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Tuple

import srsly
import torch
from safetensors.torch import load as safetensors_load
from safetensors.torch import save as safetensors_save
from spacy.tokens import Doc, Span
from spacy.util import SimpleFrozenDict, make_tempdir
from thinc.api import Model, get_torch_default_device
from thinc.types import Floats2d, Ragged

from ..errors import TextVAEError
from .leading_tokens import with_leading_tokens

# spaCy loads every registered architecture's entry point to list the available
# names when a config names an unknown one, so this module must import without
# the optional spacy-transformers; the builder says how to install it.
try:
    from spacy_transformers.architectures import transformer_tok2vec_v3
    from spacy_transformers.data_classes import HFObjects
    from spacy_transformers.layers.hf_shim import HFShim
except ImportError:  # pragma: no cover - the test environment has the extra
    transformer_tok2vec_v3 = None
    HFObjects = None
    HFShim = object  # type: ignore[assignment,misc]

ARCHITECTURE = "spacy-textvae.Tok2VecTransformer.v1"
ARCHITECTURE_V2 = "spacy-textvae.Tok2VecTransformer.v2"
# Saved beside the weights, so a state from spacy-transformers' own shim (a
# torch.save pickle, no such key) is told apart without being parsed.
WEIGHTS_FORMAT_KEY = "weights_format"
WEIGHTS_FORMAT = "safetensors"
_NO_SETTINGS: Dict[str, Any] = SimpleFrozenDict()


def create_safe_tok2vec_transformer_v1(
    name: str,
    get_spans: Callable[[List[Doc]], List[List[Span]]],
    tokenizer_config: Dict[str, Any],
    pooling: Model[Ragged, Floats2d],
    grad_factor: float = 1.0,
    transformer_config: Dict[str, Any] = _NO_SETTINGS,
    mixed_precision: bool = False,
    grad_scaler_config: Dict[str, Any] = _NO_SETTINGS,
) -> Model[List[Doc], List[Floats2d]]:
    """A transformer as a token-vector layer of the component's own, exactly
    as `spacy-transformers.Tok2VecTransformer.v3` builds it (same arguments,
    same layers), except that its weights are saved as safetensors and never
    unpickled on loading.

    name (str): A Hugging Face model name or a local directory with its files.
    get_spans (Callable[[List[Doc]], List[List[Span]]]): Cuts each doc into the
        spans the transformer reads, e.g. `spacy-transformers.strided_spans.v1`.
    tokenizer_config (Dict[str, Any]): Settings for the Hugging Face tokenizer.
    pooling (Model[Ragged, Floats2d]): Reduces each token's word-piece vectors
        to one vector, e.g. `reduce_mean.v1`.
    grad_factor (float): Scales the gradient sent into the transformer.
    transformer_config (Dict[str, Any]): Settings for the transformer's forward pass.
    mixed_precision (bool): Half-precision autocast (GPU only).
    grad_scaler_config (Dict[str, Any]): Gradient scaling for mixed precision.
    RETURNS (Model[List[Doc], List[Floats2d]]): The token-vector layer.
    """
    if transformer_tok2vec_v3 is None:
        raise TextVAEError(
            f"{ARCHITECTURE} needs spacy-transformers, which is not installed. "
            "Install it with: pip install 'spacy-textvae[transformers]'."
        )
    # Copies: spacy-transformers writes into these dicts, and the defaults are frozen.
    model = transformer_tok2vec_v3(
        name,
        get_spans,
        dict(tokenizer_config),
        pooling,
        grad_factor,
        dict(transformer_config),
        mixed_precision,
        dict(grad_scaler_config),
    )
    return use_safe_shims(model)


def create_safe_tok2vec_transformer_v2(
    name: str,
    get_spans: Callable[[List[Doc]], List[List[Span]]],
    tokenizer_config: Dict[str, Any],
    pooling: Model[Ragged, Floats2d],
    max_tokens: int,
    grad_factor: float = 1.0,
    transformer_config: Dict[str, Any] = _NO_SETTINGS,
    mixed_precision: bool = False,
    grad_scaler_config: Dict[str, Any] = _NO_SETTINGS,
) -> Model[List[Doc], List[Floats2d]]:
    """`spacy-textvae.Tok2VecTransformer.v1` reading only the first
    `max_tokens` tokens of each doc (0: every token). A transformer's cost
    grows with the doc; sentence-embedding models are trained on, and used
    with, truncated input, and their pooled opening clusters a corpus as well
    as the whole doc does. The bag of words still counts every token.

    max_tokens (int): Tokens the transformer reads per doc; 0 reads all of them.
    The other arguments are those of `create_safe_tok2vec_transformer_v1`.
    RETURNS (Model[List[Doc], List[Floats2d]]): The token-vector layer: one row
        per token read.
    """
    transformer = create_safe_tok2vec_transformer_v1(
        name,
        get_spans,
        tokenizer_config,
        pooling,
        grad_factor,
        transformer_config,
        mixed_precision,
        grad_scaler_config,
    )
    return with_leading_tokens(transformer, max_tokens)


def use_safe_shims(model: Model) -> Model:
    """Make every spacy-transformers shim in `model` save and load its
    weights as safetensors. The shim keeps its state; only its serialisation
    methods change, so the model is otherwise exactly the one built.

    model (Model): A model built by spacy-transformers.
    RETURNS (Model): The same model.
    """
    n_swapped = 0
    for node in model.walk():
        for shim in node.shims:
            # Exact type: a subclass of spacy-transformers' shim may save
            # differently, and taking it over would lose that.
            if type(shim) is HFShim:
                shim.__class__ = SafeHFShim
                n_swapped += 1
    if n_swapped == 0:
        raise TextVAEError(
            f"{ARCHITECTURE} found no spacy-transformers shim in the model it built, so it "
            "cannot make it save without pickle. Use the spacy-transformers version this "
            "package supports (see setup.cfg)."
        )
    return model


class SafeHFShim(HFShim):  # type: ignore[misc,valid-type]
    """spacy-transformers' shim, saving the transformer's weights as
    safetensors bytes and loading them with a strict `load_state_dict`.

    The saved message has the parent's layout (config, tokenizer files, the
    init configs), so only the weights differ, plus `weights_format`.
    """

    def to_bytes(self) -> bytes:
        """Serialise the transformer's config, tokenizer files and weights.

        RETURNS (bytes): A msgpack message; the weights are safetensors bytes.
        """
        hf_model = self._hfmodel
        if hf_model.transformer is None:
            # Not initialised yet: only the settings to build it with later.
            msg = {
                "config": {},
                "state": b"",
                "tokenizer": {},
                "_init_tokenizer_config": dict(hf_model._init_tokenizer_config),
                "_init_transformer_config": dict(hf_model._init_transformer_config),
                WEIGHTS_FORMAT_KEY: WEIGHTS_FORMAT,
            }
            return srsly.msgpack_dumps(msg)
        msg = {
            "config": hf_model.transformer.config.to_dict(),
            "state": state_dict_to_safetensors(self._model.state_dict()),
            "tokenizer": _tokenizer_files(hf_model),
            "_init_tokenizer_config": {},
            "_init_transformer_config": {},
            WEIGHTS_FORMAT_KEY: WEIGHTS_FORMAT,
        }
        return srsly.msgpack_dumps(msg)

    def from_bytes(self, bytes_data: bytes) -> "SafeHFShim":
        """Load what `to_bytes` saved. A state in any other format (such as
        spacy-transformers' pickle) is refused before it is read.

        bytes_data (bytes): Data from `to_bytes`.
        RETURNS (SafeHFShim): self.
        """
        msg = srsly.msgpack_loads(bytes_data)
        if not isinstance(msg, dict):
            raise _damaged(f"it is a {type(msg).__name__}, not a mapping")
        state = msg.get("state", b"")
        if not isinstance(state, bytes):
            raise _damaged(f"its weights are a {type(state).__name__}, not bytes")
        # Told by the saved format key, never by sniffing the bytes: a
        # safetensors blob starts with its header's length, which can be any byte.
        if state and msg.get(WEIGHTS_FORMAT_KEY) != WEIGHTS_FORMAT:
            raise TextVAEError(
                f"The transformer weights in this model are not in the safetensors format "
                f"{ARCHITECTURE} saves (spacy-transformers saves them as a torch.save pickle), "
                "and loading a pickle can run code, so they were not loaded. Re-save the "
                "pipeline with this version of spacy-textvae: re-train it with the current "
                "configs, or convert a pipeline you trust as docs/model.md shows "
                "(\"Devices and serialisation\")."
            )
        config_dict = msg.get("config")
        if not config_dict:
            self._hfmodel = HFObjects(
                None,
                None,
                None,
                dict(msg.get("_init_tokenizer_config") or {}),
                dict(msg.get("_init_transformer_config") or {}),
            )
            return self
        if not isinstance(config_dict, dict):
            raise _damaged("its transformer config is not a mapping")
        tokenizer, vocab_file_contents, config = self._load_tokenizer_and_config(
            config_dict, msg.get("tokenizer")
        )
        transformer = self.model_cls.from_config(config, trust_remote_code=False)
        load_safetensors_state(transformer, state)
        transformer.to(get_torch_default_device())
        self._hfmodel = HFObjects(tokenizer, transformer, vocab_file_contents, SimpleFrozenDict(), SimpleFrozenDict())
        self._model = transformer
        return self

    def _load_tokenizer_and_config(self, config_dict: Dict[str, Any], tok_dict: Any) -> Tuple[Any, Any, Any]:
        """Rebuild the tokenizer and the transformer config from their saved files.
        RETURNS (Tuple[Any, Any, Any]): tokenizer, its vocab file's bytes (or None), config."""
        if not isinstance(tok_dict, dict):
            raise _damaged("its tokenizer files are not a mapping")
        tok_dict = dict(tok_dict)
        saved_kwargs = tok_dict.pop("kwargs", {})
        # Only use_fast is taken from the file: other keyword arguments (such as
        # trust_remote_code) would let a saved file decide what code runs.
        use_fast = bool(saved_kwargs.get("use_fast", True)) if isinstance(saved_kwargs, dict) else True
        with make_tempdir() as temp_dir:
            config_file = temp_dir / "config.json"
            srsly.write_json(config_file, config_dict)
            config = self.config_cls.from_pretrained(str(config_file), trust_remote_code=False)
            for file_name, file_bytes in tok_dict.items():
                _write_tokenizer_file(temp_dir, file_name, file_bytes)
            tokenizer = self.tokenizer_cls.from_pretrained(
                str(temp_dir.absolute()), use_fast=use_fast, trust_remote_code=False
            )
            vocab_file_contents = None
            if hasattr(tokenizer, "vocab_file"):
                vocab_file_name = tokenizer.vocab_files_names["vocab_file"]
                vocab_file_path = temp_dir / vocab_file_name
                if vocab_file_path.is_file():
                    vocab_file_contents = vocab_file_path.read_bytes()
        return tokenizer, vocab_file_contents, config


def state_dict_to_safetensors(state_dict: Mapping[str, torch.Tensor]) -> bytes:
    """Serialise a torch state dict as safetensors bytes, on the CPU.

    safetensors refuses tensors that share memory (tied weights) and
    non-contiguous ones, so those are copied; loading with `load_state_dict`
    fills tied parameters from either copy, and the copies are equal.

    state_dict (Mapping[str, torch.Tensor]): The module's state dict.
    RETURNS (bytes): The safetensors bytes.
    """
    tensors: Dict[str, torch.Tensor] = {}
    seen_storage = set()
    for key, value in state_dict.items():
        tensor = value.detach().to("cpu").contiguous()
        storage = tensor.untyped_storage().data_ptr()
        if storage in seen_storage:
            tensor = tensor.clone()
        seen_storage.add(tensor.untyped_storage().data_ptr())
        tensors[key] = tensor
    return safetensors_save(tensors)


def load_safetensors_state(module: torch.nn.Module, state: bytes) -> None:
    """Load safetensors bytes into `module` with a strict `load_state_dict`:
    every saved tensor must be one of the module's, with its shape, and every
    one of the module's must be saved.

    module (torch.nn.Module): The freshly built transformer.
    state (bytes): Bytes from `state_dict_to_safetensors`.
    """
    try:
        tensors = safetensors_load(state)
    except Exception as e:  # safetensors raises its own error types for bad headers
        raise _damaged(f"its weights are not valid safetensors ({type(e).__name__}: {e})") from e
    try:
        module.load_state_dict(tensors, strict=True)
    except RuntimeError as e:
        raise TextVAEError(
            f"The saved transformer weights do not fit the transformer they were saved with ({e}). "
            "The file is damaged or was saved with another version of transformers: "
            "save the pipeline again with the installed versions, or re-train it."
        ) from e


def _tokenizer_files(hf_model: Any) -> Dict[str, Any]:
    """The tokenizer's files as `save_pretrained` writes them, keyed by file
    name, plus the keyword arguments to load it with (the parent's layout)."""
    tokenizer = hf_model.tokenizer
    files: Dict[str, Any] = {"kwargs": {"use_fast": tokenizer.is_fast}}
    with make_tempdir() as temp_dir:
        if hasattr(tokenizer, "vocab_file") and hf_model.vocab_file_contents is not None:
            # A tokenizer loaded from bytes points at a temporary file that is
            # gone by now; save_pretrained copies the vocab from that path.
            vocab_file_name = tokenizer.vocab_files_names["vocab_file"]
            vocab_file_path = temp_dir / vocab_file_name
            vocab_file_path.write_bytes(hf_model.vocab_file_contents)
            tokenizer.vocab_file = str(vocab_file_path.absolute())
        tokenizer.save_pretrained(str(temp_dir.absolute()))
        for path in temp_dir.glob("**/*"):
            if path.is_file():
                files[path.name] = path.read_bytes()
    return files


def _write_tokenizer_file(directory: Path, file_name: Any, file_bytes: Any) -> None:
    """Write one saved tokenizer file, refusing names that would land outside
    `directory` (a saved file must not choose where it is written)."""
    if (
        not isinstance(file_name, str)
        or not isinstance(file_bytes, bytes)
        or file_name in ("", ".", "..")
        or Path(file_name).name != file_name
        or "\\" in file_name
    ):
        raise _damaged(f"its tokenizer files include a bad entry {str(file_name)[:80]!r}")
    (directory / file_name).write_bytes(file_bytes)


def _damaged(what: str) -> TextVAEError:
    """The error for a saved transformer that cannot be read; `what` says why."""
    return TextVAEError(
        f"The saved transformer of this model is damaged: {what}. "
        "Save the pipeline again from the trained one, or re-train it."
    )
