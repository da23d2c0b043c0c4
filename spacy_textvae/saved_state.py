"""What a saved textvae component holds besides its model, and the checks
that a loaded one is what was saved: the learned state (`cfg`) and a SHA-256
of the model's bytes (weights and topic vocabulary)."""
import hashlib
from typing import Any, Dict, Tuple

from .errors import TextVAEError
from .topic_merge import check_merge_map


def saved_cfg(cfg: Dict[str, Any], model_bytes: bytes) -> Dict[str, Any]:
    """RETURNS (Dict[str, Any]): the cfg to save: the learned state and the model's checksum."""
    return {**cfg, "model_sha256": hashlib.sha256(model_bytes).hexdigest()}


def read_saved_cfg(saved: Any, name: str) -> Tuple[Dict[str, Any], str]:
    """The learned state and the model checksum of a saved cfg, checked.

    saved (Any): The parsed JSON.
    name (str): The component's name, for messages.
    RETURNS (Tuple[Dict[str, Any], str]): {"step", "docs_seen", "prior_fitted"}
        (and "topic_merge" when topics were merged) and the checksum.
    """
    try:
        step, fitted, checksum = saved["step"], saved["prior_fitted"], saved["model_sha256"]
        docs_seen = saved["docs_seen"]
        for key, value in (("step", step), ("docs_seen", docs_seen)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{key} = {value!r}")
        if not isinstance(fitted, bool) or not isinstance(checksum, str):
            raise ValueError(f"prior_fitted = {fitted!r}, model_sha256 = {checksum!r}")
    except (KeyError, TypeError, ValueError) as e:
        raise TextVAEError(
            f"The saved state ('cfg') of the '{name}' component is damaged or from another "
            f"version ({type(e).__name__}: {e}). Re-train or re-save the pipeline."
        ) from e
    cfg: Dict[str, Any] = {"step": step, "docs_seen": docs_seen, "prior_fitted": fitted}
    if saved.get("topic_merge") is not None:
        cfg["topic_merge"] = check_merge_map(saved["topic_merge"], name)
    return cfg, checksum


def check_model_bytes(data: bytes, checksum: str, name: str) -> None:
    """Raise unless the model's bytes are the ones saved (silent corruption
    changes outputs without breaking the format)."""
    if hashlib.sha256(data).hexdigest() != checksum:
        raise TextVAEError(
            f"The saved '{name}' model does not match its checksum: the file was changed or "
            "damaged after it was saved. Save the pipeline again from the trained one, or re-train."
        )
