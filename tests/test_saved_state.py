"""The saved learned state and the model checksum."""
import pytest

from spacy_textvae import TextVAEError
from spacy_textvae.saved_state import check_model_bytes, read_saved_cfg, saved_cfg


def test_round_trip_and_checksum():
    cfg = saved_cfg({"step": 12, "docs_seen": 300, "prior_fitted": True}, b"model bytes")
    state, checksum = read_saved_cfg(cfg, "textvae")
    assert state == {"step": 12, "docs_seen": 300, "prior_fitted": True}
    check_model_bytes(b"model bytes", checksum, "textvae")
    with pytest.raises(TextVAEError, match="'textvae' model does not match its checksum"):
        check_model_bytes(b"model bytez", checksum, "textvae")


@pytest.mark.parametrize(
    "saved,match",
    [([], "TypeError"), ({"step": -1, "docs_seen": 0, "prior_fitted": True, "model_sha256": "x"}, "step = -1"),
     ({"step": True, "docs_seen": 0, "prior_fitted": True, "model_sha256": "x"}, "step = True"),
     ({"step": 1, "docs_seen": 1.5, "prior_fitted": True, "model_sha256": "x"}, "docs_seen = 1.5"),
     ({"step": 1, "prior_fitted": True, "model_sha256": "x"}, "KeyError"),
     ({"step": 1, "docs_seen": 2, "prior_fitted": "yes", "model_sha256": "x"}, "prior_fitted = 'yes'")],
)
def test_bad_values_are_refused(saved, match):
    with pytest.raises(TextVAEError, match=rf"'cfg'\) of the 'news' component is damaged.*{match}"):
        read_saved_cfg(saved, "news")
