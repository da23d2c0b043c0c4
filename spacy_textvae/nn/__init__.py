"""The VAE in plain PyTorch: no spaCy, no thinc. `build_text_vae` composes
the encoder, a topic-word decoder and the mixture prior."""
from .counts import SparseCounts, sparse_counts
from .decoders import Decoder, EmbeddingTopicWords, LinearTopicWords
from .encoder import Encoder
from .prior import FreeMeansPrior, MixturePrior, TopicMeansPrior, TopicMixturePrior
from .vae import CLUSTER_MEANS, DECODERS, TextVAEModule, VAEForward, build_text_vae

__all__ = [
    "CLUSTER_MEANS",
    "DECODERS",
    "Decoder",
    "EmbeddingTopicWords",
    "Encoder",
    "FreeMeansPrior",
    "LinearTopicWords",
    "MixturePrior",
    "SparseCounts",
    "TextVAEModule",
    "TopicMeansPrior",
    "TopicMixturePrior",
    "VAEForward",
    "build_text_vae",
    "sparse_counts",
]
