"""Growing a VAE's vocabulary in place: new words get new columns, every
existing weight and buffer keeps its values exactly.

- Encoder: the bag-of-words part of the first layer gets zero columns, so a
  doc's encoding is unchanged until the new columns learn.
- Decoder: the free topic-word matrix gets zero columns (the new word's logit
  is then its background); the embedding decoder gets the new words' given
  embeddings; the background gets the given log frequencies; the batch-norm's
  running statistics for the new columns start at the mean of the old ones'.
"""
from typing import Optional

import torch
from torch import Tensor, nn

from .decoders import EmbeddingTopicWords, LinearTopicWords
from .vae import TextVAEModule


@torch.no_grad()
def grow_vocabulary(
    module: TextVAEModule, background: Tensor, word_embeddings: Optional[Tensor]
) -> None:
    """Append `len(background)` words to the module's vocabulary.

    module (TextVAEModule): The VAE (changed in place).
    background (Tensor): (n_new,) log frequencies of the new words, on the
        scale of the existing background.
    word_embeddings (Optional[Tensor]): (n_new, width) embeddings of the new
        words; needed by the embedding decoder.
    """
    n_new = int(background.shape[0])
    if n_new == 0:
        return
    decoder = module.decoder
    device = decoder.background.device
    topic_words = decoder.topic_words
    if isinstance(topic_words, EmbeddingTopicWords):
        width = topic_words.word_embeddings.shape[1]
        if word_embeddings is None or tuple(word_embeddings.shape) != (n_new, width):
            shape = None if word_embeddings is None else tuple(word_embeddings.shape)
            raise ValueError(f"The embedding decoder needs word_embeddings of shape ({n_new}, {width}), not {shape}.")
        topic_words.word_embeddings = torch.cat([topic_words.word_embeddings, word_embeddings.to(device).float()])
    elif isinstance(topic_words, LinearTopicWords):
        beta = topic_words.beta
        topic_words.beta = nn.Parameter(torch.cat([beta.data, beta.new_zeros(beta.shape[0], n_new)], dim=1))
    decoder.background = torch.cat([decoder.background, background.to(device).float()])
    if decoder.bn is not None:
        bn = decoder.bn
        bn.running_mean = torch.cat([bn.running_mean, bn.running_mean.mean().expand(n_new)])
        bn.running_var = torch.cat([bn.running_var, bn.running_var.mean().expand(n_new)])
        bn.num_features += n_new
    # The seeds' columns follow the vocabulary: whoever set them sets them again.
    decoder.set_seeds(None, None, 0.0)
    encoder = module.encoder
    if encoder.word_weight is not None:
        rows = encoder.word_weight.data
        encoder.word_weight = nn.Parameter(torch.cat([rows, rows.new_zeros(n_new, rows.shape[1])]))
