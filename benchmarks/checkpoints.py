"""A `spacy train` callback for research runs: save the pipeline at every
evaluation, so that model-selection criteria can be compared afterwards
against held-out quality (`benchmarks/selection_study.py`).

Use it with `--code benchmarks/checkpoints.py` and

    [training.before_update]
    @callbacks = "textvae_bench.save_checkpoints.v1"
    path = "training/checkpoints"
    every = ${training.eval_frequency}
"""
from pathlib import Path
from typing import Any, Callable, Dict

import spacy
from spacy.language import Language


@spacy.registry.callbacks("textvae_bench.save_checkpoints.v1")
def make_save_checkpoints(path: str, every: int) -> Callable[[Language, Dict[str, Any]], None]:
    """Save `nlp` as `<path>/step_<n>` in the state spaCy evaluated at step n.

    spaCy evaluates after the update of step n (n % every == 0); the callback
    runs before the update of step n + 1, so it sees that same state.
    """
    root = Path(path)

    def before_update(nlp: Language, info: Dict[str, Any]) -> None:
        step = info["step"]
        if step > 0 and (step - 1) % every == 0:
            root.mkdir(parents=True, exist_ok=True)
            nlp.to_disk(root / f"step_{step - 1:06d}")

    return before_update
