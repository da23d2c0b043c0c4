"""Loaders for the benchmark corpora in ``/work/shared/data`` (read in place, never copied).

* OCTIS-format 20 Newsgroups (``octis_20ng/corpus.tsv``): one document per line,
  ``<space-joined tokens>\\t<partition>\\t<label>``, partitions ``train``/``val``/``test``.
* Raw 20 Newsgroups "bydate" (``20newsgroups/{train,test}.jsonl.gz``): JSON lines with
  ``id``, ``label``, ``raw`` and ``text`` (sklearn-cleaned: headers, footers, quotes removed).
"""
from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Sequence

DATA_DIR = Path("/work/shared/data")
OCTIS_TSV = DATA_DIR / "octis_20ng" / "corpus.tsv"
NG20_DIR = DATA_DIR / "20newsgroups"


@dataclass
class OctisCorpus:
    tokens: List[List[str]]
    partitions: List[str]
    labels: List[str]

    def __len__(self) -> int:
        return len(self.tokens)

    def subset(self, partitions: Optional[Sequence[str]]) -> "OctisCorpus":
        """Documents whose partition is in ``partitions`` (``None`` = all)."""
        if partitions is None:
            return self
        keep = set(partitions)
        idx = [i for i, p in enumerate(self.partitions) if p in keep]
        return OctisCorpus(
            [self.tokens[i] for i in idx],
            [self.partitions[i] for i in idx],
            [self.labels[i] for i in idx],
        )


def load_octis_tsv(path: Path | str = OCTIS_TSV) -> OctisCorpus:
    """Read an OCTIS ``corpus.tsv``: returns tokens (str.split on the first column),
    partition and label per document, in file order."""
    tokens, parts, labels = [], [], []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            cols = line.split("\t")
            if len(cols) < 2:
                raise ValueError(f"{path}:{n}: expected >=2 tab-separated columns")
            tokens.append(cols[0].split())
            parts.append(cols[1])
            labels.append(cols[2] if len(cols) > 2 else "")
    return OctisCorpus(tokens, parts, labels)


@dataclass
class NewsgroupsSplit:
    ids: List[str]
    labels: List[str]
    text: List[str]
    raw: List[str] = field(repr=False, default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)


def load_20ng_jsonl(path: Path | str, keep_raw: bool = False) -> NewsgroupsSplit:
    """Read one ``{train,test}.jsonl.gz`` file (file order = label, then file name)."""
    ids, labels, text, raw = [], [], [], []
    with gzip.open(path, "rt", encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            d = json.loads(line)
            ids.append(d["id"])
            labels.append(d["label"])
            text.append(d["text"])
            if keep_raw:
                raw.append(d["raw"])
    return NewsgroupsSplit(ids, labels, text, raw)


def load_20ng(
    data_dir: Path | str = NG20_DIR, keep_raw: bool = False
) -> tuple[NewsgroupsSplit, NewsgroupsSplit]:
    """(train, test) splits of the raw 20 Newsgroups jsonl.gz files."""
    d = Path(data_dir)
    return (
        load_20ng_jsonl(d / "train.jsonl.gz", keep_raw),
        load_20ng_jsonl(d / "test.jsonl.gz", keep_raw),
    )
