"""spacy-textvae: a trainable spaCy component that gives every Doc a latent
vector, a topic mixture and a cluster, learned by a variational autoencoder."""
from .about import __version__
from .architectures import create_LatentFeatures_v1, create_TextVAE_v2, create_TextVAE_v3, create_TextVAE_v4
from .component import TextVAE, make_textvae
from .extensions import install_extensions
from .errors import TextVAEError
from .similarity_hooks import add_similarity_hooks
from .vocab import TopicVocab

__all__ = ["TextVAE", "add_similarity_hooks", "TextVAEError", "TopicVocab", "create_LatentFeatures_v1", "create_TextVAE_v2", "create_TextVAE_v3", "create_TextVAE_v4", "install_extensions", "make_textvae", "__version__"]
