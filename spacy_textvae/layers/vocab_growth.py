"""The thinc side of growing the topic vocabulary: the VAE layer's module and
dims, and the optimizer state of the parameters that grew."""
from typing import Optional

import numpy
import torch
from thinc.api import Model, Optimizer

from .torch_vae import get_module
from ..nn.decoders import EmbeddingTopicWords
from ..nn.growth import grow_vocabulary


def needs_word_embeddings(model: Model) -> bool:
    """RETURNS (bool): whether the textvae model's decoder holds word embeddings."""
    return isinstance(get_module(model.get_ref("vae")).decoder.topic_words, EmbeddingTopicWords)


def word_embeddings(model: Model) -> numpy.ndarray:
    """RETURNS (numpy.ndarray): float32 (n_vocab, width) the embedding decoder's word embeddings."""
    return get_module(model.get_ref("vae")).decoder.topic_words.word_embeddings.detach().cpu().numpy()


def grow_vae_vocab(model: Model, background: numpy.ndarray, embeddings: Optional[numpy.ndarray]) -> None:
    """Append words to the textvae model's VAE (see `spacy_textvae.nn.growth`).

    background (numpy.ndarray): (n_new,) log frequencies of the new words (used
        when the decoder has a background).
    embeddings (Optional[numpy.ndarray]): (n_new, width) for the embedding decoder.
    """
    vae = model.get_ref("vae")
    module = get_module(vae)
    if not vae.attrs["settings"].decoder_background:
        background = numpy.zeros_like(background)
    emb = None if embeddings is None else torch.as_tensor(embeddings)
    grow_vocabulary(module, torch.as_tensor(background), emb)
    vae.set_dim("nV", int(module.decoder.n_vocab), force=True)


def forget_resized_optimizer_state(model: Model, sgd: Optimizer) -> None:
    """Drop the optimizer's moments and averages of VAE parameters whose size
    changed since they were recorded (after the vocabulary grew): they start
    afresh, as a new parameter would.

    sgd (Optimizer): The optimizer about to update the model.
    """
    vae = model.get_ref("vae")
    shim = vae.shims[0]
    module = get_module(vae)
    if module is None:
        return
    for name, param in module.named_parameters():
        key = (shim.id, name)
        recorded = sgd.mom1.get(key) if hasattr(sgd, "mom1") else None
        if recorded is None or recorded.size == param.numel():
            continue
        for table in (sgd.mom1, sgd.mom2, sgd.averages, sgd.nr_update):
            if table is not None:
                table.pop(key, None)
