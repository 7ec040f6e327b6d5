"""skc2bin.plotting: the pictures the examples draw (matplotlib, Agg backend)."""

import builtins
import importlib

import numpy as np
import pytest

from skc2bin.metrics import clustering_accuracy

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")

import matplotlib.pyplot as plt

from skc2bin import C2BINClusterer, plotting

from .conftest import TINY


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _tick_labels(ax, axis="x"):
    ticks = ax.get_xticklabels() if axis == "x" else ax.get_yticklabels()
    return [t.get_text() for t in ticks]


def test_cluster_samples_one_row_per_cluster():
    images = np.random.RandomState(0).rand(30, 8, 8)
    labels = np.repeat([4, 7, 9], 10)
    fig = plotting.plot_cluster_samples(images, labels, n_per_cluster=5)
    assert len(fig.axes) == 15
    assert sum(len(ax.images) for ax in fig.axes) == 15


def test_cluster_samples_rejects_mismatched_lengths():
    with pytest.raises(ValueError, match="3 images but 2 labels"):
        plotting.plot_cluster_samples(np.zeros((3, 4, 4)), [0, 1])


def test_confusion_matrix_puts_matched_clusters_on_the_diagonal():
    rng = np.random.RandomState(0)
    y = np.repeat(np.arange(4), 25)
    # Cluster ids are a permutation of the classes; 10 samples are moved.
    perm = np.array([2, 0, 3, 1])
    labels = perm[y]
    labels[rng.choice(100, 10, replace=False)] = 3
    fig = plotting.plot_confusion_matrix(y, labels, normalize=False)
    ax = fig.axes[0]
    shown = ax.images[0].get_array()
    # Columns follow the matching: cluster perm[i] is column i.
    assert _tick_labels(ax) == [str(c) for c in perm]
    # The diagonal holds exactly what the clustering accuracy counts.
    assert np.trace(shown) / len(y) == pytest.approx(clustering_accuracy(y, labels))
    assert ax.get_title() == f"ACC {clustering_accuracy(y, labels):.3f}"


def test_confusion_matrix_surplus_clusters_come_last_and_rows_normalise():
    y = np.array([0, 0, 0, 1, 1, 1])
    labels = np.array([5, 5, 6, 7, 7, 8])  # 4 clusters for 2 classes
    fig = plotting.plot_confusion_matrix(y, labels, class_names=["a", "b"], title="t")
    ax = fig.axes[0]
    assert _tick_labels(ax)[:2] == ["5", "7"]
    assert sorted(_tick_labels(ax)[2:]) == ["6", "8"]
    assert _tick_labels(ax, "y") == ["a", "b"]
    assert np.allclose(ax.images[0].get_array().sum(axis=1), 1.0)
    assert ax.get_title() == "t"


def test_confusion_matrix_checks_class_names():
    with pytest.raises(ValueError, match="1 class_names for 2 classes"):
        plotting.plot_confusion_matrix([0, 1], [0, 1], class_names=["a"])


@pytest.mark.parametrize("method", ["pca", "tsne"])
def test_embedding_reduces_to_two_dimensions(method):
    Z = np.random.RandomState(0).normal(size=(40, 6))
    labels = np.arange(40) % 4
    fig = plotting.plot_embedding(Z, labels, method=method)
    ax = fig.axes[0]
    assert len(ax.collections) == 4  # one scatter per label
    assert all(c.get_offsets().shape[1] == 2 for c in ax.collections)
    assert sorted(t.get_text() for t in ax.texts) == ["0", "1", "2", "3"]


def test_embedding_draws_two_columns_as_they_are_into_given_axes():
    fig, ax = plt.subplots()
    xy = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    assert plotting.plot_embedding(xy, [0, 0, 1], ax=ax, title="map") is fig
    offsets = np.concatenate([c.get_offsets() for c in ax.collections])
    assert np.allclose(np.sort(offsets, axis=0), xy)
    assert ax.get_title() == "map"


@pytest.mark.parametrize(
    "embedding, labels, kwargs, match",
    [
        (np.zeros((3, 2)), [0, 1], {}, "one label per sample"),
        (np.zeros((3, 1)), [0, 1, 2], {}, "a map needs at least 2"),
        (np.zeros((3, 3)), [0, 1, 2], {"method": "umap"}, "'tsne' or 'pca'"),
    ],
)
def test_embedding_errors(embedding, labels, kwargs, match):
    with pytest.raises(ValueError, match=match):
        plotting.plot_embedding(embedding, labels, **kwargs)


def test_scale_nesting_columns_sum_to_one_and_group_by_coarse_cluster():
    coarse = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1])
    fine = np.array([3, 3, 1, 1, 0, 0, 2, 2, 1])
    fig = plotting.plot_scale_nesting(coarse, fine)
    ax = fig.axes[0]
    shares = ax.images[0].get_array()
    assert shares.shape == (2, 4)
    assert np.allclose(shares.sum(axis=0), 1.0)
    # Fine 1 (2 of 3 in coarse 0) and 3 under coarse 0, then 0 and 2 under coarse 1.
    assert _tick_labels(ax) == ["1", "3", "0", "2"]
    assert shares[0].tolist() == pytest.approx([2 / 3, 1, 0, 0])
    assert len(ax.lines) == 1  # one separator between the two groups


def test_training_history_from_estimator_and_history(blobs):
    X, _ = blobs
    est = C2BINClusterer(n_clusters=3, **TINY).fit(X)
    for source in (est, est.history_):
        fig = plotting.plot_training_history(source, title="h")
        losses, momentum = fig.axes
        assert [line.get_label() for line in losses.get_lines()] == [
            "train_loss", "instance_loss", "contrast_loss", "entropy_loss",
        ]
        assert list(losses.get_lines()[0].get_xdata()) == [1, 2, 3, 4]
        assert list(losses.get_lines()[0].get_ydata()) == est.history_[:, "train_loss"]
        assert list(momentum.get_lines()[0].get_ydata()) == est.history_[:, "ema_momentum"]
        assert losses.get_title() == "h"


def test_clear_import_error_without_matplotlib(monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    module = importlib.reload(plotting)  # importing the module itself needs no matplotlib
    with pytest.raises(ImportError, match=r"pip install 'skc2bin\[plot\]'"):
        module.plot_confusion_matrix([0, 1], [0, 1])
