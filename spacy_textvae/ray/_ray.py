"""Importing Ray, with an error that says how to install it."""
from typing import Any

from ..errors import TextVAEError


def require_ray() -> Any:
    """RETURNS (module): the `ray` package; raises TextVAEError with the install line without it."""
    try:
        import ray
    except ImportError as e:
        raise TextVAEError(
            f"spacy_textvae.ray needs Ray ({e}). Install it with: pip install \"spacy-textvae[ray]\"."
        ) from e
    return ray


def cluster_resource(name: str) -> float:
    """RETURNS (float): the cluster's total `name` resource ("CPU", "GPU"),
    starting a local Ray instance if none is running (as Ray Data does)."""
    ray = require_ray()
    if not ray.is_initialized():
        ray.init()
    return float(ray.cluster_resources().get(name, 0.0))
