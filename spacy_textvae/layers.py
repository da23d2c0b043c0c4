"""Thinc glue: pooling token vectors, wrapping the torch VAE, and the full
docs → VAE outputs model."""
from dataclasses import dataclass
from typing import Any, Callable, List, Optional, Tuple, cast

import numpy
import srsly
import torch
from spacy.tokens import Doc
from thinc.api import ArgsKwargs, Model, PyTorchWrapper_v3, torch2xp, xp2torch
from thinc.types import Floats1d, Floats2d

from .vae import TextVAEModule

POOLING_MODES = ("mean", "max", "mean_max")


@dataclass
class VAEOutput:
    """What the model returns for a batch of docs (arrays on the current ops' device).

    latent: (batch, n_topics) posterior means μ.
    topics: (batch, n_topics) topic proportions softmax(μ) (softmax(z) in training).
    cluster_probs: (batch, n_clusters) p(cluster | z).
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


# -- pooling ------------------------------------------------------------------


def build_pooling(mode: str = "mean_max") -> Model[List[Floats2d], Floats2d]:
    """Pool each doc's token vectors into one vector.

    mode (str): "mean", "max" or "mean_max" (mean and max concatenated).
    RETURNS (Model[List[Floats2d], Floats2d]): The pooling layer. Empty docs
        pool to zeros.
    """
    if mode not in POOLING_MODES:
        raise ValueError(f"[textvae] pooling must be one of {POOLING_MODES}, not {mode!r}.")
    return Model(f"textvae_pool_{mode}", _pool_forward, attrs={"mode": mode})


def _pool_forward(
    model: Model, Xs: List[Floats2d], is_train: bool
) -> Tuple[Floats2d, Callable]:
    ops = model.ops
    mode = model.attrs["mode"]
    n_docs = len(Xs)
    width = Xs[0].shape[1] if Xs else 0
    lengths = ops.asarray1i([len(x) for x in Xs])
    flat = ops.flatten(Xs) if Xs and int(lengths.sum()) else ops.alloc2f(0, width)
    outputs = []
    bp_mean = bp_max = None
    if mode in ("mean", "mean_max"):
        # reduce_sum indexes past the end when no doc has tokens.
        sums = ops.reduce_sum(flat, lengths) if flat.shape[0] else ops.alloc2f(n_docs, width)
        denom = ops.xp.maximum(lengths, 1).astype(sums.dtype).reshape((-1, 1))
        outputs.append(sums / denom)

        def bp_mean(d_mean: Floats2d) -> Floats2d:
            if not flat.shape[0]:
                return ops.alloc2f(0, width)
            return ops.backprop_reduce_sum(d_mean / denom, lengths)

    if mode in ("max", "mean_max"):
        # reduce_max rejects empty sequences: pool the non-empty ones, zeros elsewhere.
        nonempty = lengths > 0
        maxes = ops.alloc2f(n_docs, width)
        which = None
        if bool(nonempty.any()):
            maxes_ne, which = ops.reduce_max(flat, lengths[nonempty])
            maxes[nonempty] = maxes_ne
        outputs.append(maxes)

        def bp_max(d_max: Floats2d) -> Floats2d:
            if which is None:
                return ops.alloc2f(0, width)
            return ops.backprop_reduce_max(d_max[nonempty], which, lengths[nonempty])

    Y = ops.xp.hstack(outputs) if len(outputs) > 1 else outputs[0]

    def backprop(dY: Floats2d) -> List[Floats2d]:
        d_flat = ops.alloc2f(flat.shape[0], width)
        col = 0
        if bp_mean is not None:
            d_flat += bp_mean(ops.xp.ascontiguousarray(dY[:, col : col + width]))
            col += width
        if bp_max is not None:
            d_flat += bp_max(ops.xp.ascontiguousarray(dY[:, col : col + width]))
        return ops.unflatten(d_flat, lengths)

    return Y, backprop


# -- the wrapped torch module ---------------------------------------------------


def _convert_inputs(model: Model, X: Tuple[Floats2d, Floats2d, float], is_train: bool):
    pooled, counts, kl_weight = X
    device = model.shims[0].device
    pooled_t = xp2torch(pooled, requires_grad=is_train, device=device)
    counts_t = xp2torch(counts, device=device)

    def reverse(d_inputs: ArgsKwargs) -> Floats2d:
        d_pooled = d_inputs.args[0]
        if d_pooled is None:
            return model.ops.alloc2f(*pooled.shape)
        return cast(Floats2d, torch2xp(d_pooled))

    return ArgsKwargs(args=(pooled_t, counts_t), kwargs={"kl_weight": float(kl_weight)}), reverse


def _convert_outputs(model: Model, X_Ytorch: Tuple[Any, Tuple], is_train: bool):
    (_, counts, _), Ytorch = X_Ytorch
    mu, theta, gamma, loss, recon, kl = Ytorch
    ops = model.ops
    to_xp = lambda t: ops.asarray(torch2xp(t.detach()))  # noqa: E731
    Y = VAEOutput(
        latent=to_xp(mu),
        topics=to_xp(theta),
        cluster_probs=to_xp(gamma),
        loss=to_xp(loss),
        recon=to_xp(recon),
        kl=to_xp(kl),
        n_words=counts.sum(axis=1),
    )

    def reverse(d_loss: Floats1d) -> ArgsKwargs:
        d_loss_t = xp2torch(d_loss, device=loss.device)
        return ArgsKwargs(args=((loss,),), kwargs={"grad_tensors": (d_loss_t,)})

    return Y, reverse


def serialize_state(module: torch.nn.Module) -> bytes:
    """Torch weights as msgpack'ed numpy arrays: no pickle, so loading a model
    never runs arbitrary code."""
    state = {k: v.detach().cpu().numpy() for k, v in module.state_dict().items()}
    return srsly.msgpack_dumps(state)


def deserialize_state(module: torch.nn.Module, data: bytes, device: torch.device) -> torch.nn.Module:
    """Load weights written by `serialize_state` with an explicit, strict
    `load_state_dict` (never skipped silently)."""
    try:
        state = srsly.msgpack_loads(data)
        tensors = {k: torch.from_numpy(numpy.array(v)) for k, v in state.items()}
        module.load_state_dict(tensors, strict=True)
    except Exception as e:  # msgpack, shape and key errors all mean the same to the user
        raise ValueError(
            "[textvae] Could not load the VAE weights: the saved model is damaged or was "
            f"saved with different settings ({type(e).__name__}: {e}). Re-train or re-save it."
        ) from e
    module.to(device)
    return module


def build_torch_vae(module: TextVAEModule, mixed_precision: bool = False) -> Model:
    """Wrap the torch VAE with Thinc's PyTorchWrapper.

    module (TextVAEModule): The torch module.
    mixed_precision (bool): Autocast to half precision (GPU only).
    RETURNS (Model[Tuple[Floats2d, Floats2d, float], VAEOutput]): The layer.
    """
    return PyTorchWrapper_v3(
        module,
        convert_inputs=_convert_inputs,
        convert_outputs=_convert_outputs,
        mixed_precision=mixed_precision,
        serialize_model=serialize_state,
        deserialize_model=deserialize_state,
    )


# -- the full model: docs → VAEOutput -------------------------------------------


def textvae_forward(model: Model, docs: List[Doc], is_train: bool) -> Tuple[VAEOutput, Callable]:
    """Token vectors → pooled vectors; docs → bag of words; both → the VAE."""
    vae = get_vae_layer(model)
    tok2vec = model.get_ref("tok2vec")
    pooling = model.get_ref("pooling")
    topic_vocab = model.attrs["topic_vocab"]
    grad_factor = float(model.attrs["grad_factor"])
    if is_train and grad_factor == 0.0 and not has_listener(tok2vec):
        # A frozen token-vector layer of our own (e.g. an embedded transformer):
        # inference mode, so no autograd graph or dropout in it; for a
        # transformer that is most of the memory and time of an update.
        tokvecs, bp_tokvecs = tok2vec.predict(docs), None
    else:
        # A listener must run in training mode to receive its upstream's output.
        tokvecs, bp_tokvecs = tok2vec(docs, is_train)
    pooled, bp_pooled = pooling(tokvecs, is_train)
    counts = model.ops.asarray2f(topic_vocab.counts(docs))
    kl_weight = float(model.attrs["kl_weight"]) if is_train else 1.0
    output, bp_vae = vae((pooled, counts, kl_weight), is_train)

    def backprop(d_loss: Floats1d) -> List[Doc]:
        d_pooled = bp_vae(d_loss)
        # Nothing to send back for a batch without tokens (thinc's layers fail on it).
        # (grad_factor 0 never backprops: bp_tokvecs is None for a frozen own layer.)
        if grad_factor != 0.0 and any(len(doc) for doc in docs):
            # The listener/tok2vec receives (and accumulates) its gradient here.
            bp_tokvecs(bp_pooled(d_pooled * grad_factor))
        return docs

    return output, backprop


def has_listener(model: Model) -> bool:
    """Whether the layer reads its token vectors from an upstream component
    (`spacy.Tok2VecListener`, `spacy-transformers.TransformerListener`): both
    carry the upstream's name."""
    return any(getattr(node, "upstream_name", None) is not None for node in model.walk())


def get_vae_layer(model: Model) -> Model:
    """The wrapped torch VAE, or a clear error if the model is not initialised."""
    if not model.has_ref("vae"):
        raise ValueError(
            "[textvae] The textvae model has no VAE yet: its sizes are known only after "
            "training data is seen. Did you call nlp.initialize()?"
        )
    return model.get_ref("vae")


def attach_vae(
    model: Model,
    n_inputs: int,
    n_vocab: int,
    n_topics: int,
    n_clusters: int,
    background: Optional[numpy.ndarray] = None,
    word_embeddings: Optional[numpy.ndarray] = None,
    *,
    cluster_temperature: float,
    cluster_means: str,
) -> Model:
    """Build the torch VAE for the given sizes and attach it to the model
    (replacing any previous one). Called by `initialize` and before loading
    weights, since the sizes are known only from data or the saved config.
    `cluster_temperature` and `cluster_means` have no default here: the
    component's config is their one source. With the embedding decoder and no
    `word_embeddings` (loading), zeros hold their place until the saved weights
    are read.
    """
    cfg = model.attrs["vae_cfg"]
    embeddings = None
    if cfg["decoder"] == "embedding":
        if word_embeddings is None:
            word_embeddings = numpy.zeros((n_vocab, cfg["word_embedding_width"]), dtype="float32")
        embeddings = torch.as_tensor(numpy.asarray(word_embeddings, dtype="float32"))
    pooled_width = n_inputs * (2 if model.get_ref("pooling").attrs["mode"] == "mean_max" else 1)
    module = TextVAEModule(
        n_inputs=pooled_width,
        n_vocab=n_vocab,
        n_topics=n_topics,
        n_clusters=n_clusters,
        hidden_width=cfg["hidden_width"],
        dropout=cfg["dropout"],
        encoder_bow=cfg["encoder_bow"],
        decoder_batchnorm=cfg["decoder_batchnorm"],
        background=None if background is None else torch.as_tensor(background),
        cluster_temperature=cluster_temperature,
        word_dropout=cfg["word_dropout"],
        word_embeddings=embeddings,
        decoder_temperature=cfg["decoder_temperature"],
        ecr_weight=cfg["ecr_weight"],
        cluster_means=cluster_means,
    )
    vae = build_torch_vae(module, mixed_precision=cfg["mixed_precision"])
    model.layers[:] = [layer for layer in model.layers if layer.name != vae.name] + [vae]
    model.set_ref("vae", vae)
    return vae
