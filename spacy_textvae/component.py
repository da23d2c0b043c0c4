"""The `textvae` pipeline component. It never touches torch: the model's own
functions (`spacy_textvae.layers`) initialise it, fit its prior and read its
topic words."""
import logging
from itertools import islice
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy
import scipy.sparse
import srsly
from spacy import util
from spacy.errors import Errors
from spacy.language import Language
from spacy.pipeline import TrainablePipe
from spacy.tokens import Doc
from spacy.training import Example, validate_examples, validate_get_examples
from spacy.vocab import Vocab
from thinc.api import Config, Model, Optimizer

from . import scorer  # noqa: F401  (registers the scorer)
from .errors import NonFiniteBatchError, TextVAEError
from .extensions import (
    DOC_EXTENSIONS,
    TOKEN_EXTENSION,
    install_extensions,
    resolve_extension_prefix,
    token_topics_key,
    topic_merge_key,
)
from .groups import GroupKey, GroupTopics, topics_per_group
from .layers import (
    VAEOutput,
    fit_prior,
    initialize_textvae,
    prior_components,
    repair_prior,
    set_step_state,
    topic_log_probs,
    topic_vectors,
    word_log_probs,
)
from .layers.textvae_model import (
    clip_as_one_layer,
    discard_update,
    encoded_docs,
    get_topic_vocab,
    is_built,
    reset_encoder_cache,
    resolved_cluster_means,
    set_topic_vocab,
    set_torch_threads,
    weights_are_finite,
)
from .layers.encoder_cache import doc_key
from .layers.torch_vae import get_module
from .neighbours import NeighbourTable, mine_neighbours, tfidf_rows, unit_rows
from .metrics import elbo_perplexity, perplexity_gain
from .sampling import Seed, as_generator, bags_to_words, draw_bags, interpolate_latents, softmax, source_latents
from .layers.seed_anchor import set_seed_anchor
from .layers.vocab_growth import forget_resized_optimizer_state
from .saved_state import check_model_bytes, read_saved_cfg, saved_cfg
from .seed_words import all_seed_words, check_seed_words, seed_cells
from .similarity_hooks import check_similarity_hooks, set_similarity_hooks
from .token_topics import annotate_token_topics
from .topic_merge import compose, expand_topics, fold_matrix, merge_assignment, merged_log_probs
from .topic_tree import TopicTree, build_topic_tree
from .topic_words import check_ranking, check_weight, ranking_scores, top_words
from .vocab import TopicVocab
from .vocab_growth import docs_of, grow_topic_vocab

logger = logging.getLogger("spacy_textvae")

DEFAULT_MODEL_CONFIG = """
[model]
@architectures = "spacy-textvae.TextVAE.v4"
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
cluster_means = "auto"
mixed_precision = false
pooled_weight = 0.0

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

# What to check when a batch is skipped, by what was not finite.
_NON_FINITE_HINTS = {
    "token vectors": "Check the upstream token vectors (static vectors or tok2vec) for NaN or inf.",
    "loss": "If this repeats, lower [training.optimizer] learn_rate or raise kl_warmup_epochs.",
    "gradients": "If this repeats, lower [training.optimizer] learn_rate or set grad_clip.",
}
# Training docs counted (or encoded) at once when mining neighbours.
_NEIGHBOUR_CHUNK = 2048
# What neighbours can be mined by (see TextVAE's neighbour_features).
_NEIGHBOUR_FEATURES = ("words", "encoder")
# How often (in updates) mixture components that explain no documents are re-seeded.
PRIOR_REPAIR_EVERY = 50


@Language.factory(
    "textvae",
    assigns=[f"doc._.{name}" for name in DOC_EXTENSIONS] + [f"token._.{TOKEN_EXTENSION}", "doc.spans"],
    default_config={
        "model": DEFAULT_MODEL,
        "n_topics": 20,
        "n_clusters": 20,
        "kl_warmup_epochs": 3.0,
        "prior_fit_epochs": None,
        "cluster_temperature": 0.1,
        "vocab_attr": "LOWER",
        "min_df": 2,
        "max_df": 0.7,
        "max_vocab_size": 10000,
        "remove_stop_words": True,
        "extra_stop_words": [],
        "topic_word_ranking": "frex",
        "topic_word_exclusivity": 0.5,
        "topic_word_relevance": 0.6,
        "extension_prefix": None,
        "torch_threads": None,
        "similarity_hooks": "auto",
        "seed_words": [],
        "seed_strength": 2.0,
        "neighbour_weight": 0.0,
        "n_neighbours": 5,
        "neighbour_features": "words",
        "scorer": {"@scorers": "spacy-textvae.textvae_scorer.v1"},
    },
    default_score_weights={
        "textvae_perplexity_gain": 1.0,
        "textvae_npmi": None,
        "textvae_diversity": None,
        "textvae_perplexity": None,
        "textvae_docs_without_topic_words": None,
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
    kl_warmup_epochs: float,
    prior_fit_epochs: Optional[float],
    cluster_temperature: float,
    vocab_attr: str,
    min_df: float,
    max_df: float,
    max_vocab_size: int,
    remove_stop_words: bool,
    extra_stop_words: List[str],
    topic_word_ranking: str,
    topic_word_exclusivity: float,
    topic_word_relevance: float,
    extension_prefix: Optional[str],
    torch_threads: Optional[int],
    similarity_hooks: Union[str, bool],
    seed_words: List[List[str]],
    seed_strength: float,
    neighbour_weight: float,
    n_neighbours: int,
    neighbour_features: str,
    scorer: Optional[Callable],
) -> "TextVAE":
    """Construct a TextVAE component (see `TextVAE` for the arguments)."""
    return TextVAE(
        nlp.vocab,
        model,
        name,
        n_topics=n_topics,
        n_clusters=n_clusters,
        kl_warmup_epochs=kl_warmup_epochs,
        prior_fit_epochs=prior_fit_epochs,
        cluster_temperature=cluster_temperature,
        topic_vocab=TopicVocab(
            attr=vocab_attr,
            min_df=min_df,
            max_df=max_df,
            max_size=max_vocab_size,
            remove_stop_words=remove_stop_words,
            extra_stop_words=extra_stop_words,
        ),
        topic_word_ranking=topic_word_ranking,
        topic_word_exclusivity=topic_word_exclusivity,
        topic_word_relevance=topic_word_relevance,
        extension_prefix=resolve_extension_prefix(nlp, name, extension_prefix),
        torch_threads=torch_threads,
        similarity_hooks=similarity_hooks,
        seed_words=seed_words,
        seed_strength=seed_strength,
        neighbour_weight=neighbour_weight,
        n_neighbours=n_neighbours,
        neighbour_features=neighbour_features,
        scorer=scorer,
    )


class TextVAE(TrainablePipe):
    """A variational autoencoder over each doc's token vectors and bag of words.

    Writes `doc._.latent` (posterior mean, float32), `doc._.topics` (topic
    proportions, float32, sums to 1), `doc._.cluster` (int) and
    `doc._.cluster_probs` (float32, sums to 1), each name after the
    component's extension prefix. Trained without annotations.

    Settings come from the config in force, also when a saved pipeline is
    loaded; what is saved is learned state only (weights, topic vocabulary,
    fitted prior, update count).

    vocab (Vocab): The shared vocabulary.
    model (Model[List[Doc], VAEOutput]): A `spacy-textvae.TextVAE.v4` (or v3, v2) model.
    name (str): The component's name.
    n_topics (int): Number of topics (and latent dimensions).
    n_clusters (int): Number of clusters (components of the mixture prior).
    kl_warmup_epochs (float): Passes over the training docs during which the
        KL weight rises linearly from 0 to 1. Counted in documents seen, so the
        schedule scales with the corpus and not with the batch size.
    prior_fit_epochs (Optional[float]): Passes over the training docs after
        which the mixture prior is fitted to the posterior means seen so far
        (None: half of kl_warmup_epochs).
    cluster_temperature (float): In (0, 1]. In training, documents are assigned
        to clusters by softmax(log p(c, z) / T) instead of the exact p(c | z):
        T < 1 sharpens the assignment, which keeps the mixture's means apart.
        Inference always reports p(c | z).
    topic_vocab (TopicVocab): The (unbuilt) topic vocabulary with its settings;
        `initialize` builds it from the training docs.
    topic_word_ranking (str): How topic words are ranked: "frex" (frequent in
        the topic and exclusive to it) or "relevance" (see `topic_word_scores`).
    topic_word_exclusivity (float): FREX's weight of exclusivity, in [0, 1].
    topic_word_relevance (float): Relevance's λ in [0, 1]: λ·log p(w | topic)
        + (1 − λ)·log lift.
    extension_prefix (str): Prefix of the `Doc._` extension names.
    torch_threads (Optional[int]): torch's intra-op thread count, set for the
        process when the VAE first runs. None: automatic (half the usable CPUs,
        1 to 4, never above torch's count, and torch's count as it is when
        OMP_NUM_THREADS or MKL_NUM_THREADS is set); 0: leave torch's count as it is.
    similarity_hooks (Union[str, bool]): Make `doc.vector`, `doc.similarity`,
        `span.vector` and `span.similarity` use the latent (see
        `spacy_textvae.similarity_hooks`): True, False, or "auto": unless the
        pipeline has word vectors of its own or another component set them.
    seed_words (List[List[str]]): Anchor topic k on the k-th list of words (in
        vocab_attr form); the other topics stay free (see `spacy_textvae.seed_words`).
    seed_strength (float): Weight of the seed anchor in training, in nats per seed word.
    neighbour_weight (float): Weight, per word of a doc, of the
        neighbour-consistency term in training (0: off): each training doc's
        cluster is asked to agree with those of its n_neighbours most similar
        training docs, mined once at `initialize` (see `spacy_textvae.neighbours`).
    n_neighbours (int): Neighbours per training doc.
    neighbour_features (str): What "most similar" compares: "words" (tf-idf
        cosine of the bag of words over the topic vocabulary) or "encoder"
        (cosine of the pooled vectors of a frozen encoder, such as an embedded
        sentence transformer with grad_factor 0: `initialize` then makes the
        run's one pass over the training docs).
    scorer (Optional[Callable]): The scoring method.
    """

    def __init__(
        self,
        vocab: Vocab,
        model: Model[List[Doc], VAEOutput],
        name: str,
        *,
        n_topics: int,
        n_clusters: int,
        kl_warmup_epochs: float,
        prior_fit_epochs: Optional[float],
        cluster_temperature: float,
        topic_vocab: TopicVocab,
        topic_word_ranking: str,
        topic_word_exclusivity: float,
        topic_word_relevance: float,
        extension_prefix: str,
        torch_threads: Optional[int],
        similarity_hooks: Union[str, bool],
        seed_words: Sequence[Sequence[str]],
        seed_strength: float,
        neighbour_weight: float = 0.0,
        n_neighbours: int = 5,
        neighbour_features: str = "words",
        scorer: Optional[Callable] = None,
    ) -> None:
        if n_topics < 2:
            raise TextVAEError(f"n_topics must be >= 2, not {n_topics}. Set [components.{name}] n_topics.")
        if n_clusters < 1:
            raise TextVAEError(f"n_clusters must be >= 1, not {n_clusters}. Set [components.{name}] n_clusters.")
        check_ranking("topic_word_ranking", topic_word_ranking)
        check_weight("topic_word_exclusivity", topic_word_exclusivity)
        check_weight("topic_word_relevance", topic_word_relevance)
        if not 0.0 < cluster_temperature <= 1.0:
            raise TextVAEError(
                f"cluster_temperature must be in (0, 1], not {cluster_temperature}. "
                f"Set [components.{name}] cluster_temperature."
            )
        if not kl_warmup_epochs >= 0:
            raise TextVAEError(
                f"kl_warmup_epochs must be >= 0, not {kl_warmup_epochs}. Set [components.{name}] kl_warmup_epochs."
            )
        if prior_fit_epochs is not None and not prior_fit_epochs >= 0:
            raise TextVAEError(
                f"prior_fit_epochs must be >= 0 or null, not {prior_fit_epochs}. "
                f"Set [components.{name}] prior_fit_epochs."
            )
        if not neighbour_weight >= 0:
            raise TextVAEError(
                f"neighbour_weight must be >= 0, not {neighbour_weight}. Set [components.{name}] neighbour_weight."
            )
        if not (isinstance(n_neighbours, int) and n_neighbours >= 1):
            raise TextVAEError(
                f"n_neighbours must be an integer >= 1, not {n_neighbours!r}. Set [components.{name}] n_neighbours."
            )
        if neighbour_features not in _NEIGHBOUR_FEATURES:
            raise TextVAEError(
                f"neighbour_features must be one of {', '.join(map(repr, _NEIGHBOUR_FEATURES))}, "
                f"not {neighbour_features!r}. Set [components.{name}] neighbour_features."
            )
        # Fails early for "topics" means without one cluster per topic.
        resolved_cluster_means(model, n_topics, n_clusters)
        self.vocab = vocab
        self.model = model
        self.name = name
        self.scorer = scorer
        self.n_topics = int(n_topics)
        self.n_clusters = int(n_clusters)
        self.kl_warmup_epochs = float(kl_warmup_epochs)
        self.prior_fit_epochs = None if prior_fit_epochs is None else float(prior_fit_epochs)
        self.cluster_temperature = float(cluster_temperature)
        self.topic_word_ranking = topic_word_ranking
        self.topic_word_exclusivity = float(topic_word_exclusivity)
        self.topic_word_relevance = float(topic_word_relevance)
        self.extension_prefix = extension_prefix
        self.similarity_hooks = check_similarity_hooks(similarity_hooks, name)
        self.seed_words = check_seed_words(list(seed_words), self.n_topics, seed_strength, name)
        self.seed_strength = float(seed_strength)
        self.neighbour_weight = float(neighbour_weight)
        self.n_neighbours = int(n_neighbours)
        self.neighbour_features = neighbour_features
        # Training docs' neighbours, mined at initialize for one run (never saved).
        self._neighbours: Optional[NeighbourTable] = None
        # The config's attribute, to check a loaded vocabulary against.
        self.vocab_attr = topic_vocab.attr
        self.extension_names = {name_: extension_prefix + name_ for name_ in DOC_EXTENSIONS}
        # The model owns the vocabulary (it is saved with the weights).
        set_topic_vocab(model, topic_vocab)
        set_torch_threads(model, torch_threads, name)
        install_extensions(extension_prefix)
        self._skip_finish_update = False
        self._warned_unfitted = False
        # (step, prior fitted) at the last `score`, to tell when a run ended
        # on a model that was never evaluated (see `_warn_about_saved_state`).
        self._last_scored: Optional[Tuple[int, bool]] = None
        self._warned_on_save = False
        self._topic_cache: Optional[Tuple[Any, numpy.ndarray, List[str]]] = None
        # Learned state only: the settings above always come from the config.
        self.cfg: Dict[str, Any] = {"step": 0, "docs_seen": 0, "prior_fitted": False}

    # -- state ------------------------------------------------------------------

    @property
    def topic_vocab(self) -> TopicVocab:
        """RETURNS (TopicVocab): The topic vocabulary (owned by the model)."""
        return get_topic_vocab(self.model)

    @property
    def is_initialized(self) -> bool:
        """RETURNS (bool): Whether the VAE exists (after initialize or loading)."""
        return is_built(self.model) and self.topic_vocab.is_built

    def _require_initialized(self) -> None:
        if not self.is_initialized:
            raise TextVAEError(
                Errors.E109.format(name=self.name) + " Its topic vocabulary and VAE are built "
                "from training data: call nlp.initialize(get_examples=...), or load a trained "
                "pipeline with spacy.load."
            )

    @property
    def cluster_means(self) -> str:
        """RETURNS (str): How the mixture prior's means are held, "free", "mixtures" or
        "topics" (the model's `cluster_means` with "auto" resolved)."""
        return resolved_cluster_means(self.model, self.n_topics, self.n_clusters)

    def clear_encoder_cache(self) -> None:
        """Drop the pooled vectors of a frozen encoder kept since training began
        in this process (they let a training run encode each doc once)."""
        reset_encoder_cache(self.model)

    @property
    def torch_module(self) -> Any:
        """RETURNS (TextVAEModule): The wrapped torch module (`spacy_textvae.nn`)."""
        self._require_initialized()
        return get_module(self.model.get_ref("vae"))

    @property
    def epochs_seen(self) -> float:
        """RETURNS (float): Documents trained on, in passes over the training
        corpus (the docs the topic vocabulary was built from)."""
        return self.cfg["docs_seen"] / max(self.topic_vocab.n_docs, 1)

    def _kl_weight(self, epochs: float) -> float:
        warmup = self.kl_warmup_epochs
        return 1.0 if warmup <= 0 else min(1.0, epochs / warmup)

    @property
    def _prior_fit_epochs(self) -> float:
        return self.prior_fit_epochs if self.prior_fit_epochs is not None else self.kl_warmup_epochs / 2

    # -- inference --------------------------------------------------------------

    def __call__(self, doc: Doc) -> Doc:
        install_extensions(self.extension_prefix)
        return super().__call__(doc)

    def pipe(self, stream: Iterable[Doc], *, batch_size: int = 128) -> Iterator[Doc]:
        install_extensions(self.extension_prefix)
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
        """Write the latent, topics, cluster and cluster probabilities to the docs.

        docs (Iterable[Doc]): The documents.
        output (Optional[VAEOutput]): What `predict` returned.
        """
        if output is None:
            return
        ops = self.model.ops
        # One device→host copy per array and batch; docs get small plain numpy arrays.
        latent = ops.to_numpy(output.latent).astype("float32")
        topics = ops.to_numpy(output.topics).astype("float32")
        if self.cfg["prior_fitted"]:
            probs = ops.to_numpy(output.cluster_probs).astype("float32")
        else:
            probs = self._unfitted_cluster_probs(topics)
        elbo = ops.to_numpy(ops.xp.stack([output.recon + output.kl, output.n_words], axis=1))
        clusters = probs.argmax(axis=1)
        names = self.extension_names
        key = self._elbo_key
        merge_key = topic_merge_key(self.extension_prefix)
        docs = list(docs)
        self._set_token_topics(docs, topics)
        merge_map = self.topic_merge_map
        if merge_map is not None:
            topics = topics @ fold_matrix(merge_map)
        for i, doc in enumerate(docs):
            ext = doc._
            setattr(ext, names["latent"], latent[i].copy())
            setattr(ext, names["topics"], topics[i].copy())
            setattr(ext, names["cluster_probs"], probs[i].copy())
            setattr(ext, names["cluster"], int(clusters[i]))
            # Kept so that score() reads the perplexity of the docs as annotated
            # instead of running the model (a transformer, often) a second time.
            doc.user_data[key] = (float(elbo[i, 0]), float(elbo[i, 1]))
            # Spans' similarity vectors map merged token topics back to the latent's width.
            if merge_map is None:
                doc.user_data.pop(merge_key, None)
            else:
                doc.user_data[merge_key] = merge_map
        set_similarity_hooks(docs, self.similarity_hooks, self.vocab, self.extension_prefix)

    def _set_token_topics(self, docs: List[Doc], topics: numpy.ndarray) -> None:
        """Each topic-vocabulary word's topics, p(k | w, d) ∝ θ_dk · p(w | k), read by
        `token._.topic_probs`, and `doc.spans[name]` (see `token_topics`)."""
        log_probs, labels = self._topic_view()
        key = token_topics_key(self.extension_prefix)
        merge_map = self.topic_merge_map
        fold = None if merge_map is None else fold_matrix(merge_map)
        annotate_token_topics(docs, topics, log_probs, labels, self.topic_vocab, key, self.name, fold)

    def _topic_view(self) -> Tuple[numpy.ndarray, List[str]]:
        """log p(word | topic) of the VAE's topics and the labels of the
        reported (merged) topics, computed once per model state: the weights
        change only in updates, the labels also in merges."""
        merge = tuple(self.cfg.get("topic_merge") or ())
        state = (self.cfg["step"], merge, self.topic_word_ranking, self.topic_word_exclusivity,
                 self.topic_word_relevance)
        cached = self._topic_cache
        if cached is None or cached[0] != state:
            raw = self._raw_topic_log_probs()
            log_probs = self._merged(raw)
            words = top_words(log_probs, self._rank_scores(log_probs, None, None), self.topic_vocab.words, 3)
            labels = [f"{k}: " + " ".join(w for w, _ in topic) for k, topic in enumerate(words)]
            cached = (state, raw, labels)
            self._topic_cache = cached
        return cached[1], cached[2]

    def topic_label(self, topic: int) -> str:
        """The label of a topic in `doc.spans[name]`: its number and top 3 words.

        topic (int): The topic.
        RETURNS (str): e.g. "3: rocket orbit launch".
        """
        self._require_initialized()
        return self._topic_view()[1][topic]

    def _unfitted_cluster_probs(self, topics: numpy.ndarray) -> numpy.ndarray:
        """Before the mixture prior is fitted its components are all alike, so a
        doc's cluster is its dominant topic instead: cluster c gets the weight
        of topics c, c + n_clusters, c + 2·n_clusters, ..."""
        if not self._warned_unfitted:
            self._warned_unfitted = True
            logger.warning(
                "textvae: the '%s' component's mixture prior is not fitted yet (it is fitted after "
                "%.2f epochs; this model has had %.2f), so clusters follow the dominant topic until then.",
                self.name, self._prior_fit_epochs, self.epochs_seen,
            )
        k, c = self.n_topics, self.n_clusters
        fold = numpy.zeros((k, c), dtype="float32")
        fold[numpy.arange(k), numpy.arange(k) % c] = 1.0
        return topics @ fold

    # -- training ---------------------------------------------------------------

    def initialize(
        self,
        get_examples: Callable[[], Iterable[Example]],
        *,
        nlp: Optional[Language] = None,
    ) -> None:
        """Build the topic vocabulary from the training docs and the model for it.

        get_examples (Callable[[], Iterable[Example]]): The training examples
            (only their texts are used).
        nlp (Optional[Language]): The pipeline.
        """
        if next(iter(get_examples()), None) is None:
            raise TextVAEError(
                "initialize() got zero training documents: the topic vocabulary "
                "is built from them. Pass examples to nlp.initialize(get_examples=...) or "
                "check that [paths.train] points to a non-empty corpus."
            )
        validate_get_examples(get_examples, "TextVAE.initialize")
        self.topic_vocab.build((eg.reference for eg in get_examples()), required=all_seed_words(self.seed_words))
        self.model.set_dim("nO", self.n_topics, force=True)
        self.model.set_dim("nC", self.n_clusters, force=True)
        sample = [eg.reference for eg in islice(get_examples(), 8)]
        initialize_textvae(self.model, lambda: (eg.reference for eg in get_examples()), sample)
        self._apply_seed_words(place_topics=True)
        self._neighbours = self._mine_neighbours(get_examples) if self.neighbour_weight > 0 else None
        self.cfg.update({"step": 0, "docs_seen": 0, "prior_fitted": False})
        # A new model has new topics: an earlier merge map means nothing for them.
        self.cfg.pop("topic_merge", None)
        if nlp is not None:
            self._check_planned_training(nlp.config.get("training", {}))
        logger.info(
            "textvae: %d topic words from %d docs, token vectors of width %d",
            len(self.topic_vocab),
            self.topic_vocab.n_docs,
            self.model.get_ref("pooling").get_dim("nI"),
        )

    def _mine_neighbours(self, get_examples: Callable[[], Iterable[Example]]) -> NeighbourTable:
        """Each training doc's neighbours by neighbour_features, reading the docs in chunks."""
        keys: List[bytes] = []
        parts = []
        for chunk in util.minibatch((eg.reference for eg in get_examples()), size=_NEIGHBOUR_CHUNK):
            if self.neighbour_features == "encoder":
                parts.append(encoded_docs(self.model, chunk))
            else:
                parts.append(self.topic_vocab.counts(chunk))
            keys.extend(doc_key(doc) for doc in chunk)
        if self.neighbour_features == "encoder":
            rows = unit_rows(numpy.concatenate(parts))
        else:
            rows = tfidf_rows(scipy.sparse.vstack(parts).tocsr())
        neighbours = mine_neighbours(rows, self.n_neighbours)
        logger.info(
            "textvae: %d training docs, %.1f%% with a neighbour",
            len(keys), 100.0 * float((neighbours[:, 0] >= 0).mean()) if len(keys) else 0.0,
        )
        return NeighbourTable(keys, neighbours, self.n_clusters)

    def grow_vocab(
        self, docs: Iterable[Union[Doc, Example]], *, min_df: Optional[float] = None, max_new: int = 1000
    ) -> List[str]:
        """Add the frequent words of new documents to the topic vocabulary
        before training on them (e.g. after `nlp.resume_training()`): the model
        keeps every weight it learned, the new words get new columns (see
        `spacy_textvae.vocab_growth`). Words are filtered as at `initialize`
        (attribute, stop words, max_df as a share of the old and new docs
        together), with this min_df.

        docs (Iterable[Union[Doc, Example]]): The new documents (tokenised), or examples.
        min_df (Optional[float]): A new word's minimum document frequency in
            `docs`: a count, or a share if < 1; None: the component's min_df.
        max_new (int): Add at most this many words, the most frequent.
        RETURNS (List[str]): The words added, most frequent first.
        """
        self._require_initialized()
        added = grow_topic_vocab(self.model, docs_of(docs), min_df=min_df, max_new=max_new)
        if added:
            self._topic_cache = None
            self._apply_seed_words(place_topics=False)
            logger.info("textvae: added %d words to the topic vocabulary (%d now)", len(added), len(self.topic_vocab))
        return added

    def _apply_seed_words(self, place_topics: bool) -> None:
        """Set the seed anchor of the config in force on the built model."""
        if not self.is_initialized:
            return
        topics, columns = seed_cells(self.topic_vocab, self.seed_words, self.name)
        set_seed_anchor(self.model, topics, columns, self.seed_strength, place_topics)

    def _check_planned_training(self, training: Dict[str, Any]) -> None:
        """Warn when the [training] block of the config plans fewer passes over
        the corpus than the KL warm-up takes: the run would end on a model that
        never saw the full KL term (and maybe before the prior fit); and when it
        asks for averaged weights, which the torch VAE never gets."""
        n_docs = max(self.topic_vocab.n_docs, 1)
        limits = []
        max_epochs, max_steps = training.get("max_epochs"), training.get("max_steps")
        if isinstance(max_epochs, int) and max_epochs > 0:
            limits.append(float(max_epochs))
        size = training.get("batcher", {}).get("size")
        if isinstance(max_steps, int) and max_steps > 0 and isinstance(size, int) and size > 0:
            limits.append(max_steps * size / n_docs)
        optimizer = training.get("optimizer", {})
        if isinstance(optimizer, dict) and optimizer.get("use_averages") is True:
            # thinc's optimizer keys a torch shim's averages by (id, name) while
            # the shim's use_params looks them up by name prefix: spaCy's
            # evaluation and model-best would silently use the latest weights.
            logger.warning(
                "textvae: [training.optimizer] use_averages does not reach the '%s' component's VAE: "
                "its torch weights are evaluated and saved as trained (only thinc layers, such as a "
                "trainable tok2vec, are averaged). Set use_averages = false to make that explicit.",
                self.name,
            )
        needed = max(self.kl_warmup_epochs, self._prior_fit_epochs)
        if limits and min(limits) < needed:
            logger.warning(
                "textvae: [training] plans at most %.2f passes over the %d training docs, fewer than the "
                "'%s' component's schedule needs (KL warm-up %.2f epochs, prior fit after %.2f): raise "
                "[training] max_steps or max_epochs, or lower kl_warmup_epochs.",
                min(limits), n_docs, self.name, self.kl_warmup_epochs, self._prior_fit_epochs,
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
        self._skip_finish_update = False
        validate_examples(examples, "TextVAE.update")
        examples = list(examples)
        docs = [eg.predicted for eg in examples]
        if not docs:
            return losses
        self._require_initialized()
        # The weight after this batch, so that the first batch is not KL-free.
        epochs_after = (self.cfg["docs_seen"] + len(docs)) / max(self.topic_vocab.n_docs, 1)
        table = self._neighbours if self.cfg["prior_fitted"] else None
        rows = table.rows_of([doc_key(doc) for doc in docs]) if table is not None else None
        set_step_state(
            self.model,
            kl_weight=self._kl_weight(epochs_after),
            cluster_temperature=self.cluster_temperature,
            neighbour_targets=table.targets(rows) if table is not None else None,
            neighbour_weight=self.neighbour_weight,
        )
        try:
            output, backprop = self.model.begin_update(docs)
            loss, d_loss = self.get_loss(examples, output)
            backprop(d_loss)
        except NonFiniteBatchError as e:
            discard_update(self.model)
            # nlp.update calls finish_update after update: it must not step either.
            self._skip_finish_update = True
            logger.warning(
                "textvae: skipped a batch of %d docs at step %d (non-finite %s): nothing was "
                "updated. %s",
                len(docs), self.cfg["step"], e.cause, _NON_FINITE_HINTS[e.cause],
            )
            return losses
        if table is not None:
            table.remember(rows, self.model.ops.to_numpy(output.cluster_probs))
        if sgd is not None:
            self.finish_update(sgd)
        losses[self.name] += loss
        self.cfg["step"] += 1
        self.cfg["docs_seen"] += len(docs)
        self._maintain_prior()
        return losses

    def finish_update(self, sgd: Optimizer) -> None:
        """Update the weights with the gradients of the last update, unless that
        batch was skipped (an optimizer step with momentum would still move them).
        Raises if the step made any weight non-finite.

        sgd (Optimizer): The optimizer.
        """
        if self._skip_finish_update:
            self._skip_finish_update = False
            return
        forget_resized_optimizer_state(self.model, sgd)
        clip_as_one_layer(self.model, sgd)
        super().finish_update(sgd)
        if not weights_are_finite(self.model):
            raise TextVAEError(
                f"Training diverged at step {self.cfg['step']}: the optimizer step made the "
                "weights non-finite, so training stops here (nothing is saved from this "
                "state). Lower [training.optimizer] learn_rate, set grad_clip, or raise "
                "kl_warmup_epochs."
            )

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
            raise NonFiniteBatchError("loss")
        d_loss = self.model.ops.alloc1f(n) + 1.0 / n
        return nelbo, d_loss

    def _maintain_prior(self) -> None:
        step = self.cfg["step"]
        if not self.cfg["prior_fitted"]:
            if self.epochs_seen >= self._prior_fit_epochs and fit_prior(self.model, seed=step):
                self.cfg["prior_fitted"] = True
                if self._neighbours is not None:
                    self._neighbours.reset()
                logger.info(
                    "textvae: fitted the %d-component prior at step %d (%.2f epochs)",
                    self.n_clusters, step, self.epochs_seen,
                )
        elif step % PRIOR_REPAIR_EVERY == 0:
            n = repair_prior(self.model)
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
        """log p(word | topic) of the reported topics (merged ones after a merge)."""
        return self._merged(self._raw_topic_log_probs())

    def _raw_topic_log_probs(self) -> numpy.ndarray:
        """log p(word | topic) of the VAE's own n_topics topics."""
        self._require_initialized()
        return topic_log_probs(self.model)

    def _merged(self, log_probs: numpy.ndarray) -> numpy.ndarray:
        merge_map = self.topic_merge_map
        return log_probs if merge_map is None else merged_log_probs(log_probs, merge_map)

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
            raise TextVAEError(
                "Pass relevance= (relevance ranking) or exclusivity= (FREX ranking), not both."
            )
        check_ranking("topic_word_ranking", self.topic_word_ranking)
        ranking = self.topic_word_ranking
        if relevance is not None:
            ranking = "relevance"
        elif exclusivity is not None:
            ranking = "frex"
        return ranking_scores(
            log_probs,
            self.topic_vocab.log_frequencies(),
            ranking=ranking,
            exclusivity=self.topic_word_exclusivity if exclusivity is None else float(exclusivity),
            relevance=self.topic_word_relevance if relevance is None else float(relevance),
        )

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
        return top_words(log_probs, scores, self.topic_vocab.words, top_n)

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

    # -- topic structure, generation and groups -------------------------------

    @property
    def n_doc_topics(self) -> int:
        """RETURNS (int): The number of topics in `doc._.topics`: n_topics, or
        fewer after `merge_topics` / `reduce_topics`."""
        merge_map = self.topic_merge_map
        return self.n_topics if merge_map is None else int(merge_map.max()) + 1

    @property
    def topic_merge_map(self) -> Optional[numpy.ndarray]:
        """RETURNS (Optional[numpy.ndarray]): int64 (n_topics,), the reported
        topic of each of the VAE's topics; None when no topics were merged."""
        merge = self.cfg.get("topic_merge")
        return None if merge is None else numpy.asarray(merge, dtype="int64")

    def topic_tree(self, top_n: int = 5) -> TopicTree:
        """A hierarchy of the topics: average-linkage clustering over the cosine
        distances of the topics' representations in the decoder (topic points
        of the embedding decoder, rows of β of the linear one). After a merge,
        its leaves are the merged topics.

        top_n (int): Words per node (uniform mixture of its topics' word
            distributions, ranked by relevance with λ = topic_word_relevance).
        RETURNS (TopicTree): The tree; `str(tree)` is an indented text view,
            `tree.to_json()` its JSON.
        """
        self._require_initialized()
        return build_topic_tree(
            topic_vectors(self.model),
            self._raw_topic_log_probs(),
            self.topic_vocab.log_frequencies(),
            self.topic_vocab.words,
            merge_map=self.topic_merge_map,
            top_n=top_n,
            relevance=self.topic_word_relevance,
        )

    def merge_topics(self, groups: Sequence[Sequence[int]]) -> None:
        """Merge topics, in place: each group of topic ids becomes one topic.
        `doc._.topics` then holds the sums of the members' proportions, topic
        words and token topics come from the merged topics (a merged topic's
        p(w | g) is the uniform mixture of its members'), and the merge map is
        saved with the pipeline. The VAE keeps its n_topics latent topics;
        clusters do not change. Merged topics are numbered by their smallest
        member; topics in no group stay as they are. Ids refer to the current
        topics (after any earlier merge).

        groups (Sequence[Sequence[int]]): e.g. [[0, 3], [1, 4, 5]].
        """
        self._require_initialized()
        assignment = merge_assignment(groups, self.n_doc_topics)
        self._set_merge_map(compose(self.topic_merge_map, assignment))

    def reduce_topics(self, n: int) -> None:
        """Merge topics along `topic_tree()` until `n` remain, in place (see `merge_topics`).

        n (int): The number of topics to keep, 1 .. n_doc_topics.
        """
        self._require_initialized()
        current = self.n_doc_topics
        if isinstance(n, bool) or not isinstance(n, (int, numpy.integer)) or not 1 <= n <= current:
            raise TextVAEError(
                f"reduce_topics(n) needs an integer n in 1 .. {current} (the current number of topics), "
                f"not {n!r}."
            )
        self.merge_topics(self.topic_tree(top_n=0).cut(int(n)))

    def unmerge_topics(self) -> None:
        """Undo every merge: the VAE's n_topics topics are reported again."""
        self._set_merge_map(None)

    def _set_merge_map(self, merge_map: Optional[numpy.ndarray]) -> None:
        if merge_map is None or int(merge_map.max()) + 1 == self.n_topics:
            self.cfg.pop("topic_merge", None)
        else:
            self.cfg["topic_merge"] = [int(k) for k in merge_map]
        self._topic_cache = None

    def word_probs(
        self, *, topics: Optional[Sequence[float]] = None, latent: Optional[numpy.ndarray] = None
    ) -> numpy.ndarray:
        """The decoder's word distribution p(word | θ) for topic proportions or latents.

        topics (Optional[Sequence[float]]): (n_doc_topics,) or (n, n_doc_topics)
            proportions over the reported topics (normalised; after a merge a
            merged topic's share is split evenly among its members).
        latent (Optional[numpy.ndarray]): (n_topics,) or (n, n_topics) latents z, θ = softmax(z).
        RETURNS (numpy.ndarray): float64 (n, n_vocab), rows summing to 1, over `topic_vocab.words`.
        """
        self._require_initialized()
        latents, theta = source_latents(
            rng=as_generator(0), n_samples=1, cluster=None, topics=topics, latent=latent, means=None,
            variance=None, n_latent=self.n_topics, n_topics=self.n_doc_topics, cluster_mean=False,
        )
        return self._word_probs_of(latents, theta)

    def _word_probs_of(self, latents: Optional[numpy.ndarray], theta: Optional[numpy.ndarray]) -> numpy.ndarray:
        if latents is not None:
            theta = softmax(latents)
        elif self.topic_merge_map is not None:
            theta = expand_topics(theta, self.topic_merge_map)
        probs = numpy.exp(word_log_probs(self.model, theta).astype("float64"))
        return probs / probs.sum(axis=1, keepdims=True)

    def sample_words(
        self,
        *,
        cluster: Optional[int] = None,
        topics: Optional[Sequence[float]] = None,
        latent: Optional[numpy.ndarray] = None,
        n_words: int = 20,
        n_samples: int = 1,
        seed: Seed = 0,
        cluster_mean: bool = False,
        return_counts: bool = False,
    ) -> Union[List[List[str]], Tuple[List[List[str]], numpy.ndarray]]:
        """Draw bags of words from the decoder, p(word | θ), for one source:
        a cluster (z ~ N(m_c, v), the cluster's Gaussian in the fitted prior,
        or its mean with `cluster_mean`; θ = softmax(z)), a topic mixture θ, or
        latents z (e.g. `doc._.latent`, or rows of `interpolate`).

        cluster (Optional[int]): A cluster id.
        topics (Optional[Sequence[float]]): Proportions over the reported topics,
            one row or (m, n_doc_topics).
        latent (Optional[numpy.ndarray]): (n_topics,) or (m, n_topics) latents.
        n_words (int): Words per bag.
        n_samples (int): Bags per source row (a cluster is one source).
        seed (Union[int, numpy.random.Generator]): The same seed gives the same bags.
        cluster_mean (bool): For a cluster, decode its mean instead of drawing z.
        return_counts (bool): Also return the counts.
        RETURNS: One list of words per bag (rows in source order, n_samples
            each), and with `return_counts` also int64 (n_bags, n_vocab) counts
            over `topic_vocab.words`.
        """
        self._require_initialized()
        rng = as_generator(seed)
        means = variance = None
        if cluster is not None:
            if not self.cfg["prior_fitted"]:
                raise TextVAEError(
                    f"The '{self.name}' mixture prior is not fitted yet, so its clusters have no Gaussians "
                    "to sample from: train for longer (past prior_fit_epochs), or pass topics= or latent=."
                )
            means, variance = prior_components(self.model)
        latents, theta = source_latents(
            rng=rng, n_samples=n_samples, cluster=cluster, topics=topics, latent=latent, means=means,
            variance=variance, n_latent=self.n_topics, n_topics=self.n_doc_topics, cluster_mean=cluster_mean,
        )
        counts = draw_bags(rng, self._word_probs_of(latents, theta), n_words)
        bags = bags_to_words(counts, self.topic_vocab.words, rng)
        return (bags, counts) if return_counts else bags

    def interpolate(self, doc_a: Doc, doc_b: Doc, steps: int = 5) -> numpy.ndarray:
        """Latents evenly spaced from one doc's to another's, both included
        (for `sample_words(latent=...)`). Docs not yet annotated are run
        through the component.

        doc_a, doc_b (Doc): The docs.
        steps (int): Number of latents (>= 2).
        RETURNS (numpy.ndarray): float32 (steps, n_topics).
        """
        self._require_initialized()
        name = self.extension_names["latent"]
        ends = []
        for doc in (doc_a, doc_b):
            value = doc._.get(name)
            ends.append(self(doc)._.get(name) if value is None else value)
        return interpolate_latents(ends[0], ends[1], steps)

    def topics_per_group(
        self, docs: Iterable[Doc], key: GroupKey, *, frequency: Optional[str] = None
    ) -> GroupTopics:
        """Topic shares per group of docs (see `spacy_textvae.groups.topics_per_group`).
        Docs not yet annotated are run through the component.

        docs (Iterable[Doc]): The docs.
        key (Union[str, Callable[[Doc], Any]]): A `Doc._` extension, a
            `doc.user_data` key, a doc.cats label, or a callable.
        frequency (Optional[str]): "day", "month" or "year" to bucket ISO dates; None: labels.
        RETURNS (GroupTopics): Groups, counts, shares (rows sum to 1).
        """
        self._require_initialized()
        name = self.extension_names["topics"]
        docs = list(docs)
        todo = [doc for doc in docs if doc._.get(name) is None]
        if todo:
            list(self.pipe(todo))
        return topics_per_group(docs, key, frequency=frequency, topics_attr=name)

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
        self._last_scored = (self.cfg["step"], self.cfg["prior_fitted"])
        perplexity, n_empty = self._annotated_perplexity(docs)
        # The selection score is 0 until the prior is fitted, below any fitted
        # snapshot's, so spaCy never chooses an early one (clusters not yet
        # learned) as model-best. Not None: spaCy drops a score that is None at
        # its first evaluation from the weighted score for the rest of the run.
        gain = perplexity_gain(perplexity, self._unigram_perplexity(docs)) if self.cfg["prior_fitted"] else 0.0
        extra = {
            "textvae_perplexity": perplexity,
            "textvae_perplexity_gain": gain,
            "textvae_docs_without_topic_words": n_empty,
        }
        return self.scorer(
            examples,
            topic_words=self.topic_words(25),
            tokens_of=self.topic_vocab.tokens_of,
            extra_scores=extra,
            cluster_attr=self.extension_names["cluster"],
            **kwargs,
        )

    def _unigram_perplexity(self, docs: Sequence[Doc]) -> Optional[float]:
        """exp(mean −log training frequency) of the docs' topic words: the
        perplexity of a model that knows only the word frequencies."""
        _, _, cols = self.topic_vocab.token_columns(docs)
        if not len(cols):
            return None
        log_frequencies = self.topic_vocab.log_frequencies().astype("float64")
        return float(numpy.exp(-log_frequencies[cols].mean()))

    def perplexity(self, docs: Sequence[Doc], batch_size: int = 256) -> Optional[float]:
        """exp(negative ELBO per topic word) over the docs that hold topic words:
        an upper bound on the perplexity of their bags of words (lower is
        better). Docs without topic words have nothing to reconstruct and are
        left out (`score` reports how many there were).

        docs (Sequence[Doc]): The documents.
        batch_size (int): Docs per forward pass.
        RETURNS (Optional[float]): The perplexity; None if no doc holds topic words.
        """
        return elbo_perplexity(self._elbo_terms(docs, batch_size))[0]

    def _elbo_terms(self, docs: Sequence[Doc], batch_size: int = 256) -> numpy.ndarray:
        """RETURNS (numpy.ndarray): (n_docs, 2) float64 negative ELBO and topic-word count per doc."""
        ops = self.model.ops
        terms = [numpy.zeros((0, 2))]
        for batch in util.minibatch(docs, size=batch_size):
            output = self.predict(batch)
            if output is not None:
                terms.append(ops.to_numpy(ops.xp.stack([output.recon + output.kl, output.n_words], axis=1)))
        return numpy.concatenate(terms).astype("float64")

    @property
    def _elbo_key(self) -> Tuple[str, str]:
        # Per component name, so two textvae components do not read each other's.
        return ("textvae.elbo", self.name)

    def _annotated_perplexity(self, docs: Sequence[Doc]) -> Tuple[Optional[float], int]:
        """The perplexity of the docs from the terms `set_annotations` kept on
        them (the model runs only if some doc was not annotated by this
        component), and how many docs held no topic words."""
        key = self._elbo_key
        if all(key in doc.user_data for doc in docs):
            terms = numpy.asarray([doc.user_data[key] for doc in docs], dtype="float64").reshape(-1, 2)
        else:
            terms = self._elbo_terms(docs)
        return elbo_perplexity(terms)

    # -- serialisation ----------------------------------------------------------

    def _load_model(self, data: bytes, checksum: Optional[str]) -> None:
        """Load the model from its bytes, after checking them against the
        checksum saved beside them."""
        if checksum is not None:
            check_model_bytes(data, checksum, self.name)
        try:
            self.model.from_bytes(data)
        except TextVAEError:
            raise
        except Exception as e:
            raise TextVAEError(
                f"Could not load the '{self.name}' model: the saved data is damaged or from an "
                f"incompatible version ({type(e).__name__}: {e})."
            ) from e
        self._check_loaded()

    def _check_loaded(self) -> None:
        """The loaded model against the config in force."""
        if not is_built(self.model):
            return
        saved = {"n_topics": self.model.get_dim("nO"), "n_clusters": self.model.get_dim("nC")}
        config = {"n_topics": self.n_topics, "n_clusters": self.n_clusters}
        for key, value in saved.items():
            if value != config[key]:
                raise TextVAEError(
                    f"The saved '{self.name}' model has {key} = {value}, but the config says "
                    f"{config[key]}. {key} fixes the weights' shapes: load it with "
                    f"[components.{self.name}] {key} = {value}, or train a new model."
                )
        merge = self.cfg.get("topic_merge")
        if merge is not None and len(merge) != self.n_topics:
            raise TextVAEError(
                f"The saved '{self.name}' topic merge map covers {len(merge)} topics but the model has "
                f"{self.n_topics}. The files were mixed or damaged: save the pipeline again."
            )
        n_vocab = self.model.get_ref("vae").get_dim("nV")
        if n_vocab != len(self.topic_vocab):
            raise TextVAEError(
                f"The saved '{self.name}' model is inconsistent: its VAE has {n_vocab} topic words "
                f"but its vocabulary {len(self.topic_vocab)}. The files were mixed or damaged: "
                "save the pipeline again from the trained one, or re-train."
            )
        saved_attr = self.topic_vocab.attr
        if saved_attr != self.vocab_attr:
            raise TextVAEError(
                f"The saved '{self.name}' topic vocabulary is made of {saved_attr} values, but the "
                f"config says vocab_attr = {self.vocab_attr!r}. Load it with vocab_attr = "
                f"{saved_attr!r}, or train a new model."
            )
        self._apply_seed_words(place_topics=False)


    def _require_finite_weights(self) -> None:
        if is_built(self.model) and not weights_are_finite(self.model):
            raise TextVAEError(
                f"The '{self.name}' model holds NaN or infinite weights (training diverged), so it is "
                "not saved. Re-train with a lower [training.optimizer] learn_rate."
            )

    def _warn_about_saved_state(self) -> None:
        """In a training run that evaluates (spacy train), say when what is saved
        cannot be a good model-best: the run is too short for the prior to be
        fitted, or it ends on a fitted model no evaluation has seen while the
        last one scored an unfitted snapshot (max_steps below eval_frequency)."""
        scored = self._last_scored
        if scored is None or self._warned_on_save or not self.is_initialized:
            return
        step, epochs = self.cfg["step"], self.epochs_seen
        if not self.cfg["prior_fitted"] and step > 1:
            self._warned_on_save = True
            logger.warning(
                "textvae: saving '%s' after %d updates (%.2f epochs), before its mixture prior is "
                "fitted (after %.2f epochs). Until then its clusters follow the dominant topic and it "
                "cannot be chosen as model-best: if training ends here, train for more than %.2f "
                "epochs ([training] max_epochs or max_steps) or lower prior_fit_epochs.",
                self.name, step, epochs, self._prior_fit_epochs, self._prior_fit_epochs,
            )
        elif self.cfg["prior_fitted"] and not scored[1] and step > scored[0] + 1:
            self._warned_on_save = True
            logger.warning(
                "textvae: saving '%s' at update %d, fitted but not evaluated since update %d, before "
                "the prior was fitted: if training ends here, model-best is that early snapshot. Use "
                "model-last, or set [training] eval_frequency below max_steps.",
                self.name, step, scored[0],
            )

    def _saved_parts(self) -> Tuple[Dict[str, Any], bytes]:
        """The cfg to save (learned state and the model's checksum) and the model's bytes."""
        self._require_finite_weights()
        model_bytes = self.model.to_bytes()
        return saved_cfg(self.cfg, model_bytes), model_bytes

    def to_bytes(self, *, exclude: Iterable[str] = tuple()) -> bytes:
        """Serialise the component (learned state, the model with its topic
        vocabulary and weights, and a checksum of the model).

        exclude (Iterable[str]): Names of serialisation fields to leave out.
        RETURNS (bytes): The data.
        """
        self._validate_serialization_attrs()
        cfg, model_bytes = self._saved_parts()
        serialize = {
            "cfg": lambda: srsly.json_dumps(cfg),
            "vocab": lambda: self.vocab.to_bytes(exclude=exclude),
            "model": lambda: model_bytes,
        }
        return util.to_bytes(serialize, exclude)

    def from_bytes(self, bytes_data: bytes, *, exclude: Iterable[str] = tuple()) -> "TextVAE":
        """Load the component from bytes.

        bytes_data (bytes): Data from `to_bytes`.
        exclude (Iterable[str]): Names of serialisation fields to leave out.
        RETURNS (TextVAE): self.
        """
        self._validate_serialization_attrs()
        parts: Dict[str, Any] = {}
        deserialize = {
            "cfg": lambda b: parts.update(cfg=srsly.json_loads(b)),
            "vocab": lambda b: self.vocab.from_bytes(b, exclude=exclude),
            "model": lambda b: parts.update(model=b),
        }
        try:
            util.from_bytes(bytes_data, deserialize, exclude)
        except TextVAEError:
            raise
        except Exception as e:
            raise TextVAEError(f"Could not load the '{self.name}' component: {e}") from e
        self._load_parts(parts)
        return self

    def _load_parts(self, parts: Dict[str, Any]) -> None:
        self._topic_cache = None
        reset_encoder_cache(self.model)
        checksum = None
        if "cfg" in parts:
            self.cfg, checksum = read_saved_cfg(parts["cfg"], self.name)
        if "model" in parts:
            self._load_model(parts["model"], checksum)

    def to_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> None:
        """Save the component to a directory.

        path (Union[str, Path]): The directory.
        exclude (Iterable[str]): Names of serialisation fields to leave out.
        """
        path = util.ensure_path(path)
        cfg, model_bytes = self._saved_parts()
        self._warn_about_saved_state()
        serialize = {
            "cfg": lambda p: srsly.write_json(p, cfg),
            "vocab": lambda p: self.vocab.to_disk(p, exclude=exclude),
            "model": lambda p: p.write_bytes(model_bytes),
        }
        util.to_disk(path, serialize, exclude)

    def from_disk(self, path: Union[str, Path], *, exclude: Iterable[str] = tuple()) -> "TextVAE":
        """Load the component from a directory.

        path (Union[str, Path]): The directory.
        exclude (Iterable[str]): Names of serialisation fields to leave out.
        RETURNS (TextVAE): self.
        """
        path = util.ensure_path(path)
        for part in ("cfg", "model"):
            if part not in exclude and not (path / part).exists():
                raise TextVAEError(
                    f"Cannot load the '{self.name}' component from {path}: '{part}' is missing: the "
                    "directory is damaged, or saving it did not complete (a model whose weights are "
                    "not finite is refused, e.g. after training diverged). Save the pipeline again "
                    "with nlp.to_disk(), or re-train."
                )
        parts: Dict[str, Any] = {}

        def load_cfg(p: Path) -> None:
            try:
                parts["cfg"] = srsly.read_json(p)
            except ValueError as e:
                raise TextVAEError(f"{p} is not valid JSON: {e}. Save the pipeline again.") from e

        deserialize = {
            "cfg": load_cfg,
            "vocab": lambda p: self.vocab.from_disk(p, exclude=exclude),
            "model": lambda p: parts.update(model=p.read_bytes()),
        }
        util.from_disk(path, deserialize, exclude)
        self._load_parts(parts)
        return self
