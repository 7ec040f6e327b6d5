"""Clustering accuracy and the label-free score."""

import numpy as np
import pytest

from skc2bin.metrics import clustering_accuracy, silhouette_in_input_space


def test_accuracy_is_invariant_to_label_permutation():
    y = np.array([0, 0, 1, 1, 2, 2])
    assert clustering_accuracy(y, [2, 2, 0, 0, 1, 1]) == 1.0


def test_accuracy_hand_computed():
    # Best map: cluster 1 -> class 0 (2 right), cluster 0 -> class 1 (2 of 3).
    assert clustering_accuracy([0, 0, 1, 1, 2], [1, 1, 0, 0, 0]) == pytest.approx(0.8)


def test_accuracy_with_more_clusters_than_classes():
    # Four clusters, two classes: only two clusters can map.
    assert clustering_accuracy([0, 0, 1, 1], [0, 1, 2, 3]) == pytest.approx(0.5)


def test_accuracy_all_in_one_cluster():
    y = np.repeat(np.arange(4), 5)
    assert clustering_accuracy(y, np.zeros(20, dtype=int)) == pytest.approx(0.25)


def test_accuracy_checks_lengths_and_empty():
    with pytest.raises(ValueError):
        clustering_accuracy([0, 1], [0])
    with pytest.raises(ValueError, match="at least one sample"):
        clustering_accuracy([], [])


def test_silhouette_prefers_true_clusters_and_punishes_collapse():
    rng = np.random.RandomState(0)
    X = np.concatenate([rng.normal(0, 0.1, (30, 2)), rng.normal(5, 0.1, (30, 2))])
    good = np.repeat([0, 1], 30)
    bad = rng.randint(0, 2, 60)
    assert silhouette_in_input_space(X, good) > 0.9
    assert silhouette_in_input_space(X, bad) < 0.1
    assert silhouette_in_input_space(X, np.zeros(60, dtype=int)) == -1.0
    assert silhouette_in_input_space(X, np.arange(60)) == -1.0


def test_silhouette_subsamples_deterministically():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(500, 3))
    labels = (X[:, 0] > 0).astype(int)
    a = silhouette_in_input_space(X, labels, sample_size=100)
    assert a == silhouette_in_input_space(X, labels, sample_size=100)
