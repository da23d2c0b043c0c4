"""How many intra-op threads torch uses for the VAE.

The VAE's matrices are small (a batch of docs by a few hundred hidden units,
a few dozen topics by the vocabulary): extra torch threads gain little on
them, and where the cores are busy with the rest of the pipeline (the
tokenizer, the thinc layers) or with other processes, every parallel region
waits for its slowest thread. torch's default, one thread per core, is then
several times slower on small machines. So by default the component lowers
torch's count to a few threads, once per process, when the VAE first runs.
Training is the exception: with a frozen encoder its pooled vectors are cached,
the VAE's updates are nearly all the work and nothing else runs beside them,
so the first training step gives torch every usable CPU (within torch's own
count) for the rest of the process.
"""
import logging
import os
import threading
from dataclasses import dataclass
from typing import Dict, List, Mapping, Optional, Tuple

import torch

from ..errors import TextVAEError

logger = logging.getLogger("spacy_textvae")

# The automatic count: half the usable CPUs (the rest of the pipeline keeps
# the others busy), at least 1 and at most this many.
AUTO_MAX_THREADS = 4
# The automatic count in training: every usable CPU, at most this many (the
# VAE's matrices gain nothing from more).
AUTO_MAX_TRAINING_THREADS = 8
# Set in the environment, these mean the user chose torch's count: "auto" keeps it.
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")

_lock = threading.Lock()
# The (setting, training) pairs applied in this process, each with the count it gave.
_applied: Dict[Tuple[Optional[int], bool], int] = {}
# torch's count before the first call changed it, and the count last set.
_torch_default: List[int] = []
_last_set: List[int] = []


@dataclass(frozen=True)
class TorchThreads:
    """The component's `torch_threads` setting, as the VAE layer holds it
    (frozen and not msgpack-encodable, so a saved model never carries it: the
    config in force is its one source).

    setting (Optional[int]): None (auto), 0 (leave torch's count as it is) or a count.
    """

    setting: Optional[int]


def check_torch_threads(value: Optional[int], name: str = "textvae") -> Optional[int]:
    """RETURNS (Optional[int]): the setting, checked (None, 0 or a positive int)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TextVAEError(
            f"torch_threads must be null (choose automatically), 0 (leave torch's thread count as "
            f"it is) or a positive number of threads, not {value!r}. Set [components.{name}] torch_threads."
        )
    return int(value)


def usable_cpus() -> int:
    """RETURNS (int): The CPUs this process may run on (its affinity mask where
    the platform has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def auto_threads(n_cpus: int, training: bool = False) -> int:
    """RETURNS (int): The automatic thread count for n_cpus usable CPUs: half
    of them (1 to AUTO_MAX_THREADS), or in training all of them (1 to
    AUTO_MAX_TRAINING_THREADS)."""
    if training:
        return max(1, min(AUTO_MAX_TRAINING_THREADS, n_cpus))
    return max(1, min(AUTO_MAX_THREADS, n_cpus // 2))


def choose_torch_threads(
    setting: Optional[int],
    current: int,
    n_cpus: int,
    environ: Mapping[str, str],
    training: bool = False,
) -> Tuple[int, str]:
    """The thread count for a setting, and why (for the log).

    setting (Optional[int]): None (auto), 0 (keep `current`) or a count.
    current (int): torch's count before textvae changed it.
    n_cpus (int): The usable CPUs.
    environ (Mapping[str, str]): The environment.
    training (bool): Whether the VAE is training (auto gives it every usable CPU).
    RETURNS (Tuple[int, str]): The count and the reason.
    """
    if setting is None:
        chosen = [var for var in THREAD_ENV_VARS if environ.get(var)]
        if chosen:
            return current, f"automatic, keeping the count that {chosen[0]} sets"
        # Never above torch's own count: a count the user set lower stays.
        mode = "training" if training else "inference"
        return min(current, auto_threads(n_cpus, training)), f"automatic for {mode} on {n_cpus} CPUs"
    if setting == 0:
        return current, "torch_threads = 0 keeps torch's count"
    return setting, f"torch_threads = {setting}"


def apply_torch_threads(threads: Optional[TorchThreads], training: bool = False) -> int:
    """Set torch's intra-op thread count for the setting, once per process,
    setting and mode (torch's count is global to the process, so it is not set
    back afterwards), and log the choice. Once training has applied its count,
    inference in the same process (spaCy's evaluations) keeps it. A
    torch.set_num_threads of the user's after textvae's stays. Thread-safe;
    cheap after the first call.

    threads (Optional[TorchThreads]): The setting; None counts as auto.
    training (bool): Whether the VAE is about to take a training step.
    RETURNS (int): torch's thread count afterwards.
    """
    setting = None if threads is None else threads.setting
    # A count the user gave holds in training and inference alike.
    training = training and setting is None
    count = _applied.get((setting, True)) if not training else None
    if count is None:
        count = _applied.get((setting, training))
    if count is not None:
        return count
    with _lock:
        if (setting, training) in _applied:
            return _applied[(setting, training)]
        current = torch.get_num_threads()
        if not _torch_default:
            _torch_default.append(current)
        if _last_set and current != _last_set[0]:
            # The user set torch's count after textvae did: theirs stays.
            count, reason = current, "kept: set after textvae's choice"
        else:
            count, reason = choose_torch_threads(
                setting, _torch_default[0], usable_cpus(), os.environ, training
            )
            if count != current:
                torch.set_num_threads(count)
            _last_set[:] = [count]
        logger.info(
            "textvae: torch uses %d intra-op thread%s (%s; set [components.textvae] torch_threads to change it)",
            count, "" if count == 1 else "s", reason,
        )
        _applied[(setting, training)] = count
        return count


def reset_applied() -> None:
    """Forget which settings were applied (for tests: the next call applies again)."""
    with _lock:
        _applied.clear()
        _torch_default.clear()
        _last_set.clear()
