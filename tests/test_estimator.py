"""Behaviour of C2BINClusterer on small real data."""

import io
import pickle
import warnings

import joblib
import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import adjusted_rand_score
from skorch.callbacks import Callback

from skc2bin import C2BINClusterer

from .conftest import TINY


def _est(**kw):
    params = {**TINY, "n_clusters": (3, 5)}
    params.update(kw)
    return C2BINClusterer(**params)


@pytest.fixture(scope="module")
def fitted(digits_small):
    X, _ = digits_small
    return _est(image_shape=(8, 8)).fit(X), X


def test_fitted_attributes_and_outputs(fitted):
    est, X = fitted
    n = len(X)
    assert est.labels_.shape == (n,)
    assert est.labels_per_scale_.shape == (n, 2)
    assert est.labels_.dtype == np.int64
    assert est.n_clusters_ == (3, 5)
    assert est.labels_per_scale_[:, 0].max() < 3 and est.labels_per_scale_[:, 1].max() < 5
    np.testing.assert_array_equal(est.predict(X), est.labels_)
    np.testing.assert_array_equal(est.predict_per_scale(X), est.labels_per_scale_)
    proba = est.predict_proba(X)
    assert proba.shape == (n, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(proba.argmax(axis=1), est.labels_)
    emb = est.transform(X)
    assert emb.shape == (n, TINY["representation_size"]) and emb.dtype == np.float32
    assert list(est.get_feature_names_out()) == [f"c2binclusterer{i}" for i in range(emb.shape[1])]
    assert est.n_features_in_ == 64
    assert est.device_ == "cpu"


def test_history_records_every_loss(fitted):
    est, _ = fitted
    hist = est.history_
    assert len(hist) == TINY["max_epochs"]
    for key in ("train_loss", "instance_loss", "contrast_loss", "entropy_loss", "ema_momentum", "dur"):
        assert np.all(np.isfinite(hist[:, key])), key
    assert hist[-1, "ema_momentum"] > hist[0, "ema_momentum"]


def test_each_scale_keeps_its_head_with_the_lowest_last_epoch_loss(fitted):
    est, X = fitted
    network = est.net_.module_
    n_init = est.n_init
    assert len(network.heads) == n_init * len(est.n_clusters_)
    losses = np.mean([b["head_losses"] for b in est.history_[-1]["batches"]], axis=0)
    expected = [s * n_init + int(np.argmin(losses[s * n_init:(s + 1) * n_init])) for s in range(2)]
    assert network.selected.tolist() == expected
    # Inference uses the selected heads.
    network.eval()
    with torch.no_grad():
        xt = torch.as_tensor(X[:10])
        y = network.backbone(network.preprocessor(xt))
        proba = network.heads[expected[0]](y).double().numpy()
    # (Inference pads the 10 rows to a full batch: the products round differently.)
    np.testing.assert_allclose(est.predict_proba(X[:10]), proba, rtol=1e-6, atol=1e-7)


def test_n_init_one_trains_one_head_per_scale(blobs):
    X, _ = blobs
    est = C2BINClusterer(n_clusters=(2, 3), n_init=1, **TINY).fit(X)
    assert len(est.net_.module_.heads) == 2
    assert est.net_.module_.selected.tolist() == [0, 1]


def test_fit_warns_like_kmeans_where_a_head_leaves_clusters_empty(blobs):
    """A 100-cluster head on 120 samples cannot fill every cluster: fit says so, naming the scale and
    the count; a fit that fills its clusters, and partial_fit (one epoch at a time), say nothing."""
    X, _ = blobs
    with pytest.warns(ConvergenceWarning, match=r"smaller than n_clusters \(100\) at scale 1 ") as record:
        est = C2BINClusterer(**{**TINY, "n_clusters": (3, 100), "random_state": 0}).fit(X)
    found = np.unique(est.labels_per_scale_[:, 1]).size
    assert found < 100
    messages = [str(w.message) for w in record if "at scale 1 " in str(w.message)]
    assert len(messages) == 1 and f"({found}) found smaller than n_clusters (100)" in messages[0], messages

    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        full = C2BINClusterer(**{**TINY, "n_clusters": 3, "max_epochs": 30, "random_state": 0}).fit(X)
        C2BINClusterer(**{**TINY, "n_clusters": (3, 100), "random_state": 0}).partial_fit(X)
    assert np.unique(full.labels_).size == 3


def test_same_images_in_every_layout_cluster_identically(digits_small):
    X, _ = digits_small
    n = len(X)
    layouts = {
        "flat": (X, dict(image_shape=(8, 8))),
        "nhw": (X.reshape(n, 8, 8), {}),
        "nhwc": (X.reshape(n, 8, 8, 1), {}),
        "nchw": (X.reshape(n, 1, 8, 8), dict(image_format="channels_first")),
    }
    labels = {k: _est(**kw).fit(Xk).labels_ for k, (Xk, kw) in layouts.items()}
    for k in labels:
        np.testing.assert_array_equal(labels[k], labels["flat"], err_msg=k)


def test_uint8_and_float_images_cluster_the_same(digits_small):
    X, _ = digits_small
    as_uint8 = np.round(X * 255 / 16).astype(np.uint8).reshape(-1, 8, 8)
    as_float = as_uint8.astype(np.float32) / 255
    a = _est().fit(as_uint8)
    b = _est().fit(as_float)
    assert adjusted_rand_score(a.labels_, b.labels_) > 0.95
    np.testing.assert_allclose(a.transform(as_uint8[:20]), b.transform(as_float[:20]), atol=1e-3)


def test_color_images_and_resnet_free_cnn(digits_small):
    X, _ = digits_small
    rgb = np.repeat(X.reshape(-1, 8, 8, 1), 3, axis=3)
    est = _est(max_epochs=1).fit(rgb)
    assert est.input_spec_.sample_shape == (3, 8, 8)
    assert est.predict(rgb[:7]).shape == (7,)


def test_custom_backbone_module_is_copied_not_modified(digits_small):
    X, _ = digits_small
    backbone = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 12), torch.nn.ReLU())
    before = [p.detach().clone() for p in backbone.parameters()]
    est = _est(backbone=backbone, image_shape=(8, 8)).fit(X)
    assert est.transform(X[:4]).shape == (4, 12)
    assert all(torch.equal(a, b) for a, b in zip(before, backbone.parameters()))


def test_custom_augmentation_callable(digits_small):
    X, _ = digits_small
    calls = []

    def flip_noise(batch, generator):
        calls.append(batch.shape)
        return batch + 0.01 * torch.randn(batch.shape, generator=generator)

    _est(augmentation=flip_noise, image_shape=(8, 8), max_epochs=1).fit(X)
    assert calls and calls[0][1:] == (1, 8, 8)


def test_feature_vectors_and_pipeline_parameters(blobs):
    X, y = blobs
    est = _est(n_clusters=3, max_epochs=30).fit(X)
    assert est.input_spec_.layout == "vector"
    assert adjusted_rand_score(y, est.labels_) > 0.8


def test_determinism_and_global_rng_untouched(blobs):
    X, _ = blobs
    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    a = _est().fit(X)
    assert torch.equal(state, torch.random.get_rng_state())
    b = _est().fit(X)
    np.testing.assert_array_equal(a.labels_per_scale_, b.labels_per_scale_)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))


def test_clone_and_flat_params():
    est = _est(lr=0.01)
    params = est.get_params()
    assert params["lr"] == 0.01 and not any("__" in k for k in params)
    other = clone(est).set_params(lr=0.5, n_clusters=(4,))
    assert other.lr == 0.5 and est.lr == 0.01 and other.n_clusters == (4,)


@pytest.mark.parametrize("dumper", ["pickle", "joblib"])
def test_persistence_reproduces_predictions(fitted, dumper, tmp_path):
    est, X = fitted
    if dumper == "pickle":
        loaded = pickle.loads(pickle.dumps(est))
    else:
        joblib.dump(est, tmp_path / "m.joblib")
        loaded = joblib.load(tmp_path / "m.joblib")
    np.testing.assert_array_equal(loaded.predict_per_scale(X), est.predict_per_scale(X))
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))


def test_model_saved_for_cuda_loads_on_cpu(fitted):
    """A model whose net says 'cuda' unpickles onto the CPU when no GPU is present.

    (skorch maps the stored tensors with map_location; on this CPU-only
    machine the tensors themselves are CPU tensors, so this exercises the
    device switch, not the CUDA-tensor decoding.)
    """
    if torch.cuda.is_available():
        pytest.skip("needs a machine without a GPU")
    est, X = fitted
    expected = est.predict(X)
    clone_ = pickle.loads(pickle.dumps(est))
    clone_.net_.device = "cuda"
    blob = pickle.dumps(clone_)
    with pytest.warns(Warning, match="cpu"):
        loaded = pickle.loads(blob)
    assert loaded.device_ == "cpu"
    np.testing.assert_array_equal(loaded.predict(X), expected)


def test_user_callbacks_verbose_and_progress(blobs, capsys):
    X, _ = blobs

    class Count(Callback):
        def __init__(self):
            self.epochs = 0

        def on_epoch_end(self, net, **kwargs):
            self.epochs += 1

    counter = Count()
    est = _est(callbacks=[counter], verbose=1, max_epochs=3).fit(X)
    out = capsys.readouterr()
    assert "instance_loss" in out.out and "contrast_loss" in out.out
    # The callback passed as a parameter is copied, the copy counted epochs.
    assert counter.epochs == 0
    copies = [cb for _, cb in est.net_.callbacks_ if isinstance(cb, Count)]
    assert copies and copies[0].epochs == 3


def test_silent_by_default(blobs, capsys):
    X, _ = blobs
    _est().fit(X)
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


def test_score_is_higher_for_better_clusterings_and_punishes_collapse(blobs):
    X, y = blobs
    good = _est(n_clusters=3, max_epochs=30).fit(X)
    score = good.score(X)
    assert -1.0 <= score <= 1.0
    assert score > 0.3

    class OneCluster(C2BINClusterer):
        def _infer(self, net, Xt, **kw):
            emb, labels, prob = super()._infer(net, Xt, **kw)
            return emb, np.zeros_like(labels), prob

    collapsed = OneCluster(n_clusters=3, **TINY).fit(X)
    assert collapsed.score(X) == -1.0


def test_fit_predict_equals_labels(blobs):
    X, _ = blobs
    est = _est()
    np.testing.assert_array_equal(est.fit_predict(X), est.labels_)


@pytest.mark.parametrize("lr_schedule", ["constant", "cosine"])
def test_every_tensor_is_pickled_through_skorchs_device_mapping(blobs, lr_schedule):
    """skorch stores module/target/criterion/optimizer state as torch payloads
    that unpickle with map_location (so a CUDA-fitted model loads on a CPU
    machine); any tensor pickled *outside* them would be restored onto its
    original device. None may be."""
    X, _ = blobs
    est = _est(lr_schedule=lr_schedule).fit(X)
    seen = []

    class Spy(pickle.Pickler):
        def reducer_override(self, obj):
            if isinstance(obj, (torch.Tensor, torch.UntypedStorage, torch.Generator)):
                seen.append(type(obj).__name__)
            return NotImplemented

    Spy(io.BytesIO()).dump(est)
    assert seen == []


# ------------------------------------------------------------- logs and verbosity
def test_log_has_no_colour_codes_when_not_a_terminal(blobs, capsys, monkeypatch):
    X, _ = blobs
    _est(verbose=1, max_epochs=3).fit(X)
    out = capsys.readouterr().out
    assert "train_loss" in out and "\x1b[" not in out
    # On a terminal skorch's colours stay.
    import skc2bin.training.callbacks as callbacks

    monkeypatch.setattr(callbacks, "_is_terminal", lambda stream: True)
    _est(verbose=1, max_epochs=3).fit(X)
    assert "\x1b[" in capsys.readouterr().out


def test_verbose_2_prints_every_batch_losses(blobs, capsys):
    X, _ = blobs  # 120 rows, batch 32, drop_last: 3 steps per epoch
    _est(verbose=2, max_epochs=2).fit(X)
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 6
    assert lines[0].startswith("epoch 1 batch 1: train_loss ") and "contrast_loss" in lines[0]
    assert lines[-1].startswith("epoch 2 batch 3:")
    _est(verbose=1, max_epochs=2).fit(X)
    assert not [line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch ")]


# ---------------------------------------------------------------- thread count
class _Threads(Callback):
    def __init__(self):
        self.seen = []

    def on_epoch_end(self, net, **kwargs):
        self.seen.append(torch.get_num_threads())


def test_fit_runs_with_n_threads_and_restores_the_caller_setting(blobs):
    X, _ = blobs
    before = torch.get_num_threads()
    est = _est(n_threads=1, callbacks=[_Threads()], max_epochs=2).fit(X)
    spy = next(cb for _, cb in est.net_.callbacks_ if isinstance(cb, _Threads))
    assert spy.seen == [1, 1]
    assert torch.get_num_threads() == before
    from skc2bin._threads import default_n_threads

    auto = _est(callbacks=[_Threads()], max_epochs=1).fit(X)
    spy = next(cb for _, cb in auto.net_.callbacks_ if isinstance(cb, _Threads))
    assert spy.seen == [default_n_threads()]
    assert torch.get_num_threads() == before


def test_auto_threads_honour_omp_num_threads_outside_joblib_workers(monkeypatch):
    from skc2bin._threads import available_cpus, default_n_threads

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert default_n_threads() == available_cpus()
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert default_n_threads() == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "not a number")
    assert default_n_threads() == available_cpus()


def test_n_threads_is_validated():
    with pytest.raises(ValueError, match="n_threads"):
        _est(n_threads=0).fit([[0.0, 1.0]] * 10)


def test_grid_search_results_do_not_depend_on_n_jobs(digits_small, monkeypatch):
    """joblib's workers start torch with fewer threads; the estimator fixes
    the count itself, so the search is identical whatever n_jobs."""
    from sklearn.model_selection import GridSearchCV

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)

    X, y = digits_small

    def search(n_jobs):
        return GridSearchCV(
            _est(n_clusters=10, image_shape=(8, 8), max_epochs=3),
            {"lr": [1e-3, 3e-3]}, scoring="adjusted_rand_score", cv=2, n_jobs=n_jobs,
        ).fit(X, y).cv_results_

    one, two = search(1), search(2)
    for key in ("split0_test_score", "split1_test_score", "mean_test_score", "rank_test_score"):
        np.testing.assert_array_equal(one[key], two[key])


# -------------------------------------------------------------- fitted state, tags
def test_fitted_state_has_one_owner(fitted):
    est, X = fitted
    state = est._get_fitted_state()
    other = C2BINClusterer(**est.get_params())
    other._set_fitted_state(state)
    np.testing.assert_array_equal(other.labels_, est.labels_)
    np.testing.assert_array_equal(other.predict(X[:10]), est.predict(X[:10]))
    assert other.n_features_out_ == est.n_features_out_ == TINY["representation_size"]
    with pytest.raises(ValueError, match="lacks"):
        other._set_fitted_state({"net": est.net_})


def test_tags_say_image_arrays_are_accepted():
    tags = C2BINClusterer().__sklearn_tags__()
    assert tags.input_tags.three_d_array
    assert tags.transformer_tags.preserves_dtype == ["float32"]


def test_outputs_do_not_depend_on_the_batch_a_sample_falls_in(fitted):
    """Inference pads short batches to the batch size: a sample's outputs are
    bit-identical whether predicted alone, in another order or with others."""
    est, X = fitted
    rng = np.random.RandomState(0)
    order = rng.permutation(len(X))
    proba = est.predict_proba(X)
    np.testing.assert_array_equal(est.predict_proba(X[order]), proba[order])
    np.testing.assert_array_equal(est.predict_proba(X[7:8]), proba[7:8])
    np.testing.assert_array_equal(est.transform(X[order[:45]]), est.transform(X)[order[:45]])
