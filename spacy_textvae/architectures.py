"""Registered model architectures. Every version stays registered so saved
configs keep loading."""
from typing import List, Optional

from spacy.tokens import Doc
from spacy.util import registry
from thinc.api import Model
from thinc.types import Floats2d

from .layers import VAEOutput, build_pooling, textvae_forward


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
    """A VAE over pooled token vectors and the bag of words: writes a latent
    vector, topic proportions and a cluster distribution per doc. The torch
    module is built in `initialize`, when the token-vector width and the topic
    vocabulary are known; the component passes `n_topics` and `n_clusters`.

    tok2vec (Model[List[Doc], List[Floats2d]]): Any token-vector layer: its own
        tok2vec, `spacy.Tok2VecListener.v1` or `spacy-transformers.TransformerListener.v1`.
    hidden_width (int): Width of the encoder's two hidden layers.
    dropout (float): Dropout in the encoder and on the topic proportions in
        training (spaCy's `drop` does not reach inside torch, so it is set here).
    grad_factor (float): Scales the gradient sent back into the token vectors;
        0 detaches them, so a shared tok2vec is not changed by this component,
        and a tok2vec of the component's own (e.g. `spacy-transformers.Tok2VecTransformer.v3`)
        runs in inference mode in training too: no dropout, no autograd graph.
    pooling (str): "mean", "max" or "mean_max" pooling of token vectors.
    encoder_bow (bool): Also feed the doc's bag of words (log(1 + counts)) to the encoder.
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
                "encoder_bow": bool(encoder_bow),
                "decoder_batchnorm": bool(decoder_batchnorm),
                "decoder_background": bool(decoder_background),
                "mixed_precision": bool(mixed_precision),
            },
            "grad_factor": float(grad_factor),
            "kl_weight": 1.0,
            "topic_vocab": None,
        },
    )


def _init(model: Model, X: Optional[List[Doc]] = None, Y=None) -> Model:
    # Only the token-vector layer is initialised here; the component builds the
    # VAE (`layers.attach_vae`) once it knows the vocabulary and the width.
    tok2vec = model.get_ref("tok2vec")
    tok2vec.initialize(X=X)
    return model
