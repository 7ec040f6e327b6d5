"""The C2BIN objective as pure functions.

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
"""

import math

import torch
import torch.nn.functional as F

__all__ = [
    "byol_loss",
    "instance_loss",
    "cluster_contrast_loss",
    "cluster_entropy_loss",
    "c2bin_loss",
]


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


def cluster_contrast_loss(assign1, assign2, temperature=1.0):
    """Column-wise NT-Xent between two views' cluster assignments.

    Parameters
    ----------
    assign1, assign2 : Tensor of shape (n_samples, n_clusters)
        Soft assignments (rows sum to one) of two augmented views of the same
        samples.
    temperature : float, default=1.0
        Cosine similarities are divided by it before the softmax.

    Returns
    -------
    loss : scalar Tensor
        Mean over the ``2k`` columns of ``-log softmax`` of the positive
        column among the other ``2k - 1``. With ``k`` identical columns it is
        ``log(2k - 1)``.
    """
    k = assign1.shape[1]
    # Columns as rows: (2k, n), each L2-normalised (a zero column stays zero).
    columns = F.normalize(torch.cat([assign1.t(), assign2.t()], dim=0), dim=1)
    logits = columns @ columns.t() / temperature
    # Exclude each column's similarity with itself.
    self_mask = torch.eye(2 * k, dtype=torch.bool, device=logits.device)
    logits = logits.masked_fill(self_mask, float("-inf"))
    positives = torch.cat(
        [torch.arange(k, 2 * k), torch.arange(0, k)]
    ).to(logits.device)
    return F.cross_entropy(logits, positives)


def _entropy(p):
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
        total = total + (log_k - _entropy(assign.mean(dim=0)))
    return total


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
):
    """Total C2BIN loss of one batch over any number of cluster heads.

    ``L = L_inst + cluster_weight · mean_heads(L_contrast + entropy_weight ·
    L_ent)``. Heads are averaged by default, so adding a scale does not
    change the balance between the instance and the cluster terms;
    ``combine_heads='sum'`` sums them (the comparison is still to be run: ``docs/method.md``).

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
