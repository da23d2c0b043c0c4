"""spacy-textvae: a trainable spaCy component that gives every Doc a latent
vector, a topic mixture and a cluster, learned by a variational autoencoder."""
from .about import __version__
from .architectures import create_TextVAE_v1, create_TextVAE_v2
from .pipe import TextVAE, install_extensions, make_textvae
from .vocab import TopicVocab

__all__ = ["TextVAE", "TopicVocab", "create_TextVAE_v1", "create_TextVAE_v2", "install_extensions", "make_textvae", "__version__"]
