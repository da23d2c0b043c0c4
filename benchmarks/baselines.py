"""Classical baselines for the spacy_textvae side-by-side benchmark.

Every ``fit_*`` function takes the documents to fit on (either pre-tokenised lists of
strings, e.g. the OCTIS corpus, or raw strings, e.g. 20 Newsgroups ``text``), a number of
topics/clusters ``k`` and a ``seed``, and returns a :class:`BaselineResult` with

* ``topics``: the top-``top_n`` (default 25) words of every topic / cluster centroid,
* ``fit_seconds``: wall time of vectorising + fitting,
* ``infer_docs_per_s``: documents per second of inference (vectorise + doc-topic
  inference / cluster assignment) on ``test_docs`` if given, else on the fit documents,
* ``predictions``: cluster id per ``test_docs`` document (argmax of the document-topic
  weights for NMF and LDA, nearest centroid for k-means), or ``None``.

Vectoriser settings
-------------------
Pre-tokenised input (lists of tokens) is used as is (identity analyzer, no further
filtering), so the topic models see exactly the OCTIS vocabulary. Raw strings go through
scikit-learn's analyzer with :data:`RAW_VECTORIZER` (the settings that reproduce the
reference clustering figures); override them with
``vectorizer_kwargs``. Model settings can be overridden with ``model_kwargs``.

Run with ``OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1``; gensim uses
``workers=1``.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

Docs = Sequence[Union[str, Sequence[str]]]

#: Vectoriser settings for raw text (20 Newsgroups ``text``): the ones that reproduce the
#: reference clustering figures (``explore.py`` records the others tried).
RAW_VECTORIZER: Dict[str, Any] = dict(
    lowercase=True,
    token_pattern=r"(?u)\b\w\w+\b",
    stop_words="english",
    min_df=5,
    max_df=0.5,
    max_features=None,
)
#: How the OCTIS topic-quality runs hand documents to each system (run_baselines
#: ``--topic-input auto``): "joined" = space-joined strings through RAW_VECTORIZER (the same
#: vectoriser as for raw 20NG text), "tokens" = token lists as is; per system, the input that
#: reproduces the reference topic figures.
TOPIC_INPUT: Dict[str, str] = {
    "sklearn_nmf": "joined",
    "kmeans_tfidf": "joined",
    "sklearn_lda": "joined",
    "gensim_lda": "tokens",
}
#: Settings for pre-tokenised input: keep every token as is.
TOKENS_VECTORIZER: Dict[str, Any] = dict(min_df=1, max_df=1.0, max_features=None)

TOP_N = 25


def _identity(doc):
    return doc


def is_pretokenised(docs: Docs) -> bool:
    for d in docs:
        return not isinstance(d, str)
    return False


def make_vectorizer(
    docs: Docs, tfidf: bool, vectorizer_kwargs: Optional[Dict[str, Any]] = None
):
    """CountVectorizer / TfidfVectorizer for pre-tokenised or raw documents."""
    if is_pretokenised(docs):
        kw = dict(TOKENS_VECTORIZER)
        kw.update(vectorizer_kwargs or {})
        kw.update(analyzer=_identity, lowercase=False)
        kw.pop("token_pattern", None)
        kw.pop("stop_words", None)
    else:
        kw = dict(RAW_VECTORIZER)
        kw.update(vectorizer_kwargs or {})
    cls = TfidfVectorizer if tfidf else CountVectorizer
    if not tfidf:
        for key in ("norm", "use_idf", "smooth_idf", "sublinear_tf"):
            kw.pop(key, None)
    return cls(**kw)


@dataclass
class BaselineResult:
    system: str
    k: int
    seed: int
    topics: List[List[str]]
    fit_seconds: float
    infer_docs_per_s: float
    n_fit_docs: int
    n_features: int
    predictions: Optional[np.ndarray] = None
    settings: Dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> Dict[str, Any]:
        d = asdict(self)
        d["predictions"] = None if self.predictions is None else self.predictions.tolist()
        return d


def top_words(weights: np.ndarray, vocab: np.ndarray, top_n: int = TOP_N) -> List[List[str]]:
    """Top-``top_n`` words per row of a (k, V) weight matrix, highest first (stable ties)."""
    order = np.argsort(-weights, axis=1, kind="stable")[:, :top_n]
    return [[str(vocab[j]) for j in row] for row in order]


def _infer(vec, transform, train_docs: Docs, test_docs: Optional[Docs]):
    """Time vectorise+infer on test_docs (else the fit docs); return (docs/s, output)."""
    docs = test_docs if test_docs is not None else train_docs
    t0 = time.perf_counter()
    out = transform(vec.transform(docs))
    dt = time.perf_counter() - t0
    return len(docs) / max(dt, 1e-9), out


def _clean_settings(d: Dict[str, Any]) -> Dict[str, Any]:
    return {k: (v if isinstance(v, (int, float, str, bool, type(None), list, dict)) else repr(v))
            for k, v in d.items()}


def vectorizer_settings(vec) -> Dict[str, Any]:
    """The vectoriser parameters that matter, JSON-friendly."""
    p = vec.get_params()
    out = {"class": type(vec).__name__,
           "analyzer": "identity (pre-tokenised)" if callable(p["analyzer"]) else p["analyzer"]}
    if not callable(p["analyzer"]):
        out.update(lowercase=p["lowercase"], token_pattern=p["token_pattern"],
                   stop_words=p["stop_words"] if isinstance(p["stop_words"], (str, type(None)))
                   else "custom")
    out.update(min_df=p["min_df"], max_df=p["max_df"], max_features=p["max_features"])
    if isinstance(vec, TfidfVectorizer):
        out.update(norm=p["norm"], use_idf=p["use_idf"], smooth_idf=p["smooth_idf"],
                   sublinear_tf=p["sublinear_tf"])
    return out


# --------------------------------------------------------------------------- NMF
NMF_DEFAULTS: Dict[str, Any] = dict(init="nndsvda", solver="cd", beta_loss="frobenius",
                                    max_iter=200, tol=1e-4)


def fit_sklearn_nmf(docs: Docs, k: int, seed: int, test_docs: Optional[Docs] = None,
                    top_n: int = TOP_N, tfidf: bool = True,
                    vectorizer_kwargs: Optional[Dict[str, Any]] = None,
                    model_kwargs: Optional[Dict[str, Any]] = None) -> BaselineResult:
    """scikit-learn NMF on TF-IDF (``tfidf=False``: raw counts). Topics = rows of H;
    clusters = argmax of W."""
    from sklearn.decomposition import NMF

    mk = dict(NMF_DEFAULTS)
    mk.update(model_kwargs or {})
    t0 = time.perf_counter()
    vec = make_vectorizer(docs, tfidf, vectorizer_kwargs)
    X = vec.fit_transform(docs)
    model = NMF(n_components=k, random_state=seed, **mk)
    model.fit(X)
    fit_s = time.perf_counter() - t0
    vocab = vec.get_feature_names_out()
    dps, W = _infer(vec, model.transform, docs, test_docs)
    preds = np.asarray(W).argmax(1) if test_docs is not None else None
    return BaselineResult("sklearn_nmf", k, seed, top_words(model.components_, vocab, top_n),
                          fit_s, dps, X.shape[0], X.shape[1], preds,
                          _clean_settings(dict(tfidf=tfidf, **mk, n_iter=int(model.n_iter_),
                                               vectorizer=vectorizer_settings(vec))))


# --------------------------------------------------------------------------- sklearn LDA
# max_iter=20: the one value that matches the reference at both K=20 and K=50
SKLDA_DEFAULTS: Dict[str, Any] = dict(learning_method="batch", max_iter=20)


def fit_sklearn_lda(docs: Docs, k: int, seed: int, test_docs: Optional[Docs] = None,
                    top_n: int = TOP_N, tfidf: bool = False,
                    vectorizer_kwargs: Optional[Dict[str, Any]] = None,
                    model_kwargs: Optional[Dict[str, Any]] = None) -> BaselineResult:
    """scikit-learn LatentDirichletAllocation on counts (``tfidf=True``: on TF-IDF, tried
    only in the protocol search). Topics = rows of components_; clusters = argmax of the
    doc-topic distribution."""
    from sklearn.decomposition import LatentDirichletAllocation

    mk = dict(SKLDA_DEFAULTS)
    mk.update(model_kwargs or {})
    t0 = time.perf_counter()
    vec = make_vectorizer(docs, tfidf, vectorizer_kwargs)
    X = vec.fit_transform(docs)
    model = LatentDirichletAllocation(n_components=k, random_state=seed, n_jobs=1, **mk)
    model.fit(X)
    fit_s = time.perf_counter() - t0
    vocab = vec.get_feature_names_out()
    dps, theta = _infer(vec, model.transform, docs, test_docs)
    preds = np.asarray(theta).argmax(1) if test_docs is not None else None
    return BaselineResult("sklearn_lda", k, seed, top_words(model.components_, vocab, top_n),
                          fit_s, dps, X.shape[0], X.shape[1], preds,
                          _clean_settings(dict(tfidf=tfidf, **mk,
                                               vectorizer=vectorizer_settings(vec))))


# --------------------------------------------------------------------------- gensim LDA
# passes=10: gensim's default 1 is far off the reference; 5 is faster but gives lower NPMI and TD.
# LdaMulticore is not bit-reproducible even with workers=1 and a fixed random_state.
GENSIM_LDA_DEFAULTS: Dict[str, Any] = dict(passes=10, iterations=50, chunksize=2000,
                                           alpha="symmetric", eta=None, workers=1)


def fit_gensim_lda(docs: Docs, k: int, seed: int, test_docs: Optional[Docs] = None,
                   top_n: int = TOP_N, vectorizer_kwargs: Optional[Dict[str, Any]] = None,
                   model_kwargs: Optional[Dict[str, Any]] = None) -> BaselineResult:
    """gensim LdaMulticore (workers=1) on the same bag of words as the sklearn models
    (the sklearn count matrix is handed to gensim, so vocabularies match exactly).
    Topics = top words of ``get_topics()``; clusters = argmax of the doc-topic
    distribution (``minimum_probability=0``)."""
    from gensim.matutils import Sparse2Corpus
    from gensim.models import LdaMulticore

    mk = dict(GENSIM_LDA_DEFAULTS)
    mk.update(model_kwargs or {})
    t0 = time.perf_counter()
    vec = make_vectorizer(docs, False, vectorizer_kwargs)
    X = sp.csr_matrix(vec.fit_transform(docs))
    vocab = vec.get_feature_names_out()
    id2word = {i: str(w) for i, w in enumerate(vocab)}
    corpus = list(Sparse2Corpus(X, documents_columns=False))
    model = LdaMulticore(corpus=corpus, id2word=id2word, num_topics=k, random_state=seed, **mk)
    fit_s = time.perf_counter() - t0

    def transform(Xt):
        bows = Sparse2Corpus(sp.csr_matrix(Xt), documents_columns=False)
        out = np.zeros((Xt.shape[0], k))
        for i, bow in enumerate(bows):
            for t, p in model.get_document_topics(bow, minimum_probability=0.0):
                out[i, t] = p
        return out

    dps, theta = _infer(vec, transform, docs, test_docs)
    preds = theta.argmax(1) if test_docs is not None else None
    return BaselineResult("gensim_lda", k, seed, top_words(model.get_topics(), vocab, top_n),
                          fit_s, dps, X.shape[0], X.shape[1], preds,
                          _clean_settings(dict(**mk, vectorizer=vectorizer_settings(vec))))


# --------------------------------------------------------------------------- k-means
KMEANS_DEFAULTS: Dict[str, Any] = dict(n_init="auto", max_iter=300, algorithm="lloyd")


def fit_kmeans_tfidf(docs: Docs, k: int, seed: int, test_docs: Optional[Docs] = None,
                     top_n: int = TOP_N, vectorizer_kwargs: Optional[Dict[str, Any]] = None,
                     model_kwargs: Optional[Dict[str, Any]] = None) -> BaselineResult:
    """scikit-learn KMeans on l2-normalised TF-IDF. Topics = top terms of each centroid;
    clusters = nearest centroid."""
    from sklearn.cluster import KMeans

    mk = dict(KMEANS_DEFAULTS)
    mk.update(model_kwargs or {})
    t0 = time.perf_counter()
    vec = make_vectorizer(docs, True, vectorizer_kwargs)
    X = vec.fit_transform(docs)
    model = KMeans(n_clusters=k, random_state=seed, **mk)
    model.fit(X)
    fit_s = time.perf_counter() - t0
    vocab = vec.get_feature_names_out()
    dps, preds = _infer(vec, model.predict, docs, test_docs)
    preds = np.asarray(preds) if test_docs is not None else None
    return BaselineResult("kmeans_tfidf", k, seed, top_words(model.cluster_centers_, vocab, top_n),
                          fit_s, dps, X.shape[0], X.shape[1], preds,
                          _clean_settings(dict(**mk, vectorizer=vectorizer_settings(vec))))


SYSTEMS = {
    "sklearn_nmf": fit_sklearn_nmf,
    "kmeans_tfidf": fit_kmeans_tfidf,
    "sklearn_lda": fit_sklearn_lda,
    "gensim_lda": fit_gensim_lda,
}
SYSTEM_TITLES = {
    "sklearn_nmf": "scikit-learn NMF",
    "kmeans_tfidf": "k-means on TF-IDF",
    "sklearn_lda": "scikit-learn LDA",
    "gensim_lda": "gensim LdaMulticore",
}
