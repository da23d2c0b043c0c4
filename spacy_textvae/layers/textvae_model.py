"""The textvae model: docs → token vectors → pooled vectors, docs → bag of
words, both → the torch VAE. Self-contained: it owns its topic vocabulary and
builds its torch module itself, and the functions here are how the component
reaches it (initialisation, per-update state, prior maintenance, topic words).
"""
from dataclasses import dataclass
from typing import Callable, Iterable, List, Optional, Tuple

import numpy
from spacy import util
from spacy.tokens import Doc
from thinc.api import Model, Optimizer
from thinc.types import Floats1d, Floats2d

from ..errors import TextVAEError
from ..vocab import TopicVocab
from ..word_embeddings import cooccurrence_embeddings
from .bag_of_words import BagOfWords
from .encoder_cache import EncoderCache
from .grad_factor import is_frozen
from .torch_threads import TorchThreads, check_torch_threads
from .torch_vae import StepState, VAEOutput, build_module, decode_word_log_probs, get_module, read_prior
from .torch_vae import discard_update as undo_vae_step

# Docs per forward pass in inference (bounds its memory; results do not depend on it).
INFERENCE_CHUNK = 512
# Docs encoded at once when the component reads a whole corpus through a frozen
# encoder (as many as a training batch: what an encoder's memory is sized for).
ENCODE_CHUNK = 64
# Docs per chunk when counting co-occurrences for the word embeddings.
_EMBEDDING_CHUNK = 256


def textvae_model(
    tok2vec: Model[List[Doc], List[Floats2d]],
    pooling: Model[List[Floats2d], Floats2d],
    bag_of_words: Model[List[Doc], BagOfWords],
    vae: Model[Tuple[Floats2d, BagOfWords], VAEOutput],
) -> Model[List[Doc], VAEOutput]:
    """Compose the layers. nO (topics) and nC (clusters) are set by the
    component; the rest is inferred in `initialize_textvae`.

    tok2vec (Model[List[Doc], List[Floats2d]]): Token vectors (with its grad factor).
    pooling (Model[List[Floats2d], Floats2d]): Token vectors → one vector per doc.
    bag_of_words (Model[List[Doc], BagOfWords]): Docs → sparse counts over its vocabulary.
    vae (Model[Tuple[Floats2d, BagOfWords], VAEOutput]): The torch VAE layer.
    RETURNS (Model[List[Doc], VAEOutput]): The model.
    """
    return Model(
        "textvae",
        forward,
        init=init,
        layers=[tok2vec, pooling, bag_of_words, vae],
        refs={"tok2vec": tok2vec, "pooling": pooling, "bag_of_words": bag_of_words, "vae": vae},
        dims={"nO": None, "nC": None},
    )


def forward(model: Model, docs: List[Doc], is_train: bool) -> Tuple[VAEOutput, Callable]:
    if not is_train and len(docs) > INFERENCE_CHUNK:
        # In chunks, the token vectors and the decoder's blocks of logits
        # (chunk × part of the vocabulary) do not grow with the batch. The
        # results go into arrays made once: small arrays kept from each chunk
        # would fragment the heap between the chunks' large transient ones.
        first = forward(model, docs[:INFERENCE_CHUNK], False)[0]
        output = VAEOutput.allocate(first, len(docs), model.ops.xp)
        output.write(0, first)
        for start in range(INFERENCE_CHUNK, len(docs), INFERENCE_CHUNK):
            output.write(start, forward(model, docs[start : start + INFERENCE_CHUNK], False)[0])
        return output, lambda d_loss: docs
    tok2vec, pooling, bag_of_words, vae = model.layers
    cache = _encoder_cache(model, is_train)
    if cache is not None:
        # A frozen encoder gives the same vectors every epoch: encode each doc once.
        pooled = cache.get(docs, lambda new: pooling.predict(tok2vec.predict(new)))
        bp_encoder: Callable = lambda d_pooled: docs  # noqa: E731
    else:
        tokvecs, bp_tokvecs = tok2vec(docs, is_train)
        pooled, bp_pooled = pooling(tokvecs, is_train)
        bp_encoder = lambda d_pooled: bp_tokvecs(bp_pooled(d_pooled))  # noqa: E731
    counts, _ = bag_of_words(docs, is_train)
    output, bp_vae = vae((pooled, counts), is_train)

    def backprop(d_loss: Floats1d) -> List[Doc]:
        return bp_encoder(bp_vae(d_loss))

    return output, backprop


def encoded_docs(model: Model, docs: List[Doc]) -> numpy.ndarray:
    """The pooled vectors the VAE's encoder reads for docs, from a frozen
    encoder: they go into the run's encoder cache, so training does not encode
    these docs again.

    RETURNS (numpy.ndarray): float32 (len(docs), width), on the host.
    """
    cache = _encoder_cache(model, is_train=True)
    if cache is None:
        raise TextVAEError(
            "The textvae encoder is trained with the VAE, so its vectors before training say nothing about "
            "the docs. Use neighbour_features = \"words\", or freeze the encoder (grad_factor = 0.0 on an "
            "embedded encoder such as spacy-textvae.Tok2VecTransformer)."
        )
    tok2vec, pooling = model.get_ref("tok2vec"), model.get_ref("pooling")
    # A batch's worth of docs at a time: a transformer's activations grow with the batch.
    parts = [
        model.ops.to_numpy(cache.get(chunk, lambda new: pooling.predict(tok2vec.predict(new))))
        for chunk in util.minibatch(docs, size=ENCODE_CHUNK)
    ]
    return numpy.concatenate(parts) if parts else numpy.zeros((0, cache.width), dtype="float32")


@dataclass
class _CacheHolder:
    """Holds the model's encoder cache (not serialised: it is rebuilt per run)."""

    cache: Optional[EncoderCache] = None


def _encoder_cache(model: Model, is_train: bool) -> Optional[EncoderCache]:
    """The cache of pooled vectors to use for this pass, if any. Training with a
    frozen encoder of the model's own makes it; inference reads and extends an
    existing one (the dev docs a training run evaluates), in memory only."""
    tok2vec = model.get_ref("tok2vec")
    holder = model.attrs.setdefault("encoder_cache", _CacheHolder())
    if not is_frozen(tok2vec):
        return None
    if holder.cache is None and is_train:
        holder.cache = EncoderCache(model.get_ref("pooling").get_dim("nO"), model.ops.xp)
    cache = holder.cache
    if cache is not None and not is_train and (cache.on_disk or len(cache) * cache.width * 4 > cache.memory_limit):
        return None
    return cache


def reset_encoder_cache(model: Model) -> None:
    """Drop the model's encoder cache (after its weights were loaded or re-initialised)."""
    holder = model.attrs.get("encoder_cache")
    if holder is not None and holder.cache is not None:
        holder.cache.close()
        holder.cache = None


def init(model: Model, X: Optional[List[Doc]] = None, Y=None) -> Model:
    """Thinc's init: X is the whole training corpus (its vocabulary must be built)."""
    if X is None:
        raise TextVAEError(
            "The textvae model infers its sizes from data: initialise it with training docs "
            "(nlp.initialize(get_examples=...) does)."
        )
    docs = list(X)
    initialize_textvae(model, lambda: docs, docs[:8])
    return model


def set_topic_vocab(model: Model, vocab: TopicVocab) -> None:
    """Hand the model its topic vocabulary (once, before initialising or
    loading): from then on the model owns it and saves it with its weights."""
    model.get_ref("bag_of_words").attrs["vocab"] = vocab


def set_torch_threads(model: Model, setting: Optional[int], name: str = "textvae") -> None:
    """Set the torch intra-op thread count the model applies when it first runs
    (see `spacy_textvae.layers.torch_threads`).

    setting (Optional[int]): None (automatic), 0 (leave torch's count) or a count.
    name (str): The component's name, for the error on a bad setting.
    """
    model.get_ref("vae").attrs["torch_threads"] = TorchThreads(check_torch_threads(setting, name))


def get_topic_vocab(model: Model) -> TopicVocab:
    """RETURNS (TopicVocab): The model's topic vocabulary."""
    vocab = model.get_ref("bag_of_words").attrs["vocab"]
    if vocab is None:
        raise TextVAEError("The textvae model has no topic vocabulary: hand it one with set_topic_vocab().")
    return vocab


def is_built(model: Model) -> bool:
    """RETURNS (bool): Whether the torch module exists (after initialising or loading)."""
    return get_module(model.get_ref("vae")) is not None


def initialize_textvae(model: Model, get_docs: Callable[[], Iterable[Doc]], sample: List[Doc]) -> None:
    """Initialise the model from training docs once its topic vocabulary is
    built and its nO and nC are set: the token-vector layer on `sample`, the
    pooled width from its output, the word embeddings of the embedding decoder
    from the docs' co-occurrences, then the torch module.

    get_docs (Callable[[], Iterable[Doc]]): The training docs (read once more
        for the embedding decoder).
    sample (List[Doc]): A few docs to infer the token-vector width from.
    """
    vocab = get_topic_vocab(model)
    if not vocab.is_built:
        raise TextVAEError("Build the topic vocabulary (TopicVocab.build) before initialising the textvae model.")
    for dim in ("nO", "nC"):
        if not model.has_dim(dim) or model.get_dim(dim) is None:
            raise TextVAEError(f"Set the model's {dim} (topics, clusters) before initialising it.")
    tok2vec, pooling = model.get_ref("tok2vec"), model.get_ref("pooling")
    vae = model.get_ref("vae")
    reset_encoder_cache(model)
    tok2vec.initialize(X=sample)
    width = _token_vector_width(tok2vec, sample)
    pooling.set_dim("nI", width, force=True)
    n_pooled = width * (2 if pooling.attrs["mode"].value == "mean_max" else 1)
    pooling.set_dim("nO", n_pooled, force=True)
    word_embeddings = None
    settings = vae.attrs["settings"]
    if settings.decoder == "embedding":
        docs = get_docs()
        columns = (cols for chunk in util.minibatch(docs, size=_EMBEDDING_CHUNK) for cols in vocab.columns(chunk))
        word_embeddings = cooccurrence_embeddings(columns, len(vocab), width=settings.word_embedding_width)
    build_module(
        vae,
        n_inputs=n_pooled,
        n_vocab=len(vocab),
        n_topics=model.get_dim("nO"),
        n_clusters=model.get_dim("nC"),
        background=vocab.log_frequencies(),
        word_embeddings=word_embeddings,
    )


def _token_vector_width(tok2vec: Model, sample: List[Doc]) -> int:
    if tok2vec.has_dim("nO"):
        return int(tok2vec.get_dim("nO"))
    vectors = tok2vec.predict(sample[:2])
    return int(vectors[0].shape[1])


def resolved_cluster_means(model: Model, n_topics: int, n_clusters: int) -> str:
    """RETURNS (str): "free", "mixtures" or "topics": the model's `cluster_means` for these
    sizes (raises for "topics" without one cluster per topic)."""
    return model.get_ref("vae").attrs["settings"].resolve_cluster_means(n_topics, n_clusters)


def set_step_state(
    model: Model,
    *,
    kl_weight: float,
    cluster_temperature: float,
    neighbour_targets: Optional[Floats2d] = None,
    neighbour_weight: float = 0.0,
) -> None:
    """Set the per-update training state the VAE reads in its next updates.

    kl_weight (float): Weight of the KL term (warm-up).
    cluster_temperature (float): Temperature of q(c | x) in training.
    neighbour_targets (Optional[Floats2d]): (batch, n_clusters) the mean cluster
        assignment of each doc's neighbours, for the next batch only (None: no
        neighbour term).
    neighbour_weight (float): Weight of the neighbour term.
    """
    model.get_ref("vae").attrs["step"] = StepState(
        float(kl_weight), float(cluster_temperature), neighbour_targets, float(neighbour_weight)
    )


def _module(model: Model):
    module = get_module(model.get_ref("vae"))
    if module is None:
        raise TextVAEError(
            "The textvae model has no VAE yet: its sizes are known only after training data "
            "is seen. Did you call nlp.initialize()?"
        )
    return module


def discard_update(model: Model) -> None:
    """Undo the current training step after a `NonFiniteBatchError`: the VAE's
    buffers go back to what they were before it, its gradients are dropped.
    The token-vector layer got nothing: the error is raised before its backprop."""
    undo_vae_step(model.get_ref("vae"))


def clip_as_one_layer(model: Model, sgd: Optimizer) -> None:
    """Clip the encoder's first-layer gradient as one weight matrix before the
    optimizer step: thinc's optimizer clips each parameter by its own norm
    (`grad_clip`), and that layer is stored as two (see `Encoder`).

    sgd (Optimizer): The optimizer about to update the model.
    """
    module = get_module(model.get_ref("vae"))
    clip = float(getattr(sgd, "grad_clip", 0.0) or 0.0)
    if module is not None and clip > 0:
        module.encoder.clip_first_layer_gradient(clip)


def weights_are_finite(model: Model) -> bool:
    """RETURNS (bool): whether every weight and buffer of the model (the VAE
    and the token-vector layer's own parameters) is finite."""
    module = get_module(model.get_ref("vae"))
    if module is not None and not module.state_is_finite():
        return False
    xp = model.ops.xp
    for node in model.get_ref("tok2vec").walk():
        for name in node.param_names:
            if node.has_param(name) and not bool(xp.isfinite(node.get_param(name)).all()):
                return False
    return True


def fit_prior(model: Model, seed: int) -> bool:
    """Fit the mixture prior to the posterior means seen in recent updates.
    RETURNS (bool): whether it was fitted (it needs 2 docs per cluster)."""
    return bool(_module(model).fit_prior(seed=seed))


def repair_prior(model: Model) -> int:
    """Re-seed clusters that explain no recent documents.
    RETURNS (int): how many were re-seeded."""
    return int(_module(model).repair_prior())


def topic_log_probs(model: Model) -> numpy.ndarray:
    """log p(word | topic) as the trained model applies it (θ = one-hot;
    batch-norm running statistics and background included).
    RETURNS (numpy.ndarray): float32 (n_topics, n_vocab)."""
    return _module(model).topic_log_probs().cpu().numpy()



def word_log_probs(model: Model, theta: numpy.ndarray) -> numpy.ndarray:
    """log p(word | θ) as the trained model applies it (inference mode).

    theta (numpy.ndarray): (n, n_topics) topic proportions.
    RETURNS (numpy.ndarray): float32 (n, n_vocab).
    """
    return decode_word_log_probs(_module(model), theta)


def topic_vectors(model: Model) -> numpy.ndarray:
    """RETURNS (numpy.ndarray): float32 (n_topics, width), each topic's own
    representation (its point among the word embeddings, or its row of β)."""
    return _module(model).topic_vectors().cpu().numpy()


def prior_components(model: Model) -> Tuple[numpy.ndarray, numpy.ndarray]:
    """RETURNS (Tuple[numpy.ndarray, numpy.ndarray]): the mixture prior's means,
    float32 (n_clusters, n_topics), and its shared variance, float32 (n_topics,)."""
    return read_prior(_module(model))
