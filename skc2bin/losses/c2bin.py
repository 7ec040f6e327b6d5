"""The C2BIN objective: the weighted total over several cluster heads, and
the criterion module the training loop calls."""

import torch
from torch import nn

from .byol import instance_loss
from .cluster_contrast import cluster_contrast_loss
from .cluster_entropy import cluster_entropy_loss

__all__ = ["c2bin_loss", "C2BINCriterion"]


def c2bin_loss(
    pred1,
    pred2,
    target1,
    target2,
    assigns1,
    assigns2,
    *,
    temperature=1.0,
    cluster_weight=1.0,
    entropy_weight=1.0,
    combine_heads="mean",
    gather=None,
):
    """Total C2BIN loss of one batch over any number of cluster heads.

    ``L = L_inst + cluster_weight · mean_heads(L_contrast + entropy_weight ·
    L_ent)``. Heads are averaged by default, so adding a scale does not
    change the balance between the instance and the cluster terms;
    ``combine_heads='sum'`` sums them (averaging measured better:
    ``benchmarks/tunables.py``, ``docs/method.md``).

    Parameters
    ----------
    pred1, pred2 : Tensor of shape (n_samples, dim)
        Online predictions of view 1 and view 2.
    target1, target2 : Tensor of shape (n_samples, dim)
        Target projections of view 1 and view 2.
    assigns1, assigns2 : sequence of Tensor of shape (n_samples, k_h)
        Soft assignments of each head for view 1 and view 2.
    temperature, cluster_weight, entropy_weight : float
        See :func:`cluster_contrast_loss` and the formula above.
    combine_heads : {'mean', 'sum'}, default='mean'
    gather : callable, optional
        In data-parallel training, maps a tensor of this process's rows to the
        rows of every process (:func:`skc2bin.training.distributed.gather_rows`,
        differentiable). The cluster contrast and the entropy term are
        batch-wide, so they are computed on the gathered assignments of the
        global batch; the instance term is per sample and stays local (DDP
        averages its gradients over the processes). None: one process holds
        the whole batch.

    Returns
    -------
    total : scalar Tensor
    parts : dict of str to Tensor
        ``'instance'``, ``'contrast'`` and ``'entropy'`` (the latter two
        averaged over heads) as scalars, and ``'heads'``, every head's
        ``L_contrast + entropy_weight · L_ent`` as a vector; all detached,
        for logging and for choosing among a scale's heads.
    """
    if len(assigns1) != len(assigns2) or not assigns1:
        raise ValueError("assigns1 and assigns2 need one entry per head.")
    inst = instance_loss(pred1, pred2, target1, target2)
    if combine_heads not in ("mean", "sum"):
        raise ValueError(f"combine_heads must be 'mean' or 'sum', got {combine_heads!r}.")
    if gather is not None:
        assigns1, assigns2 = _gathered(assigns1, assigns2, gather)
    contrasts = torch.stack(
        [cluster_contrast_loss(a1, a2, temperature) for a1, a2 in zip(assigns1, assigns2)]
    )
    entropies = torch.stack([cluster_entropy_loss(a1, a2) for a1, a2 in zip(assigns1, assigns2)])
    contrast, entropy = contrasts.mean(), entropies.mean()
    scale = len(assigns1) if combine_heads == "sum" else 1
    total = inst + cluster_weight * scale * (contrast + entropy_weight * entropy)
    parts = {
        "instance": inst.detach(),
        "contrast": contrast.detach(),
        "entropy": entropy.detach(),
        "heads": (contrasts + entropy_weight * entropies).detach(),
    }
    return total, parts


def _gathered(assigns1, assigns2, gather):
    """Every head's assignments of both views, gathered in one collective."""
    widths = [a.shape[1] for a in assigns1] + [a.shape[1] for a in assigns2]
    rows = gather(torch.cat([*assigns1, *assigns2], dim=1))
    parts = rows.split(widths, dim=1)
    return list(parts[: len(assigns1)]), list(parts[len(assigns1):])


class C2BINCriterion(nn.Module):
    """The C2BIN loss (:func:`c2bin_loss`) with its weights, as the skorch
    net's criterion."""

    def __init__(self, temperature=1.0, cluster_weight=1.0, entropy_weight=1.0, combine_heads="mean"):
        super().__init__()
        self.temperature = temperature
        self.cluster_weight = cluster_weight
        self.entropy_weight = entropy_weight
        self.combine_heads = combine_heads

    def forward(self, pred1, pred2, target1, target2, assigns1, assigns2, gather=None):
        return c2bin_loss(
            pred1, pred2, target1, target2, assigns1, assigns2,
            temperature=self.temperature,
            cluster_weight=self.cluster_weight,
            entropy_weight=self.entropy_weight,
            combine_heads=self.combine_heads,
            gather=gather,
        )
