"""Contrasting clusters: column-wise NT-Xent (Contrastive Clustering, Li et al., 2021).

The columns of the two views' N×k assignment matrices are cluster features;
column j of view 1 and column j of view 2 are positives, the other ``2k - 2``
columns negatives.
"""

import torch
import torch.nn.functional as F

__all__ = ["cluster_contrast_loss"]


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
