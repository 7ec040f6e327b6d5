"""The C2BIN objective: pure loss functions, one file each, and the criterion.

Every function here takes tensors and returns a scalar tensor; none holds
state, so each can be tested in isolation against hand-computed values
(``tests/test_losses.py``). The formulas follow ``docs/method.md``:

* :func:`byol_loss` / :func:`instance_loss` — bootstrapping instances
  (BYOL, Grill et al. 2020): ``2 - 2 cos(p, stopgrad(z))``, symmetrised.
* :func:`cluster_contrast_loss` — contrasting clusters (Contrastive
  Clustering, Li et al. 2021): the columns of the two views' N×k assignment
  matrices are cluster features; column j of view 1 and column j of view 2
  are positives, the other ``2k - 2`` columns negatives (NT-Xent).
* :func:`cluster_entropy_loss` — ``sum_v (log k - H(mean_i A_v[i]))``, zero
  when every cluster is used equally often in the batch.
* :func:`c2bin_loss` — the weighted total over several cluster heads.

skc2bin's refinement phase (not part of C2BIN) adds:

* :func:`neighbor_consistency_loss` — SCAN's ``-mean_i log <p_i, p_j(i)>``
  between samples and their nearest neighbours;
* :func:`size_prior_loss` — C2BIN's uniform term, or a floor that only keeps
  clusters from emptying.
"""

from .byol import byol_loss, instance_loss
from .c2bin import C2BINCriterion, c2bin_loss
from .cluster_contrast import cluster_contrast_loss
from .cluster_entropy import cluster_entropy_loss
from .neighbor_consistency import neighbor_consistency_loss
from .size_prior import size_prior_loss

__all__ = [
    "byol_loss",
    "instance_loss",
    "cluster_contrast_loss",
    "cluster_entropy_loss",
    "c2bin_loss",
    "C2BINCriterion",
    "neighbor_consistency_loss",
    "size_prior_loss",
]
