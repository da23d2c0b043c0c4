"""Topic shares per group of documents: by a label (a source, an author, a
class) or by a date bucketed into days, months or years.

A group's shares are the mean of its documents' topic proportions, so each
row sums to 1 and a share reads as "the part of this group's text that the
model gives to the topic".
"""
import datetime
import json
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Optional, Union

import numpy
from spacy.tokens import Doc

from .errors import TextVAEError

FREQUENCIES = ("day", "month", "year")
# Characters of an ISO date kept per frequency: "2024-03-05", "2024-03", "2024".
_ISO_CHARS = {"day": 10, "month": 7, "year": 4}

GroupKey = Union[str, Callable[[Doc], Any]]


@dataclass
class GroupTopics:
    """Topic shares per group.

    key (str): What the groups were read from (the key, or the callable's name).
    frequency (Optional[str]): The date bucketing ("day", "month", "year"), or None for labels.
    groups (List[str]): The groups, sorted (dates: in time order).
    counts (numpy.ndarray): int64 (n_groups,) documents per group.
    shares (numpy.ndarray): float64 (n_groups, n_topics), rows summing to 1.
    n_missing (int): Documents left out: no value under the key, or no topics.
    """

    key: str
    frequency: Optional[str]
    groups: List[str]
    counts: numpy.ndarray
    shares: numpy.ndarray
    n_missing: int = 0

    def to_dict(self) -> Dict[str, Any]:
        """RETURNS (Dict[str, Any]): the fields as JSON-serialisable values."""
        return {
            "key": self.key,
            "frequency": self.frequency,
            "groups": list(self.groups),
            "counts": [int(c) for c in self.counts],
            "shares": [[float(x) for x in row] for row in self.shares],
            "n_missing": int(self.n_missing),
        }

    def to_json(self) -> str:
        """RETURNS (str): `to_dict()` as JSON."""
        return json.dumps(self.to_dict(), ensure_ascii=False)


def group_value(doc: Doc, key: GroupKey) -> Any:
    """A doc's value under `key`, looked up in this order: a callable's
    result; the `Doc._` extension `key`; `doc.user_data[key]`; the doc.cats
    label `key` (the label when its score is >= 0.5, else "not <label>").

    RETURNS (Any): The value; None when the doc has none.
    """
    if callable(key):
        return key(doc)
    if Doc.has_extension(key):
        value = doc._.get(key)
        if value is not None:
            return value
    if key in doc.user_data:
        return doc.user_data[key]
    if key in doc.cats:
        return key if doc.cats[key] >= 0.5 else f"not {key}"
    return None


def date_bucket(value: Any, frequency: str) -> str:
    """The bucket of a date: an ISO date string ("2024-03-05", "2024-03-05T10:00",
    "2024-03", "2024") or a `datetime.date`, cut to the day, month or year.

    RETURNS (str): e.g. "2024-03" for frequency "month".
    """
    if frequency not in FREQUENCIES:
        raise TextVAEError(f"frequency must be one of {FREQUENCIES} or None, not {frequency!r}.")
    if isinstance(value, (datetime.date, datetime.datetime)):
        value = value.isoformat()
    text = str(value).strip()
    n = _ISO_CHARS[frequency]
    head = text[:n]
    formats = {4: "%Y", 7: "%Y-%m", 10: "%Y-%m-%d"}
    try:
        datetime.datetime.strptime(head, formats[n])
    except ValueError:
        raise TextVAEError(
            f"{value!r} is not an ISO date with a {frequency} (e.g. '2024-03-05', '2024-03', '2024'). "
            "Write dates as ISO strings, or pass frequency=None to group by the value as a label."
        ) from None
    return head


def topics_per_group(
    docs: Iterable[Doc],
    key: GroupKey,
    *,
    frequency: Optional[str] = None,
    topics_attr: str = "topics",
) -> GroupTopics:
    """The topic shares of the docs, per group.

    docs (Iterable[Doc]): Docs annotated by a textvae component.
    key (Union[str, Callable[[Doc], Any]]): Where each doc's group is read
        (see `group_value`): a `Doc._` extension, a `doc.user_data` key, a
        doc.cats label, or a callable.
    frequency (Optional[str]): "day", "month" or "year" to read the values as
        ISO dates and bucket them; None: the values are labels.
    topics_attr (str): The `Doc._` extension holding the topic proportions.
    RETURNS (GroupTopics): Groups, counts and shares.
    """
    if frequency is not None and frequency not in FREQUENCIES:
        raise TextVAEError(f"frequency must be one of {FREQUENCIES} or None, not {frequency!r}.")
    labels: List[str] = []
    rows: List[numpy.ndarray] = []
    n_missing = 0
    for doc in docs:
        topics = doc._.get(topics_attr) if Doc.has_extension(topics_attr) else None
        value = group_value(doc, key)
        if topics is None or value is None or value == "":
            n_missing += 1
            continue
        labels.append(date_bucket(value, frequency) if frequency else str(value))
        rows.append(numpy.asarray(topics, dtype="float64"))
    name = key if isinstance(key, str) else getattr(key, "__name__", repr(key))
    if not rows:
        raise TextVAEError(
            f"No doc has both topics and a value under {name!r} ({n_missing} docs). Annotate the docs with "
            "the pipeline, and pass a key the docs hold: a Doc._ extension, a doc.user_data key, a doc.cats "
            "label, or a callable."
        )
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise TextVAEError(
            f"The docs' topics have different lengths {sorted(widths)}: they were annotated by pipelines with "
            "different topics (e.g. before and after merge_topics). Annotate them again with one pipeline."
        )
    topics = numpy.stack(rows)
    groups, inverse = numpy.unique(numpy.asarray(labels, dtype=object).astype(str), return_inverse=True)
    counts = numpy.bincount(inverse, minlength=len(groups)).astype("int64")
    sums = numpy.zeros((len(groups), topics.shape[1]))
    numpy.add.at(sums, inverse, topics)
    shares = sums / sums.sum(axis=1, keepdims=True)
    return GroupTopics(name, frequency, [str(g) for g in groups], counts, shares, n_missing)
