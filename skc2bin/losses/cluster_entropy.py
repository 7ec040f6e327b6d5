"""Anti-collapse: the entropy of each view's mean cluster assignment.

``sum_v (log k - H(mean_i A_v[i]))``, zero when every cluster is used equally
often in the batch.
"""

import math

import torch

__all__ = ["cluster_entropy_loss", "entropy"]


def entropy(p):
    """Shannon entropy (natural log) of a probability vector, 0·log 0 = 0."""
    return -(torch.special.xlogy(p, p)).sum()


def cluster_entropy_loss(assign1, assign2):
    """Anti-collapse term ``sum_v (log k - H(P_v))``, ``P_v = mean_i A_v[i]``.

    Returns
    -------
    loss : scalar Tensor in ``[0, 2 log k]``
        0 when both views use all clusters equally often, ``2 log k`` when
        each view puts the whole batch into one cluster.
    """
    k = assign1.shape[1]
    log_k = math.log(k)
    total = assign1.new_zeros(())
    for assign in (assign1, assign2):
        total = total + (log_k - entropy(assign.mean(dim=0)))
    return total
