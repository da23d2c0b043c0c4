"""Growing a trained component's topic vocabulary from new documents, keeping
what it learned: the new frequent words are appended (existing words keep
their columns), the VAE gets new columns for them (existing weights are kept
exactly, see `spacy_textvae.nn.growth`), and the embedding decoder gets
embeddings for them folded into the existing word space.

New word embeddings: each new word's PPMI row over the new docs' co-occurrences
(the same window and smoothing as the initial embeddings) weights the
embeddings of the existing words it co-occurs with; a second pass lets words
seen only beside other new words take their neighbours' embeddings; words
still without one take their rows of an SVD of the new docs' co-occurrences,
rotated onto the existing space over the words both know (orthogonal
Procrustes).
"""
import copy
import logging
from typing import Callable, Iterable, List, Optional

import numpy
from spacy.language import Language
from spacy.tokens import Doc
from spacy.training import Corpus
from spacy.util import registry
from thinc.api import Model

from .errors import TextVAEError
from .layers.vocab_growth import grow_vae_vocab, needs_word_embeddings, word_embeddings
from .layers.textvae_model import get_topic_vocab, reset_encoder_cache
from .vocab import TopicVocab
from .word_embeddings import cooccurrence_counts, embeddings_from_counts, ppmi

logger = logging.getLogger("spacy_textvae")


def check_growth_settings(min_df: float, max_new: int) -> None:
    """Raise for settings that cannot grow a vocabulary."""
    if not min_df > 0:
        raise TextVAEError(f"min_df must be > 0 to grow the vocabulary, not {min_df!r}: a count, or a share if < 1.")
    if isinstance(max_new, bool) or not isinstance(max_new, int) or max_new < 0:
        raise TextVAEError(f"max_new must be an int >= 0, not {max_new!r}: the most words to add.")


def grow_topic_vocab(model: Model, docs: Iterable[Doc], *, min_df: Optional[float], max_new: int) -> List[str]:
    """Add the new docs' frequent words to the model's topic vocabulary and
    VAE. Nothing changes unless all of it succeeds.

    model (Model): A built textvae model.
    docs (Iterable[Doc]): The new documents.
    min_df (Optional[float]): A new word's minimum document frequency in `docs`
        (a count, or a share if < 1); None: the vocabulary's own min_df.
    max_new (int): Add at most this many words, the most frequent.
    RETURNS (List[str]): The words added, most frequent first.
    """
    vocab = get_topic_vocab(model)
    min_df = vocab.min_df if min_df is None else min_df
    check_growth_settings(min_df, max_new)
    docs = list(docs)
    texts, dfs, tfs, n_docs = vocab.count(docs)
    present = set(vocab.words)
    # max_df is a share of every doc counted, old and new: new docs on one
    # theme all hold its words, which are still rare in the whole corpus.
    selected = vocab.select(texts, dfs, n_docs, min_df, max_df_docs=vocab.n_docs + n_docs)
    new = [i for i in selected if texts[i] not in present][:max_new]
    if not new:
        return []
    n_old = len(vocab)
    # The existing background's normaliser: old logits stay exactly as they were.
    normaliser = float((vocab.word_counts.astype("float64") + 1.0).sum())
    grown: TopicVocab = copy.copy(vocab)
    grown.extend(texts, dfs, tfs, n_docs, new)
    background = numpy.log((grown.word_counts[n_old:].astype("float64") + 1.0) / normaliser).astype("float32")
    embeddings = None
    if needs_word_embeddings(model):
        embeddings = fold_in_embeddings(grown.columns(docs), word_embeddings(model), len(grown))
    grow_vae_vocab(model, background, embeddings)
    vocab.from_dict(grown.to_dict())
    reset_encoder_cache(model)
    return [texts[i] for i in new]


def fold_in_embeddings(columns: List[numpy.ndarray], old: numpy.ndarray, n_vocab: int) -> numpy.ndarray:
    """Unit-length embeddings of the words `len(old)`..`n_vocab - 1` in the
    space of `old` (see the module's docstring).

    columns (List[numpy.ndarray]): Vocabulary column of each token of the new docs, per doc.
    old (numpy.ndarray): (n_old, width) the existing embeddings.
    n_vocab (int): The grown vocabulary's size.
    RETURNS (numpy.ndarray): float32 (n_vocab - n_old, width).
    """
    n_old, width = old.shape
    counts = cooccurrence_counts(columns, n_vocab)
    weights = ppmi(counts).tocsr()[n_old:]
    to_old, to_new = weights[:, :n_old], weights[:, n_old:]
    first = _unit(numpy.asarray(to_old @ old.astype("float64")))
    # Words seen only beside other new words: their neighbours' first embeddings.
    out = _unit(first + numpy.asarray(to_new @ first))
    missing = ~numpy.any(out != 0, axis=1)
    if missing.any():
        joint = embeddings_from_counts(counts, width).astype("float64")
        out[missing] = _unit(joint[n_old:][missing] @ _procrustes(joint[:n_old], old.astype("float64")))
    return out.astype("float32")


def _procrustes(source: numpy.ndarray, target: numpy.ndarray) -> numpy.ndarray:
    """The rotation R minimising ‖source·R − target‖ over the rows both hold (identity without any)."""
    both = numpy.any(source != 0, axis=1) & numpy.any(target != 0, axis=1)
    if not both.any():
        return numpy.eye(source.shape[1])
    u, _, vt = numpy.linalg.svd(source[both].T @ target[both])
    return u @ vt


def _unit(x: numpy.ndarray) -> numpy.ndarray:
    norms = numpy.linalg.norm(x, axis=1, keepdims=True)
    return numpy.where(norms > 0, x / numpy.maximum(norms, 1e-12), 0.0)


def docs_of(items: Iterable) -> List[Doc]:
    """RETURNS (List[Doc]): docs, or the reference docs of examples."""
    return [item.reference if hasattr(item, "reference") else item for item in items]




@registry.callbacks("spacy-textvae.grow_vocab.v1")
def make_grow_vocab_callback(
    component: str, path: Optional[str], min_df: Optional[float], max_new: int
) -> Callable[[Language], Language]:
    """An `[initialize] after_init` callback for `spacy train` with a sourced,
    trained textvae component: before training resumes, grow its topic
    vocabulary from a corpus (usually the new training docs), as `grow_vocab`.

    component (str): The textvae component's name.
    path (Optional[str]): A .spacy corpus (e.g. ${paths.train}); None: do nothing.
    min_df (Optional[float]): A new word's minimum document frequency (None: the component's).
    max_new (int): The most words to add.
    RETURNS (Callable[[Language], Language]): The callback.
    """
    check_growth_settings(1 if min_df is None else min_df, max_new)

    def grow(nlp: Language) -> Language:
        if path is None:
            return nlp
        corpus = Corpus(path)
        pipe = nlp.get_pipe(component)
        added = pipe.grow_vocab((eg.reference for eg in corpus(nlp)), min_df=min_df, max_new=max_new)
        logger.info("textvae: grew '%s' by %d topic words from %s", component, len(added), path)
        return nlp

    return grow
