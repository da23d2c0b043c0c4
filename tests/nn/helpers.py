"""Shared builders for the torch-side tests: a small VAE and a random batch."""
import torch

from spacy_textvae.nn import build_text_vae

# The sizes and settings of the small test module, all explicit
# (`build_text_vae` takes no defaults).
DEFAULTS = dict(
    n_inputs=8,
    n_vocab=30,
    n_topics=5,
    n_clusters=3,
    hidden_width=16,
    dropout=0.0,
    use_counts=True,
    word_dropout=0.0,
    decoder="linear",
    word_embeddings=None,
    decoder_temperature=0.5,
    ecr_weight=0.0,
    decoder_batchnorm=True,
    background=None,
    cluster_means="free",
    pooled_weight=0.0,
)


def make_module(**overrides):
    """A small `TextVAEModule`, built after seeding torch, so its initial
    weights (and the draws after it) are the same in every test."""
    torch.manual_seed(0)
    settings = {**DEFAULTS, **overrides}
    return build_text_vae(**settings)


def batch(n=12, seed=0):
    """RETURNS: pooled vectors (n, 8) and Poisson word counts (n, 30)."""
    g = torch.Generator().manual_seed(seed)
    pooled = torch.randn(n, 8, generator=g)
    counts = torch.poisson(torch.full((n, 30), 0.5), generator=g)
    return pooled, counts


def embedding_module(**overrides):
    """A small module with the embedding (ECRTM) decoder over fixed unit-norm
    word embeddings, (30, 6), and the regulariser weighted 10."""
    g = torch.Generator().manual_seed(1)
    emb = torch.nn.functional.normalize(torch.randn(30, 6, generator=g), dim=1)
    return make_module(decoder="embedding", word_embeddings=emb, ecr_weight=10.0, **overrides)
