"""The topic vocabulary: which words the VAE reconstructs, and the doc → bag-of-words lookup."""
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

import numpy
import scipy.sparse
import srsly
from spacy.attrs import IDS as ATTR_IDS
from spacy.attrs import IS_ALPHA, IS_STOP
from spacy.strings import get_string_id
from spacy.tokens import Doc

from .errors import TextVAEError

# Process docs in chunks while building, so memory stays bounded on large corpora.
_BUILD_CHUNK = 2048
_VALID_ATTRS = ("LOWER", "LEMMA", "NORM", "ORTH")


class TopicVocab:
    """The words a topic model reconstructs, built from training docs.

    Words are the value of one token attribute (`LOWER`, `LEMMA`, `NORM` or
    `ORTH`) of alphabetic tokens of at least two characters, optionally without
    stop words, kept when their document frequency lies within
    `[min_df, max_df]`, capped at the `max_size` most frequent.

    attr (str): The token attribute that names a word.
    min_df (float): Minimum document frequency: an int-valued number is a count
        of documents, a value below 1 a share of the documents.
    max_df (float): Maximum document frequency, as a share of the documents
        (1.0 keeps all) or, when above 1, a count.
    max_size (int): Keep at most this many words, the most frequent by document
        frequency.
    remove_stop_words (bool): Leave out the language's stop words (`Token.is_stop`).
    extra_stop_words (Sequence[str]): Further words (in the form of `attr`) to leave out.
    """

    def __init__(
        self,
        *,
        attr: str,
        min_df: float,
        max_df: float,
        max_size: int,
        remove_stop_words: bool,
        extra_stop_words: Sequence[str],
    ) -> None:
        attr = attr.upper()
        if attr not in _VALID_ATTRS:
            raise TextVAEError(
                f"vocab_attr must be one of {_VALID_ATTRS}, not {attr!r}. "
                "Set it in [components.textvae] vocab_attr."
            )
        if max_size < 1:
            raise TextVAEError(f"max_vocab_size must be >= 1, not {max_size}.")
        self.attr = attr
        self.min_df = min_df
        self.max_df = max_df
        self.max_size = int(max_size)
        self.remove_stop_words = bool(remove_stop_words)
        self.extra_stop_words = [str(w) for w in extra_stop_words]
        self.words: List[str] = []
        self.doc_freqs = numpy.zeros((0,), dtype="int64")
        self.word_counts = numpy.zeros((0,), dtype="int64")
        self.n_docs = 0
        self._set_lookup()

    def __len__(self) -> int:
        return len(self.words)

    @property
    def is_built(self) -> bool:
        """RETURNS (bool): Whether the vocabulary holds words."""
        return len(self.words) > 0

    def _set_lookup(self) -> None:
        # Sorted hashes + column ids: lookups are one searchsorted over all tokens.
        hashes = numpy.asarray([get_string_id(w) for w in self.words], dtype="uint64")
        order = numpy.argsort(hashes, kind="stable")
        self._sorted_hashes = hashes[order]
        self._sorted_cols = order.astype("int64")

    def _token_arrays(self, docs: Sequence[Doc], filtered: bool) -> List[numpy.ndarray]:
        attr_id = ATTR_IDS[self.attr]
        arrays = []
        for doc in docs:
            if len(doc) == 0:
                arrays.append(numpy.zeros((0,), dtype="uint64"))
                continue
            arr = doc.to_array([attr_id, IS_ALPHA, IS_STOP])
            keys = arr[:, 0].astype("uint64")
            if filtered:
                keep = arr[:, 1].astype(bool)
                if self.remove_stop_words:
                    keep &= ~arr[:, 2].astype(bool)
                keys = keys[keep & (keys != 0)]
            arrays.append(keys)
        return arrays

    def build(self, docs: Iterable[Doc], required: Sequence[str] = ()) -> "TopicVocab":
        """Build the vocabulary from docs (replacing any previous one).

        docs (Iterable[Doc]): The training documents.
        required (Sequence[str]): Words kept whatever the filters say (seed
            words), appended after the others; each must occur in the docs.
        RETURNS (TopicVocab): self.
        """
        texts, dfs, tfs, n_docs = self.count(docs)
        if n_docs == 0:
            raise TextVAEError(
                "Cannot build the topic vocabulary from zero documents. "
                "Pass training examples to nlp.initialize(get_examples=...) and check "
                "that your training corpus is not empty."
            )
        idx = self.select(texts, dfs, n_docs)[: self.max_size]
        chosen = {texts[i] for i in idx}
        position = {t: i for i, t in enumerate(texts)}
        missing = [w for w in required if w not in position]
        if missing:
            raise TextVAEError(
                f"The seed words {missing} never occur in the training docs as {self.attr} values "
                "(alphabetic tokens of 2+ characters, stop words left out if remove_stop_words), so no topic can be anchored on them. Remove "
                "them from seed_words, or write them as vocab_attr gives them (e.g. lower case)."
            )
        idx = list(idx) + [position[w] for w in dict.fromkeys(required) if w not in chosen]
        if not idx:
            raise TextVAEError(
                f"The topic vocabulary is empty after filtering {n_docs} documents "
                f"(vocab_attr={self.attr}, min_df={self.min_df}, max_df={self.max_df}, "
                f"remove_stop_words={self.remove_stop_words}). Lower min_df, raise max_df, "
                "or train on more (and longer) texts."
            )
        self.words = [texts[i] for i in idx]
        self.doc_freqs = dfs[idx].astype("int64")
        self.word_counts = tfs[idx].astype("int64")
        self.n_docs = n_docs
        self._set_lookup()
        return self

    def count(self, docs: Iterable[Doc]) -> Tuple[List[str], numpy.ndarray, numpy.ndarray, int]:
        """Document and term frequencies of every candidate word of the docs
        (alphabetic tokens, without stop words if so set), before any filter.

        docs (Iterable[Doc]): The documents.
        RETURNS (Tuple[List[str], numpy.ndarray, numpy.ndarray, int]): the
            words, their int64 document and term frequencies, and the number of docs.
        """
        keys_all = numpy.zeros((0,), dtype="uint64")
        dfs_all = numpy.zeros((0,), dtype="int64")
        tfs_all = numpy.zeros((0,), dtype="int64")
        n_docs = 0
        strings = None
        chunk: List[Doc] = []

        def flush(chunk: List[Doc]) -> None:
            nonlocal keys_all, dfs_all, tfs_all
            arrays = self._token_arrays(chunk, filtered=True)
            if not arrays:
                return
            doc_ids = numpy.repeat(numpy.arange(len(arrays)), [len(a) for a in arrays])
            keys = numpy.concatenate(arrays) if arrays else numpy.zeros((0,), "uint64")
            uniq, inverse, tf = numpy.unique(keys, return_inverse=True, return_counts=True)
            # Document frequency: count distinct (doc, word) pairs per word.
            pairs = numpy.unique(doc_ids.astype("int64") * len(uniq) + inverse)
            df = numpy.bincount(pairs % max(len(uniq), 1), minlength=len(uniq))
            merged, inv = numpy.unique(numpy.concatenate([keys_all, uniq]), return_inverse=True)
            dfs_all = numpy.bincount(inv, numpy.concatenate([dfs_all, df]), len(merged)).astype("int64")
            tfs_all = numpy.bincount(inv, numpy.concatenate([tfs_all, tf]), len(merged)).astype("int64")
            keys_all = merged

        for doc in docs:
            if not isinstance(doc, Doc):
                raise TextVAEError(f"TopicVocab expects Doc objects, got {type(doc)}")
            strings = doc.vocab.strings
            chunk.append(doc)
            n_docs += 1
            if len(chunk) >= _BUILD_CHUNK:
                flush(chunk)
                chunk = []
        flush(chunk)
        texts = [strings[int(k)] for k in keys_all] if len(keys_all) else []  # type: ignore[index]
        return texts, dfs_all, tfs_all, n_docs

    def select(
        self, texts: List[str], dfs: numpy.ndarray, n_docs: int, min_df: Optional[float] = None,
        max_df_docs: Optional[int] = None,
    ) -> List[int]:
        """Which counted words pass the filters, most frequent first (ties
        alphabetically, so builds are reproducible); not capped at max_size.

        texts (List[str]): Words from `count`.
        dfs (numpy.ndarray): Their document frequencies.
        n_docs (int): The number of documents counted.
        min_df (Optional[float]): Overrides the vocabulary's min_df.
        max_df_docs (Optional[int]): The number of docs a share max_df is of (None: n_docs).
        RETURNS (List[int]): Indices into `texts`.
        """
        if not texts:
            return []
        min_df = self.min_df if min_df is None else min_df
        lengths = numpy.asarray([len(t) for t in texts])
        min_count = min_df if min_df >= 1 else min_df * n_docs
        max_count = self.max_df * (n_docs if max_df_docs is None else max_df_docs) if self.max_df <= 1 else self.max_df
        keep = (dfs >= min_count) & (dfs <= max_count) & (lengths >= 2)
        extra = set(self.extra_stop_words)
        if extra:
            keep &= numpy.asarray([t not in extra for t in texts])
        return sorted(numpy.flatnonzero(keep).tolist(), key=lambda i: (-dfs[i], texts[i]))

    def extend(self, texts: List[str], dfs: numpy.ndarray, tfs: numpy.ndarray, n_docs: int, new: Sequence[int]) -> None:
        """Add counted words to the vocabulary after the existing ones (whose
        columns stay as they are), and add the counts of the docs they were
        counted in to every word's frequencies.

        texts, dfs, tfs, n_docs: What `count` returned for the new docs.
        new (Sequence[int]): Indices into `texts` of the words to add (not yet in the vocabulary).
        """
        position = {t: i for i, t in enumerate(texts)}
        seen = numpy.asarray([position.get(w, -1) for w in self.words], dtype="int64")
        found = seen >= 0
        doc_freqs, word_counts = self.doc_freqs.copy(), self.word_counts.copy()
        doc_freqs[found] += dfs[seen[found]]
        word_counts[found] += tfs[seen[found]]
        new = list(new)
        self.words = self.words + [texts[i] for i in new]
        self.doc_freqs = numpy.concatenate([doc_freqs, dfs[new].astype("int64")])
        self.word_counts = numpy.concatenate([word_counts, tfs[new].astype("int64")])
        self.n_docs += int(n_docs)
        self._set_lookup()

    def token_columns(self, docs: Sequence[Doc]) -> Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]:
        """Every in-vocabulary token of the docs, flat and in order.

        docs (Sequence[Doc]): The documents.
        RETURNS (Tuple[numpy.ndarray, numpy.ndarray, numpy.ndarray]): int64
            arrays of the same length: the doc's index in `docs`, the token's
            index in its doc, and the word's vocabulary column.
        """
        arrays = self._token_arrays(docs, filtered=False)
        lengths = numpy.asarray([len(a) for a in arrays], dtype="int64")
        empty = numpy.zeros((0,), dtype="int64")
        if not self.is_built or lengths.sum() == 0:
            return empty, empty, empty
        keys = numpy.concatenate(arrays)
        pos = numpy.searchsorted(self._sorted_hashes, keys)
        pos = numpy.minimum(pos, len(self._sorted_hashes) - 1)
        found = self._sorted_hashes[pos] == keys
        doc_ids = numpy.repeat(numpy.arange(len(docs), dtype="int64"), lengths)
        starts = numpy.repeat(numpy.cumsum(lengths) - lengths, lengths)
        positions = numpy.arange(len(keys), dtype="int64") - starts
        return doc_ids[found], positions[found], self._sorted_cols[pos[found]]

    def columns(self, docs: Sequence[Doc]) -> List[numpy.ndarray]:
        """Vocabulary column of each in-vocabulary token, per doc, in token order.

        docs (Sequence[Doc]): The documents.
        RETURNS (List[numpy.ndarray]): One int64 array per doc.
        """
        doc_ids, _, cols = self.token_columns(docs)
        bounds = numpy.searchsorted(doc_ids, numpy.arange(1, len(docs)))
        return numpy.split(cols, bounds) if len(docs) else []

    def counts(self, docs: Sequence[Doc]) -> scipy.sparse.csr_matrix:
        """Bag-of-words counts over the vocabulary, sparse: memory grows with
        the docs' words, not with docs × vocabulary.

        docs (Sequence[Doc]): The documents.
        RETURNS (scipy.sparse.csr_matrix): float32, shape (len(docs), len(self)),
            each row's columns sorted and distinct.
        """
        n_words = len(self.words)
        doc_ids, _, cols = self.token_columns(docs)
        cells, values = numpy.unique(doc_ids * max(n_words, 1) + cols, return_counts=True)
        rows, cols = numpy.divmod(cells, max(n_words, 1))
        indptr = numpy.searchsorted(rows, numpy.arange(len(docs) + 1))
        return scipy.sparse.csr_matrix(
            (values.astype("float32"), cols.astype("int64"), indptr.astype("int64")), shape=(len(docs), n_words)
        )

    def tokens_of(self, doc: Doc) -> List[str]:
        """The doc's in-vocabulary words, in order (the reference text for NPMI).

        doc (Doc): The document.
        RETURNS (List[str]): The words.
        """
        return [self.words[c] for c in self.columns([doc])[0]]

    def log_frequencies(self) -> numpy.ndarray:
        """RETURNS (numpy.ndarray): log relative corpus frequency of each word (float32)."""
        counts = self.word_counts.astype("float64") + 1.0
        return numpy.log(counts / counts.sum()).astype("float32")

    def to_dict(self) -> Dict[str, Any]:
        """RETURNS (Dict[str, Any]): JSON-serialisable settings and words."""
        return {
            "attr": self.attr,
            "min_df": self.min_df,
            "max_df": self.max_df,
            "max_size": self.max_size,
            "remove_stop_words": self.remove_stop_words,
            "extra_stop_words": self.extra_stop_words,
            "words": self.words,
            "doc_freqs": self.doc_freqs.tolist(),
            "word_counts": self.word_counts.tolist(),
            "n_docs": self.n_docs,
        }

    def from_dict(self, msg: Dict[str, Any]) -> "TopicVocab":
        """Load settings and words written by `to_dict`.

        msg (Dict[str, Any]): The data.
        RETURNS (TopicVocab): self.
        """
        try:
            attr = str(msg["attr"])
            settings = {
                "min_df": _number(msg["min_df"]),
                "max_df": _number(msg["max_df"]),
                "max_size": int(msg["max_size"]),
                "remove_stop_words": bool(msg["remove_stop_words"]),
                "extra_stop_words": [str(w) for w in msg["extra_stop_words"]],
            }
            words = [str(w) for w in msg["words"]]
            doc_freqs = numpy.asarray(msg["doc_freqs"], dtype="int64")
            word_counts = numpy.asarray(msg["word_counts"], dtype="int64")
            n_docs = int(msg["n_docs"])
        except (KeyError, TypeError, ValueError) as e:
            raise TextVAEError(
                f"The saved topic vocabulary is damaged ({type(e).__name__}: {e}). Re-train or re-save the pipeline."
            ) from e
        if attr not in _VALID_ATTRS:
            raise TextVAEError(
                f"The saved topic vocabulary names words by {attr!r}, which is not one of {_VALID_ATTRS}: "
                "the file is damaged. Re-train or re-save the pipeline."
            )
        if len(doc_freqs) != len(words) or len(word_counts) != len(words) or len(set(words)) != len(words):
            raise TextVAEError(
                "The saved topic vocabulary is damaged (its word list and counts do not match). "
                "Re-train or re-save the pipeline."
            )
        # Assigned only once all of it is valid: a failed load leaves the vocabulary as it was.
        self.attr = attr
        self.min_df = settings["min_df"]
        self.max_df = settings["max_df"]
        self.max_size = settings["max_size"]
        self.remove_stop_words = settings["remove_stop_words"]
        self.extra_stop_words = settings["extra_stop_words"]
        self.words, self.doc_freqs, self.word_counts, self.n_docs = words, doc_freqs, word_counts, n_docs
        self._set_lookup()
        return self

    def to_bytes(self) -> bytes:
        """RETURNS (bytes): The vocabulary as JSON bytes."""
        return srsly.json_dumps(self.to_dict()).encode("utf8")

    def from_bytes(self, data: bytes) -> "TopicVocab":
        """data (bytes): Bytes from `to_bytes`. RETURNS (TopicVocab): self."""
        try:
            msg = srsly.json_loads(data)
        except ValueError as e:
            raise TextVAEError(f"The saved topic vocabulary is not valid JSON: {e}") from e
        return self.from_dict(msg)


def _number(value: Any) -> float:
    """value unchanged if it is an int or float (so a round trip keeps its type)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"expected a number, got {value!r}")
    return value
