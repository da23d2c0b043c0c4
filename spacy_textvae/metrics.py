"""Evaluation metrics for topic models and document clusterings.

* NPMI topic coherence that reproduces gensim's
  `CoherenceModel(coherence="c_npmi")`, computed with sparse matrix
  operations instead of a Python loop over sliding windows.
* Topic diversity (Dieng et al., 2020; OCTIS `TopicDiversity`).
* NMI, ARI and purity of a clustering against gold labels, matching
  scikit-learn's definitions without importing it.

Only numpy and scipy: no spaCy, no torch. The spaCy scorer built on these is
in `spacy_textvae.scorer`.
"""
from itertools import chain, repeat
from typing import Dict, Hashable, Iterable, List, Optional, Sequence, Tuple

import numpy
import scipy.sparse

from .errors import TextVAEError

# Must stay identical to gensim.topic_coherence.direct_confirmation_measure.EPSILON,
# otherwise pairs that never co-occur score differently.
EPSILON = 1e-12
NPMI_TOP_N = 10
NPMI_WINDOW_SIZE = 10
DIVERSITY_TOP_N = 25


class TextsTypeError(TextVAEError, TypeError):
    """Texts given as strings where token sequences are expected: a TextVAEError
    that is also a TypeError, as Python's convention for a wrong type has it."""


def _window_occurrences(
    word_ids: numpy.ndarray,
    lengths: numpy.ndarray,
    n_words: int,
    window_size: int,
    gensim_compat: bool,
) -> Tuple[scipy.sparse.csr_matrix, int]:
    """Build the boolean (sliding window × word) occurrence matrix.

    Every text of length L gives max(L - window_size + 1, 1) windows, so a
    text shorter than the window, and an empty text, are one window each.

    word_ids (numpy.ndarray): The tokens of all texts concatenated, as column
        indices, -1 for tokens that are not counted.
    lengths (numpy.ndarray): The number of tokens of each text.
    n_words (int): The number of columns.
    window_size (int): The sliding window size.
    gensim_compat (bool): Reproduce gensim's window bookkeeping (see
        `npmi_per_topic`) instead of exact window membership.
    RETURNS (Tuple[scipy.sparse.csr_matrix, int]): The matrix and the number
        of windows.
    """
    n_texts = lengths.shape[0]
    n_windows = numpy.maximum(lengths - window_size + 1, 1)
    window_start = numpy.cumsum(n_windows) - n_windows
    total_windows = int(n_windows.sum())
    text_start = numpy.cumsum(lengths) - lengths
    text = numpy.repeat(numpy.arange(n_texts, dtype=numpy.int64), lengths)
    pos = numpy.arange(word_ids.shape[0], dtype=numpy.int64) - text_start[text]
    keep = word_ids >= 0
    word = word_ids[keep]
    text = text[keep]
    pos = pos[keep]
    # A stable sort on (text, word) keeps positions ascending inside each
    # group, so neighbours in the sorted order are consecutive occurrences.
    order = numpy.argsort(text * n_words + word, kind="stable")
    word = word[order]
    text = text[order]
    pos = pos[order]
    n_occ = word.shape[0]
    new_group = numpy.ones(n_occ, dtype=bool)
    if n_occ > 1:
        new_group[1:] = (word[1:] != word[:-1]) | (text[1:] != text[:-1])
    group = numpy.cumsum(new_group) - 1
    big = numpy.iinfo(numpy.int64).max // 4
    next_pos = numpy.full(n_occ, big, dtype=numpy.int64)
    if n_occ > 1:
        same_next = ~new_group[1:]
        next_pos[:-1][same_next] = pos[1:][same_next]
    # Window t holds positions t..t+W-1. Each window in which the word occurs
    # is attributed to the last occurrence inside it, which makes the window
    # ranges of consecutive occurrences disjoint.
    first = numpy.maximum(pos - window_size + 1, 0)
    last = numpy.minimum(numpy.minimum(pos, next_pos - window_size), n_windows[text] - 1)
    if gensim_compat and n_occ:
        # gensim slides a set of words along the text, removing the token
        # that leaves the window even when it occurs again inside the window.
        # The word then stays absent until a later occurrence enters the
        # window, i.e. an occurrence only flags windows up to the first
        # occurrence that lies within window_size - 1 tokens before it.
        stride = int(pos.max()) + 1
        key = group * stride + pos
        target = group * stride + first
        earliest = pos[numpy.searchsorted(key, target, side="left")]
        last = numpy.minimum(last, earliest)
    size = numpy.maximum(last - first + 1, 0)
    nnz = int(size.sum())
    offsets = numpy.cumsum(size) - size
    rows = numpy.arange(nnz, dtype=numpy.int64) + numpy.repeat(
        window_start[text] + first - offsets, size
    )
    cols = numpy.repeat(word, size)
    matrix = scipy.sparse.csr_matrix(
        (numpy.ones(nnz, dtype=numpy.int64), (rows, cols)),
        shape=(total_windows, n_words),
    )
    return matrix, total_windows


def npmi_per_topic(
    topics: Sequence[Sequence[str]],
    texts: Iterable[Sequence[str]],
    top_n: int = NPMI_TOP_N,
    window_size: int = NPMI_WINDOW_SIZE,
    *,
    gensim_compat: bool = True,
) -> List[float]:
    """Compute the NPMI coherence of each topic over boolean sliding windows.

    This reproduces gensim's `CoherenceModel(topics=topics, texts=texts,
    dictionary=Dictionary(texts), coherence="c_npmi", topn=top_n,
    window_size=window_size, processes=1).get_coherence_per_topic()`:
    pairs of each word with every earlier word of the topic (s_one_pre),
    probabilities estimated over sliding windows that move one token at a
    time over each whole text (all tokens occupy positions), NPMI =
    log((P(a, b) + eps) / (P(a) P(b))) / -log(P(a, b) + eps) with
    eps = 1e-12, and the arithmetic mean over pairs.

    Topic words that never occur in `texts` are skipped before the topic is
    cut to `top_n` words, as gensim does. A topic left with fewer than two
    words scores NaN (gensim gives NaN for one word and raises for none).
    Unlike gensim, every topic is cut to `top_n`, not only when the first
    topic is longer than `top_n`.

    With `gensim_compat=True`, window membership follows gensim's
    incremental bookkeeping: when a token leaves the window, its word is
    marked absent even if it occurs again inside the window, until one of
    its later occurrences enters the window. This undercounts words that
    repeat within `window_size` tokens. Set `gensim_compat=False` for exact
    boolean windows. gensim's multi-process accumulator counts windows
    differently again, so compare against `processes=1`.

    topics (Sequence[Sequence[str]]): The words of each topic, best first.
    texts (Iterable[Sequence[str]]): The tokenised reference texts.
    top_n (int): The number of words of each topic to score.
    window_size (int): The sliding window size in tokens.
    gensim_compat (bool): Reproduce gensim's window counting.
    RETURNS (List[float]): The NPMI of each topic, in [-1, 1] or NaN.
    """
    if top_n < 1:
        raise TextVAEError(f"npmi_per_topic: top_n is {top_n}. Pass top_n=1 or more (10 is usual).")
    if window_size < 1:
        raise TextVAEError(f"npmi_per_topic: window_size is {window_size}. Pass window_size=1 or more (10 is usual).")
    topics = [list(topic) for topic in topics]
    if not topics:
        return []
    texts = list(texts)
    for text in texts:
        if isinstance(text, str):
            raise TextsTypeError(
                f"npmi_per_topic: a text is a string ({text[:30]!r}), not a sequence of "
                "tokens. Pass each text as a list of tokens, e.g. text.split()."
            )
    candidates = list(dict.fromkeys(chain.from_iterable(topics)))
    lookup = {word: i for i, word in enumerate(candidates)}
    lengths = numpy.fromiter(map(len, texts), dtype=numpy.int64, count=len(texts))
    n_tokens = int(lengths.sum())
    ids = numpy.fromiter(
        map(lookup.get, chain.from_iterable(texts), repeat(-1)),
        dtype=numpy.int64,
        count=n_tokens,
    )
    present = numpy.bincount(ids[ids >= 0], minlength=len(candidates)) > 0
    kept = [
        [lookup[word] for word in topic if present[lookup[word]]][:top_n]
        for topic in topics
    ]
    if all(len(topic) < 2 for topic in kept):
        return [float("nan")] * len(kept)
    relevant = numpy.unique(numpy.fromiter(chain.from_iterable(kept), dtype=numpy.int64))
    column = numpy.full(len(candidates) + 1, -1, dtype=numpy.int64)
    column[relevant] = numpy.arange(relevant.shape[0])
    # Index -1 picks the sentinel slot, so non-topic tokens stay -1.
    matrix, n_windows = _window_occurrences(
        column[ids], lengths, int(relevant.shape[0]), window_size, gensim_compat
    )
    cooc = (matrix.T @ matrix).tocsr()
    counts = cooc.diagonal()
    firsts = []
    seconds = []
    bounds = [0]
    for topic in kept:
        cols = column[numpy.asarray(topic, dtype=numpy.int64)]
        later, earlier = numpy.tril_indices(len(topic), -1)
        firsts.append(cols[later])
        seconds.append(cols[earlier])
        bounds.append(bounds[-1] + later.shape[0])
    w_prime = numpy.concatenate(firsts)
    w_star = numpy.concatenate(seconds)
    co_counts = numpy.asarray(cooc[w_prime, w_star], dtype=numpy.float64).ravel()
    num_docs = float(n_windows)
    co_prob = co_counts / num_docs
    # Same operation order as gensim's log_ratio_measure, for bitwise parity.
    numerator = numpy.log(
        (co_prob + EPSILON)
        / ((counts[w_prime] / num_docs) * (counts[w_star] / num_docs))
    )
    npmi = numerator / (-numpy.log(co_prob + EPSILON))
    scores = []
    for start, end in zip(bounds[:-1], bounds[1:]):
        scores.append(float(numpy.mean(npmi[start:end])) if end > start else float("nan"))
    return scores


def npmi_coherence(
    topics: Sequence[Sequence[str]],
    texts: Iterable[Sequence[str]],
    top_n: int = NPMI_TOP_N,
    window_size: int = NPMI_WINDOW_SIZE,
    *,
    gensim_compat: bool = True,
) -> float:
    """Compute the mean NPMI coherence over topics (see `npmi_per_topic`).

    Topics that cannot be scored (fewer than two words that occur in the
    texts) are left out of the mean.

    topics (Sequence[Sequence[str]]): The words of each topic, best first.
    texts (Iterable[Sequence[str]]): The tokenised reference texts.
    top_n (int): The number of words of each topic to score.
    window_size (int): The sliding window size in tokens.
    gensim_compat (bool): Reproduce gensim's window counting.
    RETURNS (float): The mean NPMI, NaN if no topic could be scored.
    """
    scores = numpy.asarray(
        npmi_per_topic(
            topics, texts, top_n=top_n, window_size=window_size,
            gensim_compat=gensim_compat,
        ),
        dtype=numpy.float64,
    )
    scores = scores[~numpy.isnan(scores)]
    return float(numpy.mean(scores)) if scores.size else float("nan")


def topic_diversity(topics: Sequence[Sequence[str]], top_n: int = DIVERSITY_TOP_N) -> float:
    """Compute the share of unique words among the top words of all topics.

    As defined by Dieng et al. (2020, ETM) and OCTIS's `TopicDiversity`:
    the number of distinct words in the top `top_n` of all topics divided by
    `top_n * len(topics)`. 1.0 means no two topics share a top word.

    topics (Sequence[Sequence[str]]): The words of each topic, best first.
    top_n (int): The number of words of each topic to consider.
    RETURNS (float): The diversity, in (0, 1].
    """
    if top_n < 1:
        raise TextVAEError(f"topic_diversity: top_n is {top_n}. Pass top_n=1 or more (25 is usual).")
    topics = [list(topic) for topic in topics]
    if not topics:
        raise TextVAEError("topic_diversity: no topics given. Pass at least one topic (a list of words).")
    shortest = min(len(topic) for topic in topics)
    if shortest < top_n:
        raise TextVAEError(
            f"topic_diversity: a topic has {shortest} words, fewer than top_n={top_n}. "
            f"Pass at least {top_n} words per topic, or a smaller top_n."
        )
    unique = set(chain.from_iterable(topic[:top_n] for topic in topics))
    return len(unique) / (top_n * len(topics))


def _factorize(labels: Sequence[Hashable]) -> numpy.ndarray:
    """Map labels to integer codes 0..k-1.

    labels (Sequence[Hashable]): The labels.
    RETURNS (numpy.ndarray): The code of each label.
    """
    if isinstance(labels, numpy.ndarray) and labels.ndim == 1 and labels.dtype.kind in "biuUS":
        return numpy.unique(labels, return_inverse=True)[1].ravel()
    # A dict handles any hashable, including mixed types numpy cannot sort.
    codes: Dict[Hashable, int] = {}
    for label in dict.fromkeys(labels):
        codes[label] = len(codes)
    return numpy.fromiter(map(codes.__getitem__, labels), dtype=numpy.int64, count=len(labels))


def _entropy(counts: numpy.ndarray) -> float:
    """Compute the entropy (in nats) of a labelling from its class sizes.

    counts (numpy.ndarray): The positive size of each class.
    RETURNS (float): The entropy, as sklearn's `_entropy` computes it.
    """
    if counts.size == 1:
        return 0.0
    counts = counts.astype(numpy.float64)
    total = counts.sum()
    return float(-numpy.sum((counts / total) * (numpy.log(counts) - numpy.log(total))))


def cluster_scores(pred: Sequence[int], gold: Sequence[Hashable]) -> Dict[str, float]:
    """Score a clustering against gold classes.

    `nmi` is sklearn's `normalized_mutual_info_score` (arithmetic mean of the
    entropies as normaliser), `ari` is `adjusted_rand_score`, and `purity` is
    the sum over clusters of their largest gold class, divided by the number
    of items. sklearn's conventions apply to degenerate cases: NMI is 1.0
    when both labellings have a single label and 0.0 when only one does; ARI
    is 1.0 when the two labellings group the items identically.

    pred (Sequence[int]): The predicted cluster of each item.
    gold (Sequence[Hashable]): The gold class of each item.
    RETURNS (Dict[str, float]): The scores under "nmi", "ari" and "purity".
    """
    if len(pred) != len(gold):
        raise TextVAEError(
            f"cluster_scores: pred has {len(pred)} items and gold {len(gold)}. "
            "Pass one predicted cluster and one gold class per item."
        )
    if len(pred) == 0:
        raise TextVAEError("cluster_scores: no items given. Pass at least one item.")
    gold_ids = _factorize(gold)
    pred_ids = _factorize(pred)
    n_classes = int(gold_ids.max()) + 1
    n_clusters = int(pred_ids.max()) + 1
    n = gold_ids.shape[0]
    table = numpy.bincount(
        gold_ids * n_clusters + pred_ids, minlength=n_classes * n_clusters
    ).reshape(n_classes, n_clusters)
    class_sizes = table.sum(axis=1)
    cluster_sizes = table.sum(axis=0)
    purity = float(table.max(axis=0).sum() / n)
    # Python ints, as in sklearn, so the pair counts cannot overflow.
    sum_squares = int((table.astype(numpy.int64) ** 2).sum())
    class_pairs = int((class_sizes.astype(numpy.int64) ** 2).sum())
    cluster_pairs = int((cluster_sizes.astype(numpy.int64) ** 2).sum())
    tp = sum_squares - n
    fp = cluster_pairs - sum_squares
    fn = class_pairs - sum_squares
    tn = n * n - fp - fn - sum_squares
    if fn == 0 and fp == 0:
        ari = 1.0
    else:
        ari = 2.0 * (tp * tn - fn * fp) / ((tp + fn) * (fn + tn) + (tp + fp) * (fp + tn))
    if n_classes == 1 and n_clusters == 1:
        nmi = 1.0
    elif n_classes == 1 or n_clusters == 1:
        nmi = 0.0
    else:
        rows, cols = numpy.nonzero(table)
        joint = table[rows, cols].astype(numpy.float64)
        total = float(n)
        outer = class_sizes[rows].astype(numpy.int64) * cluster_sizes[cols].astype(numpy.int64)
        log_outer = -numpy.log(outer) + numpy.log(total) + numpy.log(total)
        share = joint / total
        terms = share * (numpy.log(joint) - numpy.log(total)) + share * log_outer
        terms = numpy.where(numpy.abs(terms) < numpy.finfo(terms.dtype).eps, 0.0, terms)
        mi = float(numpy.clip(terms.sum(), 0.0, None))
        if mi == 0.0:
            nmi = 0.0
        else:
            normalizer = (_entropy(class_sizes) + _entropy(cluster_sizes)) / 2.0
            nmi = float(mi / normalizer)
    return {"nmi": nmi, "ari": float(ari), "purity": purity}


def elbo_perplexity(terms: numpy.ndarray) -> Tuple[Optional[float], int]:
    """exp(Σ negative ELBO / Σ topic words) over the docs that hold topic words:
    an upper bound on the perplexity of their bags of words. Docs without topic
    words have nothing to reconstruct; they are counted, not averaged in.

    terms (numpy.ndarray): (n_docs, 2) negative ELBO and topic-word count per doc.
    RETURNS (Tuple[Optional[float], int]): The perplexity (None without topic
        words) and how many docs held none.
    """
    terms = numpy.asarray(terms, dtype="float64").reshape(-1, 2)
    has_words = terms[:, 1] > 0
    n_empty = int((~has_words).sum())
    if not has_words.any():
        return None, n_empty
    per_word = terms[has_words, 0].sum() / terms[has_words, 1].sum()
    return float(numpy.exp(min(per_word, 700.0))), n_empty


def perplexity_gain(perplexity: Optional[float], unigram_perplexity: Optional[float]) -> Optional[float]:
    """unigram perplexity / perplexity: how many times lower the model puts the
    perplexity than the corpus word frequencies alone do. Above 1 the model
    explains the words better than their frequencies; it is always positive
    and higher is better, so spaCy can select on it, and it is comparable
    across vocabularies, unlike the perplexity.

    perplexity (Optional[float]): The model's perplexity on the docs.
    unigram_perplexity (Optional[float]): exp(mean −log frequency) of the same
        docs' topic words.
    RETURNS (Optional[float]): The gain; None if either is None.
    """
    if perplexity is None or unigram_perplexity is None:
        return None
    return float(unigram_perplexity / perplexity)


def cosine_similarity(matrix: numpy.ndarray) -> numpy.ndarray:
    """Cosine similarity of the rows of a matrix (e.g. topic-word distributions).

    matrix (numpy.ndarray): (n_rows, n_cols).
    RETURNS (numpy.ndarray): (n_rows, n_rows), 1 on the diagonal (0 for an all-zero row).
    """
    m = numpy.asarray(matrix, dtype="float64")
    norms = numpy.linalg.norm(m, axis=1, keepdims=True)
    m = m / numpy.where(norms > 0, norms, 1.0)
    return m @ m.T
