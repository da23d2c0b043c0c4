"""Registered model architectures. Every version stays registered so saved
configs keep loading."""
from typing import List, Optional

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model
from thinc.types import Floats2d

from .layers import VAEOutput, build_pooling, textvae_forward


@registry.architectures("spacy-textvae.TextVAE.v2")
def create_TextVAE_v2(
    tok2vec: Model[List[Doc], List[Floats2d]],
    hidden_width: int = 256,
    dropout: float = 0.2,
    word_dropout: float = 0.3,
    grad_factor: float = 1.0,
    pooling: str = "mean_max",
    encoder_bow: bool = True,
    decoder: str = "embedding",
    word_embedding_width: int = 100,
    decoder_temperature: float = 0.5,
    ecr_weight: float = 100.0,
    decoder_batchnorm: bool = True,
    decoder_background: bool = True,
    mixed_precision: bool = False,
) -> Model[List[Doc], VAEOutput]:
    """A VAE over pooled token vectors and the bag of words: writes a latent
    vector, topic proportions and a cluster distribution per doc. The torch
    module is built in `initialize`, when the token-vector width and the topic
    vocabulary are known; the component passes `n_topics` and `n_clusters`.

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
        from the training docs at `initialize` (PPMI + SVD), with the embedding
        clustering regulariser (ECRTM); "linear": a free topic-word matrix (ProdLDA).
    word_embedding_width (int): Width of those word embeddings ("embedding" only).
    decoder_temperature (float): τ in softmax_k(-‖topic_k - word‖² / τ) ("embedding" only).
    ecr_weight (float): Weight of the embedding clustering regulariser ("embedding" only; 0: off).
    decoder_batchnorm (bool): Batch-normalise the decoder logits (ProdLDA), against topic collapse.
    decoder_background (bool): Add each word's log corpus frequency to the decoder
        logits, so topics model what is specific to them.
    mixed_precision (bool): Autocast the VAE to half precision; GPU only.
    RETURNS (Model[List[Doc], VAEOutput]): The model.
    """
    if hidden_width < 1:
        raise ValueError(f"[textvae] hidden_width must be >= 1, not {hidden_width}.")
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"[textvae] dropout must be in [0, 1), not {dropout}.")
    if not 0.0 <= word_dropout < 1.0:
        raise ValueError(f"[textvae] word_dropout must be in [0, 1), not {word_dropout}.")
    if decoder not in ("embedding", "linear"):
        raise ValueError(f'[textvae] decoder must be "embedding" or "linear", not {decoder!r}.')
    if word_embedding_width < 1:
        raise ValueError(f"[textvae] word_embedding_width must be >= 1, not {word_embedding_width}.")
    if decoder_temperature <= 0:
        raise ValueError(f"[textvae] decoder_temperature must be > 0, not {decoder_temperature}.")
    if ecr_weight < 0:
        raise ValueError(f"[textvae] ecr_weight must be >= 0, not {ecr_weight}.")
    pool = build_pooling(pooling)
    return Model(
        "textvae",
        textvae_forward,
        init=_init,
        layers=[tok2vec, pool],
        refs={"tok2vec": tok2vec, "pooling": pool, "vae": None},
        attrs={
            "vae_cfg": {
                "hidden_width": int(hidden_width),
                "dropout": float(dropout),
                "word_dropout": float(word_dropout),
                "encoder_bow": bool(encoder_bow),
                "decoder": decoder,
                "word_embedding_width": int(word_embedding_width),
                "decoder_temperature": float(decoder_temperature),
                "ecr_weight": float(ecr_weight),
                "decoder_batchnorm": bool(decoder_batchnorm),
                "decoder_background": bool(decoder_background),
                "mixed_precision": bool(mixed_precision),
            },
            "grad_factor": float(grad_factor),
            "kl_weight": 1.0,
            "topic_vocab": None,
        },
    )


@registry.architectures("spacy-textvae.TextVAE.v1")
def create_TextVAE_v1(
    tok2vec: Model[List[Doc], List[Floats2d]],
    hidden_width: int = 256,
    dropout: float = 0.2,
    grad_factor: float = 1.0,
    pooling: str = "mean_max",
    encoder_bow: bool = True,
    decoder_batchnorm: bool = True,
    decoder_background: bool = True,
    mixed_precision: bool = False,
) -> Model[List[Doc], VAEOutput]:
    """The first version, kept so saved pipelines load: `TextVAE.v2` with the
    linear (ProdLDA) decoder and no word dropout. See `create_TextVAE_v2`."""
    return create_TextVAE_v2(
        tok2vec,
        hidden_width=hidden_width,
        dropout=dropout,
        word_dropout=0.0,
        grad_factor=grad_factor,
        pooling=pooling,
        encoder_bow=encoder_bow,
        decoder="linear",
        decoder_batchnorm=decoder_batchnorm,
        decoder_background=decoder_background,
        mixed_precision=mixed_precision,
    )


def _init(model: Model, X: Optional[List[Doc]] = None, Y=None) -> Model:
    # Only the token-vector layer is initialised here; the component builds the
    # VAE (`layers.attach_vae`) once it knows the vocabulary and the width.
    tok2vec = model.get_ref("tok2vec")
    tok2vec.initialize(X=X)
    return model
