"""The thinc side of seeded topics: the decoder's seed anchor and the starting
points of seeded topics (see `spacy_textvae.seed_words`)."""
import numpy
import torch
from thinc.api import Model

from ..nn.decoders import EmbeddingTopicWords
from .torch_vae import get_module


def set_seed_anchor(
    model: Model, topics: numpy.ndarray, columns: numpy.ndarray, strength: float, place_topics: bool
) -> None:
    """Anchor word `columns[i]` on topic `topics[i]` in training, with weight
    `strength` (no cells: no anchor).

    model (Model): A built textvae model.
    topics, columns (numpy.ndarray): int64 cells (topic, vocabulary column).
    strength (float): The anchor's weight, in nats per seed word.
    place_topics (bool): Also move each seeded topic's point to the mean of
        its seed words' embeddings (embedding decoder; at initialisation).
    """
    module = get_module(model.get_ref("vae"))
    decoder = module.decoder
    if not len(topics):
        decoder.set_seeds(None, None, 0.0)
        return
    topics_t, cols_t = torch.as_tensor(topics), torch.as_tensor(columns)
    decoder.set_seeds(topics_t, cols_t, strength)
    topic_words = decoder.topic_words
    if place_topics and isinstance(topic_words, EmbeddingTopicWords):
        emb = topic_words.word_embeddings.detach().cpu()
        seeded = torch.unique(topics_t)
        sums = torch.zeros(module.prior.n_latent, emb.shape[1]).index_add_(0, topics_t, emb[cols_t])
        n = torch.bincount(topics_t, minlength=module.prior.n_latent).clamp_min(1).unsqueeze(1)
        topic_words.place_topics(seeded, (sums / n)[seeded])
