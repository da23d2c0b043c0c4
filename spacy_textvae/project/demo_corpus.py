"""The demo corpus: short English documents over eight clearly different
themes, written by the project itself (no download), so that `spacy project
run all` works offline on a fresh machine.

Every document is 2 to 5 sentences drawn from hand-written sentence templates
of one theme, with slots filled from that theme's word lists by a seeded RNG
(both in demo_words.json, next to this module);
about one document in four also carries a theme-neutral sentence, so that not
every word is a giveaway. The same seed always gives the same file.
"""
import json
import random
import re
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple, Union

from ..errors import TextVAEError

# The word lists and sentence templates: "common" slots shared by all themes,
# theme-neutral "generic" sentences mixed into some documents, and per theme
# its "templates" plus its own slots.
WORDS_PATH = Path(__file__).with_name("demo_words.json")


def _load_words(path: Path = WORDS_PATH) -> Tuple[Dict[str, List[str]], List[str], Dict[str, Dict[str, List[str]]]]:
    with path.open(encoding="utf8") as f:
        data = json.load(f)
    return data["common"], data["generic"], data["themes"]


COMMON, GENERIC, THEMES = _load_words()

_SLOT = re.compile(r"\{(\w+)\}")


def _fill(template: str, slots: Dict[str, List[str]], rng: random.Random) -> str:
    text = _SLOT.sub(lambda m: rng.choice(slots[m.group(1)]), template)
    return text[0].upper() + text[1:]


def generate_demo_docs(
    n_docs: int = 800,
    seed: int = 0,
    themes: Optional[Sequence[str]] = None,
    min_sentences: int = 2,
    max_sentences: int = 5,
    generic_share: float = 0.25,
) -> Iterator[Dict[str, str]]:
    """Generate the demo documents, balanced over the themes.

    n_docs (int): Number of documents.
    seed (int): Seed of the random number generator.
    themes (Optional[Sequence[str]]): Themes to use (default: all of `THEMES`).
    min_sentences (int): Fewest sentences per document.
    max_sentences (int): Most sentences per document.
    generic_share (float): Share of documents with one theme-neutral sentence.
    YIELDS (Dict[str, str]): Records {"id", "text", "label"}.
    """
    names = list(THEMES) if themes is None else list(themes)
    unknown = [t for t in names if t not in THEMES]
    if unknown:
        raise TextVAEError(f"Unknown demo themes {unknown}. Choose from {list(THEMES)}.")
    if not 1 <= min_sentences <= max_sentences:
        raise TextVAEError(
            f"min_sentences={min_sentences}, max_sentences={max_sentences}. "
            "Pass 1 <= min_sentences <= max_sentences."
        )
    rng = random.Random(seed)
    labels = [names[i % len(names)] for i in range(n_docs)]
    rng.shuffle(labels)
    for i, label in enumerate(labels):
        theme = THEMES[label]
        slots = {**COMMON, **{k: v for k, v in theme.items() if k != "templates"}}
        n = rng.randint(min_sentences, max_sentences)
        sentences = [_fill(t, slots, rng) for t in rng.sample(theme["templates"], n)]
        if rng.random() < generic_share:
            pos = rng.randint(0, len(sentences))
            sentences.insert(pos, _fill(rng.choice(GENERIC), COMMON, rng))
        yield {"id": f"demo-{i:04d}", "text": " ".join(sentences), "label": label}


def write_demo_corpus(
    output: Union[str, Path], n_docs: int = 800, seed: int = 0, **kwargs
) -> int:
    """Write the demo corpus as JSONL (one {"id", "text", "label"} per line).

    output (Union[str, Path]): The file to write.
    n_docs (int): Number of documents.
    seed (int): Seed of the random number generator.
    RETURNS (int): The number of documents written.
    """
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with output.open("w", encoding="utf-8", newline="\n") as f:
        for record in generate_demo_docs(n_docs=n_docs, seed=seed, **kwargs):
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            n += 1
    return n
