"""The number of CPU threads torch computes with, fixed per call.

Floating-point reductions split across threads add up in a different order
for every thread count, and in training those rounding differences grow
into different models (measured: 1 vs 2 threads, 5 epochs on digits,
ARI 0.53 between the partitions). joblib's worker processes (``n_jobs`` in
:class:`~sklearn.model_selection.GridSearchCV`) start torch with fewer
threads, so without this a search's results would depend on ``n_jobs``.
The estimator therefore sets the thread count from its ``n_threads``
parameter for the duration of each call and restores it afterwards.

``n_threads='auto'`` honours an explicit ``OMP_NUM_THREADS`` (set by users
who run several processes at once, by batch schedulers and by torchrun):
forcing more threads there would oversubscribe the CPUs, and with OpenMP's
busy-waiting that was measured up to 13x slower. joblib's worker processes
set ``OMP_NUM_THREADS`` themselves (to ``cpu_count // n_jobs``), so inside
them the variable is ignored and the CPU count used, as in a parent that did
not set it.
"""

import multiprocessing
import os
from contextlib import contextmanager

import torch

__all__ = ["available_cpus", "default_n_threads", "resolve_n_threads", "torch_threads"]


def available_cpus():
    """CPUs this process may run on (its affinity mask; ``os.cpu_count()``
    where the platform has none)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _in_joblib_worker():
    # joblib's default (loky) backend runs jobs in LokyProcess children.
    return type(multiprocessing.current_process()).__name__ == "LokyProcess"


def default_n_threads():
    """What ``n_threads='auto'`` means in this process.

    ``OMP_NUM_THREADS`` when it is set to a positive integer (outside joblib's
    worker processes, which set it themselves), else :func:`available_cpus`.
    """
    value = os.environ.get("OMP_NUM_THREADS", "")
    if value.strip().isdigit() and int(value) > 0 and not _in_joblib_worker():
        return int(value)
    return available_cpus()


def resolve_n_threads(n_threads):
    """``'auto'`` -> :func:`default_n_threads`; an int is returned as is."""
    return default_n_threads() if n_threads == "auto" else int(n_threads)


@contextmanager
def torch_threads(n_threads):
    """Run the block with torch's intra-op thread count set to ``n_threads``
    (restored afterwards). Process-wide: do not run estimators concurrently
    in threads of one process with different values."""
    previous = torch.get_num_threads()
    if n_threads != previous:
        torch.set_num_threads(n_threads)
    try:
        yield
    finally:
        if torch.get_num_threads() != previous:
            torch.set_num_threads(previous)
