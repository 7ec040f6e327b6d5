"""Interrupted and continued training: KeyboardInterrupt, warm_start, partial_fit."""

import warnings

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score
from skorch.callbacks import Callback

from skc2bin import C2BINClusterer, TrainingDivergedError

from .conftest import TINY


def _est(**kw):
    return C2BINClusterer(**{**TINY, "n_clusters": 3, "max_epochs": 10, "batch_size": 16, **kw})


class InterruptAt(Callback):
    """Raise KeyboardInterrupt (as Ctrl-C would) at the end of epoch ``epoch``."""

    def __init__(self, epoch):
        self.epoch = epoch

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == self.epoch:
            raise KeyboardInterrupt


class InterruptMidEpoch(Callback):
    def on_batch_end(self, net, **kwargs):
        if len(net.history) == 2 and len(net.history[-1]["batches"]) == 2:
            raise KeyboardInterrupt


def test_keyboard_interrupt_keeps_weights_so_far_with_warning(blobs):
    X, _ = blobs
    with pytest.warns(UserWarning, match="interrupted .* after 3 epoch"):
        est = _est(callbacks=[InterruptAt(3)]).fit(X)
    assert len(est.history_) == 3
    assert est.labels_.shape == (len(X),)
    # The weights are the ones reached after 3 epochs: same as a 3-epoch fit's
    # first 3 epochs would give with the 10-epoch schedules.
    ref = _est()
    for _ in range(3):
        ref.partial_fit(X)
    np.testing.assert_allclose(est.transform(X), ref.transform(X), rtol=1e-5, atol=1e-6)


def test_keyboard_interrupt_mid_epoch_is_usable_and_continues(blobs):
    X, _ = blobs
    with pytest.warns(UserWarning, match="after 1 epoch"):
        est = _est(callbacks=[InterruptMidEpoch()]).fit(X)
    assert np.isfinite(est.transform(X)).all()
    est.set_params(callbacks=None)
    est.partial_fit(X)
    assert est.predict(X).shape == (len(X),)


def test_partial_fit_epochs_equal_one_fit_exactly(blobs):
    X, _ = blobs
    full = _est().fit(X)
    step = _est()
    for _ in range(10):
        step.partial_fit(X)
    np.testing.assert_array_equal(step.transform(X), full.transform(X))
    np.testing.assert_array_equal(step.labels_, full.labels_)
    assert len(step.history_) == 10


def test_warm_start_5_plus_5_lands_where_10_does(blobs):
    X, _ = blobs
    ten = _est().fit(X)
    five = _est(max_epochs=5).fit(X)
    five.set_params(warm_start=True).fit(X)
    assert len(five.history_) == 10
    # Same second half of the EMA schedule; only the first half differs.
    assert five.history_[-1, "ema_momentum"] == pytest.approx(ten.history_[-1, "ema_momentum"])
    assert five.history_[-1, "train_loss"] == pytest.approx(ten.history_[-1, "train_loss"], rel=0.05)
    assert adjusted_rand_score(five.labels_, ten.labels_) > 0.9
    # Without warm_start a second fit starts over.
    again = _est(max_epochs=5).fit(X).fit(X)
    assert len(again.history_) == 5


def test_partial_fit_checks_input_against_the_fitted_model(blobs):
    X, _ = blobs
    est = _est().partial_fit(X)
    with pytest.raises(ValueError, match="features"):
        est.partial_fit(X[:, :2])
    with pytest.raises(ValueError, match="at least 2 samples"):
        est.partial_fit(X[:1])
    assert len(est.history_) == 1


def _nan_augment(batch, generator):
    return batch * float("nan")


def test_divergence_during_warm_start_leaves_model_as_before(blobs):
    X, _ = blobs
    est = _est(max_epochs=3).fit(X)
    before_emb = est.transform(X)
    before_len = len(est.history_)
    est.set_params(warm_start=True, augmentation=_nan_augment)
    with pytest.raises(TrainingDivergedError):
        est.fit(X)
    with pytest.raises(TrainingDivergedError):
        est.partial_fit(X)
    np.testing.assert_array_equal(est.transform(X), before_emb)
    assert len(est.history_) == before_len


def test_partial_fit_on_new_data_chunks(blobs):
    X, _ = blobs
    est = _est()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warnings on the normal path
        est.partial_fit(X[:60]).partial_fit(X[60:])
    assert est.labels_.shape == (60,)
    assert est.predict(X).shape == (len(X),)


def test_a_small_chunk_does_not_shrink_later_batches(blobs):
    X, _ = blobs
    est = _est().partial_fit(X).partial_fit(X[:10]).partial_fit(X)
    sizes = [b["train_batch_size"] for b in est.history_[-1, "batches"]]
    assert sizes == [16] * (len(X) // 16)
    assert [b["train_batch_size"] for b in est.history_[-2, "batches"]] == [10]


def test_early_stopping_ends_the_fit_without_an_interrupt_warning(blobs):
    from skorch.callbacks import EarlyStopping

    X, _ = blobs
    # An improvement threshold no epoch can meet: stops after the second epoch.
    stop = EarlyStopping(monitor="train_loss", patience=1, threshold=1e9, threshold_mode="abs", sink=lambda *a: None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = C2BINClusterer(**{**TINY, "n_clusters": 3, "max_epochs": 10, "callbacks": [stop]}).fit(X)
    assert len(est.history_) == 2
    assert est.net_.stopped_early_ == 2 and est.net_.interrupted_ is None
    assert est.labels_.shape == (len(X),)
