"""Training on real data: quality floors, pipelines and model selection."""

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_digits, make_classification, make_moons
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import normalized_mutual_info_score
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from skc2bin import C2BINClusterer
from skc2bin.metrics import clustering_accuracy, clustering_accuracy_scorer

from .conftest import TINY


@pytest.mark.slow
def test_digits_as_images_reach_quality_floor(digits):
    """Digits as 8x8 images, default settings but seed and 50 epochs (half the default).

    At the default 100 epochs benchmarks/quality.py measures ACC 0.992 to
    0.994 over seeds 0-4 with 1 torch thread and 0.963 to 0.995 with 2; before
    the refinement phase, 0.874 to 0.996 (docs/benchmarks.md). With 50 epochs
    benchmarks/digits_floor.py measures 0.993 to 0.994 over seeds 0-4 (NMI
    0.984, 1 torch thread, as under pytest-xdist), the same as 100 epochs in
    the same run (docs/benchmarks.md, "Digits at the integration test's
    settings"), at half the suite's longest test; with 2 torch threads (pytest
    without -n) 0.960, NMI 0.945. KMeans gets 0.79. The test holds seed 0 to
    issue 13's every-seed goal, 0.95 (NMI 0.94).
    """
    X, y = digits
    est = C2BINClusterer(n_clusters=10, image_shape=(8, 8), max_epochs=50, random_state=0).fit(X)
    acc = clustering_accuracy(y, est.labels_)
    assert acc >= 0.95, acc
    assert normalized_mutual_info_score(y, est.labels_) >= 0.94


def test_feature_vectors_reach_quality_floor():
    """Breast cancer (569 x 30 features), default settings but 10 epochs.

    The refinement mines the neighbours of feature vectors in the
    standardised input, weighted by the representation
    (``refine_space='auto'``): ACC 0.944 here, against 0.861 with the
    neighbours of the representation (seed 0, 1 torch thread; see
    docs/benchmarks.md, "Refinement neighbours of feature vectors").
    Spectral clustering gets 0.937, KMeans 0.905.
    """
    X, y = load_breast_cancer(return_X_y=True)
    est = C2BINClusterer(n_clusters=2, max_epochs=10, random_state=0).fit(X)
    assert clustering_accuracy(y, est.labels_) >= 0.92


def test_noise_features_do_not_steer_the_refinement():
    """4 classes in 20 features, 10 of them pure noise, 10 epochs.

    The input's columns are weighted by how alike the representation's
    neighbours are in them, so the noise features hardly count: ACC 0.930
    here, against 0.802 with the plain input's neighbours and 0.876 with
    the representation's (seed 0, 1 torch thread). KMeans gets 0.827.
    """
    X, y = make_classification(n_samples=1500, n_features=20, n_informative=5, n_redundant=5, n_classes=4,
                               n_clusters_per_class=1, class_sep=1.5, random_state=1234)
    est = C2BINClusterer(n_clusters=4, max_epochs=10, random_state=0).fit(X)
    assert est.history_[-1]["refine_space"] == "weighted-input"
    assert clustering_accuracy(y, est.labels_) >= 0.90


def test_the_graph_partition_refined_finds_the_two_moons():
    """Two moons (1,500 points) beside 3 noise features, 10 epochs.

    The C2BIN head and the heads refined from it cut both moons in half (ACC
    0.872 with ``refine_graph='distilled'``); the spectral partition of the
    neighbour graph, refined like the heads, scores lower on the selection
    and replaces them: ACC 0.977 here (seed 0, 1 torch thread; seed 1: 0.983
    against 0.893). Spectral clustering on the input gets 0.933 on the
    benchmark's moons (docs/benchmarks.md, "The graph partition as a
    starting point").
    """
    X, y = make_moons(n_samples=1500, noise=0.08, random_state=0)
    X = np.hstack([X, np.random.RandomState(0).randn(len(X), 3)])
    est = C2BINClusterer(n_clusters=2, max_epochs=10, random_state=0).fit(X)
    assert est.history_[-1]["refine_per_scale"][0]["outcome"] == "graph-refined"
    assert clustering_accuracy(y, est.labels_) >= 0.95


def test_a_layout_of_the_neighbour_space_mends_digits_as_vectors():
    """Digits as 64 feature vectors (1,797), 40 epochs, seed 1.

    The refined heads and the re-pairing keep a partition of ACC 0.839
    (``refine_layouts=0``); a partition (Gaussian mixture or k-means) of a UMAP-style layout of the
    standardised input, distilled and refined, beats it by the re-pairing
    step's rule and replaces it: 0.939 (1 torch thread; seeds 0 and 2: 0.839 ->
    0.930, 0.924 -> 0.927; docs/benchmarks.md, "A layout of the neighbour graph
    as a starting point", for the default 100 epochs). UMAP + GMM on the
    standardised input gets 0.937-0.942.
    """
    X, y = load_digits(return_X_y=True)
    est = C2BINClusterer(n_clusters=10, max_epochs=40, random_state=1).fit(X)
    assert est.history_[-1]["refine_layout"]
    assert clustering_accuracy(y, est.labels_) >= 0.92


def test_transform_feeds_a_linear_probe(digits_small):
    X, y = digits_small
    pipe = make_pipeline(
        C2BINClusterer(n_clusters=10, image_shape=(8, 8), max_epochs=20, hidden_size=64,
                       representation_size=32, projection_size=16, device="cpu", random_state=0),
        LogisticRegression(max_iter=2000),
    )
    # A linear probe on 32 learned features of 200 training images: 0.857 / 0.873
    # measured with 2 / 1 threads (0.91 / 0.89 after 40 epochs).
    assert cross_val_score(pipe, X, y, cv=KFold(3, shuffle=True, random_state=0)).mean() > 0.8


def test_rows_read_as_images_inside_a_pipeline(digits_small):
    X, _ = digits_small
    pipe = make_pipeline(
        FunctionTransformer(lambda Z: Z / 16.0),
        C2BINClusterer(n_clusters=10, image_shape=(8, 8), **TINY),
    )
    labels = pipe.fit_predict(X)
    assert labels.shape == (len(X),)
    assert pipe.transform(X[:5]).shape == (5, TINY["representation_size"])


def test_grid_search_with_labels(digits_small):
    X, y = digits_small
    search = GridSearchCV(
        C2BINClusterer(image_shape=(8, 8), **TINY),
        {"n_clusters": [8, 10], "lr": [1e-3, 3e-3]},
        scoring="adjusted_rand_score",
        cv=2,
    ).fit(X, y)
    assert set(search.best_params_) == {"n_clusters", "lr"}
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    acc = GridSearchCV(
        C2BINClusterer(image_shape=(8, 8), **TINY), {"n_clusters": [10]},
        scoring=clustering_accuracy_scorer, cv=2,
    ).fit(X, y)
    assert 0.1 < acc.best_score_ <= 1.0


def test_grid_search_without_labels_uses_score(digits_small):
    X, _ = digits_small
    search = GridSearchCV(
        C2BINClusterer(image_shape=(8, 8), **TINY), {"n_clusters": [2, 10], "lr": [1e-3]}, cv=2
    ).fit(X)
    scores = search.cv_results_["mean_test_score"]
    assert np.all((scores >= -1) & (scores <= 1))
    assert search.best_estimator_.labels_.shape == (len(X),)
