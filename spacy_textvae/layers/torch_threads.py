"""How many intra-op threads torch uses for the VAE.

The VAE's matrices are small (a batch of docs by a few hundred hidden units,
a few dozen topics by the vocabulary): extra torch threads gain little on
them, and where the cores are busy with the rest of the pipeline (the
tokenizer, the thinc layers) or with other processes, every parallel region
waits for its slowest thread. torch's default, one thread per core, is then
several times slower on small machines. So by default the component lowers
torch's count to a few threads, once per process, when the VAE first runs.
"""
import logging
import os
import threading
from dataclasses import dataclass
from typing import Dict, Mapping, Optional, Tuple

import torch

from ..errors import TextVAEError

logger = logging.getLogger("spacy_textvae")

# The automatic count: half the usable CPUs (the rest of the pipeline keeps
# the others busy), at least 1 and at most this many.
AUTO_MAX_THREADS = 4
# Set in the environment, these mean the user chose torch's count: "auto" keeps it.
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS")

_lock = threading.Lock()
# The settings applied in this process, each with the count it gave.
_applied: Dict[Optional[int], int] = {}


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


def auto_threads(n_cpus: int) -> int:
    """RETURNS (int): The automatic thread count for n_cpus usable CPUs."""
    return max(1, min(AUTO_MAX_THREADS, n_cpus // 2))


def choose_torch_threads(
    setting: Optional[int], current: int, n_cpus: int, environ: Mapping[str, str]
) -> Tuple[int, str]:
    """The thread count for a setting, and why (for the log).

    setting (Optional[int]): None (auto), 0 (keep `current`) or a count.
    current (int): torch's count now.
    n_cpus (int): The usable CPUs.
    environ (Mapping[str, str]): The environment.
    RETURNS (Tuple[int, str]): The count and the reason.
    """
    if setting is None:
        chosen = [var for var in THREAD_ENV_VARS if environ.get(var)]
        if chosen:
            return current, f"automatic, keeping the count that {chosen[0]} sets"
        # Only ever lowered: a count the user set lower stays.
        return min(current, auto_threads(n_cpus)), f"automatic for {n_cpus} CPUs"
    if setting == 0:
        return current, "torch_threads = 0 keeps torch's count"
    return setting, f"torch_threads = {setting}"


def apply_torch_threads(threads: Optional[TorchThreads]) -> int:
    """Set torch's intra-op thread count for the setting, once per process and
    setting (torch's count is global to the process, so it is not set back
    afterwards; a later torch.set_num_threads of the user's stays), and log the choice.
    Thread-safe; cheap after the first call.

    threads (Optional[TorchThreads]): The setting; None counts as auto.
    RETURNS (int): torch's thread count afterwards.
    """
    setting = None if threads is None else threads.setting
    count = _applied.get(setting)
    if count is not None:
        return count
    with _lock:
        if setting in _applied:
            return _applied[setting]
        current = torch.get_num_threads()
        count, reason = choose_torch_threads(setting, current, usable_cpus(), os.environ)
        if count != current:
            torch.set_num_threads(count)
        logger.info(
            "textvae: torch uses %d intra-op thread%s (%s; set [components.textvae] torch_threads to change it)",
            count, "" if count == 1 else "s", reason,
        )
        _applied[setting] = count
        return count


def reset_applied() -> None:
    """Forget which settings were applied (for tests: the next call applies again)."""
    with _lock:
        _applied.clear()
