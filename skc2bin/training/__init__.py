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
