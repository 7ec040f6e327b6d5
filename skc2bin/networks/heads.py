"""Small composable heads: the BYOL projector/predictor and cluster heads."""

import torch
from torch import nn

from .blocks import mlp_layers

__all__ = ["MLPHead", "ClusterHead"]


class MLPHead(nn.Sequential):
    """``Linear -> BatchNorm -> ReLU -> Linear``: BYOL's projector and predictor.

    Parameters
    ----------
    in_dim, hidden_dim, out_dim : int
        Input, hidden and output widths.
    """

    def __init__(self, in_dim, hidden_dim, out_dim):
        super().__init__(*mlp_layers([in_dim, hidden_dim, out_dim]))


class ClusterHead(nn.Module):
    """Soft cluster assignments ``softmax(s · W2 relu(BN(W1 y)))``.

    Contrastive Clustering's head (an MLP on the representation followed by a
    softmax) with two changes measured on digits and blobs
    (``docs/method.md``): BatchNorm in the hidden layer, and logits scaled by
    ``logit_scale`` so that assignments leave the uniform start quickly. With
    CC's plain head the column contrast barely moved in a few hundred steps
    (near-uniform assignments, ACC 0.80–0.89 on digits); with both changes
    ACC was 0.99 on three seeds.

    Parameters
    ----------
    in_dim : int
        Width of the representation ``y``; also the hidden width.
    n_clusters : int
        Number of clusters ``k`` of this head.
    logit_scale : float, default=3.0
        Multiplies the logits before the softmax.

    Notes
    -----
    :meth:`forward` returns probabilities (rows sum to one), which is what the
    column-wise contrast and the entropy term need.
    """

    def __init__(self, in_dim, n_clusters, logit_scale=3.0):
        super().__init__()
        self.n_clusters = n_clusters
        self.logit_scale = logit_scale
        self.mlp = nn.Sequential(*mlp_layers([in_dim, in_dim, n_clusters]))

    def forward(self, y):
        return torch.softmax(self.mlp(y) * self.logit_scale, dim=1)
