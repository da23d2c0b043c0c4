"""The `Doc._` and `Token._` extensions a textvae component writes, and how
their names are chosen so that two components never overwrite each other."""
from functools import partial
from typing import Optional, Tuple

import numpy
from spacy.language import Language
from spacy.tokens import Doc, Token

DOC_EXTENSIONS = ("latent", "topics", "cluster", "cluster_probs")
TOKEN_EXTENSION = "topic_probs"


def install_extensions(prefix: str = "") -> None:
    """Register `Doc._.{prefix}latent`, `._.{prefix}topics`, `._.{prefix}cluster`,
    `._.{prefix}cluster_probs` and `Token._.{prefix}topic_probs` (idempotent:
    safe in worker processes and after unpickling).

    prefix (str): Prefix of the extension names.
    """
    for name in DOC_EXTENSIONS:
        if not Doc.has_extension(prefix + name):
            Doc.set_extension(prefix + name, default=None)
    if not Token.has_extension(prefix + TOKEN_EXTENSION):
        Token.set_extension(prefix + TOKEN_EXTENSION, getter=partial(_token_topic_probs, token_topics_key(prefix)))


def resolve_extension_prefix(nlp: Language, name: str, extension_prefix: Optional[str]) -> str:
    """The prefix of a component's extension names: `extension_prefix` when
    given; else "" for the first textvae component created in `nlp`, and
    "<name>_" for any later one.

    nlp (Language): The pipeline the component is created for.
    name (str): The component's name.
    extension_prefix (Optional[str]): The setting.
    RETURNS (str): The prefix.
    """
    if extension_prefix is not None:
        return str(extension_prefix)
    others = [n for n in nlp.component_names if n != name and nlp.get_pipe_meta(n).factory == "textvae"]
    return f"{name}_" if others else ""


def token_topics_key(prefix: str) -> Tuple[str, str]:
    """RETURNS (Tuple[str, str]): where a doc's token topics are kept in `doc.user_data`."""
    return ("textvae.token_topics", prefix)


def topic_merge_key(prefix: str) -> Tuple[str, str]:
    """RETURNS (Tuple[str, str]): where a doc keeps the merge map its topics
    were folded with (the VAE's topic → reported topic), if topics were merged."""
    return ("textvae.topic_merge", prefix)


def _token_topic_probs(key: Tuple[str, str], token: Token) -> Optional[numpy.ndarray]:
    """p(topic | word, doc) of a topic-vocabulary token, as annotated; None for other tokens."""
    stored = token.doc.user_data.get(key)
    if stored is None:
        return None
    positions, probs = stored
    i = int(numpy.searchsorted(positions, token.i))
    if i < len(positions) and positions[i] == token.i:
        return numpy.asarray(probs[i], dtype="float32")
    return None
