"""Bootstrapping instances: BYOL's regression loss (Grill et al., 2020).

``2 - 2 cos(p, stopgrad(z))`` between the online prediction of one view and
the target projection of the other, symmetrised over the two views.
"""

import torch.nn.functional as F

__all__ = ["byol_loss", "instance_loss"]


def byol_loss(prediction, target):
    """BYOL's regression loss ``2 - 2 cos(p, stopgrad(z))`` per sample.

    Parameters
    ----------
    prediction : Tensor of shape (n_samples, dim)
        Output of the online predictor.
    target : Tensor of shape (n_samples, dim)
        Target projection; no gradient flows into it.

    Returns
    -------
    loss : Tensor of shape (n_samples,)
        In ``[0, 4]``: 0 when the vectors point the same way, 2 when they are
        orthogonal, 4 when they are opposite.
    """
    cos = F.cosine_similarity(prediction, target.detach(), dim=-1)
    return 2.0 - 2.0 * cos


def instance_loss(pred1, pred2, target1, target2):
    """Symmetric BYOL loss of two views, averaged over the batch.

    ``mean_i[ l(p1_i, z2_i) + l(p2_i, z1_i) ]`` where ``p`` are the online
    predictions and ``z`` the target projections of views 1 and 2.

    Returns
    -------
    loss : scalar Tensor in ``[0, 8]``.
    """
    per_sample = byol_loss(pred1, target2) + byol_loss(pred2, target1)
    return per_sample.mean()
