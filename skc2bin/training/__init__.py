"""The training layer: the skorch net that runs C2BIN, its callbacks and its builder.

* :mod:`~skc2bin.training.net` — :class:`C2BINNet`, the train step, the
  epoch loop and the net's own random streams and schedules;
* :mod:`~skc2bin.training.callbacks` — the EMA move of the target, the
  selection of cluster heads, progress output;
* :mod:`~skc2bin.training.build` — :func:`make_net`, which assembles the net
  from the estimator's parameters;
* :mod:`~skc2bin.training.distributed` — data-parallel training with
  torch.distributed: detection of torchrun, the process group, sharding,
  the gather of the cluster assignments.

The refinement phase after C2BIN's training (skc2bin's addition, ``docs/method.md``):

* :mod:`~skc2bin.training.refine` — the phase itself: the gate, the refined
  heads, the candidates (graph partition, layouts, re-paired clusters) and
  the rules that judge them;
* :mod:`~skc2bin.training.neighbors` — where each sample's neighbours are
  mined, and how;
* :mod:`~skc2bin.training.partitions` — pure functions of partitions and
  neighbour graphs (agreement, cuts, spectral partitions, linked clusters);
* :mod:`~skc2bin.training.layout` — UMAP-style layouts of a neighbour graph;
* :mod:`~skc2bin.training.refine_report` — what the phase did, in words.
"""

from .build import OPTIMIZERS, make_net, plan_batch_size, resolve_precision
from .callbacks import LOSS_PARTS, BatchLog, EMATarget, PlainPrintLog, SelectHeads
from .distributed import DistributedError
from .net import DIVERGENCE_CHECK_STEPS, EMA_CALLBACK, LR_CALLBACK, C2BINNet, TrainingDivergedError

__all__ = [
    "C2BINNet",
    "EMATarget",
    "SelectHeads",
    "PlainPrintLog",
    "BatchLog",
    "TrainingDivergedError",
    "DistributedError",
    "make_net",
    "plan_batch_size",
    "resolve_precision",
    "OPTIMIZERS",
    "LOSS_PARTS",
    "EMA_CALLBACK",
    "LR_CALLBACK",
    "DIVERGENCE_CHECK_STEPS",
]
