"""skc2bin: C2BIN deep clustering as a scikit-learn estimator.

C2BIN — Contrasting Clusters while Bootstrapping INstances — trains a BYOL
network together with column-contrasted cluster heads at one or several
scales. :class:`C2BINClusterer` wraps it for scikit-learn.
"""

from . import metrics
from ._show_versions import show_versions
from .clusterer import C2BINClusterer
from .training import DistributedError, TrainingDivergedError

__version__ = "0.1.0"

__all__ = ["C2BINClusterer", "TrainingDivergedError", "DistributedError", "__version__", "metrics", "show_versions"]
