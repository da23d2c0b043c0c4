"""Raw text in, spaCy corpora out: read JSONL, CSV/TSV (optionally gzipped)
or a folder of .txt files as a stream, and write seeded train/dev `.spacy`
splits with gold labels in `doc.cats` (for evaluation only)."""
import csv
import gzip
import json
import random
import shutil
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Dict, Iterator, List, Optional, Sequence, Tuple

from tqdm import tqdm

from ..errors import TextVAEError

INPUT_FORMATS = ("auto", "jsonl", "csv", "txt")
# Docs per .spacy shard: a split with more docs is written as a folder of shards,
# so the DocBin held in memory stays bounded (spaCy's corpus reader reads both).
DEFAULT_SHARD_SIZE = 20000
# How many locations of skipped records are listed in the report.
MAX_LISTED = 5
GZIP_MAGIC = b"\x1f\x8b"


class InputError(TextVAEError):
    """A problem with an input file or setting, named with its location and the fix."""


# -- reading raw records --------------------------------------------------------


@dataclass
class Record:
    """One raw document: its text (None when absent), gold label, location,
    and the values of the extra fields asked for (`doc.user_data` key → value)."""

    text: Optional[str]
    label: Optional[str]
    where: str
    extra: Dict[str, str] = field(default_factory=dict)


# The doc.user_data keys preprocessing writes the group and date fields to.
GROUP_KEY = "group"
DATE_KEY = "date"


def _extra_of(get: Any, extra_fields: Dict[str, str]) -> Dict[str, str]:
    """The non-empty values of the extra fields, as strings."""
    values = {}
    for key, name in extra_fields.items():
        value = _label_of(get(name))
        if value is not None:
            values[key] = value
    return values


@dataclass
class SkipReport:
    """Counts of records left out, by reason, with the first few locations."""

    counts: Counter = field(default_factory=Counter)
    where: Dict[str, List[str]] = field(default_factory=dict)

    def add(self, reason: str, where: str) -> None:
        self.counts[reason] += 1
        listed = self.where.setdefault(reason, [])
        if len(listed) < MAX_LISTED:
            listed.append(where)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def lines(self) -> List[str]:
        out = []
        for reason, n in self.counts.most_common():
            more = ", ..." if n > len(self.where[reason]) else ""
            out.append(f"{n} x {reason} ({', '.join(self.where[reason])}{more})")
        return out


def _is_gzip(path: Path) -> bool:
    with path.open("rb") as f:
        return f.read(2) == GZIP_MAGIC


def _detect_format(path: Path) -> str:
    if path.is_dir():
        return "txt"
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    ext = suffixes[-1] if suffixes else ""
    if ext in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if ext in (".csv", ".tsv"):
        return "csv"
    if ext == ".txt":
        return "txt"
    raise InputError(
        f"Cannot tell the format of {path}: name it *.jsonl, *.csv or *.tsv (optionally "
        "with .gz), give a folder of .txt files, or pass --format jsonl|csv|txt "
        "(in the project: --vars.format jsonl)."
    )


class _ByteProgress:
    """Tracks how far into a (possibly gzip-compressed) file reading has got."""

    def __init__(self, raw: IO[bytes], bar: Optional[tqdm]) -> None:
        self.raw = raw
        self.bar = bar
        self.last = 0

    def tick(self) -> None:
        if self.bar is not None:
            pos = self.raw.tell()
            if pos > self.last:
                self.bar.update(pos - self.last)
                self.last = pos


def _open_lines(path: Path, desc: str, progress: bool) -> Iterator[Tuple[int, bytes]]:
    """Yield (line number, raw bytes) of a plain or gzip file, with a progress bar
    over the bytes read from disk. Raises InputError for an empty file."""
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{path} is empty (0 bytes). Check the path, or write the corpus again.")
    with path.open("rb") as raw:
        stream: IO[bytes] = gzip.GzipFile(fileobj=raw, mode="rb") if _is_gzip(path) else raw
        bar = tqdm(
            total=size, desc=desc, unit="B", unit_scale=True, leave=False,
            disable=None if progress else True,
        )
        tracker = _ByteProgress(raw, bar)
        n = 0
        try:
            for n, line in enumerate(stream, start=1):
                yield n, line
                if n % 256 == 0:
                    tracker.tick()
        except (OSError, EOFError) as e:  # damaged gzip stream
            raise InputError(
                f"{path}, after line {n}: the file is damaged or truncated ({e}). "
                "Download or compress it again."
            ) from e
        finally:
            tracker.tick()
            bar.close()
    if n == 0:
        raise InputError(f"{path} is empty (no lines after decompression). Check the path.")


def _decode(line: bytes, path: Path, n: int, encoding: str) -> str:
    try:
        return line.decode(encoding)
    except UnicodeDecodeError as e:
        bad = line[e.start : e.start + 1]
        raise InputError(
            f"{path}, line {n}: byte 0x{bad.hex()} at column {e.start + 1} is not valid "
            f"{encoding}. Re-save the file as UTF-8, or pass --encoding with the file's "
            "real encoding (e.g. --encoding latin-1; in the project: --vars.encoding latin-1)."
        ) from None


def _label_of(value: Any) -> Optional[str]:
    if value is None or value == "":
        return None
    if isinstance(value, (list, tuple)):
        return _label_of(value[0]) if len(value) else None
    return str(value)


def _read_jsonl(
    path: Path, text_field: str, label_field: Optional[str], encoding: str, progress: bool,
    extra_fields: Dict[str, str],
) -> Iterator[Record]:
    for n, line in _open_lines(path, f"Reading {path.name}", progress):
        text = _decode(line, path, n, encoding).strip()
        if not text:
            continue  # blank line between records
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as e:
            hint = (
                " It looks like one JSON array: write one object per line (JSONL)."
                if n == 1 and text.startswith("[")
                else ""
            )
            raise InputError(
                f"{path}, line {n}: not valid JSON ({e.msg}, column {e.colno}). Each line "
                f'must hold one JSON object such as {{"{text_field}": "...", "label": "..."}}.{hint}'
            ) from None
        if not isinstance(obj, dict):
            found = "a JSON array" if isinstance(obj, list) else type(obj).__name__
            raise InputError(
                f"{path}, line {n}: expected a JSON object, found {found}. Write one "
                f'object per line (JSONL) such as {{"{text_field}": "..."}}.'
            )
        if text_field not in obj:
            fields = ", ".join(sorted(obj)) or "none"
            raise InputError(
                f"{path}, line {n}: no '{text_field}' field (fields: {fields}). Pass "
                "--text-field with the name of the field that holds the text (in the "
                "project: --vars.text_field NAME)."
            )
        label = _label_of(obj.get(label_field)) if label_field else None
        yield Record(obj[text_field], label, f"{path.name}:{n}", _extra_of(obj.get, extra_fields))


def _read_csv(
    path: Path, text_field: str, label_field: Optional[str], encoding: str, progress: bool,
    extra_fields: Dict[str, str],
) -> Iterator[Record]:
    delimiter = "\t" if ".tsv" in [s.lower() for s in path.suffixes] else ","
    lines = (_decode(line, path, n, encoding) for n, line in _open_lines(path, f"Reading {path.name}", progress))
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        raise InputError(f"{path} is empty. Check the path.") from None
    except csv.Error as e:
        raise InputError(f"{path}, line 1: malformed CSV header ({e}). Check the quoting of the header line.") from None
    header = [h.strip().lstrip("\ufeff") for h in header]
    if text_field not in header:
        raise InputError(
            f"{path}, line 1: no '{text_field}' column (columns: {', '.join(header)}). "
            "Pass --text-field with the name of the text column (in the project: "
            "--vars.text_field NAME)."
        )
    text_col = header.index(text_field)
    label_col = header.index(label_field) if label_field and label_field in header else None
    missing = [name for name in extra_fields.values() if name not in header]
    if missing:
        raise InputError(
            f"{path}, line 1: no '{missing[0]}' column (columns: {', '.join(header)}). Pass "
            "--group-field / --date-field with the name of a column, or leave them out."
        )
    extra_cols = {key: header.index(name) for key, name in extra_fields.items()}
    prev = reader.line_num
    try:
        for row in reader:
            where = f"{path.name}:{prev + 1}"
            prev = reader.line_num
            if not row:
                continue
            if len(row) != len(header):
                raise InputError(
                    f"{path}, line {where.rsplit(':', 1)[1]}: {len(row)} fields where the header "
                    f"has {len(header)}. Quote fields that contain the delimiter or line breaks."
                )
            label = _label_of(row[label_col]) if label_col is not None else None
            yield Record(row[text_col], label, where, _extra_of(lambda col: row[col], extra_cols))
    except csv.Error as e:
        raise InputError(f"{path}, line {reader.line_num}: malformed CSV ({e}). Check the quoting.") from None


def _read_txt(
    path: Path, label_field: Optional[str], encoding: str, progress: bool
) -> Iterator[Record]:
    """A folder: each .txt file below it is a doc, labelled by its top sub-folder.
    A single .txt file: each non-empty line is a doc."""
    if path.is_file():
        for n, line in _open_lines(path, f"Reading {path.name}", progress):
            text = _decode(line, path, n, encoding)
            if text.strip():
                yield Record(text.rstrip("\r\n"), None, f"{path.name}:{n}")
        return
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.name.lower().endswith((".txt", ".txt.gz")))
    if not files:
        raise InputError(f"{path} holds no .txt files. Point the input at a folder of .txt files.")
    for file in tqdm(files, desc=f"Reading {path.name}/", unit="file", leave=False, disable=None if progress else True):
        rel = file.relative_to(path)
        label = rel.parts[0] if label_field is not None and len(rel.parts) > 1 else None
        data = file.read_bytes()
        if data[:2] == GZIP_MAGIC:
            data = gzip.decompress(data)
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError as e:
            line = data[: e.start].count(b"\n") + 1
            raise InputError(
                f"{file}, line {line}: byte 0x{data[e.start:e.start + 1].hex()} is not valid "
                f"{encoding}. Re-save the file as UTF-8, or pass --encoding with the file's "
                "real encoding (e.g. --encoding latin-1; in the project: --vars.encoding latin-1)."
            ) from None
        yield Record(text, label, str(rel))


def read_records(
    path: Path,
    *,
    text_field: str = "text",
    label_field: Optional[str] = "label",
    input_format: str = "auto",
    encoding: str = "utf-8",
    progress: bool = True,
    extra_fields: Optional[Dict[str, str]] = None,
) -> Iterator[Record]:
    """Stream the raw records of a JSONL file, a CSV/TSV file (each optionally
    gzip-compressed) or a folder of .txt files.

    path (Path): The input.
    text_field (str): JSON field or CSV column holding the text.
    label_field (Optional[str]): JSON field or CSV column holding the gold label
        (for a folder: any value means "label = top sub-folder"); None for none.
    input_format (str): "auto" (from the name), "jsonl", "csv" or "txt".
    encoding (str): The text encoding of the files.
    progress (bool): Show a progress bar on a terminal.
    extra_fields (Optional[Dict[str, str]]): More fields to keep, by the key
        they get in `Record.extra` (JSONL and CSV only; .txt files have no fields).
    YIELDS (Record): The records, in file order.
    """
    extra_fields = dict(extra_fields or {})
    path = Path(path)
    if not path.exists():
        raise InputError(f"Input not found: {path}. Check the path (relative paths start at the project folder).")
    if input_format not in INPUT_FORMATS:
        raise InputError(
            f"Unknown input format {input_format!r}. Pass --format with one of {', '.join(INPUT_FORMATS)} "
            "(in the project: --vars.format)."
        )
    fmt = _detect_format(path) if input_format == "auto" else input_format
    if fmt == "jsonl":
        return _read_jsonl(path, text_field, label_field, encoding, progress, extra_fields)
    if fmt == "csv":
        return _read_csv(path, text_field, label_field, encoding, progress, extra_fields)
    if extra_fields:
        raise InputError(
            f"{path} is plain text, which has no fields: --group-field / --date-field need JSONL or CSV input."
        )
    return _read_txt(path, label_field, encoding, progress)


# -- writing .spacy corpora ---------------------------------------------------------


class DocBinWriter:
    """Writes docs to `path` as one .spacy file, or, once more than `shard_size`
    docs arrive, as a folder `path` of .spacy shards (spaCy's `Corpus` reads
    both), so memory stays bounded on large inputs."""

    ATTRS = ["ORTH", "NORM", "SPACY"]

    def __init__(self, path: Path, shard_size: int = DEFAULT_SHARD_SIZE, store_user_data: bool = False) -> None:
        from spacy.tokens import DocBin

        self._DocBin = DocBin
        self.path = Path(path)
        self.shard_size = int(shard_size)
        self.store_user_data = bool(store_user_data)
        self.n_docs = 0
        self.n_shards = 0
        self.labels: Counter = Counter()
        if self.path.is_dir():
            shutil.rmtree(self.path)
        elif self.path.exists():
            self.path.unlink()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._bin = self._new_bin()

    def _new_bin(self):
        return self._DocBin(attrs=self.ATTRS, store_user_data=self.store_user_data)

    def add(self, doc, label: Optional[str]) -> None:
        self._bin.add(doc)
        self.n_docs += 1
        if label is not None:
            self.labels[label] += 1
        if self.shard_size > 0 and len(self._bin) >= self.shard_size:
            self._flush()

    def _flush(self) -> None:
        if self.n_shards == 0:
            self.path.mkdir(parents=True)
        self._bin.to_disk(self.path / f"{self.n_shards:05d}.spacy")
        self.n_shards += 1
        self._bin = self._new_bin()

    def close(self) -> int:
        if self.n_shards == 0:
            self._bin.to_disk(self.path)
        elif len(self._bin):
            self._flush()
        return self.n_docs


def _scan_labels(paths: Sequence[Path], label_field: Optional[str], **kwargs) -> List[str]:
    labels = set()
    if label_field:
        for path in paths:
            for record in read_records(path, label_field=label_field, **kwargs):
                if record.label is not None:
                    labels.add(record.label)
    return sorted(labels)


class SeededSplit:
    """Assigns a stream of records to "train" or "dev": in every block of q
    records, p seeded-random positions go to dev, where p/q ~ `dev_share`, so
    the dev share is exact per block (and on sorted inputs each stretch of the
    file gives its share) whatever the corpus size.

    dev_share (float): The share of dev records, in (0, 1).
    seed (int): Seed of the random positions.
    """

    def __init__(self, dev_share: float, seed: int = 0) -> None:
        from fractions import Fraction

        share = Fraction(dev_share).limit_denominator(100)
        self.p, self.q = share.numerator, share.denominator
        self.rng = random.Random(seed)
        self.block: set = set()
        self.i = 0

    def __call__(self) -> str:
        pos = self.i % self.q
        if pos == 0:
            self.block = set(self.rng.sample(range(self.q), self.p))
        self.i += 1
        return "dev" if pos in self.block else "train"


def _usable(record: Record, skipped: SkipReport) -> Optional[str]:
    text = record.text
    if text is None:
        skipped.add("null text", record.where)
        return None
    if not isinstance(text, str):
        skipped.add(f"text that is not a string ({type(text).__name__})", record.where)
        return None
    if not text.strip():
        skipped.add("empty text", record.where)
        return None
    return text


def preprocess_corpus(
    input_path: Path,
    train_output: Path,
    dev_output: Path,
    *,
    dev_input: Optional[Path] = None,
    dev_share: float = 0.2,
    seed: int = 0,
    text_field: str = "text",
    label_field: Optional[str] = "label",
    input_format: str = "auto",
    encoding: str = "utf-8",
    lang: str = "en",
    limit: int = 0,
    shard_size: int = DEFAULT_SHARD_SIZE,
    batch_size: int = 1000,
    progress: bool = True,
    group_field: Optional[str] = None,
    date_field: Optional[str] = None,
) -> Dict[str, Any]:
    """Tokenize raw records into `train_output` and `dev_output` (.spacy).

    A record's gold label goes into `doc.cats` (one-hot over all labels seen),
    for evaluation; the textvae component itself never trains on it. Records
    with no or empty text are skipped and counted.

    input_path (Path): JSONL/CSV file or folder of .txt files.
    train_output (Path): Where to write the training docs.
    dev_output (Path): Where to write the development docs.
    dev_input (Optional[Path]): A separate input for the dev docs; None (or the
        same path as `input_path`) holds out a seeded share of `input_path`.
    dev_share (float): Share of `input_path` held out, when there is no dev_input.
    seed (int): Seed of the split.
    text_field (str): Field or column with the text.
    label_field (Optional[str]): Field or column with the gold label ("" or None: none).
    input_format (str): "auto", "jsonl", "csv" or "txt".
    encoding (str): Encoding of the input files.
    lang (str): Language code of the tokenizer (`spacy.blank(lang)`).
    limit (int): At most this many docs per input (0: all).
    shard_size (int): Docs per .spacy shard (0: always one file).
    batch_size (int): Texts tokenized per batch.
    progress (bool): Show progress bars on a terminal.
    group_field (Optional[str]): Field or column with a group (a source, an
        author), kept in `doc.user_data["group"]` ("" or None: none).
    date_field (Optional[str]): Field or column with an ISO date, kept in
        `doc.user_data["date"]` ("" or None: none). The report shows topic
        shares per group and over time from them.
    RETURNS (Dict[str, Any]): A summary: docs per split, labels, skipped records.
    """
    import spacy

    input_path = Path(input_path)
    if dev_input is not None and Path(dev_input).resolve() == input_path.resolve():
        dev_input = None
    if dev_input is None and not 0.0 < dev_share < 1.0:
        raise InputError(
            f"--dev-share is {dev_share}, outside (0, 1). Pass a share between 0 and 1 (exclusive), "
            "e.g. --dev-share 0.2 (in the project: --vars.dev_share 0.2), or a separate --dev-input."
        )
    label_field = label_field or None
    extra_fields = {key: name for key, name in ((GROUP_KEY, group_field), (DATE_KEY, date_field)) if name}
    read_kw = dict(text_field=text_field, input_format=input_format, encoding=encoding, progress=progress,
                   extra_fields=extra_fields)
    inputs = [input_path] + ([Path(dev_input)] if dev_input is not None else [])
    labels = _scan_labels(inputs, label_field, **read_kw)
    nlp = spacy.blank(lang)
    keep = bool(extra_fields)
    writers = {"train": DocBinWriter(train_output, shard_size, keep), "dev": DocBinWriter(dev_output, shard_size, keep)}
    skipped = SkipReport()

    def cats_for(label: Optional[str]) -> Dict[str, float]:
        return {name: float(name == label) for name in labels} if label is not None else {}

    def process(path: Path, split_of) -> int:
        kept = 0
        batch: List[Tuple[str, Optional[str], str, Dict[str, str]]] = []

        def flush() -> None:
            texts = [text for text, _, _, _ in batch]
            for doc, (_, label, split, extra) in zip(nlp.tokenizer.pipe(texts, batch_size=batch_size), batch):
                doc.cats = cats_for(label)
                doc.user_data.update(extra)
                writers[split].add(doc, label)
            batch.clear()

        for record in read_records(path, label_field=label_field, **read_kw):
            text = _usable(record, skipped)
            if text is None:
                continue
            batch.append((text, record.label, split_of(), record.extra))
            kept += 1
            if len(batch) >= batch_size:
                flush()
            if limit and kept >= limit:
                break
        flush()
        return kept

    if dev_input is None:
        process(input_path, SeededSplit(dev_share, seed))
    else:
        process(input_path, lambda: "train")
        process(Path(dev_input), lambda: "dev")
    counts = {split: writer.close() for split, writer in writers.items()}
    summary = {
        "train": counts["train"],
        "dev": counts["dev"],
        "labels": labels,
        "train_labels": dict(writers["train"].labels),
        "dev_labels": dict(writers["dev"].labels),
        "skipped": dict(skipped.counts),
        "skipped_lines": skipped.lines(),
    }
    for split, n in counts.items():
        if n == 0:
            hint = (
                "Raise --dev-share (in the project: --vars.dev_share) or give more documents"
                if split == "dev" and dev_input is None
                else "Check that the input holds non-empty texts"
            )
            raise InputError(f"The {split} split is empty. {hint}.")
    return summary


# -- loading corpora and pipelines ----------------------------------------------
