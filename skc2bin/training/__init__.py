"""The training layer: the skorch net that runs C2BIN, its callbacks and its builder.

* :mod:`~skc2bin.training.net` — :class:`C2BINNet`, the train step and the
  net's own random streams and schedules;
* :mod:`~skc2bin.training.callbacks` — the EMA move of the target, the
  selection of cluster heads, progress output;
* :mod:`~skc2bin.training.build` — :func:`make_net`, which assembles the net
  from the estimator's parameters.
"""

from .build import OPTIMIZERS, make_net, plan_batch_size, resolve_precision
from .callbacks import LOSS_PARTS, BatchLog, EMATarget, PlainPrintLog, SelectHeads
from .net import EMA_CALLBACK, LR_CALLBACK, C2BINNet, TrainingDivergedError

__all__ = [
    "C2BINNet",
    "EMATarget",
    "SelectHeads",
    "PlainPrintLog",
    "BatchLog",
    "TrainingDivergedError",
    "make_net",
    "plan_batch_size",
    "resolve_precision",
    "OPTIMIZERS",
    "LOSS_PARTS",
    "EMA_CALLBACK",
    "LR_CALLBACK",
]
