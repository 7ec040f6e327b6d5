"""The online and target networks of C2BIN."""

import copy

import torch
from torch import nn

from .heads import ClusterHead, MLPHead

__all__ = ["C2BINNetwork", "TargetNetwork", "TwoViewForward"]


class TargetNetwork(nn.Module):
    """Target ``g_xi(f_xi(.))``: copies of the online backbone and projector.

    Never touched by the optimizer; moved by :func:`skc2bin.ema.ema_update`.
    """

    def __init__(self, backbone, projector):
        super().__init__()
        self.backbone = backbone
        self.projector = projector
        self.requires_grad_(False)

    @classmethod
    def from_online(cls, online):
        """A frozen deep copy of ``online``'s backbone and projector."""
        return cls(copy.deepcopy(online.backbone), copy.deepcopy(online.projector))

    def forward(self, x):
        return self.projector(self.backbone(x))


class C2BINNetwork(nn.Module):
    """Online network: backbone, projector, predictor and one cluster head per scale.

    Parameters
    ----------
    backbone : torch.nn.Module
        Maps preprocessed inputs to representations of width ``rep_dim``.
    rep_dim : int
        Width of the backbone output ``y``.
    projection_dim : int
        Width ``p`` of the projector and predictor outputs.
    hidden_dim : int
        Hidden width of the projector and predictor.
    n_clusters : sequence of int
        One scale per entry.
    preprocessor : torch.nn.Module
        Maps raw batches to network inputs (normalisation learned in fit);
        held here so that device moves and pickling cover it.
    n_init : int, default=1
        Cluster heads per scale, from different random initialisations, all
        trained together; :meth:`select_heads` picks one per scale for
        inference (IIC's sub-heads).

    Attributes
    ----------
    rep_dim : int
        Width of the representation (what ``transform`` returns).
    heads : torch.nn.ModuleList
        ``n_init`` heads per scale, scale by scale.
    selected : Tensor of shape (n_scales,)
        Index in ``heads`` of the head each scale uses for inference (a
        buffer, so it moves and persists with the weights).
    """

    def __init__(self, backbone, rep_dim, projection_dim, hidden_dim, n_clusters, preprocessor, n_init=1):
        super().__init__()
        self.preprocessor = preprocessor
        self.backbone = backbone
        self.rep_dim = int(rep_dim)
        self.projector = MLPHead(rep_dim, hidden_dim, projection_dim)
        self.predictor = MLPHead(projection_dim, hidden_dim, projection_dim)
        self.n_init = n_init
        self.heads = nn.ModuleList([ClusterHead(rep_dim, k) for k in n_clusters for _ in range(n_init)])
        self.register_buffer("selected", torch.arange(len(n_clusters)) * n_init)

    @torch.no_grad()
    def select_heads(self, head_losses):
        """Keep, for every scale, the head with the lowest loss.

        Parameters
        ----------
        head_losses : Tensor of shape (len(heads),)
            Cluster loss of every head (lower is better), in ``heads`` order.
        """
        losses = torch.as_tensor(head_losses, dtype=torch.float64).view(-1, self.n_init)
        best = losses.argmin(dim=1) + torch.arange(len(losses)) * self.n_init
        self.selected.copy_(best.to(self.selected.device))

    def online_target_pair(self):
        """Backbone and projector, in :class:`TargetNetwork`'s parameter order."""
        return nn.ModuleList([self.backbone, self.projector])

    def views_forward(self, view):
        """Training pass on one augmented, preprocessed view.

        Returns
        -------
        prediction : Tensor (n, p)
            ``q(g(f(view)))``.
        assignments : list of Tensor (n, k)
            Softmax output of every head (all ``n_init`` per scale) on ``f(view)``.
        """
        y = self.backbone(view)
        prediction = self.predictor(self.projector(y))
        return prediction, [head(y) for head in self.heads]

    def forward(self, x):
        """Inference on a raw batch: the representation and the selected head's
        probabilities at every scale."""
        y = self.backbone(self.preprocessor(x))
        return (y, *[self.heads[i](y) for i in self.selected.tolist()])


class TwoViewForward(nn.Module):
    """The online network's training pass on both views, as one ``forward``.

    Data-parallel training wraps this module in
    :class:`~torch.nn.parallel.DistributedDataParallel`, which synchronises
    gradients only for what runs through its ``forward`` (calling
    ``online.views_forward`` on a wrapped model would bypass it silently).
    Each view still passes the online network separately, so BatchNorm
    statistics stay per view, as in BYOL. Holds no parameters of its own:
    ``online``'s are trained.

    Parameters
    ----------
    online : C2BINNetwork
    """

    def __init__(self, online):
        super().__init__()
        self.online = online

    def forward(self, view1, view2):
        """``((prediction, assignments) of view 1, (prediction, assignments) of view 2)``,
        each as :meth:`C2BINNetwork.views_forward` returns it."""
        return self.online.views_forward(view1), self.online.views_forward(view2)
