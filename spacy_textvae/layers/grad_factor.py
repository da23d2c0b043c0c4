"""Scaling, or stopping, the gradient sent back into the token vectors."""
from typing import Callable, List, Tuple

from spacy.tokens import Doc
from thinc.api import Model
from thinc.types import Floats2d

from .setting import Setting


def with_grad_factor(tok2vec: Model[List[Doc], List[Floats2d]], grad_factor: float) -> Model[List[Doc], List[Floats2d]]:
    """Wrap a token-vector layer so that its gradient is scaled by `grad_factor`.

    With 0, nothing is sent back, and a token-vector layer of the component's
    own (not a listener) runs in inference mode in training too: no dropout and
    no autograd graph, which for a transformer is most of an update's memory
    and time. A listener still runs in training mode: that is how it receives
    its upstream's output.

    tok2vec (Model[List[Doc], List[Floats2d]]): The token-vector layer.
    grad_factor (float): The factor.
    RETURNS (Model[List[Doc], List[Floats2d]]): The wrapped layer.
    """
    return Model(
        "textvae_grad_factor",
        forward,
        init=init,
        layers=[tok2vec],
        dims={"nO": None},
        attrs={"grad_factor": Setting(float(grad_factor))},
    )


def has_listener(model: Model) -> bool:
    """Whether the layer reads its token vectors from an upstream component
    (`spacy.Tok2VecListener`, `spacy-transformers.TransformerListener`): both
    carry the upstream's name."""
    return any(getattr(node, "upstream_name", None) is not None for node in model.walk())


def is_frozen(model: Model) -> bool:
    """RETURNS (bool): whether a `with_grad_factor` layer's outputs never change
    in training: a factor of 0 over a token-vector layer of the model's own
    (not a listener, whose upstream may train)."""
    return model.attrs["grad_factor"].value == 0.0 and not has_listener(model.layers[0])


def init(model: Model, X=None, Y=None) -> Model:
    tok2vec = model.layers[0]
    tok2vec.initialize(X=X)
    if tok2vec.has_dim("nO") and tok2vec.get_dim("nO") is not None:
        model.set_dim("nO", tok2vec.get_dim("nO"))
    return model


def forward(model: Model, docs: List[Doc], is_train: bool) -> Tuple[List[Floats2d], Callable]:
    tok2vec = model.layers[0]
    factor = model.attrs["grad_factor"].value
    if is_train and is_frozen(model):
        return tok2vec.predict(docs), lambda d_tokvecs: docs
    tokvecs, bp_tokvecs = tok2vec(docs, is_train)

    def backprop(d_tokvecs: List[Floats2d]) -> List[Doc]:
        # Nothing to send back for a batch without tokens (thinc's layers fail on it).
        if factor != 0.0 and any(len(doc) for doc in docs):
            if factor != 1.0:
                d_tokvecs = [d * factor for d in d_tokvecs]
            bp_tokvecs(d_tokvecs)
        return docs

    return tokvecs, backprop
