"""A cache of pooled token vectors from a frozen encoder, so that a training
run encodes each document once instead of once per epoch.

Entries are keyed by the document (its tokens and the spaces between them), so a
changed document never reads a stale entry; a cache belongs to one model and
is dropped whenever that model's weights are initialised or loaded, and a
frozen encoder's weights do not change in between. The vectors stay in
memory up to `MEMORY_LIMIT` bytes; beyond that, on the CPU, they move to a
memory-mapped file in a temporary directory that is removed with the cache.
"""
import hashlib
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional

import numpy
from spacy.attrs import ORTH, SPACY
from spacy.tokens import Doc

# In-memory size of the cache before it spills to disk (CPU only): 2 GiB holds
# 1.4M documents of a 384-wide encoder pooled as mean ⊕ max.
MEMORY_LIMIT = 2 * 1024**3


def doc_key(doc: Doc) -> bytes:
    """RETURNS (bytes): a digest of the doc's tokens and the spaces after them,
    which together give its text and token boundaries (read as one array:
    `doc.text` would walk the tokens in Python)."""
    tokens = doc.to_array([ORTH, SPACY]) if len(doc) else numpy.zeros((0, 2), "uint64")
    return hashlib.blake2b(numpy.ascontiguousarray(tokens).tobytes(), digest_size=16).digest()


class EncoderCache:
    """Pooled vectors by document, for one encoder.

    width (int): Width of the pooled vectors.
    xp (Any): numpy or cupy: where the vectors live (cupy: device memory, no spill).
    memory_limit (int): Bytes kept in memory before spilling to disk (numpy only).
    """

    def __init__(self, width: int, xp: Any, memory_limit: int = MEMORY_LIMIT) -> None:
        self.width = int(width)
        self.xp = xp
        self.memory_limit = int(memory_limit)
        self._rows: Dict[bytes, int] = {}
        self._data = xp.zeros((0, self.width), dtype="float32")
        self._dir: Optional[Path] = None
        # Threads that annotate with a shared pipeline may extend it at once.
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._rows)

    @property
    def on_disk(self) -> bool:
        """RETURNS (bool): whether the vectors have moved to a memory-mapped file."""
        return self._dir is not None

    def get(self, docs: List[Doc], encode) -> Any:
        """The pooled vectors of docs, encoding (with `encode(docs)`) only the
        ones not seen before. RETURNS (Floats2d): (len(docs), width)."""
        keys = [doc_key(doc) for doc in docs]
        with self._lock:
            # The first doc of each key not seen yet (a batch may repeat a text).
            missing: Dict[bytes, int] = {}
            for i, key in enumerate(keys):
                if key not in self._rows and key not in missing:
                    missing[key] = i
            if missing:
                self._append(list(missing), encode([docs[i] for i in missing.values()]))
            rows = self.xp.asarray([self._rows[key] for key in keys], dtype="int64")
            return self.xp.ascontiguousarray(self._data[rows])

    def _append(self, keys: List[bytes], vectors: Any) -> None:
        start = len(self._rows)
        needed = start + len(keys)
        if needed > self._data.shape[0]:
            self._grow(max(needed, 2 * self._data.shape[0], 1024))
        self._data[start:needed] = vectors
        for offset, key in enumerate(keys):
            self._rows[key] = start + offset

    def _grow(self, capacity: int) -> None:
        n = len(self._rows)
        nbytes = capacity * self.width * 4
        if self.xp is numpy and (self.on_disk or nbytes > self.memory_limit):
            if self._dir is None:
                self._dir = Path(tempfile.mkdtemp(prefix="textvae-encoder-cache-"))
            path = self._dir / f"vectors-{capacity}.f32"
            data = numpy.memmap(path, dtype="float32", mode="w+", shape=(capacity, self.width))
        else:
            data = self.xp.zeros((capacity, self.width), dtype="float32")
        data[:n] = self._data[:n]
        old = self._data
        self._data = data
        if isinstance(old, numpy.memmap):
            filename = old.filename
            del old
            Path(filename).unlink(missing_ok=True)

    def close(self) -> None:
        """Drop the vectors and remove the spill file, if any."""
        self._rows.clear()
        self._data = self.xp.zeros((0, self.width), dtype="float32")
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # noqa: BLE001 - interpreter shutdown
            pass
