"""The thinc side of seeded topics: the decoder's fixed seed prior and the
starting points of seeded topics (see `spacy_textvae.seed_words`)."""
import numpy
import torch
from thinc.api import Model

from ..nn.decoders import EmbeddingTopicWords
from .torch_vae import get_module


def set_seed_prior(
    model: Model, topics: numpy.ndarray, columns: numpy.ndarray, strength: float, place_topics: bool
) -> None:
    """Raise the log-probability of word `columns[i]` in topic `topics[i]` by
    `strength` (no cells: no prior).

    model (Model): A built textvae model.
    topics, columns (numpy.ndarray): int64 cells (topic, vocabulary column).
    strength (float): The raise, in nats.
    place_topics (bool): Also move each seeded topic's point to the mean of
        its seed words' embeddings (embedding decoder; at initialisation).
    """
    module = get_module(model.get_ref("vae"))
    decoder = module.decoder
    if not len(topics):
        decoder.set_seed_bonus(None)
        return
    topics_t, cols_t = torch.as_tensor(topics), torch.as_tensor(columns)
    bonus = torch.zeros(module.prior.n_latent, decoder.n_vocab)
    bonus[topics_t, cols_t] = float(strength)
    decoder.set_seed_bonus(bonus)
    topic_words = decoder.topic_words
    if place_topics and isinstance(topic_words, EmbeddingTopicWords):
        emb = topic_words.word_embeddings.detach().cpu()
        seeded = torch.unique(topics_t)
        sums = torch.zeros(module.prior.n_latent, emb.shape[1]).index_add_(0, topics_t, emb[cols_t])
        n = torch.bincount(topics_t, minlength=module.prior.n_latent).clamp_min(1).unsqueeze(1)
        topic_words.place_topics(seeded, (sums / n)[seeded])
