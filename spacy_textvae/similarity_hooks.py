"""`doc.vector`, `doc.similarity`, `span.vector` and `span.similarity` from a
textvae component's latent, through spaCy's user hooks.

A doc's vector is its latent μ (`doc._.latent`). A span's vector is the latent
of the span's own topic mixture π: the mean, over the span's topic-vocabulary
words, of each word's topics p(k | w) ∝ p(w | k) (what `token._.topic_probs`
holds, p(k | w, doc), with the doc's proportions divided out, so a sentence's
vector does not lean towards the doc around it), put on the scale of the doc's
latent: μ_span = log π − mean(log π) + mean(μ_doc), so softmax(μ_span) = π. A
span without topic words gets the doc's latent. After `merge_topics`, a merged
topic's share is split evenly among its VAE topics, so spans keep the latent's width. It costs no model run: the
hooks read what the component wrote on the doc. Similarity is the cosine of
two such vectors.

The hooks are small picklable objects that hold extension names only (never
the model). spaCy does not serialise user hooks: after `Doc.from_bytes` or a
`DocBin`, the latent and token topics are back (with `store_user_data=True`) but
the hooks are not; `add_similarity_hooks` puts them back.
"""
import warnings
from dataclasses import dataclass
from typing import Any, Iterable, Optional, Union

import numpy
from spacy.tokens import Doc, Span
from spacy.vocab import Vocab

from .errors import TextVAEError
from .extensions import token_topics_key, topic_merge_key

# Floor of topic shares before a division or a log: token topic probabilities
# are kept as float16, whose zero would give -inf.
_SHARE_FLOOR = 1e-6
SIMILARITY_HOOK_SETTINGS = ("auto", True, False)


def check_similarity_hooks(setting: Any, name: str) -> Union[str, bool]:
    """RETURNS (Union[str, bool]): the `similarity_hooks` setting, checked."""
    if isinstance(setting, bool) or setting == "auto":
        return setting
    raise TextVAEError(
        f"similarity_hooks must be \"auto\", true or false, not {setting!r}. "
        f"Set [components.{name}] similarity_hooks."
    )


def hooks_wanted(setting: Union[str, bool], vocab: Vocab) -> bool:
    """Whether to set the hooks: "auto" sets them unless the pipeline has word
    vectors of its own (then `doc.vector` keeps meaning their average).

    setting (Union[str, bool]): "auto", True or False.
    vocab (Vocab): The pipeline's vocabulary.
    RETURNS (bool): Whether to set them.
    """
    if setting == "auto":
        return vocab.vectors.size == 0
    return bool(setting)


@dataclass(frozen=True)
class _Hook:
    """Reads the latent and token topics a textvae component wrote under `prefix`."""

    prefix: str

    def latent(self, doc: Doc) -> Optional[numpy.ndarray]:
        value = doc._.get(self.prefix + "latent")
        return None if value is None else numpy.asarray(value, dtype="float32")

    def span_latent(self, span: Span) -> Optional[numpy.ndarray]:
        doc = span.doc
        latent = self.latent(doc)
        topics = doc._.get(self.prefix + "topics")
        stored = doc.user_data.get(token_topics_key(self.prefix))
        if latent is None or topics is None or stored is None:
            return latent
        positions, probs = stored
        a, b = numpy.searchsorted(positions, [span.start, span.end])
        if b <= a:
            return latent
        theta = numpy.maximum(numpy.asarray(topics, dtype="float32"), _SHARE_FLOOR)
        profiles = numpy.asarray(probs[a:b], dtype="float32") / theta
        profiles /= profiles.sum(axis=1, keepdims=True)
        shares = profiles.mean(axis=0)
        merge = doc.user_data.get(topic_merge_key(self.prefix))
        if merge is not None and len(shares) != len(latent):
            # Merged topics: split each merged share evenly among the VAE topics
            # it holds, so the span's vector has the doc latent's width.
            merge = numpy.asarray(merge, dtype="int64")
            shares = shares[merge] / numpy.bincount(merge, minlength=len(shares))[merge]
        log_shares = numpy.log(numpy.maximum(shares, _SHARE_FLOOR))
        return (log_shares - log_shares.mean() + latent.mean()).astype("float32")


def _vector_of(other: Any) -> Optional[numpy.ndarray]:
    vector = getattr(other, "vector", None)
    return None if vector is None else numpy.asarray(vector, dtype="float32")


def _cosine(a: Optional[numpy.ndarray], b: Optional[numpy.ndarray], what: str) -> float:
    if a is None or b is None or a.shape != b.shape or not a.size:
        warnings.warn(
            f"[textvae] {what}.similarity compares a textvae latent with an object that has no "
            "latent of the same width (not annotated by the same component, or a token): 0.0.",
            UserWarning,
        )
        return 0.0
    norms = float(numpy.linalg.norm(a)) * float(numpy.linalg.norm(b))
    return float(numpy.dot(a, b) / norms) if norms > 0 else 0.0


@dataclass(frozen=True)
class DocVector(_Hook):
    def __call__(self, doc: Doc) -> numpy.ndarray:
        latent = self.latent(doc)
        return numpy.zeros((0,), dtype="float32") if latent is None else latent


@dataclass(frozen=True)
class DocVectorNorm(_Hook):
    def __call__(self, doc: Doc) -> float:
        latent = self.latent(doc)
        return 0.0 if latent is None else float(numpy.linalg.norm(latent))


@dataclass(frozen=True)
class HasVector(_Hook):
    def __call__(self, obj: Union[Doc, Span]) -> bool:
        doc = obj.doc if isinstance(obj, Span) else obj
        return self.latent(doc) is not None


@dataclass(frozen=True)
class DocSimilarity(_Hook):
    def __call__(self, doc: Doc, other: Any) -> float:
        return _cosine(self.latent(doc), _vector_of(other), "Doc")


@dataclass(frozen=True)
class SpanVector(_Hook):
    def __call__(self, span: Span) -> numpy.ndarray:
        latent = self.span_latent(span)
        return numpy.zeros((0,), dtype="float32") if latent is None else latent


@dataclass(frozen=True)
class SpanSimilarity(_Hook):
    def __call__(self, span: Span, other: Any) -> float:
        return _cosine(self.span_latent(span), _vector_of(other), "Span")


def add_similarity_hooks(doc: Doc, extension_prefix: str = "") -> Doc:
    """Make `doc.vector`, `doc.similarity`, `span.vector` and `span.similarity`
    use the latent a textvae component wrote on the doc. The component does
    this itself (`similarity_hooks`); call it for docs read back from bytes or
    a `DocBin`, which keep the latent (with `store_user_data=True`) but not the
    hooks.

    doc (Doc): A doc annotated by a textvae component.
    extension_prefix (str): That component's extension prefix ("" for the first one).
    RETURNS (Doc): The doc.
    """
    prefix = str(extension_prefix)
    doc.user_hooks["vector"] = DocVector(prefix)
    doc.user_hooks["vector_norm"] = DocVectorNorm(prefix)
    doc.user_hooks["has_vector"] = HasVector(prefix)
    doc.user_hooks["similarity"] = DocSimilarity(prefix)
    # Not "vector_norm": spaCy's Span.vector_norm calls the "vector" hook for
    # it; without one it takes the norm of span.vector, which is right.
    doc.user_span_hooks["vector"] = SpanVector(prefix)
    doc.user_span_hooks["has_vector"] = HasVector(prefix)
    doc.user_span_hooks["similarity"] = SpanSimilarity(prefix)
    return doc


def has_foreign_hooks(doc: Doc) -> bool:
    """RETURNS (bool): whether another component set the doc's vector or similarity hooks."""
    return any(
        key in doc.user_hooks and not isinstance(doc.user_hooks[key], _Hook) for key in ("vector", "similarity")
    )


def set_similarity_hooks(docs: Iterable[Doc], setting: Union[str, bool], vocab: Vocab, extension_prefix: str) -> None:
    """Set the hooks on annotated docs as the `similarity_hooks` setting says
    ("auto" leaves docs alone whose hooks another component set)."""
    if not hooks_wanted(setting, vocab):
        return
    for doc in docs:
        if setting == "auto" and has_foreign_hooks(doc):
            continue
        add_similarity_hooks(doc, extension_prefix)
