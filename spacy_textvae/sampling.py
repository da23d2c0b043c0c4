"""Generating bags of words from latents: the decoder's p(word | θ) with
θ = softmax(z), for latents taken from a cluster of the prior, from a topic
mixture, or given (e.g. interpolated between two documents).

Pure numpy: the decoder's distribution comes in as an array.
"""
from typing import List, Optional, Sequence, Tuple, Union

import numpy

from .errors import TextVAEError

Seed = Union[int, numpy.random.Generator]


def softmax(z: numpy.ndarray) -> numpy.ndarray:
    """RETURNS (numpy.ndarray): float64 softmax over the last axis."""
    z = numpy.asarray(z, dtype="float64")
    e = numpy.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def as_generator(seed: Seed) -> numpy.random.Generator:
    """RETURNS (numpy.random.Generator): `seed` itself, or a new PCG64 generator seeded with it."""
    if isinstance(seed, numpy.random.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, (int, numpy.integer)):
        raise TextVAEError(f"seed must be an int or a numpy.random.Generator, not {seed!r}.")
    return numpy.random.default_rng(int(seed))


def cluster_latents(
    rng: numpy.random.Generator,
    means: numpy.ndarray,
    variance: numpy.ndarray,
    cluster: int,
    n_samples: int,
    use_mean: bool = False,
) -> numpy.ndarray:
    """Latents of one cluster of the mixture prior: draws z ~ N(m_c, v), or its mean.

    means (numpy.ndarray): (n_clusters, K) the components' means.
    variance (numpy.ndarray): (K,) the shared variance.
    cluster (int): The cluster.
    n_samples (int): How many latents.
    use_mean (bool): Give the mean n_samples times instead of draws.
    RETURNS (numpy.ndarray): float64 (n_samples, K).
    """
    n_clusters = means.shape[0]
    if isinstance(cluster, bool) or not isinstance(cluster, (int, numpy.integer)) or not 0 <= cluster < n_clusters:
        raise TextVAEError(f"Unknown cluster {cluster!r}: the pipeline has clusters 0 .. {n_clusters - 1}.")
    mean = numpy.asarray(means[int(cluster)], dtype="float64")
    if use_mean:
        return numpy.repeat(mean[None, :], n_samples, axis=0)
    std = numpy.sqrt(numpy.asarray(variance, dtype="float64"))
    return mean[None, :] + rng.standard_normal((n_samples, mean.shape[0])) * std[None, :]


def interpolate_latents(a: numpy.ndarray, b: numpy.ndarray, steps: int) -> numpy.ndarray:
    """Evenly spaced latents on the line from `a` to `b`, both included.

    a, b (numpy.ndarray): (K,) latents.
    steps (int): How many (>= 2).
    RETURNS (numpy.ndarray): float32 (steps, K).
    """
    if isinstance(steps, bool) or not isinstance(steps, (int, numpy.integer)) or steps < 2:
        raise TextVAEError(f"steps must be an integer >= 2 (both ends included), not {steps!r}.")
    t = numpy.linspace(0.0, 1.0, int(steps))[:, None]
    a = numpy.asarray(a, dtype="float64")[None, :]
    b = numpy.asarray(b, dtype="float64")[None, :]
    return ((1.0 - t) * a + t * b).astype("float32")


def draw_bags(rng: numpy.random.Generator, probs: numpy.ndarray, n_words: int) -> numpy.ndarray:
    """One multinomial bag of `n_words` words per row of `probs`.

    probs (numpy.ndarray): (n, V) word distributions, rows summing to 1.
    RETURNS (numpy.ndarray): int64 (n, V) counts, rows summing to n_words.
    """
    if isinstance(n_words, bool) or not isinstance(n_words, (int, numpy.integer)) or n_words < 0:
        raise TextVAEError(f"n_words must be an integer >= 0, not {n_words!r}.")
    p = numpy.asarray(probs, dtype="float64")
    p = p / p.sum(axis=1, keepdims=True)
    return rng.multinomial(int(n_words), p).astype("int64")


def bags_to_words(counts: numpy.ndarray, words: Sequence[str], rng: numpy.random.Generator) -> List[List[str]]:
    """Each bag as a list of words, each word as often as drawn, in a random order.

    counts (numpy.ndarray): (n, V) counts.
    words (Sequence[str]): The vocabulary.
    RETURNS (List[List[str]]): One list per bag.
    """
    vocab = numpy.asarray(words, dtype=object)
    result = []
    for row in counts:
        nonzero = numpy.flatnonzero(row)
        bag = numpy.repeat(vocab[nonzero], row[nonzero])
        rng.shuffle(bag)
        result.append(bag.tolist())
    return result


def source_latents(
    *,
    rng: numpy.random.Generator,
    n_samples: int,
    cluster: Optional[int],
    topics: Optional[numpy.ndarray],
    latent: Optional[numpy.ndarray],
    means: Optional[numpy.ndarray],
    variance: Optional[numpy.ndarray],
    n_latent: int,
    n_topics: int,
    cluster_mean: bool,
) -> Tuple[Optional[numpy.ndarray], Optional[numpy.ndarray]]:
    """The latents (or, for a topic mixture, the proportions over the
    `n_topics` topics the pipeline reports) to decode, n_samples per source.

    RETURNS (Tuple[Optional[numpy.ndarray], Optional[numpy.ndarray]]): (latents, None)
        or (None, proportions), each float64 (n_rows, K).
    """
    given = [name for name, v in (("cluster", cluster), ("topics", topics), ("latent", latent)) if v is not None]
    if len(given) != 1:
        raise TextVAEError(
            f"Pass exactly one of cluster=, topics= or latent= (got {', '.join(given) or 'none'})."
        )
    if isinstance(n_samples, bool) or not isinstance(n_samples, (int, numpy.integer)) or n_samples < 1:
        raise TextVAEError(f"n_samples must be an integer >= 1, not {n_samples!r}.")
    if cluster is not None:
        return cluster_latents(rng, means, variance, cluster, int(n_samples), cluster_mean), None
    if latent is not None:
        z = numpy.asarray(latent, dtype="float64")
        if z.ndim not in (1, 2) or z.shape[-1] != n_latent or not numpy.isfinite(z).all():
            raise TextVAEError(
                f"latent must be finite, of shape ({n_latent},) or (n, {n_latent}), not shape {z.shape}: "
                "pass doc._.latent, or rows of pipe.interpolate(...)."
            )
        return numpy.repeat(z.reshape(-1, n_latent), int(n_samples), axis=0), None
    theta = numpy.asarray(topics, dtype="float64")
    if theta.ndim not in (1, 2) or theta.shape[-1] != n_topics or not numpy.isfinite(theta).all() \
            or (theta < 0).any() or (theta.reshape(-1, n_topics).sum(axis=1) <= 0).any():
        raise TextVAEError(
            f"topics must be non-negative weights of shape ({n_topics},) or (n, {n_topics}) with a "
            f"positive sum (they are normalised), not {numpy.array2string(theta, threshold=8)}: "
            "e.g. a one-hot row for one topic, or doc._.topics."
        )
    theta = theta.reshape(-1, n_topics)
    theta = theta / theta.sum(axis=1, keepdims=True)
    return None, numpy.repeat(theta, int(n_samples), axis=0)
