"""The maths of partitions and neighbour graphs (skc2bin.training.partitions), against
hand-computed values."""

import numpy as np
import pytest
import torch

from skc2bin.training.partitions import (
    cluster_cut_shares,
    crossed_partitions,
    graph_partition,
    linked_pairs,
    mean_cluster_cut,
    merged_partition,
    merged_split,
    neighbor_agreement,
    share_changed,
    smallest_cluster_share,
)


def test_smallest_cluster_share_hand_values():
    assert smallest_cluster_share([0, 0, 1, 1], 2) == 1.0  # equal sizes
    assert smallest_cluster_share([0, 0, 0, 1], 2) == pytest.approx(1 * 2 / 4)
    assert smallest_cluster_share([0, 0, 1, 1], 3) == 0.0  # cluster 2 is empty
    assert smallest_cluster_share(torch.tensor([2, 2, 2, 0, 1, 1]), 3) == pytest.approx(1 * 3 / 6)


def test_neighbor_agreement_hand_values():
    labels = torch.tensor([0, 0, 1, 1])
    neighbors = torch.tensor([[1, 2], [0, 2], [3, 0], [2, 1]])
    # pairs in one cluster: (0,1), (1,0), (2,3), (3,2) out of 8
    assert neighbor_agreement(labels, neighbors) == pytest.approx(0.5)
    assert neighbor_agreement(np.zeros(4, int), neighbors) == 1.0


def test_cluster_cut_shares_hand_values():

    labels = torch.tensor([0, 0, 1, 1, 1])
    neighbors = torch.tensor([[1, 2], [0, 3], [3, 4], [2, 4], [2, 0]])
    # cluster 0: 2 of its 4 pairs leave it (0->2, 1->3); cluster 1: 1 of 6 (4->0); cluster 2 is empty
    shares = cluster_cut_shares(labels, neighbors, 3)
    assert shares[:2].tolist() == pytest.approx([0.5, 1 / 6]) and torch.isnan(shares[2])
    assert mean_cluster_cut(labels, neighbors, 3) == pytest.approx((0.5 + 1 / 6) / 2)
    assert mean_cluster_cut(np.zeros(5, int), neighbors, 3) == 0.0


def _two_cliques(sizes):
    """Neighbour lists of disjoint groups, each sample's neighbours inside its group."""
    rows, start = [], 0
    for size in sizes:
        members = list(range(start, start + size))
        rows += [[m for m in members if m != i][:4] for i in members]
        start += size
    return torch.tensor(rows)


def test_graph_partition_finds_unequal_disconnected_groups():
    # One group four times the other: a size-free graph cut keeps both whole.
    neighbors = _two_cliques([80, 20])
    labels = graph_partition(neighbors, 2, seed=0)
    truth = np.repeat([0, 1], [80, 20])
    assert max((labels == truth).mean(), (labels != truth).mean()) == 1.0
    assert graph_partition(neighbors[:3, :2] % 3, 2) is None  # fewer than 2 k samples


def test_graph_partition_gives_none_when_the_eigensolver_fails(monkeypatch):
    """The graph candidate is optional: a solver that does not converge
    leaves the fit without it instead of failing it."""
    import sklearn.cluster
    from scipy.sparse.linalg import ArpackNoConvergence

    def no_convergence(self, X):
        raise ArpackNoConvergence("no convergence", np.zeros(0), np.zeros((0, 0)))

    monkeypatch.setattr(sklearn.cluster.SpectralClustering, "fit_predict", no_convergence)
    assert graph_partition(_two_cliques([30, 30]), 2) is None


# ------------------------------------------------------------ re-pairing two linked clusters (step 6)
def test_linked_pairs_hand_values():
    """Links between clusters a and b, both directions, over |a| + |b|:
    (0, 1): 0->1 from rows 0 and 1, 1->0 from row 2: 3 / 4; (1, 2): 1->2
    from row 3, 2->1 twice from row 4: 3 / 3; (0, 2): none, left out."""
    labels = [0, 0, 1, 1, 2]
    neighbors = np.array([[2, 1], [3, 0], [0, 3], [4, 2], [3, 3]])
    assert linked_pairs(labels, neighbors, 3, top=5) == [(1, 2), (0, 1)]
    assert linked_pairs(torch.tensor(labels), torch.as_tensor(neighbors), 3, top=1) == [(1, 2)]
    # Rows 3 and 4 changed: (0, 1) has 4 links over 4 samples, (1, 2) 2 over 3.
    assert linked_pairs(labels, np.array([[2, 1], [3, 0], [0, 3], [0, 2], [2, 2]]), 3, top=5) == [(0, 1), (1, 2)]


def test_merged_partition_hand_values():
    """Links (both directions, over the two sizes): (0, 1) 2 / 4 from rows 1 and 2, (1, 2) 1 / 4
    from row 5, (0, 2) none. Down to two clusters: 0 and 1 merge (as 0); down to one, all do."""
    labels = np.array([0, 0, 1, 1, 2, 2])
    neighbors = np.array([[1], [2], [1], [2], [5], [3]])
    assert merged_partition(labels, neighbors, 3, 3).tolist() == labels.tolist()
    assert merged_partition(labels, neighbors, 3, 2).tolist() == [0, 0, 0, 0, 2, 2]
    assert merged_partition(torch.as_tensor(labels), torch.as_tensor(neighbors), 3, 1).tolist() == [0] * 6
    # the merges raise the share of neighbour pairs in one cluster: 3/6, then 5/6, then 1
    assert [neighbor_agreement(merged_partition(labels, neighbors, 3, t), neighbors) for t in (3, 2, 1)] == [
        0.5, 5 / 6, 1.0]
    # an empty cluster (3) is not counted: three non-empty clusters are already at most 3
    assert merged_partition(labels, neighbors, 4, 3).tolist() == labels.tolist()
    # After a merge the links add up. Four pairs of rows; (0, 1) are most linked (4 / 4) and merge
    # first. Cluster 2 then has 2 links to the merged cluster (2 / 6) against 1 to cluster 3 (1 / 4),
    # so it joins the merged cluster; counting its link to cluster 0 alone (1 / 6) it would not.
    labels = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    neighbors = np.array([[2, 3], [2, 3], [3, 2], [2, 3], [0, 5], [2, 4], [4, 7], [6, 6]])
    assert merged_partition(labels, neighbors, 4, 3).tolist() == [0, 0, 0, 0, 2, 2, 3, 3]
    assert merged_partition(labels, neighbors, 4, 2).tolist() == [0, 0, 0, 0, 0, 0, 3, 3]


def test_crossed_partitions_hand_values():
    labels = np.array([0, 1, 0, 2, 1, 0, 1])  # a=0: rows 0, 2, 5; b=1: rows 1, 4, 6
    first, second = crossed_partitions(labels, 0, 1, [0, 1, 0], [1, 0, 0])
    # a's half 0 (rows 0, 5) stays 0, its half 1 (row 2) becomes 1; row 3 keeps cluster 2.
    assert first.tolist() == [0, 1, 1, 2, 0, 0, 0]   # b's half 0 (rows 4, 6) -> 0, half 1 (row 1) -> 1
    assert second.tolist() == [0, 0, 1, 2, 1, 0, 1]  # the other way round
    with pytest.raises(ValueError, match="one value per member"):
        crossed_partitions(labels, 0, 1, [0, 1], [1, 0, 0])


def test_share_changed_counts_samples_outside_the_best_cluster_map():
    """Clusters renumbered count as unchanged; of [0,0,1,1,2] -> [1,1,0,0,0]
    the best map (0->1, 1->0) leaves one sample of five (the 2) changed."""

    assert share_changed([0, 0, 1, 1, 2], [1, 1, 0, 0, 0]) == pytest.approx(0.2)
    assert share_changed(torch.tensor([0, 0, 1, 1]), np.array([1, 1, 0, 0])) == 0.0
    assert share_changed(torch.tensor([0, 1, 2, 3]), torch.tensor([0, 0, 0, 0])) == pytest.approx(0.75)


# ------------------------------------------------------------ merge and split (after step 6)
def test_merged_split_hand_values():
    labels = np.array([0, 1, 2, 1, 2, 0, 2])  # b=1: rows 1, 3; c=2: rows 2, 4, 6
    out = merged_split(labels, 0, 1, 2, [0, 1, 1])
    # b's members join a (cluster 0); c's members marked 1 (rows 4, 6) take the freed number 1
    assert out.tolist() == [0, 0, 2, 0, 1, 0, 1]
    with pytest.raises(ValueError, match="three different clusters"):
        merged_split(labels, 0, 1, 1, [0, 1])
    with pytest.raises(ValueError, match="one value per member"):
        merged_split(labels, 0, 1, 2, [0, 1])
