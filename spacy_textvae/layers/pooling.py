"""Pooling each doc's token vectors into one vector: mean, max, or both."""
from typing import Callable, List, Optional, Tuple

from thinc.api import Model
from thinc.types import Floats2d

from ..errors import TextVAEError
from .setting import Setting

POOLING_MODES = ("mean", "max", "mean_max")


def build_pooling(mode: str) -> Model[List[Floats2d], Floats2d]:
    """Pool each doc's token vectors into one vector.

    mode (str): "mean", "max" or "mean_max" (mean and max concatenated).
    RETURNS (Model[List[Floats2d], Floats2d]): The pooling layer: nO is nI, or
        2·nI for "mean_max". Empty docs pool to zeros.
    """
    if mode not in POOLING_MODES:
        raise TextVAEError(f"pooling must be one of {POOLING_MODES}, not {mode!r}. Set [components.textvae.model] pooling.")
    return Model(f"textvae_pool_{mode}", forward, init=init, dims={"nI": None, "nO": None}, attrs={"mode": Setting(mode)})


def init(model: Model, X: Optional[List[Floats2d]] = None, Y: Optional[Floats2d] = None) -> Model:
    if X is not None and len(X):
        width = X[0].shape[1]
        model.set_dim("nI", width)
        model.set_dim("nO", width * (2 if model.attrs["mode"].value == "mean_max" else 1))
    return model


def forward(model: Model, Xs: List[Floats2d], is_train: bool) -> Tuple[Floats2d, Callable]:
    ops = model.ops
    mode = model.attrs["mode"].value
    n_docs = len(Xs)
    width = Xs[0].shape[1] if Xs else (model.get_dim("nI") if model.has_dim("nI") else 0)
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
