"""Batched augmentations: shapes, ranges, per-sample randomness, seeding."""

import math

import numpy as np
import pytest
import torch

from skc2bin.augment import (
    ColorAugment,
    FeatureAugment,
    GrayscaleAugment,
    random_affine_matrices,
    resolve_augmentation,
)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _image(c, h, w, seed=0):
    return torch.rand((1, c, h, w), generator=_gen(seed))


def _n_distinct(batch):
    return len({tuple(row.flatten().tolist()) for row in batch})


# ----------------------------------------------------------------- shapes/ranges
@pytest.mark.parametrize(
    "aug, shape",
    [
        (GrayscaleAugment(), (16, 1, 8, 8)),
        (ColorAugment(), (16, 3, 16, 16)),
        (ColorAugment(), (16, 1, 8, 8)),
    ],
)
def test_image_augment_keeps_shape_dtype_and_unit_range(aug, shape):
    x = torch.rand(shape, generator=_gen(1))
    out = aug(x, _gen(2))
    assert out.shape == x.shape
    assert out.dtype == x.dtype
    assert out.min().item() >= 0.0 and out.max().item() <= 1.0


def test_grayscale_augment_clamps_even_with_strong_brightness_and_noise():
    x = torch.ones((16, 1, 8, 8))
    out = GrayscaleAugment(brightness=0.9, noise=0.5)(x, _gen(0))
    assert out.min().item() >= 0.0 and out.max().item() <= 1.0
    # Something was actually changed (brightness/noise are strong).
    assert not torch.equal(out, x)


def test_feature_augment_keeps_shape_and_dtype():
    x = torch.randn((16, 5), generator=_gen(0))
    out = FeatureAugment()(x, _gen(1))
    assert out.shape == x.shape and out.dtype == x.dtype


# ----------------------------------------------------------- per-sample params
@pytest.mark.parametrize(
    "aug, chw",
    [(GrayscaleAugment(), (1, 8, 8)), (ColorAugment(), (3, 16, 16))],
)
def test_image_augment_draws_parameters_per_sample(aug, chw):
    x = _image(*chw).repeat(16, 1, 1, 1)
    out = aug(x, _gen(3))
    assert _n_distinct(out) == 16


def test_feature_augment_draws_per_sample():
    # A batch with real spread per column so the noise is non-zero.
    x = torch.randn((16, 4), generator=_gen(0))
    out = FeatureAugment(corruption=0.0, noise=0.1)(x, _gen(1))
    delta = out - x
    assert _n_distinct(delta) == 16


# ------------------------------------------------------------- reproducibility
@pytest.mark.parametrize(
    "aug, shape",
    [
        (GrayscaleAugment(), (8, 1, 8, 8)),
        (ColorAugment(), (8, 3, 16, 16)),
        (FeatureAugment(), (8, 5)),
    ],
)
def test_same_seed_same_output_different_seed_different_output(aug, shape):
    x = torch.rand(shape, generator=_gen(0))
    a = aug(x, _gen(7))
    b = aug(x, _gen(7))
    c = aug(x, _gen(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_augment_does_not_touch_global_rng():
    x = torch.rand((4, 1, 8, 8), generator=_gen(0))
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    GrayscaleAugment()(x, _gen(0))
    ColorAugment()(x.repeat(1, 3, 1, 1), _gen(0))
    assert torch.equal(torch.rand(3), expected)


# ----------------------------------------------------------------- identity cases
def test_grayscale_augment_with_everything_off_is_identity():
    x = torch.rand((4, 1, 8, 8), generator=_gen(0))
    aug = GrayscaleAugment(rotation=0.0, scale=(1.0, 1.0), translate=0.0, brightness=0.0, noise=0.0)
    out = aug(x, _gen(1))
    assert torch.allclose(out, x, atol=1e-5)


def test_random_affine_matrices_identity_and_flip():
    eye = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]).expand(6, 2, 3)
    theta = random_affine_matrices(
        6, rotation=0.0, scale=(1.0, 1.0), translate=0.0, generator=_gen(0), device="cpu"
    )
    assert theta.shape == (6, 2, 3)
    assert torch.allclose(theta, eye, atol=1e-7)
    flipped = random_affine_matrices(
        6, rotation=0.0, scale=(1.0, 1.0), translate=0.0, generator=_gen(0), device="cpu", flip_prob=1.0
    )
    assert torch.all(flipped[:, 0, 0] < 0)
    expected = eye.clone()
    expected[:, 0, 0] = -1.0
    assert torch.allclose(flipped, expected, atol=1e-7)


def test_random_affine_matrices_respect_ranges():
    theta = random_affine_matrices(
        200, rotation=30.0, scale=(0.5, 2.0), translate=0.1, generator=_gen(0), device="cpu"
    )
    # Without aspect change the linear part is s * rotation: its determinant is s^2.
    det = theta[:, 0, 0] * theta[:, 1, 1] - theta[:, 0, 1] * theta[:, 1, 0]
    s = det.sqrt()
    assert s.min() >= 0.5 - 1e-6 and s.max() <= 2.0 + 1e-6
    angle = torch.atan2(theta[:, 1, 0], theta[:, 0, 0]) * 180 / math.pi
    assert angle.abs().max() <= 30.0 + 1e-4
    # Shift in the [-1, 1] frame: 2 * translate.
    assert theta[:, :, 2].abs().max() <= 0.2 + 1e-7


# ----------------------------------------------------------------- FeatureAugment
def test_feature_augment_full_corruption_draws_from_the_same_column():
    n, d = 12, 4
    # Column j holds values 100 * j + row: disjoint value sets per column.
    x = (torch.arange(n).view(n, 1) + 100 * torch.arange(d).view(1, d)).float()
    out = FeatureAugment(corruption=1.0, noise=0.0)(x, _gen(0))
    for j in range(d):
        assert set(out[:, j].tolist()) <= set(x[:, j].tolist())
    # It did resample: the output is not the input.
    assert not torch.equal(out, x)


def test_feature_augment_no_corruption_no_noise_is_identity():
    x = torch.randn((10, 3), generator=_gen(0))
    out = FeatureAugment(corruption=0.0, noise=0.0)(x, _gen(1))
    assert torch.equal(out, x)


def test_feature_augment_noise_scales_with_column_spread():
    x = torch.randn((64, 3), generator=_gen(0))
    x[:, 1] = 5.0  # constant column
    x[:, 2] *= 100.0  # wide column
    out = FeatureAugment(corruption=0.0, noise=0.1)(x, _gen(1))
    delta = out - x
    assert torch.all(delta[:, 1] == 0)
    assert delta[:, 0].abs().max() > 0
    # Noise std is 0.1 * the column's batch std: ~100 times larger on column 2.
    ratio = delta[:, 2].std() / delta[:, 0].std()
    assert 50 < ratio.item() < 200


def test_feature_augment_single_row_gets_no_noise():
    x = torch.tensor([[1.0, 2.0, 3.0]])
    out = FeatureAugment(corruption=0.0, noise=1.0)(x, _gen(0))
    assert torch.equal(out, x)


# ------------------------------------------------------------ resolve_augmentation
def test_resolve_auto():
    assert isinstance(resolve_augmentation("auto", (5,)), FeatureAugment)
    assert isinstance(resolve_augmentation("auto", (1, 8, 8)), GrayscaleAugment)
    assert isinstance(resolve_augmentation("auto", (3, 8, 8)), ColorAugment)


def test_resolve_named():
    with pytest.raises(ValueError, match="'features' is for feature vectors"):
        resolve_augmentation("features", (1, 8, 8))
    assert isinstance(resolve_augmentation("grayscale", (3, 8, 8)), GrayscaleAugment)
    assert isinstance(resolve_augmentation("color", (1, 8, 8)), ColorAugment)


def test_resolve_none_is_identity():
    aug = resolve_augmentation("none", (5,))
    x = torch.randn((4, 5), generator=_gen(0))
    assert aug(x, _gen(1)) is x


def test_resolve_callable_gets_the_batch_and_the_generator():
    seen = []

    def my_aug(x, g):
        seen.append(g)
        return x * 2

    adapted = resolve_augmentation(my_aug, (5,))
    assert adapted.fn is my_aug and adapted.mode == "positional"
    x, g = torch.ones(3, 5), torch.Generator()
    assert torch.equal(adapted(x, g), x * 2) and seen == [g]
    assert resolve_augmentation(lambda x, generator: x, (5,)).mode == "keyword"
    builtin = GrayscaleAugment()
    assert resolve_augmentation(builtin, (1, 8, 8)) is builtin


@pytest.mark.parametrize("spec", ["grayscale", "color"])
def test_resolve_image_augmentation_on_vectors_raises(spec):
    with pytest.raises(ValueError, match="image_shape"):
        resolve_augmentation(spec, (5,))


# ------------------------------------------- augmentations as scikit-learn objects
def test_builtin_augmentations_print_clone_and_set_params():
    from sklearn.base import clone

    from skc2bin.augment import ColorAugment, FeatureAugment, GrayscaleAugment

    aug = GrayscaleAugment(rotation=25)
    assert repr(aug) == "GrayscaleAugment(rotation=25)"
    assert aug.get_params()["rotation"] == 25 and aug.get_params()["noise"] == 0.03
    other = clone(aug).set_params(noise=0.0)
    assert other.noise == 0.0 and aug.noise == 0.03
    assert "crop_scale=(0.5, 1.0)" in repr(ColorAugment(crop_scale=(0.5, 1.0)))
    assert repr(FeatureAugment()) == "FeatureAugment()"


def test_estimator_repr_and_nested_params_show_the_augmentation():
    from sklearn.base import clone

    from skc2bin import C2BINClusterer
    from skc2bin.augment import GrayscaleAugment

    est = C2BINClusterer(augmentation=GrayscaleAugment(rotation=25))
    assert "GrayscaleAugment(rotation=25)" in repr(est)
    assert est.get_params()["augmentation__rotation"] == 25
    est.set_params(augmentation__rotation=5)
    assert est.augmentation.rotation == 5
    copy = clone(est)
    assert copy.augmentation is not est.augmentation and copy.augmentation.rotation == 5
    html = est._repr_html_()
    assert "GrayscaleAugment" in html and "object at 0x" not in html


def test_grid_search_over_an_augmentation_parameter(digits_small):
    from sklearn.model_selection import GridSearchCV

    from skc2bin import C2BINClusterer
    from skc2bin.augment import GrayscaleAugment

    from .conftest import TINY

    X, y = digits_small
    search = GridSearchCV(
        C2BINClusterer(**{**TINY, "n_clusters": 10, "max_epochs": 1}, image_shape=(8, 8),
                       augmentation=GrayscaleAugment()),
        {"augmentation__rotation": [0.0, 30.0]}, scoring="adjusted_rand_score", cv=2,
    ).fit(X, y)
    assert [p["augmentation__rotation"] for p in search.cv_results_["params"]] == [0.0, 30.0]
    assert search.best_estimator_.augmentation.rotation in (0.0, 30.0)


# ---------------------------------------------- torch modules and plain callables
class _NoiseModule(torch.nn.Module):
    """Draws from torch's global generator, like torchvision and kornia."""

    def forward(self, x):
        return (x + 0.05 * torch.randn_like(x)).clamp(0, 1)


class _GeneratorModule(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, x, generator=None):
        self.calls.append(generator)
        return (x + 0.05 * torch.randn(x.shape, generator=generator)).clamp(0, 1)


def _torchvision_affine():
    from torchvision.transforms import v2

    return v2.RandomAffine(15)


def _darken(x):
    return (x * 0.9).clamp(0, 1)


def test_module_augmentation_is_seeded_from_the_fit_generator_and_keeps_global_state():
    module = _NoiseModule()
    adapted = resolve_augmentation(module, (1, 8, 8))
    assert adapted.mode is None and adapted.fn is not module  # a copy, the user's object untouched
    x = torch.rand(4, 1, 8, 8)
    state = torch.random.get_rng_state()
    a = adapted(x, torch.Generator().manual_seed(0))
    b = adapted(x, torch.Generator().manual_seed(0))
    c = adapted(x, torch.Generator().manual_seed(1))
    assert torch.equal(torch.random.get_rng_state(), state)
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_module_taking_a_generator_receives_the_fit_generator():
    module = _GeneratorModule()
    adapted = resolve_augmentation(module, (1, 8, 8))
    assert adapted.mode == "keyword"
    g = torch.Generator().manual_seed(0)
    adapted(torch.rand(2, 1, 8, 8), g)
    assert adapted.fn.calls == [g]


def test_augmentation_returning_another_shape_is_reported():
    adapted = resolve_augmentation(lambda x: x[:, :, :4], (1, 8, 8))
    with pytest.raises(ValueError, match="same shape"):
        adapted(torch.rand(2, 1, 8, 8), torch.Generator())


@pytest.mark.parametrize("make", [
    lambda: _NoiseModule(),
    lambda: _torchvision_affine(),
    lambda: _darken,
])
def test_fit_with_a_module_or_one_argument_callable_is_reproducible(digits_small, make):
    from skc2bin import C2BINClusterer

    from .conftest import TINY

    X, _ = digits_small
    params = {**TINY, "n_clusters": 3, "max_epochs": 2, "image_shape": (8, 8)}
    a = C2BINClusterer(augmentation=make(), **params).fit(X)
    b = C2BINClusterer(augmentation=make(), **params).fit(X)
    np.testing.assert_array_equal(a.labels_, b.labels_)
    np.testing.assert_array_equal(a.transform(X[:5]), b.transform(X[:5]))
    # The fitted estimator pickles (the adapted augmentation is training-only state).
    import pickle

    np.testing.assert_array_equal(pickle.loads(pickle.dumps(a)).predict(X), a.labels_)
