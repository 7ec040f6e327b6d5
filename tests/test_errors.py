"""Bad input gets a clear error, never a torch traceback, and never corrupts a model."""

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

from skc2bin import C2BINClusterer, TrainingDivergedError

from .conftest import TINY


def _est(**kw):
    return C2BINClusterer(**{**TINY, "n_clusters": 3, **kw})


X5 = np.random.RandomState(0).randn(40, 5)


@pytest.mark.parametrize(
    "bad, match",
    [
        (np.where(np.arange(200).reshape(40, 5) == 7, np.nan, X5), "NaN"),
        (np.where(np.arange(200).reshape(40, 5) == 7, np.inf, X5), "infinity"),
        (np.empty((0, 5)), "0 sample"),
        (np.arange(10.0), "Expected 2D array"),
        (np.zeros((4, 2, 2, 2, 2)), "5 dimensions"),
        (np.array([[1 + 1j, 2], [3, 4]] * 5), "Complex"),
        (np.array([["a", "b"]] * 10, dtype=object), "could not convert|string"),
    ],
)
def test_bad_training_data(bad, match):
    with pytest.raises(ValueError, match=match):
        _est().fit(bad)


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(n_clusters=0), "must be >= 1"),
        (dict(n_clusters=(10, -3)), "must be >= 1"),
        (dict(n_clusters=()), "non-empty"),
        (dict(n_clusters=(2.5,)), "tuple of ints"),
        (dict(n_clusters=50), "n_samples=40 should be >= n_clusters=50"),
        (dict(backbone="vgg"), "backbone"),
        (dict(device="tpu"), "device"),
        (dict(augmentation="strong"), "augmentation"),
        (dict(optimizer="rmsprop"), "optimizer"),
        (dict(image_format="hwc"), "image_format"),
        (dict(lr=-1.0), "lr"),
        (dict(batch_size=1), "batch_size"),
        (dict(base_momentum=1.5), "base_momentum"),
        (dict(image_shape=(3, 3)), "image_shape"),
        (dict(image_shape=(0, 5)), "image_shape"),
        (dict(backbone="cnn"), "image_shape"),
        (dict(augmentation="color"), "image_shape"),
    ],
)
def test_bad_parameters(params, match):
    with pytest.raises(ValueError, match=match):
        _est(**params).fit(X5)


def test_n_clusters_one_warns_and_learns_representations():
    with pytest.warns(UserWarning, match="n_clusters has an entry of 1"):
        est = _est(n_clusters=1).fit(X5)
    assert set(est.labels_) == {0}
    assert est.transform(X5).shape == (40, TINY["representation_size"])


def test_one_sample_is_rejected_with_sklearn_style_message():
    with pytest.raises(ValueError, match="n_samples=1"), pytest.warns(UserWarning):
        _est(n_clusters=1).fit(X5[:1])


def test_cuda_requested_without_gpu():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ValueError, match="device='auto'"):
        _est(device="cuda").fit(X5)


def test_predict_before_fit():
    for method in ("predict", "predict_proba", "transform", "predict_per_scale", "score"):
        with pytest.raises(NotFittedError):
            getattr(_est(), method)(X5)


def test_wrong_shapes_at_predict():
    est = _est().fit(X5)
    with pytest.raises(ValueError, match="X has 4 features, but C2BINClusterer is expecting 5"):
        est.predict(X5[:, :4])
    imgs = np.random.RandomState(0).rand(30, 8, 8)
    est_img = _est().fit(imgs)
    with pytest.raises(ValueError, match=r"shape \(9, 9\).*fitted on samples of shape \(8, 8\)"):
        est_img.predict(np.random.rand(3, 9, 9))
    with pytest.raises(ValueError, match="fitted on samples of shape"):
        est_img.predict(np.random.rand(3, 8, 8, 3))
    with pytest.raises(ValueError, match="NaN"):
        est.predict(np.full((2, 5), np.nan))


def test_ambiguous_channel_layout_names_the_parameter():
    chw = np.random.RandomState(0).rand(20, 3, 16, 16)
    with pytest.raises(ValueError, match="image_format='channels_first'"):
        _est().fit(chw)
    hwc = np.random.RandomState(0).rand(20, 16, 16, 3)
    with pytest.raises(ValueError, match="image_format='channels_last'"):
        _est(image_format="channels_first").fit(hwc)
    with pytest.raises(ValueError, match="image_shape"):
        _est(image_shape=(4, 4)).fit(hwc)


def test_bad_custom_backbone_is_explained():
    conv = torch.nn.Conv2d(1, 4, 3)  # returns 4-D maps, not (n, dim)
    with pytest.raises(ValueError, match="Flatten"):
        _est(backbone=conv).fit(np.random.rand(20, 8, 8))
    wrong = torch.nn.Linear(3, 4)  # crashes on 5 features
    with pytest.raises(ValueError, match=r"inputs of shape \(n, 5\)"):
        _est(backbone=wrong).fit(X5)


def _nan_augment(batch, generator):
    return batch * float("nan")


def test_nan_loss_stops_with_clear_error_and_leaves_estimator_unfitted():
    est = _est(augmentation=_nan_augment)
    with pytest.raises(TrainingDivergedError, match="lower lr"):
        est.fit(X5)
    assert not hasattr(est, "labels_") and not hasattr(est, "n_features_in_")
    with pytest.raises(NotFittedError):
        est.predict(X5)


def test_failed_refit_keeps_the_previous_model():
    est = _est().fit(X5)
    before = est.predict(X5)
    state = dict(est.__dict__)
    est.set_params(augmentation=_nan_augment)
    with pytest.raises(TrainingDivergedError):
        est.fit(X5)
    with pytest.raises(ValueError):
        est.fit(X5[:, :3] * np.nan)
    assert {k for k in est.__dict__ if k != "augmentation"} == {k for k in state if k != "augmentation"}
    assert est.n_features_in_ == 5
    np.testing.assert_array_equal(est.predict(X5), before)
