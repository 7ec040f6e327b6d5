"""Neighbour mining for the refinement (skc2bin.training.neighbors): hand-computed values."""

import math

import pytest
import torch

from skc2bin.training.neighbors import (
    MIN_LAPLACIAN_SCORE,
    laplacian_scores,
    mine_neighbors,
    resolve_refine_space,
    weigh_inputs,
)


# --------------------------------------------------------- mining and training
def test_mine_neighbors_by_cosine_never_the_row_itself():
    x = torch.tensor([[1.0, 0.0], [2.0, 0.1], [0.0, 1.0], [0.1, 3.0]])
    assert mine_neighbors(x, 1)[:, 0].tolist() == [1, 0, 3, 2]
    data = torch.randn(50, 3, generator=torch.Generator().manual_seed(0))
    nb = mine_neighbors(data, 100, chunk_size=7)
    assert nb.shape == (50, 49)  # capped at n - 1
    assert not (nb == torch.arange(50)[:, None]).any()
    assert torch.equal(nb, mine_neighbors(data, 100))  # chunking does not change the result


def test_mine_neighbors_by_euclidean_distance():
    # Row 0's nearest by direction is row 1 (same direction, far); by distance row 2 (0.5 away).
    x = torch.tensor([[1.0, 0.0], [10.0, 0.0], [1.0, 0.5]])
    assert mine_neighbors(x, 1)[0, 0].item() == 1
    assert mine_neighbors(x, 1, metric="euclidean")[:, 0].tolist() == [2, 0, 0]  # row 1: 9 < 9.01
    # On a line: 0, 1, 3, 10 -> nearest 1, 0, 1, 3 (rows 1, 0, 1, 2).
    line = torch.tensor([[0.0], [1.0], [3.0], [10.0]])
    assert mine_neighbors(line, 1, metric="euclidean")[:, 0].tolist() == [1, 0, 1, 2]
    data = torch.randn(40, 3, generator=torch.Generator().manual_seed(1)) * torch.tensor([1.0, 5.0, 0.2]) + 3
    nb = mine_neighbors(data, 5, chunk_size=6, metric="euclidean")
    distances = torch.cdist(data, data).fill_diagonal_(math.inf)
    assert torch.equal(nb, distances.topk(5, largest=False).indices)  # the same ranking as cdist
    with pytest.raises(ValueError, match="metric"):
        mine_neighbors(data, 5, metric="manhattan")


def test_laplacian_scores_hand_values():
    # Pairs {0, 1} and {2, 3}. Column a is constant within each pair: 0. Column b differs by 1
    # in every pair, variance 0.25: 1 / (2 * 0.25) = 2. A constant column: 0.
    rows = torch.tensor([[0.0, 0.0, 3.0], [0.0, 1.0, 3.0], [1.0, 0.0, 3.0], [1.0, 1.0, 3.0]])
    pairs = torch.tensor([[1], [0], [3], [2]])
    assert laplacian_scores(rows, pairs).tolist() == [0.0, 2.0, 0.0]
    assert laplacian_scores(rows, pairs, chunk_size=1).tolist() == [0.0, 2.0, 0.0]  # chunks change nothing


def test_weigh_inputs_scales_each_column_by_its_score_on_the_representation_graph():
    rows = torch.tensor([[0.0, 0.0, 3.0], [0.0, 1.0, 3.0], [1.0, 0.0, 3.0], [1.0, 1.0, 3.0]])
    features = torch.tensor([[1.0, 0.0], [1.0, 0.01], [0.0, 1.0], [0.01, 1.0]])  # nearest: 0-1, 2-3
    weights = torch.tensor([MIN_LAPLACIAN_SCORE ** -0.5, 2 ** -0.5, MIN_LAPLACIAN_SCORE ** -0.5])
    torch.testing.assert_close(weigh_inputs(rows, features, 1), rows * weights)


def test_laplacian_scores_tell_noise_features_from_informative_ones():
    g = torch.Generator().manual_seed(0)
    groups = (torch.arange(400) % 2).float()
    informative = (2 * groups - 1)[:, None] + 0.3 * torch.randn(400, 2, generator=g)
    rows = torch.cat([informative, torch.randn(400, 5, generator=g)], 1)
    representation = torch.cat([groups[:, None], 1 - groups[:, None]], 1) + 0.05 * torch.randn(400, 2, generator=g)
    scores = laplacian_scores(rows, mine_neighbors(representation, 10))
    assert scores[:2].max() < 0.2 and scores[2:].min() > 0.8  # noise: neighbours as different as random pairs


def test_resolve_refine_space():
    assert resolve_refine_space("auto", is_image=False) == "weighted-input"
    assert resolve_refine_space("auto", is_image=True) == "representation"
    for space in ("input", "weighted-input", "representation"):
        assert resolve_refine_space(space, is_image=True) == space == resolve_refine_space(space, is_image=False)
    with pytest.raises(ValueError, match="refine_space"):
        resolve_refine_space("pixels", is_image=True)
