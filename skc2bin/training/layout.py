"""A UMAP-style layout of a neighbour graph, clustered: a starting point for the refinement.

For feature vectors the refinement's heads often settle on a partition that a
graph layout avoids: on digits as 64 vectors UMAP (10 dimensions,
``min_dist=0``) + a Gaussian mixture of the standardised input reaches ACC
0.94 where the refined heads reach 0.84-0.93 (``docs/benchmarks.md``, "A
layout of the neighbour graph as a starting point"). This module draws that
partition as UMAP (McInnes, Healy and Melville, 2018) does, from rows the
refinement passes (the standardised input):

1. :func:`fuzzy_graph`: each sample's ``n_neighbors`` nearest rows, weighted
   by UMAP's membership strength ``exp(-(d - rho_i) / sigma_i)`` (``rho_i``
   the distance to the nearest, ``sigma_i`` set so that the weights sum to
   ``log2(n_neighbors)``), made symmetric by the fuzzy union
   ``A + A^T - A * A^T``;
2. :func:`graph_layout`: a spectral start, then UMAP's stochastic gradient
   steps (edges sampled in proportion to their weight, pulled together
   along the curve ``1 / (1 + a d^(2b))``; 5 random samples pushed away per
   edge; the step size falling linearly to 0);
3. :func:`layout_partition`: a Gaussian mixture (or k-means) of that layout (the layouts
   do not depend on the number of clusters: every scale reuses them).

Written here rather than imported from umap-learn on purpose: that package
brings numba and pynndescent, whose just-in-time compilation costs seconds in
every new process (more than a small fit takes), while the layout needs only
the neighbours mined here and a few tensor operations, on the CPU or a GPU.
All edges that fire in an epoch move at once (not one after another as in
umap-learn); on digits as vectors the partitions agree with umap-learn's
(``docs/benchmarks.md``).
"""

import math
import warnings

import numpy as np
import torch

__all__ = ["fuzzy_graph", "graph_layout", "layout_partition", "CURVE_A", "CURVE_B"]

#: UMAP's low-dimensional similarity ``1 / (1 + a d^(2b))`` for ``min_dist=0``,
#: ``spread=1`` (``umap.umap_.find_ab_params(1.0, 0.0)``): tight clumps, what
#: a clusterer of the layout wants.
CURVE_A, CURVE_B = 1.8956, 0.8006


@torch.no_grad()
def fuzzy_graph(rows, neighbors):
    """UMAP's fuzzy neighbour graph of ``rows`` over their mined ``neighbors``.

    Parameters
    ----------
    rows : Tensor of shape (n_samples, n_features)
        The space the neighbours were mined in (Euclidean distances).
    neighbors : LongTensor of shape (n_samples, n_neighbors)

    Returns
    -------
    graph : scipy.sparse.coo_matrix of shape (n_samples, n_samples)
        Symmetric, weights in [0, 1].
    """
    from scipy import sparse

    rows = rows.double()
    n, k = neighbors.shape
    chunk = max(1, (1 << 22) // max(1, k * rows.shape[1]))  # about 4 M differences (32 MiB) at a time
    distances = torch.cat([(rows[start:start + chunk, None, :] - rows[neighbors[start:start + chunk]]).norm(dim=2)
                           for start in range(0, n, chunk)])
    gaps = (distances - distances.min(1, keepdim=True).values).clamp_min(0)
    target = math.log2(max(k, 2))
    low = torch.zeros(n, 1, dtype=torch.float64, device=rows.device)
    high = torch.full_like(low, math.inf)
    sigma = torch.ones_like(low)
    for _ in range(64):  # bisection on sigma, per row: the weights' sum rises with it
        total = torch.exp(-gaps / sigma).sum(1, keepdim=True)
        low = torch.where(total < target, sigma, low)
        high = torch.where(total < target, high, sigma)
        sigma = torch.where(torch.isinf(high), sigma * 2, (low + high) / 2)
    weights = torch.exp(-gaps / sigma).cpu().numpy().ravel()
    directed = sparse.csr_matrix((weights, (np.repeat(np.arange(n), k), neighbors.cpu().numpy().ravel())),
                                 shape=(n, n))
    return (directed + directed.T - directed.multiply(directed.T)).tocoo()


@torch.no_grad()
def graph_layout(graph, n_components=10, epochs=500, negatives=5, generator=None, device=None):
    """A layout of ``graph`` (:func:`fuzzy_graph`) in ``n_components`` dimensions.

    Starts from the graph's spectral embedding (scikit-learn's
    :func:`~sklearn.manifold.spectral_embedding`) scaled to [0, 10], then
    takes ``epochs`` of UMAP's gradient steps: in each, every edge fires with
    probability ``weight / max weight``; a fired edge ``(i, j)`` pulls ``i``
    and ``j`` together and pushes ``i`` from ``negatives`` random samples;
    each coordinate's step is clipped to ±4 and scaled by ``1 - epoch /
    epochs``.

    Returns
    -------
    layout : Tensor of shape (n_samples, n_components), float32, on ``device``

    Raises
    ------
    ValueError
        Fewer than ``n_components + 2`` samples: the spectral start needs more.
    """
    from sklearn.manifold import spectral_embedding

    device = torch.device("cpu") if device is None else torch.device(device)
    n = graph.shape[0]
    if n < n_components + 2:
        raise ValueError(f"A layout in {n_components} dimensions needs at least {n_components + 2} samples, "
                         f"got {n}: lower n_components.")
    seed = drawn_seed(generator)
    with warnings.catch_warnings():
        # A graph in several pieces is fine: the pieces drift apart, as in umap-learn.
        warnings.filterwarnings("ignore", message="Graph is not fully connected")
        start = spectral_embedding(graph, n_components=n_components, random_state=seed, drop_first=True)
    start = 10 * (start - start.min(0)) / np.maximum(start.max(0) - start.min(0), 1e-12)
    y = torch.as_tensor(start, dtype=torch.float32, device=device)
    heads = torch.as_tensor(graph.row, dtype=torch.long, device=device)
    tails = torch.as_tensor(graph.col, dtype=torch.long, device=device)
    weights = torch.as_tensor(graph.data, dtype=torch.float32)
    fire_chance = weights / weights.max()  # on the CPU, with the draws
    # Draws on the CPU from ``generator``'s seed (its device may differ), moved once per epoch.
    draw = torch.Generator().manual_seed(seed)
    a, b = CURVE_A, CURVE_B
    for epoch in range(epochs):
        rate = 1.0 - epoch / epochs
        fired = (torch.rand(len(weights), generator=draw) < fire_chance).to(device)
        i, j = heads[fired], tails[fired]
        others = torch.randint(0, n, (len(i), negatives), generator=draw).to(device)
        anchor = y[i]
        diff = torch.cat([(anchor - y[j])[:, None, :], anchor[:, None, :] - y[others]], dim=1)
        d2 = diff.square().sum(2, keepdim=True).clamp_min(1e-12)
        power = d2.pow(b)
        coef = 2 * b / ((a * power + 1) * torch.cat([-d2[:, :1] / (a * power[:, :1]), 0.001 + d2[:, 1:]], dim=1))
        # A sample drawn as its own negative, or at the very place of another, has diff 0: no step.
        step = (coef * diff).clamp_(-4, 4)
        update = torch.zeros_like(y).index_add_(0, i, step.sum(1)).index_add_(0, j, step[:, 0], alpha=-1)
        # Every fired edge moves at once, so a sample's steps add up: clipped like one step, or the
        # samples of a dense region fly apart in the first epochs (umap-learn moves them one by one).
        y += update.clamp_(-4, 4).mul_(rate)
    return y


def layout_partition(layout, n_clusters, generator=None, method="gmm", n_init=3):
    """A partition of the samples of ``layout`` (:func:`graph_layout`) into
    ``n_clusters`` parts: a Gaussian mixture (``method='gmm'``, full
    covariances) or k-means (``'kmeans'``), the best of ``n_init`` starts
    seeded from ``generator``.

    Returns
    -------
    labels : ndarray of shape (n_samples,), or None where there are fewer
        than ``2 * n_clusters`` samples: the start is optional.
    """
    from sklearn.cluster import KMeans
    from sklearn.mixture import GaussianMixture

    if method not in ("gmm", "kmeans"):
        raise ValueError(f"method={method!r}: expected 'gmm' or 'kmeans'.")
    if len(layout) < 2 * n_clusters:
        return None
    model = (GaussianMixture if method == "gmm" else KMeans)(n_clusters, n_init=n_init,
                                                             random_state=drawn_seed(generator))
    return model.fit_predict(layout.cpu().numpy() if torch.is_tensor(layout) else layout)


def drawn_seed(generator):
    """A seed for numpy-seeded code (scikit-learn), drawn from ``generator`` (any device; None: torch's global one).
    The refinement's steps draw theirs with it too."""
    device = generator.device if generator is not None else None
    return int(torch.randint(0, 2**31 - 1, (1,), generator=generator, device=device))
