"""The torch VAE as a Thinc layer: PyTorchShim, converters, and pickle-free
(de)serialisation that rebuilds the module from the saved sizes.

The layer exists before its torch module does: the module's sizes (the
pooled width, the topic vocabulary) are known only from data. `build_module`
makes it once they are; loading makes it from the sizes saved beside the
weights, so a model can be loaded without being initialised first.
"""
from dataclasses import asdict, dataclass, fields
from functools import partial
from typing import Any, Callable, Dict, List, Optional, Tuple, cast

import numpy
import srsly
import torch
from thinc.api import ArgsKwargs, Model, get_torch_default_device, torch2xp, xp2torch
from thinc.layers.pytorchwrapper import forward as pytorch_forward
from thinc.shims import PyTorchShim
from thinc.types import Floats1d, Floats2d

from ..errors import NonFiniteBatchError, TextVAEError
from ..nn import SparseCounts, TextVAEModule, build_text_vae
from .bag_of_words import BagOfWords
from .torch_threads import apply_torch_threads

CLUSTER_MEANS_SETTINGS = ("auto", "free", "mixtures", "topics")


@dataclass(frozen=True)
class VAESettings:
    """The VAE's settings from the architecture's config (see
    `spacy-textvae.TextVAE.v4`). Frozen and not msgpack-encodable, so a saved
    model never carries a copy: the config in force is their one source."""

    hidden_width: int
    dropout: float
    word_dropout: float
    encoder_bow: bool
    decoder: str
    word_embedding_width: int
    decoder_temperature: float
    ecr_weight: float
    decoder_batchnorm: bool
    decoder_background: bool
    cluster_means: str
    mixed_precision: bool
    pooled_weight: float

    def resolve_cluster_means(self, n_topics: int, n_clusters: int) -> str:
        """RETURNS (str): "free", "mixtures" or "topics" ("auto": "topics" when
        there is one cluster per topic, else "mixtures")."""
        if self.cluster_means == "auto":
            return "topics" if n_clusters == n_topics else "mixtures"
        if self.cluster_means == "topics" and n_clusters != n_topics:
            raise TextVAEError(
                f'cluster_means = "topics" ties one cluster to each topic, so it needs '
                f"n_clusters == n_topics (here {n_clusters} and {n_topics}). Set them equal or use "
                'cluster_means = "mixtures" (or "auto") in [components.textvae.model].'
            )
        return self.cluster_means


@dataclass(frozen=True)
class StepState:
    """Per-update training state: the KL weight of the warm-up, the
    temperature of q(c | x), and the batch's neighbour targets with their
    weight (none: no neighbour term). Set once per update by `set_step_state`."""

    kl_weight: float = 1.0
    cluster_temperature: float = 1.0
    neighbour_targets: Optional[Floats2d] = None
    neighbour_weight: float = 0.0


@dataclass
class VAEOutput:
    """What the model returns for a batch of docs (arrays on the current ops' device).

    latent: (batch, n_topics) posterior means μ.
    topics: (batch, n_topics) topic proportions softmax(μ) (softmax(z) in training).
    cluster_probs: (batch, n_clusters) p(cluster | μ).
    loss: (batch,) negative ELBO (reconstruction + weighted KL) per doc.
    recon: (batch,) reconstruction loss per doc.
    kl: (batch,) KL divergence per doc.
    n_words: (batch,) in-vocabulary word counts per doc.
    """

    latent: Floats2d
    topics: Floats2d
    cluster_probs: Floats2d
    loss: Floats1d
    recon: Floats1d
    kl: Floats1d
    n_words: Floats1d

    @classmethod
    def concatenate(cls, outputs: List["VAEOutput"], xp: Any) -> "VAEOutput":
        """RETURNS (VAEOutput): the outputs of consecutive batches as one."""
        return cls(**{f.name: xp.concatenate([getattr(o, f.name) for o in outputs]) for f in fields(cls)})

    @classmethod
    def allocate(cls, like: "VAEOutput", n_docs: int, xp: Any) -> "VAEOutput":
        """RETURNS (VAEOutput): uninitialised arrays for n_docs, shaped and typed as `like`'s."""
        return cls(
            **{f.name: xp.empty((n_docs,) + getattr(like, f.name).shape[1:], dtype=getattr(like, f.name).dtype)
               for f in fields(cls)}
        )

    def write(self, start: int, part: "VAEOutput") -> None:
        """Copy the output of the docs from `start` on into this one."""
        for f in fields(self):
            values = getattr(part, f.name)
            getattr(self, f.name)[start : start + values.shape[0]] = values


def build_torch_vae(settings: VAESettings) -> Model[Tuple[Floats2d, BagOfWords], VAEOutput]:
    """The VAE layer: (pooled vectors, sparse bag-of-words counts) → `VAEOutput`.
    Its torch module is made by `build_module` or by loading.

    settings (VAESettings): The architecture's settings.
    RETURNS (Model[Tuple[Floats2d, BagOfWords], VAEOutput]): The layer.
    """
    shim = PyTorchShim(
        None,
        mixed_precision=settings.mixed_precision,
        serialize_model=serialize_state,
        deserialize_model=partial(deserialize_state, settings),
    )
    return Model(
        "textvae_vae",
        forward,
        shims=[shim],
        dims={"nI": None, "nV": None, "nO": None, "nC": None},
        attrs={
            "settings": settings,
            "step": StepState(),
            "convert_inputs": _convert_inputs,
            "convert_outputs": _convert_outputs,
        },
    )


def get_module(model: Model) -> Optional[TextVAEModule]:
    """RETURNS (Optional[TextVAEModule]): The layer's torch module; None before
    it is built or loaded."""
    return model.shims[0]._model


# Rows of θ decoded per call: bounds the (rows × vocabulary) array held at once.
_DECODE_ROWS = 256


def decode_word_log_probs(module: TextVAEModule, theta: numpy.ndarray) -> numpy.ndarray:
    """log p(word | θ) of the module's decoder in inference mode, in blocks of rows.

    theta (numpy.ndarray): (n, n_topics) topic proportions.
    RETURNS (numpy.ndarray): float32 (n, n_vocab).
    """
    theta = numpy.asarray(theta, dtype="float32").reshape(-1, module.prior.n_latent)
    device = module.latent_buffer.device
    parts = [numpy.zeros((0, module.decoder.n_vocab), dtype="float32")]
    for start in range(0, theta.shape[0], _DECODE_ROWS):
        rows = torch.as_tensor(theta[start : start + _DECODE_ROWS], device=device)
        parts.append(module.word_log_probs(rows).cpu().numpy())
    return numpy.concatenate(parts)


def read_prior(module: TextVAEModule) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """RETURNS (Tuple[numpy.ndarray, numpy.ndarray]): the mixture prior's means,
    float32 (n_clusters, n_topics), and its shared variance, float32 (n_topics,)."""
    with torch.no_grad():
        means = module.prior.means().detach().float().cpu().numpy()
        variance = module.prior.variance().detach().float().reshape(-1).cpu().numpy()
    return means, variance


def build_module(
    model: Model,
    *,
    n_inputs: int,
    n_vocab: int,
    n_topics: int,
    n_clusters: int,
    background: Optional[numpy.ndarray],
    word_embeddings: Optional[numpy.ndarray],
) -> TextVAEModule:
    """Make the layer's torch module for these sizes (replacing any) and set the dims.

    background (Optional[numpy.ndarray]): (n_vocab,) log corpus frequencies,
        used when the settings ask for a background.
    word_embeddings (Optional[numpy.ndarray]): (n_vocab, width), needed by the
        embedding decoder.
    RETURNS (TextVAEModule): The module, on thinc's current torch device.
    """
    settings: VAESettings = model.attrs["settings"]
    if settings.mixed_precision and model.ops.device_type != "gpu":
        raise TextVAEError(
            "mixed_precision needs a GPU: call spacy.require_gpu() before building the "
            "pipeline, or set mixed_precision = false in [components.textvae.model]."
        )
    sizes = {"n_inputs": n_inputs, "n_vocab": n_vocab, "n_topics": n_topics, "n_clusters": n_clusters}
    bg = None
    if settings.decoder_background and background is not None:
        bg = torch.as_tensor(numpy.asarray(background, dtype="float32"))
    emb = None
    if word_embeddings is not None:
        emb = torch.as_tensor(numpy.asarray(word_embeddings, dtype="float32"))
    module = _build(settings, sizes, background=bg, word_embeddings=emb)
    _set_module(model, module, sizes)
    return module


def _build(settings: VAESettings, sizes: Dict[str, int], background, word_embeddings) -> TextVAEModule:
    try:
        return build_text_vae(
            n_inputs=sizes["n_inputs"],
            n_vocab=sizes["n_vocab"],
            n_topics=sizes["n_topics"],
            n_clusters=sizes["n_clusters"],
            hidden_width=settings.hidden_width,
            dropout=settings.dropout,
            use_counts=settings.encoder_bow,
            word_dropout=settings.word_dropout,
            decoder=settings.decoder,
            word_embeddings=word_embeddings if settings.decoder == "embedding" else None,
            decoder_temperature=settings.decoder_temperature,
            ecr_weight=settings.ecr_weight,
            decoder_batchnorm=settings.decoder_batchnorm,
            background=background,
            cluster_means=settings.resolve_cluster_means(sizes["n_topics"], sizes["n_clusters"]),
            pooled_weight=settings.pooled_weight,
        )
    except TextVAEError:
        raise
    except ValueError as e:
        raise TextVAEError(f"Cannot build the VAE: {e} Check [components.textvae.model].") from e


def _set_module(model: Model, module: TextVAEModule, sizes: Dict[str, int]) -> None:
    module.to(get_torch_default_device())
    model.shims[0]._model = module
    model.set_dim("nI", sizes["n_inputs"], force=True)
    model.set_dim("nV", sizes["n_vocab"], force=True)
    model.set_dim("nO", sizes["n_topics"], force=True)
    model.set_dim("nC", sizes["n_clusters"], force=True)


@dataclass
class _Snapshot:
    """The module's buffers before the current training step (not serialised)."""

    state: Dict[str, Any]


def forward(model: Model, X: Tuple[Floats2d, BagOfWords], is_train: bool) -> Tuple[VAEOutput, Callable]:
    """The wrapped module's forward. In training, a batch whose inputs, loss or
    gradients are not finite raises `NonFiniteBatchError` before it changes
    anything that `discard_update` cannot put back."""
    apply_torch_threads(model.attrs.get("torch_threads"))
    if not is_train:
        return pytorch_forward(model, X, is_train)
    module = get_module(model)
    model.attrs["snapshot"] = _Snapshot(module.snapshot())
    xp = model.ops.xp
    pooled, counts = X
    if not (bool(xp.isfinite(pooled).all()) and bool(xp.isfinite(counts.values).all())):
        raise NonFiniteBatchError("token vectors")
    output, backprop = pytorch_forward(model, X, is_train)
    if not bool(xp.isfinite(output.loss).all()):
        raise NonFiniteBatchError("loss")

    def guarded_backprop(d_loss: Floats1d) -> Floats2d:
        d_pooled = backprop(d_loss)
        if not (module.gradients_are_finite() and bool(xp.isfinite(d_pooled).all())):
            raise NonFiniteBatchError("gradients")
        return d_pooled

    return output, guarded_backprop


def discard_update(model: Model) -> None:
    """Undo the current training step: put back the buffers as they were before
    its forward pass and drop the gradients."""
    snapshot = model.attrs.get("snapshot")
    module = get_module(model)
    if snapshot is not None and module is not None:
        module.restore(snapshot.state)


def _convert_inputs(model: Model, X: Tuple[Floats2d, BagOfWords], is_train: bool):
    pooled, counts = X
    step: StepState = model.attrs["step"] if is_train else StepState()
    device = model.shims[0].device
    pooled_t = xp2torch(pooled, requires_grad=is_train, device=device)
    cells = (counts.rows, counts.cols, counts.values, counts.offsets)
    counts_t = SparseCounts(*(xp2torch(a, device=device) for a in cells))

    def reverse(d_inputs: ArgsKwargs) -> Floats2d:
        d_pooled = d_inputs.args[0]
        if d_pooled is None:
            return model.ops.alloc2f(*pooled.shape)
        return cast(Floats2d, torch2xp(d_pooled))

    # The mode is an argument: inference never reads or changes the module's
    # global train/eval flag, so threads can share the module.
    kwargs = {"kl_weight": step.kl_weight, "cluster_temperature": step.cluster_temperature, "train": is_train}
    if is_train and step.neighbour_targets is not None and step.neighbour_weight > 0:
        if step.neighbour_targets.shape[0] != pooled.shape[0]:
            raise TextVAEError(
                f"The neighbour targets are for {step.neighbour_targets.shape[0]} docs, the batch has "
                f"{pooled.shape[0]}: set them with set_step_state for each update."
            )
        kwargs["neighbour_targets"] = xp2torch(model.ops.asarray2f(step.neighbour_targets), device=device)
        kwargs["neighbour_weight"] = step.neighbour_weight
    return ArgsKwargs(args=(pooled_t, counts_t), kwargs=kwargs), reverse


def _convert_outputs(model: Model, X_Ytorch: Tuple[Any, Any], is_train: bool):
    (_, counts), out = X_Ytorch
    ops = model.ops
    to_xp = lambda t: ops.asarray(torch2xp(t.detach()))  # noqa: E731
    Y = VAEOutput(
        latent=to_xp(out.mu),
        topics=to_xp(out.theta),
        cluster_probs=to_xp(out.assignment),
        loss=to_xp(out.loss),
        recon=to_xp(out.recon),
        kl=to_xp(out.kl),
        n_words=counts.n_words,
    )

    def reverse(d_loss: Floats1d) -> ArgsKwargs:
        d_loss_t = xp2torch(d_loss, device=out.loss.device)
        return ArgsKwargs(args=((out.loss,),), kwargs={"grad_tensors": (d_loss_t,)})

    return Y, reverse


def serialize_state(module: Optional[TextVAEModule]) -> bytes:
    """The module's sizes and weights as msgpack'ed numpy arrays: no pickle, so
    loading a model never runs arbitrary code. An unbuilt module gives no weights."""
    if module is None:
        return srsly.msgpack_dumps({"sizes": None, "tensors": {}})
    sizes = {
        "n_inputs": module.encoder.input_norm.normalized_shape[0] if module.encoder.input_norm is not None else 0,
        "n_vocab": int(module.decoder.background.shape[0]),
        "n_topics": int(module.prior.n_latent),
        "n_clusters": int(module.prior.n_clusters),
    }
    tensors = {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}
    return srsly.msgpack_dumps({"sizes": sizes, "tensors": tensors})


def deserialize_state(settings: VAESettings, module: Any, data: bytes, device: torch.device) -> Optional[TextVAEModule]:
    """Rebuild the module from the saved sizes and the settings in force, then
    load the weights with a strict `load_state_dict` (never skipped silently)."""
    try:
        msg = srsly.msgpack_loads(data)
        sizes, state = msg["sizes"], msg["tensors"]
    except Exception as e:
        raise TextVAEError(
            f"Could not read the VAE weights: the saved model is damaged ({type(e).__name__}: {e}). "
            "Re-train or re-save it."
        ) from e
    if sizes is None:
        return None
    tensors = {k: torch.from_numpy(numpy.array(v)) for k, v in state.items()}
    placeholder = tensors.get("decoder.topic_words.word_embeddings")
    new = _build(settings, sizes, background=None, word_embeddings=placeholder)
    try:
        new.load_state_dict(tensors, strict=True)
    except RuntimeError as e:
        raise TextVAEError(
            "The saved VAE weights do not fit the model the config describes: the model was "
            f"saved with other [components.textvae.model] settings ({type(e).__name__}: {e}). "
            f"Settings in force: {asdict(settings)}. Load it with the config it was trained with."
        ) from e
    if not new.state_is_finite():
        raise TextVAEError(
            "The saved VAE weights hold NaN or infinite values: the model was saved after "
            "training diverged, or the file is damaged. Re-train it (lower [training.optimizer] "
            "learn_rate) or load an earlier checkpoint."
        )
    new.to(device)
    return new
