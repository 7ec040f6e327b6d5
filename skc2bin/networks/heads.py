"""Small composable heads: the BYOL projector/predictor and cluster heads."""

import torch
from torch import nn

__all__ = ["MLPHead", "ClusterHead"]


class MLPHead(nn.Sequential):
    """``Linear -> BatchNorm -> ReLU -> Linear``: BYOL's projector and predictor.

    Parameters
    ----------
    in_dim, hidden_dim, out_dim : int
        Input, hidden and output widths.
    """

    def __init__(self, in_dim, hidden_dim, out_dim):
        super().__init__(
            nn.Linear(in_dim, hidden_dim),
            nn.BatchNorm1d(hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, out_dim),
        )


class ClusterHead(nn.Module):
    """Soft cluster assignments ``softmax(W2 relu(W1 y))`` (Contrastive Clustering).

    Parameters
    ----------
    in_dim : int
        Width of the representation ``y``; also the hidden width.
    n_clusters : int
        Number of clusters ``k`` of this head.

    Notes
    -----
    :meth:`forward` returns probabilities (rows sum to one), which is what the
    column-wise contrast and the entropy term need.
    """

    def __init__(self, in_dim, n_clusters):
        super().__init__()
        self.n_clusters = n_clusters
        self.mlp = nn.Sequential(
            nn.Linear(in_dim, in_dim),
            nn.ReLU(inplace=True),
            nn.Linear(in_dim, n_clusters),
        )

    def forward(self, y):
        return torch.softmax(self.mlp(y), dim=1)
