"""Building the online network from the estimator's parameters."""

import copy

import torch

from .backbones import build_backbone
from .model import C2BINNetwork

__all__ = ["build_network"]


def build_network(params, sample_shape, n_clusters, preprocessor, seed):
    """The online network for inputs of ``sample_shape``, as ``params`` say.

    Parameters
    ----------
    params : dict
        The estimator's parameters (``backbone``, ``representation_size``,
        ``projection_size``, ``hidden_size``, ``n_init``).
    sample_shape : tuple of int
        ``(n_features,)`` or ``(channels, height, width)``.
    n_clusters : tuple of int
        One scale per entry.
    preprocessor : skc2bin.preprocessing.Preprocessor
    seed : int
        Seeds the weight initialisation.

    Returns
    -------
    network : C2BINNetwork
        ``network.rep_dim`` is the width of its representation.

    Notes
    -----
    A backbone module in ``params`` is deep-copied, never modified. Weight
    initialisation draws from torch's global generator (modules take no
    generator argument): it is seeded inside ``fork_rng``, which restores
    the caller's global random state on exit.
    """
    backbone = params["backbone"]
    if isinstance(backbone, torch.nn.Module):
        backbone = copy.deepcopy(backbone)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        backbone, rep_dim = build_backbone(
            backbone, sample_shape, params["representation_size"], params["hidden_size"]
        )
        return C2BINNetwork(
            backbone, rep_dim, params["projection_size"], params["hidden_size"], n_clusters,
            preprocessor, n_init=params["n_init"],
        )
