"""Hostile inputs: every input either fits correctly or raises a clear error.

"Fits correctly": ``labels_`` has shape ``(n,)`` with values in
``[0, n_clusters)``, ``predict`` on the training data reproduces it,
``transform`` is finite with shape ``(n, representation_size)`` and
``predict_proba`` rows are finite and sum to one. "A clear error": a
``ValueError``/``TypeError`` raised by skc2bin or scikit-learn (not from
inside torch or skorch), whose message is not a torch internal one.

The property tests are derandomized (same examples on every run) and keep no
example database, so CI is deterministic.

The bugs found while writing these tests (overflow near the float maximum,
float32 spreads below the smallest subnormal, zero-length image axes) are
fixed; their minimal reproducers stay below as regression tests.
"""

import math
import os
import traceback
import warnings

import numpy as np
import pandas as pd
import pytest
import skorch
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_rand_score

from skc2bin import C2BINClusterer

from .conftest import TINY

#: One epoch: enough to exercise fit, predict and every input path.
FAST = {**TINY, "max_epochs": 1}
#: Enough training for blobs to be clustered (ARI 1.0 against the truth), so
#: that comparing labels between two fits is not vacuous (with ``FAST`` every
#: sample lands in one cluster).
TRAINED = {**TINY, "max_epochs": 30, "batch_size": 16}
REP = TINY["representation_size"]

PROPERTY = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    derandomize=True,
    database=None,
)

_FOREIGN_DIRS = tuple(
    os.path.dirname(os.path.abspath(mod.__file__)) + os.sep for mod in (torch, skorch)
)
_TORCH_MESSAGES = ("Expected more than 1 value per channel", "RuntimeError")

F32_MAX = float(np.finfo(np.float32).max)
F64_MAX = float(np.finfo(np.float64).max)


# --------------------------------------------------------------------------- helpers
def _blobs():
    X, y = make_blobs(n_samples=60, centers=3, n_features=4, random_state=0)
    return X, y


def _fit(X, k, params=FAST, **kw):
    est = C2BINClusterer(n_clusters=k, **{**params, **kw})
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="n_clusters has an entry of 1", category=UserWarning)
        return est.fit(X)


def assert_clean_error(exc):
    """``exc`` is a ValueError/TypeError from skc2bin/scikit-learn, not a torch internal."""
    assert isinstance(exc, (ValueError, TypeError)), f"{type(exc).__name__}: {exc}"
    last = os.path.abspath(traceback.extract_tb(exc.__traceback__)[-1].filename)
    assert not last.startswith(_FOREIGN_DIRS), f"raised inside {last}: {exc}"
    msg = str(exc)
    assert msg.strip(), "empty error message"
    for bad in _TORCH_MESSAGES:
        assert bad not in msg, msg


def assert_fits_correctly(est, X, n, k):
    labels = est.labels_
    assert labels.shape == (n,)
    assert np.issubdtype(labels.dtype, np.integer)
    assert labels.min() >= 0 and labels.max() < k
    assert est.labels_per_scale_.shape == (n, 1)
    np.testing.assert_array_equal(est.predict(X), labels)
    # A single sample through the eval-mode network (BatchNorm must not
    # complain about one value per channel).
    np.testing.assert_array_equal(est.predict(X[:1]), labels[:1])
    Z = est.transform(X)
    assert Z.shape == (n, REP)
    assert np.isfinite(Z).all()
    P = est.predict_proba(X)
    assert P.shape == (n, k)
    assert np.isfinite(P).all()
    assert (P >= 0).all()
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(P.argmax(axis=1), labels)


def _check_outcome(X, k, params=FAST):
    """Fit ``X``; the ValueError must come exactly when the data call for it."""
    n = len(X)
    values = np.asarray(X)
    non_finite = values.dtype.kind in "fc" and not np.isfinite(values).all()
    too_few = n < max(2, k)
    if non_finite or too_few:
        with pytest.raises(ValueError) as info:
            _fit(X, k, params)
        assert_clean_error(info.value)
        match = "NaN|infinity" if non_finite else f"n_samples={n} should be >= n_clusters"
        assert info.match(match)
        return None
    est = _fit(X, k, params)  # any exception here fails the test
    assert_fits_correctly(est, X, n, k)
    return est


# ----------------------------------------------------------------------- strategies
NUMERIC_DTYPES = [np.bool_, np.int8, np.int64, np.uint8, np.float16, np.float32, np.float64]
_NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])


def _bounded_floats(width, non_finite):
    """0 or +-[1e-20, 1e20] (magnitudes skc2bin is known to handle), and NaN/+-inf if asked."""
    big = st.floats(float(np.float32(1e-20)), float(np.float32(1e20)), width=width)
    finite = st.one_of(st.just(0.0), big, big.map(lambda v: -v))
    return st.one_of(finite, _NON_FINITE) if non_finite else finite


@st.composite
def feature_matrices(draw, full_range, dtype=None):
    """2-D arrays, 1..40 rows x 1..6 columns, of ``dtype`` (default: any numeric dtype).

    Float elements may be NaN or +-inf (in about a third of the arrays, so
    that most examples get to fit). ``full_range``: floats anywhere in the
    dtype's range, subnormals and values next to the largest finite one
    included; otherwise magnitudes are bounded (``_bounded_floats``).
    """
    dtype = np.dtype(dtype if dtype is not None else draw(st.sampled_from(NUMERIC_DTYPES)))
    shape = (draw(st.integers(1, 40)), draw(st.integers(1, 6)))
    if dtype.kind != "f":
        return draw(hnp.arrays(dtype, shape))  # bools and ints over their full range
    non_finite = draw(st.integers(0, 2)) == 0
    if dtype == np.float16:
        # Drawn in float32 and cast, so that values beyond float16's range
        # overflow to inf (and count as inf).
        elements = hnp.from_dtype(np.dtype(np.float16), allow_nan=non_finite, allow_infinity=non_finite)
        if non_finite:
            elements = st.one_of(elements, st.floats(-1e6, 1e6, width=32))
        X = draw(hnp.arrays(np.float32, shape, elements=elements))
        with np.errstate(over="ignore"):
            return X.astype(np.float16)
    if full_range:
        elements = hnp.from_dtype(dtype, allow_nan=non_finite, allow_infinity=non_finite)
    else:
        elements = _bounded_floats(dtype.itemsize * 8, non_finite)
    return draw(hnp.arrays(dtype, shape, elements=elements))


IMAGE_DTYPES = [np.uint8, np.float16, np.float32, np.float64]


@st.composite
def image_arrays(draw, full_range):
    """(n, h, w) or (n, h, w, c) images, n in 2..12, h and w in 1..10, c in {1, 3}.

    Floats are finite; ``full_range`` lets them span the dtype's whole range,
    otherwise they lie in [-1e4, 1e4].
    """
    dtype = np.dtype(draw(st.sampled_from(IMAGE_DTYPES)))
    shape = (draw(st.integers(2, 12)), draw(st.integers(1, 10)), draw(st.integers(1, 10)))
    if draw(st.booleans()):
        shape += (draw(st.sampled_from([1, 3])),)
    if dtype.kind != "f":
        return draw(hnp.arrays(dtype, shape))
    if full_range:
        elements = hnp.from_dtype(dtype, allow_nan=False, allow_infinity=False)
    else:
        elements = st.floats(-1e4, 1e4, width=dtype.itemsize * 8)
    return draw(hnp.arrays(dtype, shape, elements=elements))


# ------------------------------------------------------------- 1. 2-D feature arrays
# sklearn's finiteness check sums the data: inf + -inf warns in numpy.
_SUM_OF_INFS = pytest.mark.filterwarnings("ignore:invalid value encountered in reduce:RuntimeWarning")


# One run per dtype (rather than drawing it) so that every dtype gets its 25
# examples whatever Hypothesis draws.
@_SUM_OF_INFS
@pytest.mark.parametrize("dtype", NUMERIC_DTYPES, ids=lambda d: np.dtype(d).name)
@PROPERTY
@given(data=st.data(), k=st.integers(1, 5))
def test_feature_matrices_fit_or_raise_valueerror(dtype, data, k):
    X = data.draw(feature_matrices(full_range=False, dtype=dtype), label="X")
    _check_outcome(X, k)


# Minimal inputs of the bugs the full-range test finds (see the reproducers
# below); given as explicit examples so that the test fails on them whatever
# examples Hypothesis' version generates (regressions of fixed bugs).
@_SUM_OF_INFS
@PROPERTY
@example(X=np.array([[1.7e308], [1.7e308], [-1.7e308]]), k=2)
@example(X=np.array([[F32_MAX], [F32_MAX], [-F32_MAX]], dtype=np.float32), k=2)
@example(X=np.array([[0.0], [1e-45]], dtype=np.float32), k=2)
@given(X=feature_matrices(full_range=True), k=st.integers(1, 5))
def test_feature_matrices_full_float_range_fit_or_raise_valueerror(X, k):
    _check_outcome(X, k)


@pytest.mark.parametrize(
    "shape, k",
    [
        ((1, 3), 1),  # one row
        ((1, 3), 2),
        ((2, 3), 2),  # the smallest trainable set
        ((40, 1), 3),  # one column
        ((5, 4), 3),  # n < batch_size (32)
        ((33, 4), 3),  # one full batch plus a remainder that is dropped in training
        ((3, 4), 5),  # n < n_clusters
        ((4, 2), 4),  # n == n_clusters
    ],
)
def test_shape_edges(shape, k):
    X = np.random.RandomState(0).randn(*shape)
    _check_outcome(X, k)


# ------------------------------------------------------------------ 2. magnitudes
@pytest.mark.parametrize("scale", [1e300, 1e30, 1e-30, 1e-300])
def test_float64_scale_does_not_change_the_clustering(scale):
    X, y = _blobs()
    base = _fit(X, 3, TRAINED)
    assert adjusted_rand_score(y, base.labels_) > 0.9  # a real clustering to compare against
    est = _fit(X * scale, 3, TRAINED)
    assert_fits_correctly(est, X * scale, len(X), 3)
    np.testing.assert_array_equal(est.labels_, base.labels_)
    np.testing.assert_allclose(est.transform(X * scale), base.transform(X), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("scale", [1e30, 1e-30])
def test_float32_scale_does_not_change_the_clustering(scale):
    X, y = _blobs()
    X32 = X.astype(np.float32)
    base = _fit(X32, 3, TRAINED)
    assert adjusted_rand_score(y, base.labels_) > 0.9
    Xs = X32 * np.float32(scale)
    assert np.isfinite(Xs).all() and (Xs != 0).any()
    est = _fit(Xs, 3, TRAINED)
    assert_fits_correctly(est, Xs, len(X), 3)
    # Not exact equality: X32 * scale is rounded to float32, so the
    # standardised inputs differ from the unscaled ones in the last bits and
    # training drifts slightly (labels happened to be equal here, but a
    # single border sample may flip legitimately).
    assert adjusted_rand_score(base.labels_, est.labels_) >= 0.95


def test_large_offset_and_mixed_magnitude_columns():
    X, y = _blobs()
    # Columns of wildly different scales, one shifted far from zero.
    Xm = X * np.array([1e300, 1e-300, 1.0, 1e-30]) + np.array([0.0, 0.0, 1e6, 0.0])
    est = _fit(Xm, 3, TRAINED)
    assert_fits_correctly(est, Xm, len(X), 3)
    assert adjusted_rand_score(y, est.labels_) > 0.9


# ---------------------------------------------------- 3. constant and duplicated data
@pytest.mark.parametrize("value", [0.0, 1.0, -3.5, 1e300, 1e-300])
def test_constant_data(value):
    X = np.full((20, 3), value)
    est = _fit(X, 3)
    assert_fits_correctly(est, X, 20, 3)
    # Identical rows are identical inputs: one label, one representation.
    assert len(set(est.labels_)) == 1
    Z = est.transform(X)
    np.testing.assert_array_equal(Z, np.broadcast_to(Z[0], Z.shape))


@pytest.mark.parametrize("value", [0.0, 7.0, 1e300])
def test_constant_column(value):
    X, y = _blobs()
    Xc = np.hstack([X[:, :2], np.full((len(X), 1), value), X[:, 2:]])
    est = _fit(Xc, 3, TRAINED)
    assert_fits_correctly(est, Xc, len(X), 3)
    assert adjusted_rand_score(y, est.labels_) > 0.9  # the constant column does not get in the way


def test_duplicated_rows():
    rng = np.random.RandomState(0)
    X = np.vstack([np.tile(rng.randn(1, 4), (30, 1)), rng.randn(5, 4)])
    est = _fit(X, 3)
    assert_fits_correctly(est, X, 35, 3)
    assert len(set(est.labels_[:30])) == 1
    P = est.predict_proba(X)
    np.testing.assert_array_equal(P[:30], np.broadcast_to(P[0], (30, 3)))


def test_two_distinct_rows_each_repeated():
    X = np.repeat(np.array([[0.0, 0.0], [1.0, 1.0]]), 10, axis=0)
    est = _fit(X, 2)
    assert_fits_correctly(est, X, 20, 2)
    assert len(set(est.labels_[:10])) == 1 and len(set(est.labels_[10:])) == 1


# ------------------------------------------------------------------ 4. pandas input
def test_dataframe_gives_the_labels_of_the_array():
    X, _ = _blobs()
    df = pd.DataFrame(X, columns=list("abcd"))
    est = _fit(df, 3, TRAINED)
    np.testing.assert_array_equal(est.feature_names_in_, list("abcd"))
    assert est.n_features_in_ == 4
    np.testing.assert_array_equal(est.labels_, _fit(X, 3, TRAINED).labels_)
    assert_fits_correctly(est, df, len(X), 3)


def test_dataframe_with_mixed_column_dtypes_matches_its_array():
    X, _ = _blobs()
    df = pd.DataFrame(
        {
            "f64": X[:, 0],
            "f32": X[:, 1].astype(np.float32),
            "int": np.round(X[:, 2] * 100).astype(np.int64),
            "bool": X[:, 3] > 0,
        }
    )
    est = _fit(df, 3)
    assert_fits_correctly(est, df, len(X), 3)
    np.testing.assert_array_equal(est.labels_, _fit(df.to_numpy(dtype=np.float64), 3).labels_)


def test_dataframe_column_mismatch_at_predict_is_rejected_like_sklearn():
    X, _ = _blobs()
    df = pd.DataFrame(X, columns=list("abcd"))
    est = _fit(df, 3)
    with pytest.raises(ValueError, match="same order as they were in fit") as info:
        est.predict(df[list("dcba")])
    assert_clean_error(info.value)
    with pytest.raises(ValueError, match="Feature names unseen at fit time") as info:
        est.transform(df.rename(columns={"a": "z"}))
    assert_clean_error(info.value)
    with pytest.raises(ValueError, match="Feature names seen at fit time, yet now missing") as info:
        est.predict_proba(df[list("abc")])
    assert_clean_error(info.value)
    with pytest.warns(UserWarning, match="X does not have valid feature names"):
        np.testing.assert_array_equal(est.predict(X), est.labels_)


def test_dataframe_at_predict_after_fitting_an_array_warns_like_sklearn():
    X, _ = _blobs()
    est = _fit(X, 3)
    assert not hasattr(est, "feature_names_in_")
    with pytest.warns(UserWarning, match="X has feature names, but C2BINClusterer was fitted without"):
        labels = est.predict(pd.DataFrame(X, columns=list("abcd")))
    np.testing.assert_array_equal(labels, est.labels_)


def test_refit_without_feature_names_forgets_them():
    X, _ = _blobs()
    est = _fit(pd.DataFrame(X, columns=list("abcd")), 3)
    assert hasattr(est, "feature_names_in_")
    est = est.fit(X)
    assert not hasattr(est, "feature_names_in_")
    est = _fit(pd.DataFrame(X, columns=list("abcd")), 3)
    est.fit(np.random.RandomState(0).rand(10, 4, 4))
    assert not hasattr(est, "feature_names_in_")


@pytest.mark.parametrize(
    "df, match",
    [
        (pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": ["x", "y", "z"]}), "could not convert"),
        (pd.DataFrame({"a": pd.array([1, None, 3], dtype="Int64"), "b": [1.0, 2.0, 3.0]}), "NaN"),
        (pd.DataFrame({"a": [1.0, np.inf, 3.0], "b": [1.0, 2.0, 3.0]}), "infinity"),
    ],
    ids=["string-column", "missing-value", "inf"],
)
def test_bad_dataframes(df, match):
    with pytest.raises(ValueError, match=match) as info:
        _fit(df, 2)
    assert_clean_error(info.value)


# ---------------------------------------------------------------- 5. Python lists
def test_nested_list_fits_like_the_array():
    X, _ = _blobs()
    est = _fit(X.tolist(), 3, TRAINED)
    assert_fits_correctly(est, X.tolist(), len(X), 3)
    np.testing.assert_array_equal(est.labels_, _fit(X, 3, TRAINED).labels_)


def test_nested_list_of_images_fits_like_the_array():
    imgs = np.random.RandomState(0).rand(6, 3, 4)
    est = _fit(imgs.tolist(), 2)
    assert est.input_spec_.layout == "nhw"
    np.testing.assert_array_equal(est.labels_, _fit(imgs, 2).labels_)
    np.testing.assert_array_equal(est.predict(imgs.tolist()), est.labels_)


@pytest.mark.parametrize(
    "ragged",
    [
        [[1.0, 2.0], [3.0]],
        [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0, 7.0]],
        [[[1.0, 2.0], [3.0, 4.0]], [[1.0, 2.0], [3.0]]],
    ],
    ids=["rows", "last-row", "images"],
)
def test_ragged_list_raises_valueerror(ragged):
    with pytest.raises(ValueError, match="inhomogeneous") as info:
        _fit(ragged, 2)
    assert_clean_error(info.value)


def test_ragged_list_at_predict_raises_valueerror():
    est = _fit([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], 2)
    with pytest.raises(ValueError, match="inhomogeneous") as info:
        est.predict([[1.0, 2.0], [3.0]])
    assert_clean_error(info.value)


# ------------------------------------------------- 6. object, string, complex dtypes
def test_object_array_of_numbers_fits_like_the_numeric_array():
    X, _ = _blobs()
    Xo = X.astype(object)
    Xo[0, 0] = int(round(X[0, 0]))  # Python ints mixed with floats
    Xn = Xo.astype(np.float64)
    est = _fit(Xo, 3, TRAINED)
    assert_fits_correctly(est, Xo, len(X), 3)
    # Object input is converted to float32 (skc2bin's first dtype): compare with that.
    np.testing.assert_array_equal(est.labels_, _fit(Xn.astype(np.float32), 3, TRAINED).labels_)


@pytest.mark.parametrize(
    "X",
    [
        np.array([["a", "b"], ["c", "d"], ["e", "f"]]),  # numpy str dtype
        np.array([[1.0, "b"], [3.0, "d"], [5.0, "f"]], dtype=object),  # numbers and strings
        np.array([[b"a", b"b"], [b"c", b"d"], [b"e", b"f"]]),  # bytes
    ],
    ids=["str", "object-mixed", "bytes"],
)
def test_string_arrays_raise_valueerror(X):
    with pytest.raises(ValueError, match="could not convert") as info:
        _fit(X, 2)
    assert_clean_error(info.value)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128])
@pytest.mark.parametrize("imag", [0.0, 1.0])
def test_complex_arrays_raise_valueerror(dtype, imag):
    X = (np.random.RandomState(0).randn(10, 3) + 1j * imag).astype(dtype)
    with pytest.raises(ValueError, match="Complex data not supported") as info:
        _fit(X, 2)
    assert_clean_error(info.value)
    est = _fit(X.real.astype(np.float64), 2)
    with pytest.raises(ValueError, match="Complex data not supported") as info:
        est.predict(X)
    assert_clean_error(info.value)


def test_object_array_holding_complex_raises_clear_error():
    X = np.array([[1 + 1j, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=object)
    with pytest.raises((ValueError, TypeError), match="complex") as info:
        _fit(X, 2)
    assert_clean_error(info.value)


def test_object_array_with_none_is_treated_as_missing():
    X = np.array([[1.0, None], [3.0, 4.0], [5.0, 6.0]], dtype=object)
    with pytest.raises(ValueError, match="NaN") as info:
        _fit(X, 2)
    assert_clean_error(info.value)


# ------------------------------------------------------------------------ 7. images
@PROPERTY
@given(X=image_arrays(full_range=False), k=st.integers(1, 4))
def test_images_fit_or_raise_valueerror(X, k):
    est = _check_outcome(X, k)
    if est is not None:
        assert est.input_spec_.is_image
        assert est.n_features_in_ == int(np.prod(X.shape[1:]))


@PROPERTY
@example(X=np.array([F32_MAX, -F32_MAX]).astype(np.float32).reshape(2, 1, 1), k=2)
@example(X=np.array([1e308, -1e308]).reshape(2, 1, 1), k=2)
@given(X=image_arrays(full_range=True), k=st.integers(1, 4))
def test_images_full_float_range_fit_or_raise_valueerror(X, k):
    _check_outcome(X, k)


@pytest.mark.parametrize(
    "shape",
    [(4, 1, 1), (4, 2, 3), (4, 1, 7), (4, 1, 1, 1), (4, 1, 1, 3), (4, 2, 3, 3), (4, 2, 3, 1)],
)
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_tiny_images_fit(shape, dtype):
    """1x1 and 2x3 images work (no ValueError needed): the CNN has no pooling stage for them."""
    rng = np.random.RandomState(0)
    X = (rng.rand(*shape) * 255).astype(dtype)
    est = _check_outcome(X, 2)
    assert est.input_spec_.sample_shape == ((1, *shape[1:3]) if len(shape) == 3 else (shape[3], *shape[1:3]))


def test_constant_images_fit():
    for X in (np.zeros((5, 4, 4), np.uint8), np.full((5, 3, 3, 3), 0.5, np.float32)):
        est = _check_outcome(X, 2)
        assert len(set(est.labels_)) == 1


# ------------------------------------------------- regression tests for fixed bugs


def _fit_or_clean_valueerror(X):
    try:
        est = _fit(X, 2)
    except (ValueError, TypeError) as exc:
        assert_clean_error(exc)
        return
    assert_fits_correctly(est, X, len(X), 2)


def test_regression_float64_values_near_max_overflow_when_centred():
    # mean = 1.7e308 / 3; -1.7e308 - mean overflows to -inf in
    # Preprocessor.before_augment: (x - mean) / std.
    _fit_or_clean_valueerror(np.array([[1.7e308], [1.7e308], [-1.7e308]]))


def test_regression_float32_values_near_max_overflow_when_centred():
    # Same in float32: the batch is centred in float32 before scaling.
    _fit_or_clean_valueerror(np.array([[F32_MAX], [F32_MAX], [-F32_MAX]], dtype=np.float32))


def test_regression_float32_spread_below_smallest_subnormal_divides_by_zero():
    # std = 7e-46 in float64 (kept: it is > 0 and > 1e-10 * |mean|), but
    # std.to(float32) rounds to 0 in Preprocessor.before_augment: 0 / 0 = NaN.
    _fit_or_clean_valueerror(np.array([[0.0], [1e-45]], dtype=np.float32))


def test_regression_float_images_spanning_the_float32_range():
    # scale = hi - lo = 6.8e38 is inf in float32, and x - offset overflows.
    _fit_or_clean_valueerror(np.array([F32_MAX, -F32_MAX], dtype=np.float32).reshape(2, 1, 1))


def test_regression_float64_images_spanning_the_float64_range():
    # hi - lo = 2e308 overflows to inf in fit_preprocessor: scale = inf.
    _fit_or_clean_valueerror(np.array([1e308, -1e308]).reshape(2, 1, 1))


@pytest.mark.parametrize(
    "shape, fmt",
    [((5, 0, 3), "channels_last"), ((5, 4, 0), "channels_last"), ((5, 0, 4, 3), "channels_last"),
     ((5, 5, 5, 0), "channels_last"), ((5, 0, 2, 2), "channels_first")],
)
def test_regression_empty_images_reach_torch(shape, fmt):
    with pytest.raises(ValueError) as info:
        _fit(np.empty(shape), 2, image_format=fmt)
    assert_clean_error(info.value)


def test_image_channel_with_a_spread_below_float32_resolution_is_constant():
    """A channel whose spread is 1e-68 of the image range underflowed to a zero
    standard deviation in float32 and made the first loss NaN (found by the
    property test above)."""
    X = np.array([[[[6.80380279e-68, 1.0, 0.0]]], [[[0.0, 0.0, 0.0]]]])
    est = _fit(X, 1)
    assert np.isfinite(est.history_[-1, "train_loss"])
