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


def test_cluster_samples_reads_flat_rows_as_image_shape(digits_small):
    X, y = digits_small  # 64 columns: 8 × 8 images
    fig = plotting.plot_cluster_samples(X, y, image_shape=(8, 8), n_per_cluster=3)
    assert len(fig.axes) == 10 * 3
    drawn = [image.get_array() for ax in fig.axes for image in ax.images]
    assert len(drawn) == 30
    assert all(a.shape == (8, 8) for a in drawn)
    # The first drawn image is one of the rows, reshaped (and scaled to 0-1).
    row = X[y == 0]
    first = np.asarray(drawn[0], dtype=np.float64)
    scaled = (row - row.min(axis=1, keepdims=True)) / np.ptp(row, axis=1, keepdims=True)
    assert np.isclose(scaled.reshape(-1, 8, 8), first).all(axis=(1, 2)).any()


def test_cluster_samples_reads_flat_rows_as_channels_last_colour_images():
    images = np.random.RandomState(0).rand(12, 5, 6, 3)
    flat = images.reshape(12, -1)
    fig = plotting.plot_cluster_samples(flat, np.arange(12) % 2, image_shape=(5, 6, 3),
                                        n_per_cluster=2)
    assert [image.get_array().shape for ax in fig.axes for image in ax.images] == [(5, 6, 3)] * 4


@pytest.mark.parametrize(
    "images, kwargs, match",
    [
        (np.zeros((4, 64)), {}, r"flat rows \(64 values each\).*pass image_shape=\(h, w\)"),
        (np.zeros((4, 64)), {"image_shape": (7, 7)}, r"image_shape=\(7, 7\) holds 49 values.*has 64"),
        (np.zeros((4, 8, 8)), {"image_shape": (8, 4)}, r"holds 32 values.*has 64"),
        (np.zeros((4, 64)), {"image_shape": (64,)}, r"\(h, w\) or \(h, w, c\) of positive ints"),
        (np.zeros((4, 64)), {"image_shape": (8, -8)}, r"of positive ints"),
    ],
)
def test_cluster_samples_image_shape_errors(images, kwargs, match):
    with pytest.raises(ValueError, match=match):
        plotting.plot_cluster_samples(images, np.arange(4) % 2, **kwargs)


def _inside(inner, outer, tol=0.5):
    return (inner.x0 >= outer.x0 - tol and inner.y0 >= outer.y0 - tol
            and inner.x1 <= outer.x1 + tol and inner.y1 <= outer.y1 + tol)


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


@pytest.mark.parametrize("n_fine", [1, 4, 30, 100])
def test_scale_nesting_labels_lie_inside_the_figure(n_fine):
    rng = np.random.RandomState(0)
    fine = np.arange(400) % n_fine
    coarse = np.minimum(fine, 9) if n_fine > 1 else rng.randint(0, 3, 400)
    fig = plotting.plot_scale_nesting(coarse, fine, title="nesting")
    fig.canvas.draw()
    ax, colorbar = fig.axes
    labels = [ax.xaxis.label, ax.yaxis.label, ax.title, colorbar.yaxis.label]
    labels += ax.get_xticklabels() + ax.get_yticklabels()
    for text in labels:
        assert text.get_text()
        assert _inside(text.get_window_extent(), fig.bbox), text.get_text()


def _history():
    from skorch.history import History

    history = History()
    for epoch in range(1, 21):
        # Losses that fall and rise again, so no corner of the axes is free.
        loss = 1.0 + (epoch - 10.5) ** 2 / 20
        history.new_epoch()
        history.record("epoch", epoch)
        for key, value in (("train_loss", loss), ("instance_loss", 0.8 * loss),
                           ("contrast_loss", 0.3 * loss), ("entropy_loss", 0.01)):
            history.record(key, value)
        history.record("ema_momentum", 0.99 + 0.01 * epoch / 20)
    return history


def test_training_history_legend_covers_no_line():
    fig = plotting.plot_training_history(_history(), title="h")
    fig.canvas.draw()
    losses, momentum = fig.axes
    legend = losses.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == [
        "train_loss", "instance_loss", "contrast_loss", "entropy_loss", "ema_momentum",
    ]
    box = legend.get_window_extent()
    # Inside the figure, clear of the axes (so of every line) and of the x label.
    assert _inside(box, fig.bbox)
    assert not box.overlaps(losses.get_window_extent())
    assert not box.overlaps(losses.xaxis.label.get_window_extent())
    for ax in (losses, momentum):
        for line in ax.get_lines():
            points = ax.transData.transform(line.get_xydata())
            assert not box.count_contains(points), line.get_label()


def test_training_history_into_given_axes_keeps_the_legend_off_the_axes():
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(6, 8), layout="constrained")
    assert plotting.plot_training_history(_history(), ax=top) is fig
    fig.canvas.draw()
    box = top.get_legend().get_window_extent()
    assert not box.overlaps(top.get_window_extent())
    assert box.y1 <= top.xaxis.label.get_window_extent().y0


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
