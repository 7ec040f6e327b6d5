"""Pictures of clusterings (needs matplotlib: ``pip install skc2bin[plot]``).

matplotlib is imported only when a function here is called, so
``import skc2bin.plotting`` works without it; calling a function without
matplotlib raises an ImportError that says how to install it. Every function
returns the :class:`matplotlib.figure.Figure` it drew on; those that draw a
single panel accept ``ax=`` to draw into an existing axes instead.
"""

import numpy as np
from sklearn.metrics.cluster import contingency_matrix

from .metrics import clustering_accuracy

__all__ = [
    "plot_cluster_samples",
    "plot_confusion_matrix",
    "plot_embedding",
    "plot_scale_nesting",
    "plot_training_history",
]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "skc2bin.plotting needs matplotlib: pip install 'skc2bin[plot]'"
        ) from exc
    return plt


def _as_images(images, image_shape):
    """``images`` as ``(n, h, w)`` or ``(n, h, w, c)``; flat rows reshaped to ``image_shape``."""
    if image_shape is None:
        if images.ndim <= 2:
            per_row = images.shape[1] if images.ndim == 2 else 1
            raise ValueError(
                f"images of shape {images.shape} are flat rows ({per_row} values each), not "
                "images: pass image_shape=(h, w) (or (h, w, c), channels last) to draw each row "
                "as an image, e.g. image_shape=(8, 8) for scikit-learn's digits."
            )
        return images
    shape = tuple(image_shape)
    if len(shape) not in (2, 3) or not all(
        isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0 for s in shape
    ):
        raise ValueError(
            f"image_shape must be (h, w) or (h, w, c) of positive ints, got {image_shape!r}."
        )
    per_row = int(np.prod(images.shape[1:])) if images.ndim >= 1 else 0
    if images.ndim < 2 or per_row != int(np.prod(shape)):
        raise ValueError(
            f"image_shape={shape} holds {int(np.prod(shape))} values, but each row of images "
            f"(shape {images.shape}) has {per_row}: image_shape must be the (h, w) or "
            "(h, w, c) of the images the rows hold."
        )
    return images.reshape((len(images),) + shape)


def plot_cluster_samples(images, labels, *, image_shape=None, n_per_cluster=10, random_state=0,
                         title=None):
    """Grid of sample images: one row per cluster.

    Parameters
    ----------
    images : ndarray of shape (n, h, w), (n, h, w, c) or (n, n_features)
        Images in channels-last layout (any numeric range; each image is
        scaled to its own min/max for display), or flat rows read as
        images of ``image_shape``.
    labels : ndarray of shape (n,)
        Cluster of each image.
    image_shape : tuple of int, default=None
        Shape of each image, ``(h, w)`` or ``(h, w, c)`` (channels last), as
        :class:`~skc2bin.C2BINClusterer`'s ``image_shape``: needed for flat
        rows, e.g. ``image_shape=(8, 8)`` for scikit-learn's digits (64
        columns). Must hold exactly the number of values per row.
    n_per_cluster : int, default=10
        Images drawn (at random, without replacement) per cluster.
    random_state : int, default=0
        Seed of the draw.
    title : str, optional

    Returns
    -------
    fig : matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from skc2bin.plotting import plot_cluster_samples
    >>> fig = plot_cluster_samples(np.random.rand(20, 8, 8), np.arange(20) % 2, n_per_cluster=3)
    >>> len(fig.axes)
    6

    Flat rows, such as scikit-learn's digits (64 columns), need ``image_shape``:

    >>> from sklearn.datasets import load_digits
    >>> X, y = load_digits(return_X_y=True)
    >>> fig = plot_cluster_samples(X, y, image_shape=(8, 8), n_per_cluster=4)
    >>> len(fig.axes), fig.axes[0].images[0].get_array().shape
    (40, (8, 8))
    """
    plt = _pyplot()
    images = _as_images(np.asarray(images), image_shape)
    labels = np.asarray(labels)
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels.")
    clusters = np.unique(labels)
    rng = np.random.RandomState(random_state)
    fig, axes = plt.subplots(
        len(clusters), n_per_cluster, figsize=(n_per_cluster * 0.8, len(clusters) * 0.8 + 0.4),
        squeeze=False,
    )
    for row, cluster in zip(axes, clusters):
        members = np.flatnonzero(labels == cluster)
        pick = rng.choice(members, size=min(n_per_cluster, len(members)), replace=False)
        for ax in row:
            ax.set_axis_off()
        for ax, i in zip(row, pick):
            img = images[i].astype(np.float64)
            lo, hi = img.min(), img.max()
            img = (img - lo) / (hi - lo) if hi > lo else img * 0
            ax.imshow(img.squeeze(), cmap="gray_r" if img.ndim == 2 or img.shape[-1] == 1 else None)
        row[0].text(-0.6, 0.5, f"{cluster} ({len(members)})", transform=row[0].transAxes,
                    ha="right", va="center", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _axes(ax, figsize):
    """``(figure, axes)``: a new figure of ``figsize``, or ``ax`` and its figure.

    A new figure uses constrained layout, so that axis labels, tick labels,
    colour bars and legends outside the axes stay inside the figure; the
    layout of a figure passed through ``ax`` is left to its owner.
    """
    plt = _pyplot()
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize, layout="constrained")
        return fig, ax
    return ax.figure, ax


def _matched_cluster_order(counts):
    """Cluster (column) order that puts each class's matched cluster on the diagonal.

    Uses the one-to-one map of :func:`skc2bin.metrics.clustering_accuracy`
    (Hungarian algorithm on the contingency matrix ``counts``, classes ×
    clusters); clusters matched to no class follow, largest first.
    """
    from .metrics import best_cluster_map

    rows, cols = best_cluster_map(counts)
    matched = list(cols[np.argsort(rows)])
    rest = [c for c in np.argsort(-counts.sum(axis=0), kind="stable") if c not in set(matched)]
    return np.array(matched + rest, dtype=int)


def plot_confusion_matrix(labels_true, labels_pred, *, normalize=True, class_names=None,
                          ax=None, title=None):
    """Confusion matrix of clusters against true classes, clusters matched to classes.

    Cluster numbers are arbitrary, so the columns are reordered: the cluster
    that the best one-to-one map (the Hungarian map behind
    :func:`skc2bin.metrics.clustering_accuracy`) assigns to class ``i`` is
    column ``i``, and clusters assigned to no class (when there are more
    clusters than classes) come last. The diagonal then holds the samples
    counted as correct by the clustering accuracy (ACC), shown in the title.

    Parameters
    ----------
    labels_true : array-like of shape (n_samples,)
        True classes (used only for this picture, never for training).
    labels_pred : array-like of shape (n_samples,)
        Cluster labels, e.g. ``est.labels_``.
    normalize : bool, default=True
        Show each row as shares of its class (rows sum to 1) instead of
        counts. The numbers written in the cells are always counts.
    class_names : list of str, optional
        Names of the classes, in the order of ``np.unique(labels_true)``.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; by default a new figure.
    title : str, optional
        Defaults to the clustering accuracy.

    Returns
    -------
    fig : matplotlib.figure.Figure

    Examples
    --------
    >>> from skc2bin.plotting import plot_confusion_matrix
    >>> fig = plot_confusion_matrix([0, 0, 1, 1, 2, 2], [2, 2, 0, 0, 1, 0])
    >>> fig.axes[0].get_title()
    'ACC 0.833'
    >>> [t.get_text() for t in fig.axes[0].get_xticklabels()]
    ['2', '0', '1']
    """
    labels_true = np.asarray(labels_true)
    labels_pred = np.asarray(labels_pred)
    acc = clustering_accuracy(labels_true, labels_pred)
    classes = np.unique(labels_true)
    clusters = np.unique(labels_pred)
    if class_names is not None and len(class_names) != len(classes):
        raise ValueError(f"{len(class_names)} class_names for {len(classes)} classes.")
    counts = contingency_matrix(labels_true, labels_pred)
    order = _matched_cluster_order(counts)
    counts = counts[:, order]
    shown = counts / counts.sum(axis=1, keepdims=True) if normalize else counts

    fig, ax = _axes(ax, (0.45 * len(clusters) + 2.0, 0.4 * len(classes) + 1.6))
    image = ax.imshow(shown, cmap="Blues", aspect="auto", vmin=0)
    if counts.size <= 400:
        threshold = shown.max() / 2
        for (i, j), n in np.ndenumerate(counts):
            if n:
                ax.text(j, i, str(n), ha="center", va="center", fontsize=7,
                        color="white" if shown[i, j] > threshold else "black")
    ax.set_xticks(range(len(clusters)), [str(c) for c in clusters[order]],
                  fontsize=8, rotation=90 if len(clusters) > 20 else 0)
    ax.set_yticks(range(len(classes)), class_names if class_names is not None else [str(c) for c in classes],
                  fontsize=8)
    ax.set_xlabel("cluster (matched to the classes)")
    ax.set_ylabel("true class")
    ax.set_title(title if title is not None else f"ACC {acc:.3f}")
    fig.colorbar(image, ax=ax, label="share of the class" if normalize else "samples")
    return fig


def _label_colors(n):
    plt = _pyplot()
    cmap = plt.get_cmap("tab10" if n <= 10 else "tab20" if n <= 20 else "turbo")
    return [cmap(i if n <= 20 else i / max(n - 1, 1)) for i in range(n)]


def plot_embedding(embedding, labels, *, method="tsne", random_state=0, ax=None, title=None,
                   point_size=6):
    """2-D map of samples (e.g. ``est.transform(X)``), coloured by label.

    Parameters
    ----------
    embedding : array-like of shape (n_samples, n_dims)
        Points to draw. With more than two columns they are first reduced
        to two with ``method``.
    labels : array-like of shape (n_samples,)
        Colour of each point: clusters (``est.labels_``) or true classes.
        Each label is written at the median of its points.
    method : {'tsne', 'pca'}, default='tsne'
        Reduction to 2-D: :class:`sklearn.manifold.TSNE` (neighbourhoods
        kept; a few seconds per thousand samples) or
        :class:`sklearn.decomposition.PCA` (instant, linear). Ignored when
        ``embedding`` has two columns.
    random_state : int, default=0
        Seed of the reduction.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; by default a new figure.
    title : str, optional
    point_size : float, default=6
        Marker size.

    Returns
    -------
    fig : matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from skc2bin.plotting import plot_embedding
    >>> Z = np.random.RandomState(0).normal(size=(30, 5))
    >>> fig = plot_embedding(Z, np.arange(30) % 3, method="pca", title="PCA")
    >>> fig.axes[0].get_title()
    'PCA'
    """
    embedding = np.asarray(embedding, dtype=np.float64)
    labels = np.asarray(labels)
    if embedding.ndim != 2 or len(embedding) != len(labels):
        raise ValueError(
            f"embedding of shape {embedding.shape} and {len(labels)} labels: expected "
            "(n_samples, n_dims) and one label per sample."
        )
    if method not in ("tsne", "pca"):
        raise ValueError(f"method must be 'tsne' or 'pca', got {method!r}.")
    if embedding.shape[1] > 2:
        if method == "tsne":
            from sklearn.manifold import TSNE

            perplexity = min(30.0, (len(embedding) - 1) / 3)
            embedding = TSNE(2, perplexity=perplexity, init="pca",
                             random_state=random_state).fit_transform(embedding)
        else:
            from sklearn.decomposition import PCA

            embedding = PCA(2, random_state=random_state).fit_transform(embedding)
    elif embedding.shape[1] < 2:
        raise ValueError(f"embedding has {embedding.shape[1]} column(s); a map needs at least 2.")

    values = np.unique(labels)
    fig, ax = _axes(ax, (5.5, 5))
    for value, color in zip(values, _label_colors(len(values))):
        points = embedding[labels == value]
        ax.scatter(points[:, 0], points[:, 1], s=point_size, color=color, linewidths=0)
        x, y = np.median(points, axis=0)
        ax.text(x, y, str(value), fontsize=9, weight="bold", ha="center", va="center",
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": color, "alpha": 0.8})
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title)
    return fig


def plot_scale_nesting(labels_coarse, labels_fine, *, ax=None, title=None):
    """How the clusters of a fine scale fall into those of a coarse scale.

    One column per fine cluster, one row per coarse cluster; a cell is the
    share of the fine cluster's samples in the coarse cluster, so each
    column sums to 1 and a perfectly nested fine cluster is one dark cell.
    Fine clusters are grouped under the coarse cluster that holds most of
    their samples (thin lines separate the groups), largest first.

    Parameters
    ----------
    labels_coarse : array-like of shape (n_samples,)
        Coarse-scale clusters, e.g. ``est.labels_per_scale_[:, 0]``.
    labels_fine : array-like of shape (n_samples,)
        Fine-scale clusters of the same samples, e.g.
        ``est.labels_per_scale_[:, 1]``.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; by default a new figure.
    title : str, optional

    Returns
    -------
    fig : matplotlib.figure.Figure

    Examples
    --------
    >>> from skc2bin.plotting import plot_scale_nesting
    >>> coarse = [0, 0, 0, 0, 1, 1, 1, 1]
    >>> fine = [3, 3, 1, 1, 0, 0, 2, 1]
    >>> fig = plot_scale_nesting(coarse, fine)
    >>> [t.get_text() for t in fig.axes[0].get_xticklabels()]
    ['1', '3', '0', '2']
    """
    labels_coarse = np.asarray(labels_coarse)
    labels_fine = np.asarray(labels_fine)
    coarse = np.unique(labels_coarse)
    fine = np.unique(labels_fine)
    counts = contingency_matrix(labels_coarse, labels_fine)  # coarse × fine
    shares = counts / counts.sum(axis=0, keepdims=True)
    home = counts.argmax(axis=0)
    # Group by home coarse cluster, largest fine clusters first within a group.
    order = np.lexsort((-counts.sum(axis=0), home))

    # At least 4.5 in wide, so that the two-line x label fits beside the colour bar.
    fig, ax = _axes(ax, (max(0.22 * len(fine) + 2.5, 4.5), 0.35 * len(coarse) + 1.9))
    image = ax.imshow(shares[:, order], cmap="Greens", aspect="auto", vmin=0, vmax=1)
    bounds = np.flatnonzero(np.diff(home[order])) + 0.5
    for x in bounds:
        ax.axvline(x, color="0.6", linewidth=0.6)
    ax.set_xticks(range(len(fine)), [str(c) for c in fine[order]], fontsize=7,
                  rotation=90 if len(fine) > 12 else 0)
    ax.set_yticks(range(len(coarse)), [str(c) for c in coarse], fontsize=8)
    ax.set_xlabel(f"fine cluster ({len(fine)})\ngrouped by the coarse cluster holding most of it")
    ax.set_ylabel(f"coarse cluster ({len(coarse)})")
    if title:
        ax.set_title(title)
    fig.colorbar(image, ax=ax, label="share of the fine cluster")
    return fig


def plot_training_history(history, *, ax=None, title=None):
    """Per-epoch losses of a fit, and the target network's EMA momentum.

    Draws ``train_loss`` (the total) and its parts ``instance_loss`` (BYOL),
    ``contrast_loss`` and ``entropy_loss`` (cluster terms, averaged over all
    cluster heads, before ``cluster_weight`` and ``entropy_weight`` apply)
    against the epoch; ``ema_momentum`` (the target network's momentum at the
    epoch's last step) goes on a second y-axis on the right. The legend sits
    below the axes, under the x label, so it covers none of the lines.

    Parameters
    ----------
    history : C2BINClusterer or skorch.history.History
        A fitted estimator (its ``history_`` is drawn) or a history.
    ax : matplotlib.axes.Axes, optional
        Axes to draw into; by default a new figure.
    title : str, optional

    Returns
    -------
    fig : matplotlib.figure.Figure

    Examples
    --------
    >>> import numpy as np
    >>> from skc2bin import C2BINClusterer
    >>> from skc2bin.plotting import plot_training_history
    >>> X = np.random.RandomState(0).rand(40, 3)
    >>> est = C2BINClusterer(n_clusters=2, max_epochs=2, random_state=0).fit(X)
    >>> fig = plot_training_history(est)
    >>> [line.get_label() for line in fig.axes[0].get_lines()]
    ['train_loss', 'instance_loss', 'contrast_loss', 'entropy_loss']
    >>> fig.axes[0].get_legend().get_texts()[-1].get_text()
    'ema_momentum'
    """
    history = getattr(history, "history_", history)
    fig, ax = _axes(ax, (6, 4))
    from matplotlib.transforms import ScaledTranslation

    epochs = history[:, "epoch"]
    for key, style in (("train_loss", "-"), ("instance_loss", "--"), ("contrast_loss", "--"),
                       ("entropy_loss", ":")):
        ax.plot(epochs, history[:, key], style, label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (mean over the epoch's batches)")
    right = ax.twinx()
    right.plot(epochs, history[:, "ema_momentum"], color="0.5", linewidth=1, label="ema_momentum")
    right.set_ylabel("EMA momentum (end of epoch)", color="0.4")
    right.tick_params(axis="y", colors="0.4")
    if title:
        ax.set_title(title)
    # One legend for both y-axes, below the x label: inside the axes it would
    # cover some line whichever corner it took. The depth of the tick labels
    # and x label below the axes is a fixed length (it does not change when
    # the layout resizes the axes), so the legend is anchored that far below
    # the axes' bottom edge.
    below = (ax.get_window_extent().y0 - ax.xaxis.get_tightbbox().y0) / fig.dpi  # inches
    lines = ax.get_lines() + right.get_lines()
    ax.legend(lines, [line.get_label() for line in lines], loc="upper center", ncol=3,
              fontsize=8, frameon=False, bbox_to_anchor=(0.5, 0.0),
              bbox_transform=ax.transAxes + ScaledTranslation(0, -below - 0.04,
                                                              fig.dpi_scale_trans))
    return fig
