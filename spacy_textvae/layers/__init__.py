"""Thinc layers of the textvae model, one per file, each with its forward and init."""
from .bag_of_words import bag_of_words
from .grad_factor import with_grad_factor
from .pooling import POOLING_MODES, build_pooling
from .textvae_model import (
    VAEOutput,
    fit_prior,
    initialize_textvae,
    repair_prior,
    set_step_state,
    textvae_model,
    prior_components,
    topic_log_probs,
    topic_vectors,
    word_log_probs,
)
from .torch_vae import VAESettings, build_torch_vae

__all__ = [
    "POOLING_MODES",
    "VAEOutput",
    "VAESettings",
    "bag_of_words",
    "build_pooling",
    "build_torch_vae",
    "fit_prior",
    "initialize_textvae",
    "repair_prior",
    "set_step_state",
    "textvae_model",
    "prior_components",
    "topic_log_probs",
    "topic_vectors",
    "word_log_probs",
    "with_grad_factor",
]
