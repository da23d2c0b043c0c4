"""Holding a config setting on a Thinc layer."""
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Setting(Generic[T]):
    """A layer's setting from the config, kept in `model.attrs`.

    Thinc's `Model.to_bytes` skips attributes msgpack cannot encode, and this
    is one, so a saved model never carries a copy of it: a loaded model uses
    the config in force, the one source of every setting.
    """

    value: T
