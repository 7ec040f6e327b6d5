"""The C2BIN losses against hand-computed values."""

import math

import pytest
import torch

from skc2bin.losses import (
    byol_loss,
    c2bin_loss,
    cluster_contrast_loss,
    cluster_entropy_loss,
    instance_loss,
)


def test_byol_loss_identical_orthogonal_opposite():
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 0.0]])
    b = torch.tensor([[5.0, 0.0], [1.0, 0.0], [-1.0, 0.0]])
    assert torch.allclose(byol_loss(a, b), torch.tensor([0.0, 2.0, 4.0]))


def test_byol_loss_stops_gradient_into_target():
    p = torch.tensor([[1.0, 1.0]], requires_grad=True)
    z = torch.tensor([[1.0, 0.0]], requires_grad=True)
    byol_loss(p, z).sum().backward()
    assert p.grad is not None and z.grad is None


def test_instance_loss_identical_views_is_zero():
    z = torch.randn(8, 4, generator=torch.Generator().manual_seed(0))
    assert instance_loss(z, z, z, z).item() == pytest.approx(0.0, abs=1e-6)


def test_instance_loss_is_symmetric_sum_of_both_directions():
    p1 = torch.tensor([[1.0, 0.0]])
    p2 = torch.tensor([[0.0, 1.0]])
    z1 = torch.tensor([[0.0, 1.0]])  # orthogonal to p1, aligned with p2
    z2 = torch.tensor([[-1.0, 0.0]])  # opposite to p1
    # l(p1, z2) + l(p2, z1) = 4 + 0
    assert instance_loss(p1, p2, z1, z2).item() == pytest.approx(4.0)


def test_contrast_uniform_assignments_gives_log_2k_minus_1():
    # All columns identical: every similarity is 1, so the positive is one
    # of 2k - 1 equal candidates.
    n, k = 6, 4
    a = torch.full((n, k), 1.0 / k)
    expected = math.log(2 * k - 1)
    assert cluster_contrast_loss(a, a).item() == pytest.approx(expected, rel=1e-6)
    assert cluster_contrast_loss(a, a, temperature=0.5).item() == pytest.approx(expected, rel=1e-6)


def test_contrast_collapsed_assignments_hand_computed():
    # Everything in cluster 0: column 0 of each view is (1, ..., 1), the other
    # columns are zero (they stay zero after normalisation).
    n, k = 5, 3
    a = torch.zeros(n, k)
    a[:, 0] = 1.0
    # Column 0 (either view): positive logit 1, 2k-2 logits 0.
    live = math.log(math.e + 2 * k - 2) - 1.0
    # Zero columns: all 2k-1 logits 0.
    dead = math.log(2 * k - 1)
    expected = (2 * live + (2 * k - 2) * dead) / (2 * k)
    assert cluster_contrast_loss(a, a).item() == pytest.approx(expected, rel=1e-6)


def test_contrast_perfect_one_hot_clusters_beats_shuffled():
    # Two views agreeing on distinct clusters: each column's positive has
    # cosine 1 and every negative 0.
    k = 3
    a = torch.eye(k).repeat(2, 1)  # 6 samples, 2 per cluster
    expected = math.log(math.e + 2 * k - 2) - 1.0
    assert cluster_contrast_loss(a, a).item() == pytest.approx(expected, rel=1e-6)
    swapped = a[:, [1, 2, 0]]
    assert cluster_contrast_loss(a, swapped).item() > expected


def test_entropy_uniform_is_zero_and_collapsed_is_2_log_k():
    n, k = 4, 5
    uniform = torch.full((n, k), 1.0 / k)
    assert cluster_entropy_loss(uniform, uniform).item() == pytest.approx(0.0, abs=1e-6)
    collapsed = torch.zeros(n, k)
    collapsed[:, 2] = 1.0
    assert cluster_entropy_loss(collapsed, collapsed).item() == pytest.approx(2 * math.log(k), rel=1e-6)
    # Balanced one-hot assignments also use every cluster equally.
    balanced = torch.eye(k)
    assert cluster_entropy_loss(balanced, uniform).item() == pytest.approx(0.0, abs=1e-6)


def test_c2bin_loss_combines_terms_and_averages_heads():
    g = torch.Generator().manual_seed(1)
    p1, p2, z1, z2 = (torch.randn(6, 3, generator=g) for _ in range(4))
    a = torch.softmax(torch.randn(6, 4, generator=g), 1)
    b = torch.softmax(torch.randn(6, 4, generator=g), 1)
    c = torch.softmax(torch.randn(6, 7, generator=g), 1)
    d = torch.softmax(torch.randn(6, 7, generator=g), 1)
    total, parts = c2bin_loss(p1, p2, z1, z2, [a, c], [b, d], temperature=0.5,
                              cluster_weight=2.0, entropy_weight=3.0)
    inst = instance_loss(p1, p2, z1, z2)
    head1 = cluster_contrast_loss(a, b, 0.5) + 3.0 * cluster_entropy_loss(a, b)
    head2 = cluster_contrast_loss(c, d, 0.5) + 3.0 * cluster_entropy_loss(c, d)
    assert total.item() == pytest.approx((inst + 2.0 * (head1 + head2) / 2).item(), rel=1e-6)
    assert parts["instance"].item() == pytest.approx(inst.item())
    assert set(parts) == {"instance", "contrast", "entropy", "heads"}
    # Every head's own cluster loss, in order (used to choose among a scale's heads).
    assert parts["heads"].tolist() == pytest.approx([head1.item(), head2.item()], rel=1e-6)


def test_c2bin_loss_can_sum_heads():
    g = torch.Generator().manual_seed(2)
    p1, p2, z1, z2 = (torch.randn(6, 3, generator=g) for _ in range(4))
    a, b, c, d = (torch.softmax(torch.randn(6, 4, generator=g), 1) for _ in range(4))
    kwargs = dict(temperature=0.5, cluster_weight=2.0, entropy_weight=3.0)
    mean, parts = c2bin_loss(p1, p2, z1, z2, [a, c], [b, d], **kwargs)
    total, _ = c2bin_loss(p1, p2, z1, z2, [a, c], [b, d], combine_heads="sum", **kwargs)
    inst = instance_loss(p1, p2, z1, z2)
    assert total.item() == pytest.approx((inst + 2.0 * parts["heads"].sum()).item(), rel=1e-6)
    assert (total - inst).item() == pytest.approx(2 * (mean - inst).item(), rel=1e-6)
    with pytest.raises(ValueError, match="combine_heads"):
        c2bin_loss(p1, p2, z1, z2, [a], [b], combine_heads="max")


def test_c2bin_loss_needs_matching_heads():
    z = torch.ones(2, 2)
    with pytest.raises(ValueError, match="one entry per head"):
        c2bin_loss(z, z, z, z, [z], [])
