"""The README's configuration reference is the factory's default config, and
the README stays short and free of machine-specific paths."""
import re
from pathlib import Path

import pytest
from spacy.language import Language
from thinc.api import Config

import spacy_textvae  # noqa: F401  (registers the factory)

README = Path(__file__).resolve().parent.parent / "README.md"
HEADING = "## Configuration reference"
MAX_LINES = 310


def readme_text() -> str:
    return README.read_text(encoding="utf8")


def readme_config_block(text: str) -> str:
    """The first ```ini block after the configuration reference heading."""
    lines = text.splitlines()
    starts = [i for i, line in enumerate(lines) if line.strip() == HEADING]
    assert len(starts) == 1, f"README.md needs exactly one '{HEADING}' heading"
    body = lines[starts[0] + 1 :]
    opening = next((i for i, line in enumerate(body) if line.strip() == "```ini"), None)
    assert opening is not None, f"no ```ini block under '{HEADING}'"
    closing = next((i for i in range(opening + 1, len(body)) if body[i].strip() == "```"), None)
    assert closing is not None, f"the ```ini block under '{HEADING}' is not closed"
    return "\n".join(body[opening + 1 : closing])


@pytest.fixture(scope="module")
def readme_component():
    # Parsed as written, so the block can be pasted into a config as is (the
    # config parser takes comments on their own lines only). It starts at
    # [components.textvae], so its parent section is added here.
    config = Config().from_str("[components]\n" + readme_config_block(readme_text()), interpolate=False)
    assert set(config.keys()) == {"components"}, sorted(config.keys())
    assert set(config["components"].keys()) == {"textvae"}
    return dict(config["components"]["textvae"])


@pytest.fixture(scope="module")
def default_config():
    return dict(Language.get_factory_meta("textvae").default_config)


def test_readme_names_the_factory(readme_component):
    assert readme_component.get("factory") == "textvae"


def test_readme_config_has_every_default_setting(readme_component, default_config):
    shown = {k: v for k, v in readme_component.items() if k != "factory"}
    defaults = {k: v for k, v in default_config.items() if k != "scorer"}
    missing = sorted(set(defaults) - set(shown))
    extra = sorted(set(shown) - set(defaults))
    assert not missing, f"settings of the factory missing from README.md: {missing}"
    assert not extra, f"settings in README.md that the factory does not have: {extra}"
    for key, value in defaults.items():
        if key == "model":
            continue
        assert shown[key] == value, f"{key}: README.md says {shown[key]!r}, the factory {value!r}"
        # true == 1 in Python: check that booleans stay booleans
        assert isinstance(shown[key], bool) == isinstance(value, bool), key


def test_readme_model_config_is_the_default(readme_component, default_config):
    shown = dict(readme_component["model"])
    default = dict(default_config["model"])
    shown_tok2vec = dict(shown.pop("tok2vec"))
    default_tok2vec = dict(default.pop("tok2vec"))
    assert shown == default
    assert shown_tok2vec == default_tok2vec


def test_readme_is_short():
    n_lines = len(readme_text().splitlines())
    assert n_lines <= MAX_LINES, f"README.md has {n_lines} lines, at most {MAX_LINES} allowed"


@pytest.mark.parametrize(
    "pattern",
    [re.escape("../shared"), re.escape("/work/"), r"session \d"],
    ids=["shared-path", "work-path", "session-number"],
)
def test_readme_has_no_machine_paths_or_log_entries(pattern):
    found = re.findall(rf".{{0,30}}{pattern}.{{0,30}}", readme_text(), flags=re.IGNORECASE)
    assert not found, f"README.md contains {found}"


def python_blocks(text: str):
    """The ```python blocks of the README, in order."""
    return re.findall(r"^```python\n(.*?)^```", text, flags=re.MULTILINE | re.DOTALL)


def test_readme_python_examples_run(tmp_path, monkeypatch):
    # The quickstart and what continues it, as one script (the Ray one needs a cluster).
    blocks = [b for b in python_blocks(readme_text()) if "ray" not in b]
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile("\n".join(blocks), "README.md", "exec"), namespace)
    assert namespace["doc"].similarity(namespace["other"]) != 0.0
    assert "yacht" in namespace["textvae"].topic_vocab.words
