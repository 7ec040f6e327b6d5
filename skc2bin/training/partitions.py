"""Partitions and neighbour graphs: the maths the refinement phase judges and builds candidates
with (``docs/method.md``, "Refinement phase").

Every function takes a partition (one cluster number per sample) and/or mined neighbours (an
``(n_samples, n_neighbors)`` array of indices, :func:`~skc2bin.training.neighbors.mine_neighbors`)
and returns numbers or new partitions; none trains anything.

* judging a partition: :func:`neighbor_agreement` (share of neighbour pairs kept together),
  :func:`cluster_cut_shares` and :func:`mean_cluster_cut` (per cluster, the share cut),
  :func:`smallest_cluster_share` (is a cluster a fragment?), :func:`share_changed`;
* drawing one: :func:`graph_partition` (spectral clustering of the neighbour graph);
* editing one: :func:`cluster_links`, :func:`linked_pairs` and :func:`merged_partition` (the most
  linked clusters), :func:`crossed_partitions` (re-pairing two clusters' halves),
  :func:`merged_split` and :func:`bisection_cut` (the merge-and-split study).
"""

import warnings

import numpy as np
import torch

from ..metrics import clustering_accuracy

__all__ = ["graph_partition", "smallest_cluster_share", "cluster_cut_shares", "mean_cluster_cut", "share_changed",
           "neighbor_agreement", "cluster_links", "linked_pairs", "merged_partition", "crossed_partitions",
           "merged_split", "bisection_cut"]


def graph_partition(neighbors, n_clusters, seed=0):
    """Spectral partition of the mined-neighbour graph into ``n_clusters`` parts.

    The graph joins each sample to its mined neighbours (edge weight 1, made
    symmetric as ``(A + A^T) / 2``). scikit-learn's
    :class:`~sklearn.cluster.SpectralClustering` (normalised cut, k-means on
    the spectral embedding) partitions it: unlike C2BIN's heads it has no
    size prior, so a large class can stay whole.

    Parameters
    ----------
    neighbors : LongTensor or ndarray of shape (n_samples, n_neighbors)
    n_clusters : int
    seed : int, default=0

    Returns
    -------
    labels : ndarray of shape (n_samples,), or None where the graph is too
        small for ``n_clusters`` parts (fewer than ``2 * n_clusters`` samples)
        or the eigensolver did not converge: the candidate is optional, and a
        fit goes on without it.
    """
    from scipy import sparse
    from scipy.sparse.linalg import ArpackNoConvergence
    from sklearn.cluster import SpectralClustering

    nb = np.asarray(neighbors.cpu() if torch.is_tensor(neighbors) else neighbors)
    n, m = nb.shape
    if n < 2 * n_clusters:
        return None
    adjacency = sparse.csr_matrix((np.ones(n * m), (np.repeat(np.arange(n), m), nb.ravel())), shape=(n, n))
    adjacency = 0.5 * (adjacency + adjacency.T)
    try:
        with warnings.catch_warnings():
            # A graph in several pieces is fine: the pieces become clusters.
            warnings.filterwarnings("ignore", message="Graph is not fully connected")
            return SpectralClustering(n_clusters, affinity="precomputed", random_state=seed).fit_predict(adjacency)
    except (ArpackNoConvergence, np.linalg.LinAlgError):
        return None


def smallest_cluster_share(labels, n_clusters):
    """Size of the smallest of ``n_clusters`` clusters (empty ones included) × k / n.

    1 for equal sizes, 0 when a cluster is empty; ``refine_scales`` takes a
    partition whose smallest cluster holds less than ``floor`` (the size
    prior's floor) for a fragment, not a class.
    """
    labels = torch.as_tensor(labels).reshape(-1).long().cpu()
    counts = torch.bincount(labels, minlength=n_clusters)
    return float(counts.min()) * n_clusters / max(len(labels), 1)


def cluster_cut_shares(labels, neighbors, n_clusters):
    """Per cluster, the share of its (sample, mined neighbour) pairs whose
    neighbour lies in another cluster (NaN for an empty cluster).

    Their mean over the non-empty clusters is the normalised cut of the
    partition divided by the number of clusters: the criterion spectral
    clustering minimises. Unlike the share of all pairs cut
    (``1 - neighbor_agreement``), where every sample counts once and a
    giant cluster that swallows its neighbours' classes looks consistent,
    here every cluster counts once."""
    neighbors = torch.as_tensor(neighbors)
    labels = torch.as_tensor(labels, device=neighbors.device).reshape(-1).long()
    cut = (labels[:, None] != labels[neighbors]).double().sum(1)
    pairs = torch.bincount(labels, minlength=n_clusters).double() * neighbors.shape[1]
    return torch.bincount(labels, weights=cut, minlength=n_clusters) / pairs


def mean_cluster_cut(labels, neighbors, n_clusters):
    """Mean of :func:`cluster_cut_shares` over the non-empty clusters."""
    shares = cluster_cut_shares(labels, neighbors, n_clusters)
    return float(shares[~torch.isnan(shares)].mean())


def share_changed(before, after):
    """Share of the samples whose cluster differs between two partitions of
    them, after the best one-to-one map of their cluster numbers
    (``1 -`` :func:`~skc2bin.metrics.clustering_accuracy`); tensors or arrays."""
    as_array = lambda p: p.cpu().numpy() if torch.is_tensor(p) else np.asarray(p)  # noqa: E731
    return 1.0 - clustering_accuracy(as_array(before), as_array(after))


def neighbor_agreement(labels, neighbors):
    """Share of (sample, mined neighbour) pairs that fall in the same cluster
    (``neighbors``: a tensor or array of shape (n_samples, n_neighbors))."""
    neighbors = torch.as_tensor(neighbors)
    labels = torch.as_tensor(labels, device=neighbors.device).reshape(-1).long()
    return float((labels[:, None] == labels[neighbors]).double().mean())


def linked_pairs(labels, neighbors, n_clusters, top):
    """The ``top`` pairs of clusters most linked in a neighbour graph, most linked first.

    A pair ``(a, b)`` (``a < b``) is ranked by the number of (sample,
    mined neighbour) pairs that join a sample of one cluster to a sample of
    the other, in either direction, divided by the two clusters' combined
    size. Pairs with no link are left out; ties keep ``(a, b)`` order.

    Parameters
    ----------
    labels : array-like of shape (n_samples,)
        Cluster of each sample, in ``range(n_clusters)``.
    neighbors : LongTensor or ndarray of shape (n_samples, n_neighbors)
    n_clusters, top : int

    Returns
    -------
    pairs : list of (int, int)
    """
    _, links, sizes = cluster_links(labels, neighbors, n_clusters)
    ranked = sorted(((-links[a, b] / (sizes[a] + sizes[b]), a, b) for a in range(n_clusters)
                     for b in range(a + 1, n_clusters) if links[a, b] > 0))
    return [(int(a), int(b)) for _, a, b in ranked[:top]]


def merged_partition(labels, neighbors, n_clusters, target):
    """``labels`` with its most linked clusters merged, one pair at a time,
    until at most ``target`` non-empty clusters remain.

    Each merge joins the pair ranked first by :func:`linked_pairs`: the most
    (sample, mined neighbour) pairs between the two clusters, divided by
    their combined size; ties take the lowest ``(a, b)``. The merged cluster
    keeps ``a``'s number. Used by the refinement's gate to read a partition
    finer than :data:`~skc2bin.training.refine.GATE_CLUSTERS` at that granularity: a finer partition
    cuts more neighbour pairs whatever the data (``docs/benchmarks.md``,
    "The gate at other numbers of clusters"). ``labels``, ``neighbors`` and
    ``n_clusters`` as for :func:`linked_pairs`; ``target`` an int.

    Returns
    -------
    merged : ndarray of shape (n_samples,)
        Cluster numbers are those of ``labels`` (a subset of them).
    """
    labels, links, sizes = cluster_links(labels, neighbors, n_clusters)
    np.fill_diagonal(links, 0.0)
    sizes = sizes.astype(np.float64)
    into = np.arange(n_clusters)
    while np.count_nonzero(sizes) > max(int(target), 1):
        alive = np.flatnonzero(sizes)
        ranked = links[np.ix_(alive, alive)] / (sizes[alive, None] + sizes[None, alive])
        ranked[np.tril_indices(len(alive))] = -1.0  # each pair once, as (a, b) with a < b
        i, j = np.unravel_index(np.argmax(ranked), ranked.shape)
        a, b = alive[i], alive[j]
        links[a] += links[b]
        links[:, a] += links[:, b]
        links[a, a] = links[b] = links[:, b] = 0.0
        sizes[a], sizes[b] = sizes[a] + sizes[b], 0.0
        into[into == b] = a
    return into[labels]


def cluster_links(labels, neighbors, n_clusters):
    """``(labels, links, sizes)``: ``labels`` as an int64 array,
    ``links[a, b]`` the (sample, mined neighbour) pairs joining clusters ``a``
    and ``b`` in either direction (symmetric; the diagonal counts pairs
    inside a cluster twice), ``sizes`` the clusters'."""
    labels = np.asarray(torch.as_tensor(labels).cpu()).reshape(-1).astype(np.int64)
    nb = np.asarray(torch.as_tensor(neighbors).cpu())
    links = np.zeros((n_clusters, n_clusters))
    np.add.at(links, (np.repeat(labels, nb.shape[1]), labels[nb.ravel()]), 1)
    return labels, links + links.T, np.bincount(labels, minlength=n_clusters)


def crossed_partitions(labels, a, b, halves_a, halves_b):
    """The two partitions that join the halves of clusters ``a`` and ``b`` across the pair.

    ``halves_a`` (0 or 1 per member of ``a``, in sample order) splits ``a``
    in two, ``halves_b`` likewise ``b``. In both partitions half 0 of ``a``
    is cluster ``a`` and its half 1 is ``b``; the first adds half 0 of ``b``
    to ``a`` and half 1 to ``b``, the second the other way round. Every
    other sample keeps its cluster.

    Returns
    -------
    first, second : ndarray of shape (n_samples,)
    """
    labels = np.asarray(labels).reshape(-1)
    members_a, members_b = np.flatnonzero(labels == a), np.flatnonzero(labels == b)
    halves_a, halves_b = np.asarray(halves_a).astype(bool), np.asarray(halves_b).astype(bool)
    if halves_a.shape != members_a.shape or halves_b.shape != members_b.shape:
        raise ValueError("halves_a and halves_b must hold one value per member of clusters a and b.")
    out = []
    for flip in (False, True):
        new = labels.copy()
        new[members_a] = np.where(halves_a, b, a)
        new[members_b] = np.where(halves_b ^ flip, b, a)
        out.append(new)
    return tuple(out)


def merged_split(labels, a, b, c, halves_c):
    """``labels`` with cluster ``b`` merged into ``a`` and cluster ``c`` split in two: the members
    of ``c`` whose entry of ``halves_c`` (0 or 1 per member, in sample order) is 1 take the number
    ``b`` freed by the merge. Every other sample keeps its cluster.

    Returns
    -------
    partition : ndarray of shape (n_samples,)
    """
    labels = np.asarray(labels).reshape(-1)
    if len({int(a), int(b), int(c)}) < 3:
        raise ValueError(f"a, b and c must be three different clusters, got {a}, {b}, {c}.")
    members_c = np.flatnonzero(labels == c)
    halves_c = np.asarray(halves_c).astype(bool)
    if halves_c.shape != members_c.shape:
        raise ValueError("halves_c must hold one value per member of cluster c.")
    new = np.where(labels == b, a, labels)
    new[members_c[halves_c]] = b
    return new


def bisection_cut(labels, cluster, halves, nb):
    """The (sample, neighbour) pairs of ``nb`` (an array of neighbour indices per sample) inside
    ``cluster`` of ``labels`` that its ``halves`` (0 or 1 per member, in sample order) put apart."""
    members = np.flatnonzero(labels == cluster)
    side = np.zeros(len(labels), dtype=bool)
    side[members[np.asarray(halves).astype(bool)]] = True
    return float(((labels[nb] == cluster) & (side[:, None] != side[nb]))[members].sum())
