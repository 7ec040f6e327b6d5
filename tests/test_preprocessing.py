"""Normalisation learned in fit: statistics, layouts, dtypes, magnitudes."""

import numpy as np
import pytest
import torch

from skc2bin import C2BINClusterer
from skc2bin._validation import check_input
from skc2bin.preprocessing import Preprocessor, fit_preprocessor


def _vectors(n=50, d=4, seed=0):
    rng = np.random.RandomState(seed)
    return rng.randn(n, d) * np.array([1.0, 10.0, 0.1, 3.0])[:d] + np.array([0.0, -5.0, 100.0, 2.0])[:d]


# ------------------------------------------------------------------- vectors
def test_vector_statistics_match_numpy():
    X = _vectors()
    pre = fit_preprocessor(torch.from_numpy(X), "vector", (4,))
    assert pre.mean.dtype == torch.float64 and pre.std.dtype == torch.float64
    np.testing.assert_allclose(pre.mean.numpy(), X.mean(0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(pre.std.numpy(), X.std(0), rtol=1e-12)  # population std (ddof=0)


def test_vector_forward_standardises_columns():
    X = _vectors()
    pre = fit_preprocessor(torch.from_numpy(X), "vector", (4,))
    out = pre(torch.from_numpy(X))
    assert out.dtype == torch.float32 and out.shape == (50, 4)
    np.testing.assert_allclose(out.mean(0).numpy(), 0.0, atol=1e-6)
    np.testing.assert_allclose(out.double().std(0, unbiased=False).numpy(), 1.0, atol=1e-6)


def test_vector_forward_is_before_augment_and_identity_after():
    X = torch.from_numpy(_vectors())
    pre = fit_preprocessor(X, "vector", (4,))
    b = pre.before_augment(X)
    assert torch.equal(pre.after_augment(b), b)
    assert torch.equal(pre(X), b)


@pytest.mark.parametrize("chunk_size", [3, 7, 49, 50])
def test_chunked_statistics_equal_one_chunk(chunk_size):
    X = torch.from_numpy(_vectors())
    one = fit_preprocessor(X, "vector", (4,), chunk_size=10_000)
    chunked = fit_preprocessor(X, "vector", (4,), chunk_size=chunk_size)
    torch.testing.assert_close(chunked.mean, one.mean, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(chunked.std, one.std, rtol=1e-12, atol=1e-12)


def test_constant_column_gets_unit_std_and_is_centred():
    X = _vectors()
    X[:, 2] = 7.25
    pre = fit_preprocessor(torch.from_numpy(X), "vector", (4,), chunk_size=7)
    assert pre.std[2].item() == 1.0
    assert pre.mean[2].item() == pytest.approx(7.25)
    out = pre(torch.from_numpy(X))
    assert torch.all(out[:, 2].abs() < 1e-6)
    # The other columns are still scaled.
    np.testing.assert_allclose(pre.std[[0, 1, 3]].numpy(), X[:, [0, 1, 3]].std(0), rtol=1e-12)


def test_float32_input_keeps_float32_statistics_in_float64():
    X = _vectors().astype(np.float32)
    pre = fit_preprocessor(torch.from_numpy(X), "vector", (4,))
    np.testing.assert_allclose(pre.mean.numpy(), X.astype(np.float64).mean(0), rtol=1e-10)
    assert pre(torch.from_numpy(X)).dtype == torch.float32


def test_huge_magnitude_float64_gives_finite_output():
    rng = np.random.RandomState(0)
    X = 1e300 + 1e299 * rng.randn(50, 3)
    X[:, 1] = -X[:, 1]
    pre = fit_preprocessor(torch.from_numpy(X), "vector", (3,))
    out = pre(torch.from_numpy(X))
    assert out.dtype == torch.float32
    assert torch.isfinite(out).all()


def test_huge_magnitude_float64_is_standardised():
    rng = np.random.RandomState(0)
    X = 1e300 + 1e299 * rng.randn(50, 3)
    pre = fit_preprocessor(torch.from_numpy(X), "vector", (3,))
    assert torch.isfinite(pre.std).all()
    out = pre(torch.from_numpy(X)).double()
    np.testing.assert_allclose(out.std(0, unbiased=False).numpy(), 1.0, atol=1e-4)


def test_large_but_safe_magnitude_is_standardised():
    # Spread 1e100: squares (1e200) still fit in float64, but not in float32.
    rng = np.random.RandomState(0)
    X = 1e101 + 1e100 * rng.randn(50, 3)
    pre = fit_preprocessor(torch.from_numpy(X), "vector", (3,))
    out = pre(torch.from_numpy(X)).double()
    assert torch.isfinite(out).all()
    np.testing.assert_allclose(out.std(0, unbiased=False).numpy(), 1.0, atol=1e-5)


# -------------------------------------------------------------------- images
def _images_nhwc(n=6, h=4, w=5, c=3, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randint(0, 256, size=(n, h, w, c)).astype(np.uint8)
    X[0, 0, 0, 0], X[0, 0, 1, 0] = 0, 255  # make sure the range is the full 0-255
    return X


def test_uint8_and_unit_float_images_give_the_same_network_input():
    X8 = _images_nhwc()
    Xf = X8.astype(np.float32) / 255.0
    p8 = fit_preprocessor(torch.from_numpy(X8), "nhwc", (3, 4, 5))
    pf = fit_preprocessor(torch.from_numpy(Xf), "nhwc", (3, 4, 5))
    assert p8.offset.item() == 0.0 and 2 * p8.scale.item() == 255.0  # scale holds half the range
    a = p8(torch.from_numpy(X8))
    b = pf(torch.from_numpy(Xf))
    assert a.shape == (6, 3, 4, 5) and a.dtype == torch.float32
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_image_before_augment_maps_to_unit_range_channels_first():
    X8 = _images_nhwc()
    pre = fit_preprocessor(torch.from_numpy(X8), "nhwc", (3, 4, 5))
    b = pre.before_augment(torch.from_numpy(X8))
    assert b.shape == (6, 3, 4, 5)
    assert b.min().item() == 0.0 and b.max().item() == 1.0
    # Channels first: pixel (i, y, x, ch) is b[i, ch, y, x].
    assert b[2, 1, 3, 4].item() == pytest.approx(X8[2, 3, 4, 1] / 255.0)


def test_image_range_learned_from_data_not_assumed():
    X = np.linspace(-3.0, 5.0, 6 * 4 * 4).reshape(6, 1, 4, 4).astype(np.float32)
    pre = fit_preprocessor(torch.from_numpy(X), "nchw", (1, 4, 4))
    assert pre.offset.item() == -3.0 and 2 * pre.scale.item() == 8.0
    b = pre.before_augment(torch.from_numpy(X))
    assert b.min().item() == 0.0 and b.max().item() == pytest.approx(1.0)


def test_image_channel_statistics_standardise_after_augment():
    X8 = _images_nhwc(n=20)
    pre = fit_preprocessor(torch.from_numpy(X8), "nhwc", (3, 4, 5), chunk_size=3)
    assert pre.mean.shape == (3, 1, 1) and pre.std.shape == (3, 1, 1)
    unit = X8.astype(np.float64) / 255.0
    np.testing.assert_allclose(pre.mean.flatten().numpy(), unit.mean(axis=(0, 1, 2)), rtol=1e-10)
    np.testing.assert_allclose(pre.std.flatten().numpy(), unit.std(axis=(0, 1, 2)), rtol=1e-10)
    out = pre(torch.from_numpy(X8)).double()
    np.testing.assert_allclose(out.mean(dim=(0, 2, 3)).numpy(), 0.0, atol=1e-5)
    np.testing.assert_allclose(out.std(dim=(0, 2, 3), unbiased=False).numpy(), 1.0, atol=1e-5)


def test_constant_images_do_not_divide_by_zero():
    X = np.full((4, 3, 3), 17, dtype=np.uint8)
    pre = fit_preprocessor(torch.from_numpy(X), "nhw", (1, 3, 3))
    out = pre(torch.from_numpy(X))
    assert torch.isfinite(out).all()


def test_grayscale_layouts_agree():
    rng = np.random.RandomState(0)
    imgs = rng.randint(0, 256, size=(5, 4, 6)).astype(np.uint8)  # (n, h, w)
    shape = (1, 4, 6)
    nchw = torch.from_numpy(imgs[:, None])
    nhw = torch.from_numpy(imgs)
    flat = torch.from_numpy(imgs.reshape(5, -1))
    nhwc = torch.from_numpy(imgs[..., None])
    ref = fit_preprocessor(nchw, "nchw", shape)(nchw)
    for X, layout in [(nhw, "nhw"), (flat, "flat"), (nhwc, "nhwc")]:
        pre = fit_preprocessor(X, layout, shape)
        torch.testing.assert_close(pre(X), ref, rtol=0, atol=1e-6)


def test_color_nhwc_and_nchw_agree():
    X = _images_nhwc()
    nhwc = torch.from_numpy(X)
    nchw = torch.from_numpy(np.ascontiguousarray(X.transpose(0, 3, 1, 2)))
    a = fit_preprocessor(nhwc, "nhwc", (3, 4, 5))(nhwc)
    b = fit_preprocessor(nchw, "nchw", (3, 4, 5))(nchw)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_color_flat_rows_channels_first_agree_with_nchw():
    X = _images_nhwc().transpose(0, 3, 1, 2)  # (n, c, h, w)
    nchw = torch.from_numpy(np.ascontiguousarray(X))
    flat = torch.from_numpy(X.reshape(len(X), -1))
    a = fit_preprocessor(flat, "flat", (3, 4, 5))(flat)
    b = fit_preprocessor(nchw, "nchw", (3, 4, 5))(nchw)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_color_flat_rows_channels_last_agree_with_nhwc_images():
    X = _images_nhwc()  # (n, h, w, c)
    rows = X.reshape(len(X), -1)
    spec_flat = check_input(C2BINClusterer(image_shape=(4, 5, 3)), rows, reset=True)[1]
    spec_img = check_input(C2BINClusterer(), X, reset=True)[1]
    assert spec_flat.sample_shape == spec_img.sample_shape == (3, 4, 5)
    flat = torch.from_numpy(rows)
    imgs = torch.from_numpy(X)
    a = fit_preprocessor(flat, spec_flat.layout, spec_flat.sample_shape)(flat)
    b = fit_preprocessor(imgs, spec_img.layout, spec_img.sample_shape)(imgs)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)


def test_unfitted_preprocessor_is_identity_on_float_vectors():
    pre = Preprocessor("vector", (3,))
    x = torch.randn((4, 3), generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(pre(x), x)


@pytest.mark.parametrize(
    "rows, dtype",
    [
        ([[0.5, 1.0], [2.0, 3.25]], np.float64),  # a float list keeps float64, as its array does
        ([[1, 2], [3, 4]], np.float32),  # int64 array -> float32
        ([[[0.1, 0.2], [0.3, 0.4]]] * 3, np.float64),  # images as nested lists
    ],
)
def test_nested_lists_validate_to_the_dtype_of_their_array(rows, dtype):
    from_list = check_input(C2BINClusterer(), rows, reset=True)[0]
    from_array = check_input(C2BINClusterer(), np.asarray(rows), reset=True)[0]
    assert from_list.dtype == from_array.dtype == dtype
    np.testing.assert_array_equal(from_list, from_array)
