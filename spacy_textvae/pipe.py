"""The `textvae` pipeline component."""
import logging
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy
import srsly
import torch
from spacy import util
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model, Optimizer

from . import metrics  # noqa: F401  (registers the scorer)
from .layers import VAEOutput, attach_vae, get_vae_layer
from .topic_words import check_ranking, check_weight, frex_scores, relevance_scores
from .vae import TextVAEModule, check_cluster_means
from .vocab import TopicVocab
from .word_embeddings import cooccurrence_embeddings

logger = logging.getLogger("spacy_textvae")

DEFAULT_MODEL_CONFIG = """
[model]
@architectures = "spacy-textvae.TextVAE.v2"
hidden_width = 256
dropout = 0.2
word_dropout = 0.3
grad_factor = 1.0
pooling = "mean_max"
encoder_bow = true
decoder = "embedding"
word_embedding_width = 100
decoder_temperature = 0.5
ecr_weight = 100.0
decoder_batchnorm = true
decoder_background = true
mixed_precision = false

[model.tok2vec]
@architectures = "spacy.HashEmbedCNN.v2"
pretrained_vectors = null
width = 96
depth = 2
embed_size = 2000
window_size = 1
maxout_pieces = 3
subword_features = true
"""
DEFAULT_MODEL = Config().from_str(DEFAULT_MODEL_CONFIG)["model"]

EXTENSIONS = ("latent", "topics", "cluster", "cluster_probs")
# How often (in updates) mixture components that explain no documents are re-seeded.
PRIOR_REPAIR_EVERY = 50


def resolve_cluster_means(cluster_means: str, n_topics: int, n_clusters: int) -> str:
    """The `cluster_means` setting with "auto" resolved: "topics" when there is
    one cluster per topic, else "free"; a clear error for a bad value."""
    if cluster_means == "auto":
        return "topics" if n_clusters == n_topics else "free"
    check_cluster_means(cluster_means, n_topics, n_clusters)
    return cluster_means


def _perplexity(total: float, words: float) -> Optional[float]:
    """exp(total negative ELBO / topic words); None without topic words."""
    if words <= 0:
        return None
    return float(numpy.exp(min(total / words, 700.0)))


def install_extensions() -> None:
    """Register `Doc._.latent`, `._.topics`, `._.cluster` and `._.cluster_probs`
    (idempotent: safe in worker processes and after unpickling)."""
    for name in EXTENSIONS:
        if not Doc.has_extension(name):
            Doc.set_extension(name, default=None)


@Language.factory(
    "textvae",
    assigns=[f"doc._.{name}" for name in EXTENSIONS],
    default_config={
        "model": DEFAULT_MODEL,
        "n_topics": 20,
        "n_clusters": 20,
        "kl_warmup_steps": 500,
        "prior_fit_step": None,
        "cluster_temperature": 0.1,
        "cluster_means": "auto",
        "vocab_attr": "LOWER",
        "min_df": 2,
        "max_df": 0.7,
        "max_vocab_size": 10000,
        "remove_stop_words": True,
        "extra_stop_words": [],
        "topic_word_ranking": "frex",
        "topic_word_exclusivity": 0.5,
        "topic_word_relevance": 0.6,
        "scorer": {"@scorers": "spacy-textvae.textvae_scorer.v1"},
    },
    default_score_weights={
        "textvae_npmi": 0.5,
        "textvae_diversity": 0.5,
        "textvae_perplexity": None,
        "textvae_cluster_nmi": None,
        "textvae_cluster_ari": None,
        "textvae_cluster_purity": None,
    },
)
def make_textvae(
    nlp: Language,
    name: str,
    model: Model[List[Doc], VAEOutput],
    n_topics: int,
    n_clusters: int,
    kl_warmup_steps: int,
    prior_fit_step: Optional[int],
    cluster_temperature: float,
    cluster_means: str,
    vocab_attr: str,
    min_df: float,
    max_df: float,
    max_vocab_size: int,
    remove_stop_words: bool,
    extra_stop_words: List[str],
    topic_word_ranking: str,
    topic_word_exclusivity: float,
    topic_word_relevance: float,
    scorer: Optional[Callable],
) -> "TextVAE":
    """Construct a TextVAE component (see `TextVAE` for the arguments)."""
    return TextVAE(
        nlp.vocab,
        model,
        name,
        n_topics=n_topics,
        n_clusters=n_clusters,
        kl_warmup_steps=kl_warmup_steps,
        prior_fit_step=prior_fit_step,
        cluster_temperature=cluster_temperature,
        cluster_means=cluster_means,
        vocab_attr=vocab_attr,
        min_df=min_df,
        max_df=max_df,
        max_vocab_size=max_vocab_size,
        remove_stop_words=remove_stop_words,
        extra_stop_words=extra_stop_words,
        topic_word_ranking=topic_word_ranking,
        topic_word_exclusivity=topic_word_exclusivity,
        topic_word_relevance=topic_word_relevance,
        scorer=scorer,
    )


class TextVAE(TrainablePipe):
    """A variational autoencoder over each doc's token vectors and bag of words.

    Writes `doc._.latent` (posterior mean, float32), `doc._.topics` (topic
    proportions, float32, sums to 1), `doc._.cluster` (int) and
    `doc._.cluster_probs` (float32, sums to 1). Trained without annotations.

    vocab (Vocab): The shared vocabulary.
    model (Model[List[Doc], VAEOutput]): A `spacy-textvae.TextVAE.v2` model.
    name (str): The component's name.
    n_topics (int): Number of topics (and latent dimensions).
    n_clusters (int): Number of clusters (components of the mixture prior).
    kl_warmup_steps (int): Updates over which the KL weight rises linearly from 0 to 1.
    prior_fit_step (Optional[int]): Update at which the mixture prior is fitted
        to the posterior means seen so far (None: half of kl_warmup_steps).
    cluster_temperature (float): In (0, 1]. In training, documents are assigned
        to clusters by softmax(log p(c, z) / T) instead of the exact p(c | z):
        T < 1 sharpens the assignment, which keeps the mixture's means apart
        (one-step NMI on 20 Newsgroups after 60 epochs, medians of 3 seeds:
        .347 at 1.0, .367 at 0.3, .375 at 0.1; topics do not suffer; see
        benchmarks/NOTES_textvae.md). Inference always reports p(c | z).
    cluster_means (str): How the mixture prior's means are parameterised.
        "topics": cluster c's mean is tied to topic c's corner of the latent
        space, so a doc's cluster is the topic the prior assigns it to and
        topics and clusters agree (needs n_clusters == n_topics). "free": each
        mean is its own parameter, fitted by k-means++ (VaDE). "auto" (default):
        "topics" when n_clusters == n_topics, else "free".
    vocab_attr (str): Token attribute naming topic words: LOWER, LEMMA, NORM or ORTH.
    min_df (float): Minimum document frequency of a topic word (count, or share if < 1).
    max_df (float): Maximum document frequency of a topic word (share, or count if > 1).
    max_vocab_size (int): At most this many topic words, the most frequent.
    remove_stop_words (bool): Leave stop words out of the topic vocabulary.
    extra_stop_words (List[str]): More words to leave out.
    topic_word_ranking (str): How topic words are ranked: "frex" (frequent in
        the topic and exclusive to it) or "relevance" (see `topic_word_scores`).
    topic_word_exclusivity (float): FREX's weight of exclusivity, in [0, 1].
    topic_word_relevance (float): Relevance's λ in [0, 1]: λ·log p(w | topic)
        + (1 − λ)·log lift.
    scorer (Optional[Callable]): The scoring method.
    """

    def __init__(
        self,
        vocab: Vocab,
        model: Model[List[Doc], VAEOutput],
        name: str = "textvae",
        *,
        n_topics: int = 20,
        n_clusters: int = 20,
        kl_warmup_steps: int = 500,
        prior_fit_step: Optional[int] = None,
        cluster_temperature: float = 0.1,
        cluster_means: str = "auto",
        vocab_attr: str = "LOWER",
        min_df: float = 2,
        max_df: float = 0.7,
        max_vocab_size: int = 10000,
        remove_stop_words: bool = True,
        extra_stop_words: Sequence[str] = (),
        topic_word_ranking: str = "frex",
        topic_word_exclusivity: float = 0.5,
        topic_word_relevance: float = 0.6,
        scorer: Optional[Callable] = None,
    ) -> None:
        if n_topics < 2:
            raise ValueError(f"[textvae] n_topics must be >= 2, not {n_topics}.")
        if n_clusters < 1:
            raise ValueError(f"[textvae] n_clusters must be >= 1, not {n_clusters}.")
        check_ranking("topic_word_ranking", topic_word_ranking)
        check_weight("topic_word_exclusivity", topic_word_exclusivity)
        check_weight("topic_word_relevance", topic_word_relevance)
        if not 0.0 < cluster_temperature <= 1.0:
            raise ValueError(
                f"[textvae] cluster_temperature must be in (0, 1], not {cluster_temperature}."
            )
        if kl_warmup_steps < 0:
            raise ValueError(f"[textvae] kl_warmup_steps must be >= 0, not {kl_warmup_steps}.")
        cluster_means = resolve_cluster_means(cluster_means, n_topics, n_clusters)
        install_extensions()
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer
        # Not in cfg: reading settings, so a config override at load time wins.
        self.topic_word_ranking = topic_word_ranking
        self.topic_word_exclusivity = float(topic_word_exclusivity)
        self.topic_word_relevance = float(topic_word_relevance)
        self.topic_vocab = TopicVocab(
            attr=vocab_attr,
            min_df=min_df,
            max_df=max_df,
            max_size=max_vocab_size,
            remove_stop_words=remove_stop_words,
            extra_stop_words=extra_stop_words,
        )
        self.model.attrs["topic_vocab"] = self.topic_vocab
        self.cfg: Dict[str, Any] = {
            "n_topics": int(n_topics),
            "n_clusters": int(n_clusters),
            "kl_warmup_steps": int(kl_warmup_steps),
            "prior_fit_step": prior_fit_step,
            "cluster_temperature": float(cluster_temperature),
            # Resolved ("auto" never stored): it decides which weights the VAE has.
            "cluster_means": cluster_means,
            # Set by initialize(): the sizes the torch module is built with.
            "width": None,
            "n_vocab": None,
            "step": 0,
            # Whether fit_prior() has run; kept on the host so checking it never syncs a GPU.
            "prior_fitted": False,
        }

    # -- state ------------------------------------------------------------------

    @property
    def is_initialized(self) -> bool:
        """RETURNS (bool): Whether the VAE exists (after initialize or loading)."""
        return self.model.has_ref("vae") and self.topic_vocab.is_built

    def _require_initialized(self) -> None:
        if not self.is_initialized:
            raise ValueError(
                f"[textvae] The '{self.name}' component is not initialised: its topic "
                "vocabulary and VAE are built from training data. Did you call "
                "nlp.initialize(get_examples=...) (or load a trained pipeline with spacy.load)?"
            )

    @property
    def torch_module(self) -> TextVAEModule:
        """RETURNS (TextVAEModule): The wrapped torch module."""
        self._require_initialized()
        return get_vae_layer(self.model).shims[0]._model

    @property
    def n_topics(self) -> int:
        return self.cfg["n_topics"]

    @property
    def n_clusters(self) -> int:
        return self.cfg["n_clusters"]

    def _kl_weight(self, step: int) -> float:
        warmup = self.cfg["kl_warmup_steps"]
        return 1.0 if warmup <= 0 else min(1.0, (step + 1) / warmup)

    def _prior_fit_step(self) -> int:
        step = self.cfg.get("prior_fit_step")
        return int(step) if step is not None else self.cfg["kl_warmup_steps"] // 2

    # -- inference --------------------------------------------------------------

    def __call__(self, doc: Doc) -> Doc:
        install_extensions()
        return super().__call__(doc)

    def pipe(self, stream: Iterable[Doc], *, batch_size: int = 128) -> Iterator[Doc]:
        install_extensions()
        return super().pipe(stream, batch_size=batch_size)

    def predict(self, docs: Iterable[Doc]) -> Optional[VAEOutput]:
        """Run the model on docs (posterior means, no sampling).

        docs (Iterable[Doc]): The documents.
        RETURNS (Optional[VAEOutput]): The outputs; None for no docs.
        """
        self._require_initialized()
        docs = list(docs)
        if not docs:
            return None
        return self.model.predict(docs)

    def set_annotations(self, docs: Iterable[Doc], output: Optional[VAEOutput]) -> None:
        """Write `doc._.latent`, `._.topics`, `._.cluster`, `._.cluster_probs`.

        docs (Iterable[Doc]): The documents.
        output (Optional[VAEOutput]): What `predict` returned.
        """
        if output is None:
            return
        ops = self.model.ops
        # One device→host copy per array and batch; docs get small plain numpy arrays.
        latent = ops.to_numpy(output.latent).astype("float32")
        topics = ops.to_numpy(output.topics).astype("float32")
        probs = ops.to_numpy(output.cluster_probs).astype("float32")
        elbo = ops.to_numpy(ops.xp.stack([output.recon + output.kl, output.n_words], axis=1))
        clusters = probs.argmax(axis=1)
        key = self._elbo_key
        for i, doc in enumerate(docs):
            doc._.latent = latent[i].copy()
            doc._.topics = topics[i].copy()
            doc._.cluster_probs = probs[i].copy()
            doc._.cluster = int(clusters[i])
            # Kept so that score() reads the perplexity of the docs as annotated
            # instead of running the model (a transformer, often) a second time.
            doc.user_data[key] = (float(elbo[i, 0]), float(elbo[i, 1]))

    # -- training ---------------------------------------------------------------

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
    ) -> None:
        """Build the topic vocabulary from the training docs and the VAE for it.

        get_examples (Callable[[], Iterable[Example]]): The training examples
            (only their texts are used).
        nlp (Optional[Language]): The pipeline.
        """
        if next(iter(get_examples()), None) is None:
            raise ValueError(
                "[textvae] initialize() got zero training documents: the topic vocabulary "
                "is built from them. Pass examples to nlp.initialize(get_examples=...) or "
                "check that [paths.train] points to a non-empty corpus."
            )
        validate_get_examples(get_examples, "TextVAE.initialize")
        self.topic_vocab.build(eg.reference for eg in get_examples())
        sample = [eg.reference for eg in islice(get_examples(), 8)]
        self.model.initialize(X=sample)
        width = self._infer_width(sample)
        background = self.topic_vocab.log_frequencies()
        if not self.model.attrs["vae_cfg"]["decoder_background"]:
            background = None
        word_embeddings = None
        vae_cfg = self.model.attrs["vae_cfg"]
        if vae_cfg["decoder"] == "embedding":
            # One more pass over the training docs: the word embeddings come from
            # their co-occurrence counts, over the vocabulary just built.
            docs = (eg.reference for eg in get_examples())
            word_embeddings = cooccurrence_embeddings(
                (cols for chunk in util.minibatch(docs, size=256) for cols in self.topic_vocab.columns(chunk)),
                len(self.topic_vocab),
                width=vae_cfg["word_embedding_width"],
            )
        self.cfg.update({"width": width, "n_vocab": len(self.topic_vocab), "step": 0, "prior_fitted": False})
        self._attach_vae(background, word_embeddings)
        logger.info(
            "textvae: %d topic words from %d docs, token vectors of width %d",
            len(self.topic_vocab),
            self.topic_vocab.n_docs,
            width,
        )

    def _infer_width(self, sample: List[Doc]) -> int:
        tok2vec = self.model.get_ref("tok2vec")
        if tok2vec.has_dim("nO"):
            return int(tok2vec.get_dim("nO"))
        vectors = tok2vec.predict(sample[:2])
        return int(vectors[0].shape[1])

    def _attach_vae(
        self, background: Optional[numpy.ndarray] = None, word_embeddings: Optional[numpy.ndarray] = None
    ) -> None:
        cfg = self.model.attrs["vae_cfg"]
        if cfg["mixed_precision"] and self.model.ops.device_type != "gpu":
            raise ValueError(
                "[textvae] mixed_precision needs a GPU: call spacy.require_gpu() before "
                "building the pipeline, or set mixed_precision = false."
            )
        attach_vae(
            self.model,
            n_inputs=self.cfg["width"],
            n_vocab=self.cfg["n_vocab"],
            n_topics=self.n_topics,
            n_clusters=self.n_clusters,
            background=background,
            word_embeddings=word_embeddings,
            cluster_temperature=self.cfg.get("cluster_temperature", 1.0),
            cluster_means=self.cfg["cluster_means"],
        )

    def update(
        self,
        examples: Iterable[Example],
        *,
        drop: float = 0.0,
        sgd: Optional[Optimizer] = None,
        losses: Optional[Dict[str, float]] = None,
    ) -> Dict[str, float]:
        """Learn from a batch of examples (no annotations needed).

        examples (Iterable[Example]): The batch.
        drop (float): Ignored: dropout inside the VAE is set in the model config.
        sgd (Optional[Optimizer]): The optimizer.
        losses (Optional[Dict[str, float]]): Accumulates the negative ELBO per doc.
        RETURNS (Dict[str, float]): The losses.
        """
        if losses is None:
            losses = {}
        losses.setdefault(self.name, 0.0)
        validate_examples(examples, "TextVAE.update")
        examples = list(examples)
        docs = [eg.predicted for eg in examples]
        if not docs:
            return losses
        self._require_initialized()
        self.model.attrs["kl_weight"] = self._kl_weight(self.cfg["step"])
        output, backprop = self.model.begin_update(docs)
        loss, d_loss = self.get_loss(examples, output)
        backprop(d_loss)
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += loss
        self.cfg["step"] += 1
        self._maintain_prior()
        return losses

    def get_loss(self, examples: Iterable[Example], output: VAEOutput) -> Tuple[float, Any]:
        """The mean negative ELBO per doc, and its gradient w.r.t. each doc's
        (KL-annealed) training loss.

        examples (Iterable[Example]): The batch.
        output (VAEOutput): The model's output for it.
        RETURNS (Tuple[float, Floats1d]): The loss and the gradient.
        """
        n = output.loss.shape[0]
        nelbo = float((output.recon + output.kl).sum()) / max(n, 1)
        if not numpy.isfinite(nelbo):
            raise ValueError(
                "[textvae] The loss is not finite. Lower [training.optimizer] learn_rate "
                "or raise kl_warmup_steps."
            )
        d_loss = self.model.ops.alloc1f(n) + 1.0 / n
        return nelbo, d_loss

    def _maintain_prior(self) -> None:
        module = self.torch_module
        step = self.cfg["step"]
        if not self.cfg["prior_fitted"]:
            if step >= self._prior_fit_step() and module.fit_prior(seed=step):
                self.cfg["prior_fitted"] = True
                logger.info("textvae: fitted the %d-component prior at step %d", self.n_clusters, step)
        elif step % PRIOR_REPAIR_EVERY == 0:
            n = module.repair_prior()
            if n:
                logger.info("textvae: re-seeded %d unused clusters at step %d", n, step)

    # -- topics -----------------------------------------------------------------

    def topic_word_matrix(self) -> numpy.ndarray:
        """p(word | topic): the decoder's word distribution for a document made
        of one topic only (θ = one-hot), as the trained model applies it
        (batch-norm running statistics and background included).

        RETURNS (numpy.ndarray): float32 array (n_topics, n_vocab), rows sum to 1.
        """
        return numpy.exp(self._topic_log_probs()).astype("float32")

    def _topic_log_probs(self) -> numpy.ndarray:
        module = self.torch_module
        was_training = module.training
        module.eval()
        with torch.no_grad():
            eye = torch.eye(self.n_topics, device=module.background.device)
            log_probs = module.decode(eye).float().cpu().numpy()
        module.train(was_training)
        return log_probs

    def topic_word_scores(
        self, relevance: Optional[float] = None, exclusivity: Optional[float] = None
    ) -> numpy.ndarray:
        """How well each word names each topic; a topic's words are its
        highest-scoring ones. Two rankings (see `spacy_textvae.topic_words`):
        FREX, the harmonic mean of a word's rank in the topic by exclusivity
        p(w | k) / Σ_j p(w | j) and by probability p(w | k) (Bischof & Airoldi
        2012), and relevance, λ·log p(w | k) + (1 − λ)·log(p(w | k) / p(w))
        (Sievert & Shirley 2014).

        relevance (Optional[float]): Rank by relevance with this λ in [0, 1].
        exclusivity (Optional[float]): Rank by FREX with this weight in [0, 1].
        With neither, the component's `topic_word_ranking` and its weight.
        RETURNS (numpy.ndarray): float32 array (n_topics, n_vocab).
        """
        return self._rank_scores(self._topic_log_probs(), relevance, exclusivity)

    def _rank_scores(
        self, log_probs: numpy.ndarray, relevance: Optional[float], exclusivity: Optional[float]
    ) -> numpy.ndarray:
        if relevance is not None and exclusivity is not None:
            raise ValueError(
                "[textvae] Pass relevance= (relevance ranking) or exclusivity= (FREX "
                "ranking), not both."
            )
        check_ranking("topic_word_ranking", self.topic_word_ranking)
        if relevance is None and (exclusivity is not None or self.topic_word_ranking == "frex"):
            weight = self.topic_word_exclusivity if exclusivity is None else float(exclusivity)
            return frex_scores(log_probs, weight)
        lam = self.topic_word_relevance if relevance is None else float(relevance)
        return relevance_scores(log_probs, self.topic_vocab.log_frequencies(), lam)

    def topic_word_weights(
        self,
        top_n: int = 10,
        relevance: Optional[float] = None,
        exclusivity: Optional[float] = None,
    ) -> List[List[Tuple[str, float]]]:
        """Each topic's `top_n` best-ranked words with p(word | topic).

        top_n (int): Words per topic.
        relevance (Optional[float]): Rank by relevance with this λ (see `topic_word_scores`).
        exclusivity (Optional[float]): Rank by FREX with this weight.
        RETURNS (List[List[Tuple[str, float]]]): One list per topic, best first.
        """
        # One decode serves both the ranking and the reported probabilities.
        log_probs = self._topic_log_probs()
        scores = self._rank_scores(log_probs, relevance, exclusivity)
        probs = numpy.exp(log_probs)
        top_n = min(top_n, scores.shape[1])
        order = numpy.argsort(-scores, axis=1, kind="stable")[:, :top_n]
        words = self.topic_vocab.words
        return [[(words[j], float(probs[k, j])) for j in row] for k, row in enumerate(order)]

    def topic_words(
        self,
        top_n: int = 10,
        relevance: Optional[float] = None,
        exclusivity: Optional[float] = None,
    ) -> List[List[str]]:
        """Each topic's `top_n` best-ranked words (see `topic_word_scores`).

        top_n (int): Words per topic.
        relevance (Optional[float]): Rank by relevance with this λ.
        exclusivity (Optional[float]): Rank by FREX with this weight.
        RETURNS (List[List[str]]): One list per topic.
        """
        weights = self.topic_word_weights(top_n, relevance, exclusivity)
        return [[w for w, _ in topic] for topic in weights]

    # -- scoring ----------------------------------------------------------------

    def score(self, examples: Iterable[Example], **kwargs: Any) -> Dict[str, Any]:
        """Topic coherence (NPMI), diversity, perplexity and, when the reference
        docs have `doc.cats`, clustering scores.

        The perplexity is that of the predicted docs as this component annotated
        them (`set_annotations` keeps each doc's ELBO terms), so evaluation runs the
        model once; docs it did not annotate are run through it here.

        examples (Iterable[Example]): Examples whose predicted docs were processed.
        RETURNS (Dict[str, Any]): The scores.
        """
        examples = list(examples)
        validate_examples(examples, "TextVAE.score")
        if self.scorer is None:
            return {}
        if not self.is_initialized:
            return self.scorer(examples, **kwargs)
        docs = [eg.predicted for eg in examples]
        extra = {"textvae_perplexity": self._annotated_perplexity(docs)}
        return self.scorer(
            examples,
            topic_words=self.topic_words(25),
            tokens_of=self.topic_vocab.tokens_of,
            extra_scores=extra,
            **kwargs,
        )

    def perplexity(self, docs: Sequence[Doc], batch_size: int = 256) -> Optional[float]:
        """exp(negative ELBO per topic word) over docs: an upper bound on the
        perplexity of their bags of words (lower is better).

        docs (Sequence[Doc]): The documents.
        batch_size (int): Docs per forward pass.
        RETURNS (Optional[float]): The perplexity; None if docs hold no topic words.
        """
        total, words = 0.0, 0.0
        for batch in util.minibatch(docs, size=batch_size):
            output = self.predict(batch)
            if output is not None:
                total += float((output.recon + output.kl).sum())
                words += float(output.n_words.sum())
        return _perplexity(total, words)

    @property
    def _elbo_key(self) -> Tuple[str, str]:
        # Per component name, so two textvae components do not read each other's.
        return ("textvae.elbo", self.name)

    def _annotated_perplexity(self, docs: Sequence[Doc]) -> Optional[float]:
        """`perplexity(docs)` from the terms `set_annotations` kept on the docs;
        runs the model only if some doc was not annotated by this component."""
        key = self._elbo_key
        if not all(key in doc.user_data for doc in docs):
            return self.perplexity(docs)
        terms = numpy.asarray([doc.user_data[key] for doc in docs], dtype="float64").reshape(-1, 2)
        return _perplexity(float(terms[:, 0].sum()), float(terms[:, 1].sum()))

    # -- serialisation ----------------------------------------------------------

    def _load_cfg(self, saved: Dict[str, Any]) -> None:
        # Models saved before `cluster_means` existed have free means.
        saved.setdefault("cluster_means", "free")
        self.cfg.update(saved)

    def _deserialize_model(self, load: Callable[[], None]) -> None:
        if self.cfg.get("width") is not None and self.cfg.get("n_vocab") is not None:
            self._attach_vae()
            if not self.cfg.get("prior_fitted"):
                # Not during training (spacy train evaluates before the fit step),
                # only when a saved model is loaded.
                logger.warning(
                    "textvae: this model's mixture prior was never fitted (training stopped "
                    "before prior_fit_step=%d), so every doc gets cluster 0. Train longer or "
                    "lower prior_fit_step.",
                    self._prior_fit_step(),
                )
        try:
            load()
        except Exception as e:
            if isinstance(e, ValueError) and str(e).startswith("[textvae]"):
                raise
            raise ValueError(
                f"[textvae] Could not load the '{self.name}' model: the saved data is "
                f"damaged or from an incompatible version ({type(e).__name__}: {e})."
            ) from e

    def to_bytes(self, *, exclude: Iterable[str] = tuple()) -> bytes:
        """Serialise the component (settings, topic vocabulary, weights).

        exclude (Iterable[str]): Names of serialisation fields to leave out.
        RETURNS (bytes): The data.
        """
        self._validate_serialization_attrs()
        serialize = {
            "cfg": lambda: srsly.json_dumps(self.cfg),
            "topic_vocab": self.topic_vocab.to_bytes,
            "vocab": lambda: self.vocab.to_bytes(exclude=exclude),
            "model": self.model.to_bytes,
        }
        return util.to_bytes(serialize, exclude)

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = tuple()) -> "TextVAE":
        """Load the component from bytes.

        bytes_data (bytes): Data from `to_bytes`.
        exclude (Iterable[str]): Names of serialisation fields to leave out.
        RETURNS (TextVAE): self.
        """
        self._validate_serialization_attrs()
        model_bytes: Dict[str, bytes] = {}
        deserialize = {
            "cfg": lambda b: self._load_cfg(srsly.json_loads(b)),
            "topic_vocab": self.topic_vocab.from_bytes,
            "vocab": lambda b: self.vocab.from_bytes(b, exclude=exclude),
            "model": lambda b: model_bytes.update(model=b),
        }
        try:
            util.from_bytes(bytes_data, deserialize, exclude)
        except Exception as e:
            if isinstance(e, ValueError) and str(e).startswith("[textvae]"):
                raise
            raise ValueError(f"[textvae] Could not load the '{self.name}' component: {e}") from e
        if "model" in model_bytes:
            self._deserialize_model(lambda: self.model.from_bytes(model_bytes["model"]))
        return self

    def to_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> None:
        """Save the component to a directory.

        path (Union[str, Path]): The directory.
        exclude (Iterable[str]): Names of serialisation fields to leave out.
        """
        path = util.ensure_path(path)
        serialize = {
            "cfg": lambda p: srsly.write_json(p, self.cfg),
            "topic_vocab": lambda p: p.write_bytes(self.topic_vocab.to_bytes()),
            "vocab": lambda p: self.vocab.to_disk(p, exclude=exclude),
            "model": lambda p: self.model.to_disk(p),
        }
        util.to_disk(path, serialize, exclude)

    def from_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> "TextVAE":
        """Load the component from a directory.

        path (Union[str, Path]): The directory.
        exclude (Iterable[str]): Names of serialisation fields to leave out.
        RETURNS (TextVAE): self.
        """
        path = util.ensure_path(path)
        for part in ("cfg", "topic_vocab", "model"):
            if part not in exclude and not (path / part).exists():
                raise ValueError(
                    f"[textvae] Cannot load the '{self.name}' component from {path}: "
                    f"'{part}' is missing. Save the pipeline again with nlp.to_disk()."
                )

        def load_cfg(p: Path) -> None:
            try:
                self._load_cfg(srsly.read_json(p))
            except ValueError as e:
                raise ValueError(f"[textvae] {p} is not valid JSON: {e}") from e

        deserialize = {
            "cfg": load_cfg,
            "topic_vocab": lambda p: self.topic_vocab.from_bytes(p.read_bytes()),
            "vocab": lambda p: self.vocab.from_disk(p, exclude=exclude),
        }
        util.from_disk(path, deserialize, exclude)
        if "model" not in exclude:
            self._deserialize_model(lambda: self.model.from_disk(path / "model"))
        return self
