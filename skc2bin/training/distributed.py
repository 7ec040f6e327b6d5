"""Data-parallel training on ``torch.distributed``: detection, sharding, the gather.

skc2bin does not start processes: ``torchrun`` (or any launcher that sets
``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``)
starts one process per GPU, or per CPU share, each running the user's
unchanged script. This module

* detects such a launch, or a process group the user initialised, and
  initialises the default process group when needed (NCCL with
  ``cuda:LOCAL_RANK`` on GPUs, gloo on CPUs): :func:`distributed_context`;
* describes this process's place in the group and what it exchanges with
  the others: :class:`DistributedContext` (agreement on the inputs,
  broadcasts, reductions, the gather of inference results);
* cuts data into per-process shards (:func:`shard_bounds` for inference;
  training batches are cut by :class:`skc2bin.data.BatchIterator` with
  :func:`~skc2bin.data.shard_batch_slice`), and derives each process's
  augmentation seed: :func:`rank_seed`;
* gathers the rows of a tensor from every process with gradients flowing
  back: :func:`gather_rows` (the cluster contrast and the entropy term are
  batch-wide, so they are computed on the assignments of the global batch).

Everything here uses ``torch.distributed``'s public API only. Single-process
training never imports anything from here that talks to other processes.
"""

import atexit
import datetime
import hashlib
import os
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace

import torch
import torch.distributed as dist
from torch.nn.modules.batchnorm import _BatchNorm

from .._threads import _in_joblib_worker
from ..data import shard_batch_slice

__all__ = [
    "DEFAULT_TIMEOUT",
    "DistributedContext",
    "DistributedError",
    "agreement",
    "data_fingerprint",
    "distributed_context",
    "gather_rows",
    "launched_distributed",
    "rank_seed",
    "shard_batch_slice",
    "shard_bounds",
    "tensor_digest",
    "use_sync_batchnorm",
    "wants_distributed",
]

#: Time a collective waits for the other processes before it fails (process
#: groups that skc2bin initialises; a group initialised by the user keeps its own).
DEFAULT_TIMEOUT = datetime.timedelta(minutes=10)


class DistributedError(RuntimeError):
    """Another process of a distributed fit failed, or the processes disagree
    (different data, different parameters)."""


# ------------------------------------------------------------------ detection
def launched_distributed(environ=None):
    """The ``WORLD_SIZE`` a launcher such as torchrun set, or None.

    Examples
    --------
    >>> from skc2bin.training.distributed import launched_distributed
    >>> launched_distributed({"WORLD_SIZE": "8", "RANK": "3"}), launched_distributed({})
    (8, None)
    """
    environ = os.environ if environ is None else environ
    value = environ.get("WORLD_SIZE", "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"The environment variable WORLD_SIZE={value!r} is not a positive integer.")
    return int(value)


def _group_world_size():
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size()
    return None


def wants_distributed(distributed, environ=None):
    """Whether ``fit`` trains data-parallel, for the estimator's ``distributed`` parameter.

    ``'auto'``: yes when a launcher started this process with ``WORLD_SIZE > 1``
    or a process group of more than one process exists; ``True``: yes when
    either exists (even with one process); ``False``: never. Inside joblib's
    worker processes ``'auto'`` says no (they are not ranks).

    Raises
    ------
    ValueError
        ``distributed=True`` where no launcher set ``WORLD_SIZE`` and no
        process group exists, or inside a joblib worker.
    """
    if distributed is False:
        return False
    available = dist.is_available()
    world = launched_distributed(environ) if available else None
    group = _group_world_size() if available else None
    # joblib's workers (n_jobs > 1) inherit torchrun's WORLD_SIZE and RANK from
    # their parent, but are not ranks of its process group.
    if distributed == "auto":
        if not available or _in_joblib_worker():
            return False
        return (group or world or 1) > 1
    if _in_joblib_worker():
        raise ValueError(
            "distributed=True inside a joblib worker process (n_jobs > 1): those processes are "
            "not ranks of a process group. Use n_jobs=1 under torchrun, or distributed=False."
        )
    if not available:
        raise ValueError("distributed=True, but this build of torch has no torch.distributed.")
    if group is None and world is None:
        raise ValueError(
            "distributed=True, but this process was not started by torchrun (WORLD_SIZE is not "
            "set) and no torch.distributed process group exists. Launch the script with e.g. "
            "`torchrun --nproc_per_node 2 script.py`, initialise a process group first, or use "
            "distributed='auto' (data-parallel only when launched so) or False."
        )
    return True


# -------------------------------------------------------------------- context
@dataclass
class DistributedContext:
    """This process's place in a distributed fit.

    Attributes
    ----------
    rank, world_size : int
        Of the default process group.
    device : str
        Training device of this process: ``'cuda:LOCAL_RANK'`` or ``'cpu'``.
    comm_device : str
        Where tensors exchanged with the group must live (CUDA for NCCL).
    """

    rank: int
    world_size: int
    device: str
    comm_device: str

    @property
    def is_main(self):
        return self.rank == 0

    # ------------------------------------------------------------- objects
    def broadcast_object(self, obj):
        """``obj`` of rank 0, on every rank."""
        box = [obj]
        dist.broadcast_object_list(box, src=0, device=self._object_device())
        return box[0]

    def all_gather_object(self, obj):
        out = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def _object_device(self):
        return torch.device(self.comm_device) if self.comm_device != "cpu" else None

    def agree(self, error=None, fingerprint=None, what="training data"):
        """Synchronisation point: every rank says whether it got here safely.

        Each rank passes the error it hit (``None`` if none) and a
        fingerprint of what must be the same everywhere. If another rank
        failed, a :class:`DistributedError` naming it is raised (a rank that
        failed itself returns, to re-raise its own error); if the
        fingerprints differ, every rank raises a :class:`DistributedError`.
        """
        reports = self.all_gather_object((None if error is None else f"{type(error).__name__}: {error}",
                                          fingerprint))
        failed = [(r, msg) for r, (msg, _) in enumerate(reports) if msg is not None]
        if failed:
            if error is not None:
                return
            rank, msg = failed[0]
            raise DistributedError(
                f"Process {rank} of the distributed fit failed before training ({msg}); this "
                f"process (rank {self.rank}) stops too."
            )
        prints = [fp for _, fp in reports]
        if any(fp != prints[0] for fp in prints[1:]):
            detail = "; ".join(f"rank {r}: {fp}" for r, fp in enumerate(prints))
            raise DistributedError(
                f"The processes of the distributed fit were given different {what} ({detail}). "
                "Every process must call fit with the same X and the same parameters (load the "
                "whole data set in every process; skc2bin shards it)."
            )

    # ------------------------------------------------------------- tensors
    def all_reduce_mean(self, tensor):
        """The mean of ``tensor`` over the ranks (a new tensor, on ``tensor``'s device)."""
        buf = tensor.detach().to(self.comm_device, copy=True)
        dist.all_reduce(buf, op=dist.ReduceOp.SUM)
        return (buf / self.world_size).to(tensor.device)

    def all_reduce_max(self, value):
        """The largest of the ranks' float ``value``."""
        buf = torch.tensor([float(value)], dtype=torch.float64, device=self.comm_device)
        dist.all_reduce(buf, op=dist.ReduceOp.MAX)
        return float(buf.item())

    def all_finite(self, tensor):
        """Whether ``tensor`` is finite on every rank (one tiny all-reduce)."""
        flag = torch.isfinite(tensor).all().to(self.comm_device, torch.int32).reshape(1)
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        return bool(flag.item())

    def gather_shards(self, array):
        """Concatenate every rank's ``array`` (numpy, rows of the shard
        :func:`shard_bounds` gives that rank) in rank order."""
        import numpy as np

        local = torch.as_tensor(np.ascontiguousarray(array))
        sizes = self.all_gather_object(len(local))
        longest = max(sizes)
        padded = local.new_zeros((longest, *local.shape[1:]))
        padded[: len(local)] = local
        padded = padded.to(self.comm_device)
        parts = [torch.empty_like(padded) for _ in range(self.world_size)]
        dist.all_gather(parts, padded)
        return torch.cat([p[:n].cpu() for p, n in zip(parts, sizes)]).numpy()

    def broadcast_(self, tensor):
        """Overwrite ``tensor`` in place with rank 0's."""
        buf = tensor.detach().to(self.comm_device, copy=True)
        dist.broadcast(buf, src=0)
        with torch.no_grad():
            tensor.copy_(buf)

    def synchronise_buffers(self, module):
        """Make ``module``'s buffers equal on every rank: BatchNorm running
        statistics become their mean over the ranks (each rank saw other
        samples), every other buffer rank 0's."""
        averaged = set()
        for m in module.modules():
            if isinstance(m, _BatchNorm):
                for name in ("running_mean", "running_var"):
                    buf = getattr(m, name, None)
                    if buf is not None:
                        with torch.no_grad():
                            buf.copy_(self.all_reduce_mean(buf))
                        averaged.add(id(buf))
        for buf in module.buffers():
            if id(buf) not in averaged:
                self.broadcast_(buf)

    # ------------------------------------------------------------- failures
    def note_failure(self, error):
        """Add a note to ``error`` (Python 3.11+) saying where it was raised:
        a communication error in one process usually means that another
        process failed first."""
        add_note = getattr(error, "add_note", None)
        if add_note is not None:
            add_note(
                f"skc2bin: raised in process {self.rank} of {self.world_size} of a data-parallel fit. "
                "A communication error here ('Connection closed by peer', a timeout) means that "
                "another process failed or stopped first: its output shows the cause."
            )


def _local_rank(rank):
    value = os.environ.get("LOCAL_RANK", "").strip()
    if value.isdigit():
        return int(value)
    count = torch.cuda.device_count()
    return rank % count if count else 0


def _backend_supports_cpu(backend):
    backend = str(backend).lower()
    return "gloo" in backend or "mpi" in backend


def _destroy_at_exit():
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def distributed_context(distributed, device, timeout=DEFAULT_TIMEOUT):
    """This process's :class:`DistributedContext`, or None for a single-process fit.

    Initialises the default process group when a launcher set ``WORLD_SIZE``
    and none exists yet: NCCL (with gloo for CPU tensors) when training on
    CUDA, gloo otherwise, with ``timeout`` on every collective.

    Parameters
    ----------
    distributed : {'auto', True, False}
        The estimator's parameter (see :func:`wants_distributed`).
    device : {'auto', 'cpu', 'cuda'}
        The estimator's parameter; on CUDA each process trains on
        ``cuda:LOCAL_RANK``.
    """
    if not wants_distributed(distributed):
        return None
    cuda = device == "cuda" or (device == "auto" and torch.cuda.is_available())
    if not dist.is_initialized():
        backend = "cpu:gloo,cuda:nccl" if cuda else "gloo"
        try:
            if cuda:
                torch.cuda.set_device(_local_rank(int(os.environ.get("RANK", "0"))))
            dist.init_process_group(backend=backend, timeout=timeout)
        except (ValueError, RuntimeError) as exc:
            raise DistributedError(
                f"WORLD_SIZE={os.environ.get('WORLD_SIZE')} is set, so fit trains data-parallel, but "
                f"the torch.distributed process group ({backend}) could not be initialised: {exc}. "
                "Launch the script with torchrun, or pass distributed=False."
            ) from exc
        atexit.register(_destroy_at_exit)
    rank, world = dist.get_rank(), dist.get_world_size()
    backend = dist.get_backend()
    if cuda:
        local = _local_rank(rank)
        if local >= torch.cuda.device_count():
            raise DistributedError(
                f"Process {rank} should train on cuda:{local} (LOCAL_RANK), but torch sees "
                f"{torch.cuda.device_count()} GPU(s). Start at most one process per GPU "
                "(torchrun --nproc_per_node)."
            )
        torch.cuda.set_device(local)
        train_device = f"cuda:{local}"
        comm_device = train_device if "nccl" in str(backend).lower() else "cpu"
    else:
        if not _backend_supports_cpu(backend):
            raise DistributedError(
                f"device={device!r} trains on the CPU, but the process group's backend is "
                f"{backend!r}, which cannot exchange CPU tensors. Initialise it with gloo, or "
                "train on the GPUs (device='auto' or 'cuda')."
            )
        train_device = comm_device = "cpu"
    return DistributedContext(rank=rank, world_size=world, device=train_device,
                              comm_device=comm_device)


@contextmanager
def agreement(context, what="training data"):
    """A synchronisation point after the block: the processes go on only if
    none failed in it and all saw the same inputs.

    Yields a namespace whose ``fingerprint`` the block sets to what must be
    equal on every process. An error in the block is re-raised in the
    process that hit it and turned into a :class:`DistributedError` naming
    that process in the others, so no process is left waiting for the
    others in the first collective of training. Without ``context`` (a
    single-process fit) the block simply runs.
    """
    agreed = SimpleNamespace(fingerprint=None)
    if context is None:
        yield agreed
        return
    try:
        yield agreed
    except BaseException as exc:
        context.agree(error=exc)
        raise
    context.agree(fingerprint=agreed.fingerprint, what=what)


def tensor_digest(tensors):
    """A short hex digest of the values of ``tensors`` (to compare across processes)."""
    h = hashlib.sha256()
    for t in tensors:
        h.update(str((tuple(t.shape), str(t.dtype))).encode())
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def data_fingerprint(X, n_rows=64):
    """What identifies the training data cheaply: the number of samples, and
    for an in-memory tensor its sample shape, type and a digest of up to
    ``n_rows`` evenly spaced rows (a torch Dataset is not read for this)."""
    if not isinstance(X, torch.Tensor):
        return (len(X),)
    idx = torch.linspace(0, len(X) - 1, min(n_rows, len(X))).long() if len(X) else torch.zeros(0, dtype=torch.long)
    return (len(X), tuple(X.shape[1:]), str(X.dtype), tensor_digest([X[idx]]))


# ------------------------------------------------------------------- sharding
def shard_bounds(n, rank, world_size):
    """Rows ``[start, stop)`` of ``n`` that process ``rank`` of ``world_size``
    handles in inference: contiguous blocks, sizes differing by at most one.

    Examples
    --------
    >>> from skc2bin.training.distributed import shard_bounds
    >>> [shard_bounds(10, r, 3) for r in range(3)]
    [(0, 3), (3, 6), (6, 10)]
    """
    return (rank * n) // world_size, ((rank + 1) * n) // world_size


def rank_seed(state, rank):
    """Seed of process ``rank``'s augmentation generator, derived from the
    shared generator state ``state`` (bytes): a different, reproducible
    stream per process.

    Examples
    --------
    >>> from skc2bin.training.distributed import rank_seed
    >>> rank_seed(b"state", 1) == rank_seed(b"state", 1) != rank_seed(b"state", 2)
    True
    """
    digest = hashlib.sha256(bytes(state) + int(rank).to_bytes(8, "little")).digest()
    return int.from_bytes(digest[:8], "little") >> 1


# ----------------------------------------------------------------- SyncBatchNorm
def use_sync_batchnorm(module):
    """Swap ``module``'s BatchNorm layers for :class:`~torch.nn.SyncBatchNorm`
    layers sharing their parameters and statistics (on CUDA, batch statistics
    then cover the global batch, as in one process).

    Returns
    -------
    restore : callable
        Puts the original layers back, with the statistics reached.
    """
    swapped = []
    for parent in list(module.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, _BatchNorm) and not isinstance(child, torch.nn.SyncBatchNorm):
                setattr(parent, name, torch.nn.SyncBatchNorm.convert_sync_batchnorm(child))
                swapped.append((parent, name, child))

    def restore():
        for parent, name, original in reversed(swapped):
            sync = getattr(parent, name)
            for key in ("running_mean", "running_var", "num_batches_tracked"):
                if getattr(sync, key, None) is not None:
                    setattr(original, key, getattr(sync, key))
            original.train(sync.training)
            setattr(parent, name, original)

    return restore


# ----------------------------------------------------------------- the gather
class _GatherRows(torch.autograd.Function):
    """All-gather along the first dimension; the backward pass sums the
    gradients of every rank and returns this rank's rows (solo-learn's and
    lightly's GatherLayer, on public collectives)."""

    @staticmethod
    def forward(ctx, x):
        x = x.contiguous()
        world = dist.get_world_size()
        ctx.rank, ctx.rows = dist.get_rank(), x.shape[0]
        parts = [torch.empty_like(x) for _ in range(world)]
        dist.all_gather(parts, x)
        return torch.cat(parts)

    @staticmethod
    def backward(ctx, grad):
        grad = grad.contiguous().clone()
        dist.all_reduce(grad, op=dist.ReduceOp.SUM)
        start = ctx.rank * ctx.rows
        return grad[start:start + ctx.rows]


def gather_rows(x):
    """The rows of ``x`` from every process, concatenated in rank order,
    differentiable.

    Every process must pass a tensor of the same shape. In the backward
    pass each process receives the sum over processes of the gradients of
    its own rows: when every process computes the same loss ``L`` of the
    gathered rows, and DDP then averages the parameter gradients over the
    ``W`` processes, the result is exactly ``dL/dparameters`` of one
    process holding the whole batch.
    """
    return _GatherRows.apply(x)
