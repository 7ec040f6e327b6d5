"""Clustering metrics: accuracy under the best cluster-to-class map, and the
label-free score behind :meth:`C2BINClusterer.score`."""

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import make_scorer, silhouette_score
from sklearn.metrics.cluster import contingency_matrix
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_consistent_length

__all__ = ["best_cluster_map", "clustering_accuracy", "clustering_accuracy_scorer", "silhouette_in_input_space", "silhouette_sample"]


def best_cluster_map(counts):
    """The one-to-one map of clusters to classes that matches the most samples.

    The Hungarian algorithm (:func:`scipy.optimize.linear_sum_assignment`)
    on a contingency matrix; the map behind :func:`clustering_accuracy` and
    the column order of :func:`skc2bin.plotting.plot_confusion_matrix`.

    Parameters
    ----------
    counts : ndarray of shape (n_classes, n_clusters)
        ``counts[i, j]`` samples of class ``i`` in cluster ``j``.

    Returns
    -------
    classes, clusters : ndarray of int
        Class ``classes[m]`` is matched to cluster ``clusters[m]``;
        ``min(n_classes, n_clusters)`` pairs.

    Examples
    --------
    >>> import numpy as np
    >>> from skc2bin.metrics import best_cluster_map
    >>> classes, clusters = best_cluster_map(np.array([[0, 5], [4, 1]]))
    >>> classes.tolist(), clusters.tolist()
    ([0, 1], [1, 0])
    """
    return linear_sum_assignment(counts, maximize=True)


def clustering_accuracy(labels_true, labels_pred):
    """Clustering accuracy (ACC): the share of samples whose cluster maps to
    their class under the best one-to-one map of clusters to classes.

    The map is found with the Hungarian algorithm
    (:func:`scipy.optimize.linear_sum_assignment`) on the contingency
    matrix. With more clusters than classes, the surplus clusters map to no
    class and their samples count as errors (and vice versa).

    Parameters
    ----------
    labels_true : array-like of shape (n_samples,)
        Ground-truth classes.
    labels_pred : array-like of shape (n_samples,)
        Cluster labels.

    Returns
    -------
    accuracy : float in [0, 1]

    Examples
    --------
    >>> from skc2bin.metrics import clustering_accuracy
    >>> clustering_accuracy([0, 0, 1, 1, 2], [1, 1, 0, 0, 0])
    0.8
    """
    labels_true = np.asarray(labels_true)
    labels_pred = np.asarray(labels_pred)
    check_consistent_length(labels_true, labels_pred)
    if labels_true.size == 0:
        raise ValueError("clustering_accuracy needs at least one sample.")
    counts = contingency_matrix(labels_true, labels_pred)
    rows, cols = best_cluster_map(counts)
    return float(counts[rows, cols].sum() / labels_true.size)


#: Scorer for :class:`~sklearn.model_selection.GridSearchCV`:
#: ``scoring=clustering_accuracy_scorer`` scores ``predict(X)`` against ``y``.
clustering_accuracy_scorer = make_scorer(clustering_accuracy)


def silhouette_sample(n, *, sample_size=2000, random_state=0):
    """Indices of the samples :func:`silhouette_in_input_space` scores out of ``n``.

    All of them when ``n <= sample_size``; otherwise ``sample_size`` drawn
    without replacement with a fixed seed, so callers can compute only the
    rows that will be scored.

    Parameters
    ----------
    n : int
        Number of samples.
    sample_size : int, default=2000
    random_state : int, default=0

    Returns
    -------
    indices : ndarray of int

    Examples
    --------
    >>> from skc2bin.metrics import silhouette_sample
    >>> silhouette_sample(3).tolist()
    [0, 1, 2]
    >>> len(silhouette_sample(5000))
    2000
    """
    if n <= sample_size:
        return np.arange(n)
    return check_random_state(random_state).choice(n, size=sample_size, replace=False)


def silhouette_in_input_space(X, labels, *, sample_size=2000, random_state=0):
    """Label-free clustering quality in a fixed space (higher is better).

    The mean silhouette coefficient of ``labels`` on ``X``, computed on at
    most ``sample_size`` samples drawn with a fixed seed. ``X`` should be the
    same for every model compared (the estimator passes its standardised
    inputs, which depend only on the data), so the score compares models
    with different hyperparameters, including different numbers of clusters.

    Parameters
    ----------
    X : array-like of shape (n_samples, ...)
        The space the silhouette is measured in (rows are flattened).
    labels : array-like of shape (n_samples,)
        Cluster of each sample.
    sample_size : int, default=2000
        At most this many samples are scored (see :func:`silhouette_sample`).
    random_state : int, default=0
        Seed of the sample.

    Returns
    -------
    score : float in [-1, 1]
        -1 (the worst value) when the labels form a single cluster or one
        cluster per sample, so collapsing everything into one cluster is
        never rewarded.

    Examples
    --------
    >>> import numpy as np
    >>> from skc2bin.metrics import silhouette_in_input_space
    >>> X = np.array([[0.0], [0.1], [5.0], [5.1]])
    >>> round(silhouette_in_input_space(X, [0, 0, 1, 1]), 2)
    0.98
    >>> silhouette_in_input_space(X, [0, 0, 0, 0])
    -1.0
    """
    X = np.asarray(X)
    labels = np.asarray(labels)
    n = len(labels)
    if n > sample_size:
        idx = silhouette_sample(n, sample_size=sample_size, random_state=random_state)
        X, labels = X[idx], labels[idx]
    n_labels = len(np.unique(labels))
    if n_labels < 2 or n_labels >= len(labels):
        return -1.0
    return float(silhouette_score(X.reshape(len(X), -1), labels))
