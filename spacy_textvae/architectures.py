"""Registered model architectures: composition of the layers only.

A new argument or a changed weight layout means a new version."""
from typing import List, Sequence

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model
from thinc.types import Floats2d

from .errors import TextVAEError
from .layers import VAESettings, bag_of_words, build_pooling, build_torch_vae, textvae_model, with_grad_factor
from .layers.latent_features import latent_features
from .layers.torch_vae import CLUSTER_MEANS_SETTINGS, VAEOutput
from .nn import DECODERS


@registry.architectures("spacy-textvae.TextVAE.v4")
def create_TextVAE_v4(
    tok2vec: Model[List[Doc], List[Floats2d]],
    hidden_width: int,
    dropout: float,
    word_dropout: float,
    grad_factor: float,
    pooling: str,
    encoder_bow: bool,
    decoder: str,
    word_embedding_width: int,
    decoder_temperature: float,
    ecr_weight: float,
    decoder_batchnorm: bool,
    decoder_background: bool,
    cluster_means: str,
    mixed_precision: bool,
    pooled_weight: float,
) -> Model[List[Doc], VAEOutput]:
    """A VAE over pooled token vectors and the bag of words: writes a latent
    vector, topic proportions and a cluster distribution per doc. The torch
    module is built when the model is initialised, once the token-vector width
    and the topic vocabulary are known; the component sets the number of topics
    (nO) and clusters (nC).

    tok2vec (Model[List[Doc], List[Floats2d]]): Any token-vector layer: its own
        tok2vec, `spacy.Tok2VecListener.v1` or `spacy-transformers.TransformerListener.v1`.
    hidden_width (int): Width of the encoder's two hidden layers.
    dropout (float): Dropout in the encoder and on the topic proportions in
        training (spaCy's `drop` does not reach inside torch, so it is set here).
    word_dropout (float): Share of word types hidden from the encoder's bag of
        words in training; the decoder still reconstructs every word.
    grad_factor (float): Scales the gradient sent back into the token vectors;
        0 detaches them, so a shared tok2vec is not changed by this component,
        and a tok2vec of the component's own (e.g. `spacy-transformers.Tok2VecTransformer.v3`)
        runs in inference mode in training too: no dropout, no autograd graph.
    pooling (str): "mean", "max" or "mean_max" pooling of token vectors.
    encoder_bow (bool): Also feed the doc's bag of words (log(1 + counts)) to the encoder.
    decoder (str): "embedding": topics are points in a word-embedding space learned
        from the training docs at initialisation (PPMI + SVD), with the embedding
        clustering regulariser (ECRTM); "linear": a free topic-word matrix (ProdLDA).
    word_embedding_width (int): Width of those word embeddings ("embedding" only).
    decoder_temperature (float): τ in softmax_k(-‖topic_k - word‖² / τ) ("embedding" only).
    ecr_weight (float): Weight of the embedding clustering regulariser ("embedding" only; 0: off).
    decoder_batchnorm (bool): Batch-normalise the decoder logits (ProdLDA), against topic collapse.
    decoder_background (bool): Add each word's log corpus frequency to the decoder
        logits, so topics model what is specific to them.
    cluster_means (str): How the mixture prior's means are held. "topics":
        cluster c's mean is tied to topic c's corner of the latent space, so a
        doc's cluster is the topic the prior assigns it to (needs n_clusters ==
        n_topics). "mixtures": cluster c's mean is a learned mix of topic
        corners, so a cluster is a set of topics (any n_clusters). "free": each
        mean is its own parameter, fitted by k-means++ (VaDE). "auto": "topics"
        when n_clusters == n_topics, else "mixtures".
    mixed_precision (bool): Autocast the VAE to half precision; GPU only.
    pooled_weight (float): Weight of a second reconstruction in training: a
        linear head from the latent sample to the doc's layer-normed pooled
        vector, ½ its squared error per doc (0: off, and no head). Meant for a
        frozen sentence encoder (a transformer): the latent then keeps what the
        encoder knows of a doc as well as its words, which matters most on
        short texts, whose bag of words is a few words.
    RETURNS (Model[List[Doc], VAEOutput]): The model.
    """
    _check("hidden_width", hidden_width, hidden_width >= 1, ">= 1")
    _check("dropout", dropout, 0.0 <= dropout < 1.0, "in [0, 1)")
    _check("word_dropout", word_dropout, 0.0 <= word_dropout < 1.0, "in [0, 1)")
    _check("decoder", decoder, decoder in DECODERS, f"one of {DECODERS}")
    _check("word_embedding_width", word_embedding_width, word_embedding_width >= 1, ">= 1")
    _check("decoder_temperature", decoder_temperature, decoder_temperature > 0, "> 0")
    _check("ecr_weight", ecr_weight, ecr_weight >= 0, ">= 0")
    _check("pooled_weight", pooled_weight, pooled_weight >= 0, ">= 0")
    _check("cluster_means", cluster_means, cluster_means in CLUSTER_MEANS_SETTINGS, f"one of {CLUSTER_MEANS_SETTINGS}")
    settings = VAESettings(
        hidden_width=int(hidden_width),
        dropout=float(dropout),
        word_dropout=float(word_dropout),
        encoder_bow=bool(encoder_bow),
        decoder=decoder,
        word_embedding_width=int(word_embedding_width),
        decoder_temperature=float(decoder_temperature),
        ecr_weight=float(ecr_weight),
        decoder_batchnorm=bool(decoder_batchnorm),
        decoder_background=bool(decoder_background),
        cluster_means=cluster_means,
        mixed_precision=bool(mixed_precision),
        pooled_weight=float(pooled_weight),
    )
    return textvae_model(
        with_grad_factor(tok2vec, grad_factor),
        build_pooling(pooling),
        bag_of_words(None),
        build_torch_vae(settings),
    )


@registry.architectures("spacy-textvae.TextVAE.v3")
def create_TextVAE_v3(
    tok2vec: Model[List[Doc], List[Floats2d]],
    hidden_width: int,
    dropout: float,
    word_dropout: float,
    grad_factor: float,
    pooling: str,
    encoder_bow: bool,
    decoder: str,
    word_embedding_width: int,
    decoder_temperature: float,
    ecr_weight: float,
    decoder_batchnorm: bool,
    decoder_background: bool,
    cluster_means: str,
    mixed_precision: bool,
    pooled_weight: float,
) -> Model[List[Doc], VAEOutput]:
    """`spacy-textvae.TextVAE.v4`, for pipelines saved with v3: those hold the
    encoder's first layer as one (hidden × [pooled; vocabulary]) matrix, which
    is split into v4's layout when the weights are loaded."""
    return create_TextVAE_v4(
        tok2vec, hidden_width, dropout, word_dropout, grad_factor, pooling, encoder_bow, decoder,
        word_embedding_width, decoder_temperature, ecr_weight, decoder_batchnorm, decoder_background,
        cluster_means, mixed_precision, pooled_weight,
    )


@registry.architectures("spacy-textvae.TextVAE.v2")
def create_TextVAE_v2(
    tok2vec: Model[List[Doc], List[Floats2d]],
    hidden_width: int,
    dropout: float,
    word_dropout: float,
    grad_factor: float,
    pooling: str,
    encoder_bow: bool,
    decoder: str,
    word_embedding_width: int,
    decoder_temperature: float,
    ecr_weight: float,
    decoder_batchnorm: bool,
    decoder_background: bool,
    cluster_means: str,
    mixed_precision: bool,
) -> Model[List[Doc], VAEOutput]:
    """`spacy-textvae.TextVAE.v4` without the pooled-vector reconstruction term
    (pooled_weight = 0), for pipelines saved with v2 (their first layer is
    split on load, as v3's is)."""
    return create_TextVAE_v4(
        tok2vec, hidden_width, dropout, word_dropout, grad_factor, pooling, encoder_bow, decoder,
        word_embedding_width, decoder_temperature, ecr_weight, decoder_batchnorm, decoder_background,
        cluster_means, mixed_precision, pooled_weight=0.0,
    )


@registry.architectures("spacy-textvae.LatentFeatures.v1")
def create_LatentFeatures_v1(
    n_topics: int, features: Sequence[str] = ("latent", "topics"), extension_prefix: str = ""
) -> Model[List[Doc], Floats2d]:
    """A textvae component's latent and/or topics as a doc-level feature layer
    for another component's model, e.g. a textcat's: chain it with a
    `Softmax.v2`, or concatenate it with `spacy.TextCatBOW.v3`. textvae must run
    before that component, in training too (`[training] annotating_components`).

    n_topics (int): The textvae component's n_topics.
    features (Sequence[str]): "latent" (posterior mean) and/or "topics" (topic proportions).
    extension_prefix (str): The textvae component's extension prefix ("" for the first one).
    RETURNS (Model[List[Doc], Floats2d]): (n_docs, n_topics × len(features)) features.
    """
    return latent_features(n_topics, features, extension_prefix)


def _check(name: str, value, ok: bool, expected: str) -> None:
    if not ok:
        raise TextVAEError(f"{name} must be {expected}, not {value!r}. Set it in [components.textvae.model].")
