"""spacy-textvae on a Ray cluster: `annotate` a Ray Dataset in a pool of actors,
and `train` a pipeline data-parallel with Ray Train. Needs the `ray` extra:
`pip install "spacy-textvae[ray]"`. Ray itself is imported only when used."""
from .annotate import annotate, read_texts
from .train import train

__all__ = ["annotate", "read_texts", "train"]
