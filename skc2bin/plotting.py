"""Pictures of clusterings (needs matplotlib: ``pip install skc2bin[plot]``)."""

import numpy as np

__all__ = ["plot_cluster_samples"]


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "skc2bin.plotting needs matplotlib: pip install 'skc2bin[plot]'"
        ) from exc
    return plt


def plot_cluster_samples(images, labels, *, n_per_cluster=10, random_state=0, title=None):
    """Grid of sample images: one row per cluster.

    Parameters
    ----------
    images : ndarray of shape (n, h, w) or (n, h, w, c)
        Images in channels-last layout (any numeric range; each image is
        scaled to its own min/max for display).
    labels : ndarray of shape (n,)
        Cluster of each image.
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
    """
    plt = _pyplot()
    images = np.asarray(images)
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
