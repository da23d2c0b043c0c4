"""Reading only the first tokens of each doc, for an expensive token-vector layer."""
from typing import Callable, List, Optional, Tuple

from spacy.tokens import Doc
from thinc.api import Model
from thinc.types import Floats2d

from ..errors import TextVAEError
from .setting import Setting


def with_leading_tokens(tok2vec: Model[List[Doc], List[Floats2d]], max_tokens: int) -> Model[List[Doc], List[Floats2d]]:
    """Give `tok2vec` only the first `max_tokens` tokens of each doc, so that
    its cost per doc is bounded. The output has one row per token read, so
    pooling averages over the doc's opening; the bag of words still counts
    the whole doc. This is how sentence-embedding models are used (they
    truncate their input), and for a transformer it is most of the cost of a
    long doc.

    tok2vec (Model[List[Doc], List[Floats2d]]): The token-vector layer.
    max_tokens (int): Tokens read per doc; 0 reads every token.
    RETURNS (Model[List[Doc], List[Floats2d]]): The wrapped layer.
    """
    if int(max_tokens) != max_tokens or max_tokens < 0:
        raise TextVAEError(
            f"max_tokens must be a whole number >= 0 (0: the whole doc), not {max_tokens!r}. "
            "Set it in [components.textvae.model.tok2vec]."
        )
    return Model(
        "textvae_leading_tokens",
        forward,
        init=init,
        layers=[tok2vec],
        dims={"nO": None},
        attrs={"max_tokens": Setting(int(max_tokens))},
    )


def leading_docs(docs: List[Doc], max_tokens: int) -> List[Doc]:
    """RETURNS (List[Doc]): each doc cut to its first max_tokens tokens (0: unchanged)."""
    if max_tokens <= 0:
        return list(docs)
    return [doc if len(doc) <= max_tokens else doc[:max_tokens].as_doc() for doc in docs]


def init(model: Model, X: Optional[List[Doc]] = None, Y=None) -> Model:
    tok2vec = model.layers[0]
    tok2vec.initialize(X=None if X is None else leading_docs(X, model.attrs["max_tokens"].value))
    if tok2vec.has_dim("nO") and tok2vec.get_dim("nO") is not None:
        model.set_dim("nO", tok2vec.get_dim("nO"))
    return model


def forward(model: Model, docs: List[Doc], is_train: bool) -> Tuple[List[Floats2d], Callable]:
    read = leading_docs(docs, model.attrs["max_tokens"].value)
    tokvecs, bp_tokvecs = model.layers[0](read, is_train)

    def backprop(d_tokvecs: List[Floats2d]) -> List[Doc]:
        bp_tokvecs(d_tokvecs)
        return docs

    return tokvecs, backprop
