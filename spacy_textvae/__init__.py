"""spacy-textvae: a trainable spaCy component that gives every Doc a latent
vector, a topic mixture and a cluster, learned by a variational autoencoder."""
from .about import __version__
from .architectures import create_TextVAE_v2
from .component import TextVAE, make_textvae
from .extensions import install_extensions
from .errors import TextVAEError
from .vocab import TopicVocab

__all__ = ["TextVAE", "TextVAEError", "TopicVocab", "create_TextVAE_v2", "install_extensions", "make_textvae", "__version__"]
