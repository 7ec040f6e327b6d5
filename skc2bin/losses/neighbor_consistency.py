"""Neighbour consistency: SCAN's clustering term (Van Gansbeke et al., 2020).

``-mean_i log <p_i, p_j(i)>`` between a sample's soft assignment and that of
one of its nearest neighbours in the learned representation; the loss of
skc2bin's refinement phase (:mod:`skc2bin.training.refine`).
"""

import torch

__all__ = ["neighbor_consistency_loss"]


def neighbor_consistency_loss(assign, assign_neighbor, eps=1e-8):
    """SCAN's consistency term ``-mean_i log <p_i, p_j(i)>``.

    Zero when every sample and its neighbour are put into the same cluster
    with certainty; ``log k`` when both are uniform over ``k`` clusters.

    Parameters
    ----------
    assign, assign_neighbor : Tensor of shape (n_samples, n_clusters)
        Soft assignments (rows sum to one) of samples and of one neighbour
        each. Gradients flow into both.
    eps : float, default=1e-8
        Added inside the logarithm.

    Returns
    -------
    loss : scalar Tensor
    """
    inner = (assign * assign_neighbor).sum(dim=1)
    return -torch.log(inner + eps).mean()
