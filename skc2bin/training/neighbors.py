"""Neighbours for the refinement phase (``docs/method.md``, "Refinement phase"): where each
training sample's nearest neighbours are mined, and how.

* :func:`mine_neighbors` — the ``k`` nearest rows by cosine similarity (the learned
  representation) or Euclidean distance (standardised inputs), brute force in chunks;
* :func:`laplacian_scores` and :func:`weigh_inputs` — feature vectors weighted by how much the
  representation's neighbours share each column (``refine_space='weighted-input'``);
* :func:`resolve_refine_space` and :data:`SPACE_METRICS` — the estimator's ``refine_space``.

Pure functions of tensors; :mod:`~skc2bin.training.refine` runs them.
"""

import math

import torch

__all__ = ["mine_neighbors", "laplacian_scores", "weigh_inputs", "resolve_refine_space", "SPACE_METRICS",
           "MIN_LAPLACIAN_SCORE"]


@torch.no_grad()
def mine_neighbors(features, n_neighbors, chunk_size=None, metric="cosine"):
    """Indices of each row's ``n_neighbors`` nearest other rows, shape
    ``(n, n_neighbors)`` (capped at ``n - 1``).

    ``metric='cosine'`` ranks by cosine similarity (the learned
    representation), ``'euclidean'`` by Euclidean distance (standardised
    input features). Brute force in chunks of rows (about 16 M
    similarities, 64 MiB, each).
    """
    if metric not in ("cosine", "euclidean"):
        raise ValueError(f"metric={metric!r}: expected 'cosine' or 'euclidean'.")
    n = len(features)
    k = max(1, min(int(n_neighbors), n - 1))
    x = features.float()
    if metric == "cosine":
        x = torch.nn.functional.normalize(x, dim=1)
    else:
        # -|a - b|^2 = 2 a.b - |b|^2 - |a|^2; the last term is the same along a row.
        half_sq_norms = 0.5 * (x * x).sum(1)
    chunk = chunk_size or max(1, min(4096, (1 << 24) // max(n, 1)))
    out = torch.empty((n, k), dtype=torch.long, device=x.device)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        sim = x[start:stop] @ x.t()
        if metric == "euclidean":
            sim -= half_sq_norms
        rows = torch.arange(stop - start, device=x.device)
        sim[rows, rows + start] = -math.inf  # never the row itself
        out[start:stop] = sim.topk(k, dim=1).indices
    return out


#: The metric each neighbour space is mined with (:func:`mine_neighbors`):
#: the representation by direction, standardised inputs (weighted or not) by
#: distance.
SPACE_METRICS = {"representation": "cosine", "input": "euclidean", "weighted-input": "euclidean"}


#: The smallest Laplacian score :func:`weigh_inputs` lets a column have: a
#: column nearly constant among neighbours weighs at most 1,000 times one that
#: the neighbour graph ignores.
MIN_LAPLACIAN_SCORE = 1e-3


@torch.no_grad()
def laplacian_scores(rows, neighbors, chunk_size=None):
    """Each column's Laplacian score on a neighbour graph, in the spirit of He,
    Cai and Niyogi (2005): the mean of ``(x_if - x_jf)^2`` over the pairs
    ``(i, j in neighbors[i])``, divided by twice the column's variance.

    About 1 for a column that the graph ignores (neighbours differ in it as
    much as random pairs do), near 0 for a column nearly constant among
    neighbours. A constant column scores 0.

    Returns
    -------
    scores : Tensor of shape (n_columns,)
    """
    rows = rows.float()
    total = rows.new_zeros(rows.shape[1])
    # Chunks of rows whose neighbour differences hold about 16 M values (64 MiB).
    chunk_size = chunk_size or max(1, (1 << 24) // max(1, neighbors.shape[1] * rows.shape[1]))
    for start in range(0, len(rows), chunk_size):
        stop = start + chunk_size
        total += (rows[start:stop, None, :] - rows[neighbors[start:stop]]).pow(2).sum((0, 1))
    pair_mean = total / neighbors.numel()
    variance = rows.var(0, unbiased=False)
    return torch.where(variance > 0, pair_mean / (2 * variance.clamp_min(1e-30)), torch.zeros_like(variance))


@torch.no_grad()
def weigh_inputs(inputs, features, n_neighbors):
    """``inputs`` with each column multiplied by ``(1 / score) ** 0.5``, its
    Laplacian score (:func:`laplacian_scores`, at least
    :data:`MIN_LAPLACIAN_SCORE`) on the graph of each row's ``n_neighbors``
    nearest rows of ``features`` by cosine similarity.

    The learned representation tells which input features its neighbours
    share; Euclidean distance in the reweighted inputs then keeps the input's
    geometry without the features the representation ignores (pure noise
    features score about 1, informative ones far less).
    """
    scores = laplacian_scores(inputs, mine_neighbors(features, n_neighbors))
    return inputs * scores.clamp_min(MIN_LAPLACIAN_SCORE).rsqrt()


def resolve_refine_space(space, is_image):
    """Where the refinement mines neighbours: ``'auto'`` is ``'representation'``
    for images and ``'weighted-input'`` for feature vectors; the others stay
    as they are."""
    if space == "auto":
        return "representation" if is_image else "weighted-input"
    if space not in SPACE_METRICS:
        raise ValueError(f"refine_space={space!r}: expected 'auto', 'representation', 'input' or 'weighted-input'.")
    return space
