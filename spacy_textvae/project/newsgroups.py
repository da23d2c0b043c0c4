"""20 Newsgroups: clean posts as scikit-learn's `fetch_20newsgroups(remove=
("headers", "footers", "quotes"))` does, and convert the bydate archive to JSONL."""
import gzip
import json
import re
import tarfile
from pathlib import Path
from typing import Dict, List, Tuple

from tqdm import tqdm

from .corpus import InputError

_QUOTE_RE = re.compile(r"(writes in|writes:|wrote:|says:|said:|^In article|^Quoted from|^\||^>)")


def strip_newsgroup_header(text: str) -> str:
    """Drop everything up to and including the first blank line (scikit-learn's rule)."""
    _, _, after = text.partition("\n\n")
    return after


def strip_newsgroup_footer(text: str) -> str:
    """Cut at the last line that is empty or only dashes (scikit-learn's rule)."""
    lines = text.strip().split("\n")
    line_num = 0
    for line_num in range(len(lines) - 1, -1, -1):
        if lines[line_num].strip().strip("-") == "":
            break
    return "\n".join(lines[:line_num]) if line_num > 0 else text


def strip_newsgroup_quoting(text: str) -> str:
    """Drop quoted lines and attribution lines (scikit-learn's rule)."""
    return "\n".join(line for line in text.split("\n") if not _QUOTE_RE.search(line))


def clean_newsgroup_post(raw: str) -> str:
    """Headers, footers and quotes removed, in scikit-learn's order
    (`fetch_20newsgroups(remove=("headers", "footers", "quotes"))`)."""
    return strip_newsgroup_quoting(strip_newsgroup_footer(strip_newsgroup_header(raw)))


def convert_20newsgroups(archive: Path, output_dir: Path, progress: bool = True) -> Dict[str, int]:
    """Convert `20news-bydate.tar.gz` into `train.jsonl.gz` and `test.jsonl.gz`
    with fields id, label, raw (latin-1 decoded) and text (cleaned), ordered by
    label and file name.

    archive (Path): The archive.
    output_dir (Path): Folder for the two files.
    progress (bool): Show a progress bar on a terminal.
    RETURNS (Dict[str, int]): Documents per split.
    """
    archive = Path(archive)
    if not archive.exists():
        raise InputError(
            f"{archive} not found. Fetch it with `python -m spacy project assets --extra`, "
            "or copy 20news-bydate.tar.gz there."
        )
    records: Dict[str, List[Tuple[str, str, str]]] = {"train": [], "test": []}
    try:
        with tarfile.open(archive, mode="r:*") as tar:
            for member in tqdm(tar, desc="Reading archive", unit="file", leave=False, disable=None if progress else True):
                if not member.isfile():
                    continue
                parts = member.name.split("/")
                if len(parts) < 3 or not parts[-3].startswith("20news-bydate-"):
                    continue
                split = parts[-3][len("20news-bydate-") :]
                if split not in records:
                    continue
                data = tar.extractfile(member).read()
                records[split].append((parts[-2], parts[-1], data.decode("latin-1")))
    except tarfile.TarError as e:
        raise InputError(f"{archive} is not a readable tar archive ({e}). Download it again.") from None
    if not any(records.values()):
        raise InputError(
            f"{archive} holds no 20news-bydate-train/ or -test/ files. "
            "Use the 'bydate' archive, 20news-bydate.tar.gz (`python -m spacy project assets --extra`)."
        )
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    counts = {}
    for split, items in records.items():
        items.sort(key=lambda x: (x[0], x[1]))
        path = output_dir / f"{split}.jsonl.gz"
        with path.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0, filename="", compresslevel=9) as gz:
            for label, name, text in items:
                rec = {"id": f"{split}/{label}/{name}", "label": label, "text": clean_newsgroup_post(text), "raw": text}
                gz.write((json.dumps(rec, ensure_ascii=False) + "\n").encode("utf-8"))
        counts[split] = len(items)
    return counts


# -- commands -------------------------------------------------------------------
