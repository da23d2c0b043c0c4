"""A textvae component's annotations as features for another model (e.g. a
`textcat` in the same pipeline): List[Doc] → Floats2d, each doc's
`doc._.{prefix}latent` ⊕ `doc._.{prefix}topics` (as configured).

The features are read, not computed: the textvae component must run before
the model that reads them, also in training (`[training] annotating_components`).
Nothing flows back into textvae.
"""
from typing import Callable, List, Sequence, Tuple

import numpy
from spacy.tokens import Doc
from thinc.api import Model
from thinc.types import Floats2d

from ..errors import TextVAEError

FEATURES = ("latent", "topics")


def latent_features(n_topics: int, features: Sequence[str], extension_prefix: str) -> Model[List[Doc], Floats2d]:
    """The layer.

    n_topics (int): The textvae component's n_topics (the width of each feature).
    features (Sequence[str]): Which of "latent" and "topics", concatenated in this order.
    extension_prefix (str): The textvae component's extension prefix.
    RETURNS (Model[List[Doc], Floats2d]): (n_docs, n_topics × len(features)) float32.
    """
    features = list(features)
    if not features or any(f not in FEATURES for f in features) or len(set(features)) != len(features):
        raise TextVAEError(
            f"features must be a non-empty list of distinct names from {FEATURES}, not {features!r}. "
            "Set it in the spacy-textvae.LatentFeatures.v1 block."
        )
    if isinstance(n_topics, bool) or not isinstance(n_topics, int) or n_topics < 1:
        raise TextVAEError(
            f"n_topics must be the textvae component's n_topics (an int >= 1), not {n_topics!r}. "
            "Set it in the spacy-textvae.LatentFeatures.v1 block, e.g. ${components.textvae.n_topics}."
        )
    return Model(
        "textvae_latent_features",
        forward,
        init=init,
        dims={"nO": n_topics * len(features)},
        attrs={"names": [str(extension_prefix) + f for f in features], "n_topics": n_topics, "init_docs": set()},
    )


def init(model: Model, X=None, Y=None) -> Model:
    # spaCy initialises a textcat on un-annotated reference docs and then runs
    # the layers on them to infer the next layer's width: those docs (only
    # those, only once) give zeros instead of the error.
    if X is not None:
        model.attrs["init_docs"] = {id(doc) for doc in X}
    return model


def forward(model: Model, docs: List[Doc], is_train: bool) -> Tuple[Floats2d, Callable]:
    names: List[str] = model.attrs["names"]
    n_topics: int = model.attrs["n_topics"]
    init_docs: set = model.attrs["init_docs"]
    out = numpy.zeros((len(docs), model.get_dim("nO")), dtype="float32")
    if docs and init_docs and all(id(doc) in init_docs for doc in docs):
        model.attrs["init_docs"] = set()
        return model.ops.asarray2f(out), lambda d_out: []
    for i, doc in enumerate(docs):
        for j, name in enumerate(names):
            value = doc._.get(name) if Doc.has_extension(name) else None
            if value is None:
                raise TextVAEError(
                    f"A doc has no doc._.{name}: the textvae component must annotate the docs "
                    "before this layer reads them. Put it before this component in the pipeline, "
                    "and, in training, in [training] annotating_components (also when it is frozen); "
                    "check extension_prefix."
                )
            if len(value) != n_topics:
                raise TextVAEError(
                    f"doc._.{name} has {len(value)} values but n_topics = {n_topics} here: set n_topics in "
                    "the spacy-textvae.LatentFeatures.v1 block to the textvae component's n_topics."
                )
            out[i, j * n_topics : (j + 1) * n_topics] = value
    model.attrs["init_docs"] = set()
    return model.ops.asarray2f(out), lambda d_out: []
