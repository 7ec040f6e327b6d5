"""Size priors on a batch's mean cluster assignment.

C2BIN's entropy term pulls every cluster towards the size ``1/k``; real data
are rarely balanced. The ``'floor'`` prior of skc2bin's refinement phase only
keeps clusters from emptying and leaves their relative sizes free.
"""

import math

import torch

from .cluster_entropy import entropy

__all__ = ["size_prior_loss"]


def size_prior_loss(marginal, prior="uniform", floor=0.1, eps=1e-8):
    """How far a batch's mean assignment ``P`` (a k-vector) is from a size prior.

    * ``'uniform'``: ``log k - H(P)`` (= KL(P || uniform)), C2BIN's entropy term
      for one view: pulls every cluster towards the size ``1/k``.
    * ``'floor'``: ``sum_c relu(log(floor / k) - log P_c)``: zero as long as
      every cluster holds at least ``floor / k`` of the batch.

    Parameters
    ----------
    marginal : Tensor of shape (n_clusters,)
        Mean soft assignment over a batch (sums to one).
    prior : {'uniform', 'floor'}, default='uniform'
    floor : float, default=0.1
        For ``'floor'``: the smallest allowed share, as a fraction of ``1/k``.
    eps : float, default=1e-8

    Returns
    -------
    loss : scalar Tensor, >= 0
    """
    k = marginal.shape[0]
    if prior == "uniform":
        return math.log(k) - entropy(marginal)
    if prior == "floor":
        return torch.relu(math.log(floor / k) - torch.log(marginal + eps)).sum()
    raise ValueError(f"prior must be 'uniform' or 'floor', got {prior!r}.")
