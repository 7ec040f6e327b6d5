"""Data sets of ``benchmarks/quality.py`` (issue 13's study), all made locally.

Every loader returns ``(X, y)``: images as ``(n, h, w)`` float arrays, feature vectors as
``(n, d)``. Nothing is downloaded; random choices use fixed seeds (independent of the fit seed),
so a data set is the same in every run.

* digits 8x8 and upscaled (bilinear) to 16x16 / 28x28 (``_data.digits_images``);
* two imbalanced digit sets: class sizes falling geometrically from the largest to a tenth of it,
  and one class three times the size of the others;
* digits as 64 feature vectors; non-convex synthetic vectors (moons, circles, anisotropic
  blobs) with Gaussian noise features appended; scikit-learn's bundled iris, wine, breast cancer;
* synthetic images: rendered filled shapes, strokes and textures;
* transformed digits: rotated, inverted, noisy, shifted, thickened.
"""

import math
import sys
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.datasets import (
    load_breast_cancer,
    load_digits,
    load_iris,
    load_wine,
    make_blobs,
    make_circles,
    make_classification,
    make_moons,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import digits_images  # noqa: E402

DATA_SEED = 1234


def _digits_imbalanced(sizes_fn):
    X, y = load_digits(return_X_y=True)
    X = X.reshape(-1, 8, 8)
    rng = np.random.RandomState(DATA_SEED)
    order = rng.permutation(10)  # which class gets which size: a fixed random order
    counts = np.bincount(y)
    n_max = counts.min()
    keep = []
    for rank, c in enumerate(order):
        n_c = sizes_fn(rank, n_max)
        idx = np.flatnonzero(y == c)
        keep.append(rng.choice(idx, size=min(n_c, len(idx)), replace=False))
    keep = np.sort(np.concatenate(keep))
    return X[keep], y[keep]


def digits_geometric():
    """Digits 8x8, class sizes n_max * 0.1**(rank / 9): the largest class 10x the smallest."""
    return _digits_imbalanced(lambda r, n_max: int(round(n_max * 0.1 ** (r / 9))))


def digits_one_large():
    """Digits 8x8, one class 3x the size of each of the others."""
    return _digits_imbalanced(lambda r, n_max: n_max if r == 0 else int(round(n_max / 3)))


def _with_noise_features(X, y, n_noise, seed):
    rng = np.random.RandomState(seed)
    X = (X - X.mean(0)) / X.std(0)
    return np.hstack([X, rng.randn(len(X), n_noise)]), y


def moons_noise():
    X, y = make_moons(n_samples=1500, noise=0.08, random_state=DATA_SEED)
    return _with_noise_features(X, y, 3, DATA_SEED)


def circles_noise():
    X, y = make_circles(n_samples=1500, noise=0.05, factor=0.5, random_state=DATA_SEED)
    return _with_noise_features(X, y, 3, DATA_SEED)


def aniso_noise():
    X, y = make_blobs(n_samples=1500, centers=3, random_state=170)
    X = X @ np.array([[0.6, -0.6], [-0.4, 0.8]])  # scikit-learn's anisotropic-blobs example
    return _with_noise_features(X, y, 3, DATA_SEED)


def blobs_varied():
    """Six Gaussian blobs in 10 dimensions, standard deviations 0.6 to 2.1 (one density each)."""
    return make_blobs(n_samples=1500, n_features=10, centers=6, cluster_std=[0.6, 0.9, 1.2, 1.5, 1.8, 2.1],
                      center_box=(-5.0, 5.0), random_state=DATA_SEED)


def classification():
    """scikit-learn's make_classification: 4 classes in 20 features (5 informative, 5 redundant)."""
    return make_classification(n_samples=1500, n_features=20, n_informative=5, n_redundant=5, n_classes=4,
                               n_clusters_per_class=1, class_sep=1.5, random_state=DATA_SEED)


# ----------------------------------------------------------------- synthetic images
def _render(draw_fn, n_per_class, n_classes, size, seed, oversample=4):
    """Render ``n_per_class`` images per class with PIL at ``oversample`` x size, then downsample."""
    from PIL import Image, ImageDraw

    rng = np.random.RandomState(seed)
    big = size * oversample
    X, y = [], []
    for c in range(n_classes):
        for _ in range(n_per_class):
            im = Image.new("L", (big, big), 0)
            draw_fn(ImageDraw.Draw(im), c, rng, big)
            X.append(np.asarray(im.resize((size, size), Image.BILINEAR), dtype=np.float32) / 255.0)
            y.append(c)
    return np.stack(X), np.asarray(y)


def _polygon(cx, cy, r, angle, points):
    return [(cx + r * pr * math.cos(angle + pa), cy + r * pr * math.sin(angle + pa)) for pr, pa in points]


def _regular(n):
    return [(1.0, 2 * math.pi * i / n) for i in range(n)]


def _star(n):
    return [(1.0 if i % 2 == 0 else 0.45, math.pi * i / n) for i in range(2 * n)]


def _cross():
    w = 0.3
    pts = [(w, 1), (w, w), (1, w), (1, -w), (w, -w), (w, -1), (-w, -1), (-w, -w), (-1, -w), (-1, w), (-w, w), (-w, 1)]
    return [(math.hypot(a, b), math.atan2(b, a)) for a, b in pts]


SHAPES = ("disc", "square", "triangle", "cross", "ring", "star")


def _draw_shape(d, c, rng, big):
    r = big * rng.uniform(0.22, 0.4)
    cx, cy = big / 2 + rng.uniform(-0.12, 0.12) * big, big / 2 + rng.uniform(-0.12, 0.12) * big
    angle = rng.uniform(0, 2 * math.pi)
    fill = int(rng.uniform(150, 255))
    name = SHAPES[c]
    if name == "disc":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
    elif name == "ring":
        d.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
        d.ellipse([cx - 0.55 * r, cy - 0.55 * r, cx + 0.55 * r, cy + 0.55 * r], fill=0)
    else:
        pts = {"square": _regular(4), "triangle": _regular(3), "cross": _cross(), "star": _star(5)}[name]
        d.polygon(_polygon(cx, cy, r, angle, pts), fill=fill)


def shapes():
    """Six filled shapes (disc, square, triangle, cross, ring, star), random size, position,
    rotation and grey level, 20x20, 250 per class."""
    return _render(_draw_shape, 250, len(SHAPES), 20, DATA_SEED)


STROKES = ("line", "vee", "zigzag", "arc", "loop")


def _draw_stroke(d, c, rng, big):
    s = big * rng.uniform(0.28, 0.42)
    cx, cy = big / 2 + rng.uniform(-0.1, 0.1) * big, big / 2 + rng.uniform(-0.1, 0.1) * big
    a = rng.uniform(-math.pi / 6, math.pi / 6)  # moderate rotation: strokes are orientation-specific
    width = int(big * rng.uniform(0.06, 0.1))
    name = STROKES[c]
    if name == "line":
        local = [(-1, 0), (1, 0)]
    elif name == "vee":
        local = [(-0.8, -0.8), (0, 0.8), (0.8, -0.8)]
    elif name == "zigzag":
        local = [(-1, -0.5), (-0.33, 0.5), (0.33, -0.5), (1, 0.5)]
    elif name == "arc":
        local = [(math.cos(t), 0.8 * math.sin(t)) for t in np.linspace(0, math.pi, 12)]
    else:
        local = [(0.8 * math.cos(t), 0.8 * math.sin(t)) for t in np.linspace(0.3, 2 * math.pi, 20)]
    ca, sa = math.cos(a), math.sin(a)
    pts = [(cx + s * (x * ca - y * sa), cy + s * (x * sa + y * ca)) for x, y in local]
    d.line(pts, fill=255, width=width, joint="curve")


def strokes():
    """Five stroke types (line, V, zigzag, arc, loop), random size, position, width and a
    rotation within ±30°, 20x20, 300 per class."""
    return _render(_draw_stroke, 300, len(STROKES), 20, DATA_SEED)


def textures(n_per_class=300, size=24):
    """Six textures (horizontal, vertical and diagonal stripes, checkerboard, dot grid, smooth
    noise), random period 4-8 px, phase and contrast, 24x24."""
    rng = np.random.RandomState(DATA_SEED)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    X, y = [], []
    for c in range(6):
        for _ in range(n_per_class):
            p = rng.uniform(4, 8)
            ph = rng.uniform(0, 2 * math.pi)
            w = 2 * math.pi / p
            if c == 0:
                img = np.sin(w * yy + ph)
            elif c == 1:
                img = np.sin(w * xx + ph)
            elif c == 2:
                sign = rng.choice([-1, 1])
                img = np.sin(w * (xx + sign * yy) / math.sqrt(2) + ph)
            elif c == 3:
                img = np.sign(np.sin(w * xx + ph)) * np.sign(np.sin(w * yy + rng.uniform(0, 2 * math.pi)))
            elif c == 4:
                img = ((np.sin(w * xx + ph) > 0.6) & (np.sin(w * yy + ph) > 0.6)).astype(np.float32) * 2 - 1
            else:
                noise = torch.tensor(rng.randn(1, 1, size, size), dtype=torch.float32)
                k = 5
                blur = F.avg_pool2d(F.pad(noise, (k // 2,) * 4, mode="circular"), k, stride=1)
                img = blur[0, 0].numpy()
                img = img / (np.abs(img).max() + 1e-8)
            contrast = rng.uniform(0.3, 0.5)
            X.append(0.5 + contrast * img + 0.05 * rng.randn(size, size))
            y.append(c)
    return np.clip(np.stack(X), 0, 1).astype(np.float32), np.asarray(y)


# -------------------------------------------------------------- transformed digits
def _rotate(X, degrees, rng):
    t = torch.tensor(X[:, None], dtype=torch.float32)
    ang = torch.tensor(rng.uniform(-degrees, degrees, len(X)) * math.pi / 180, dtype=torch.float32)
    c, s = torch.cos(ang), torch.sin(ang)
    z = torch.zeros_like(c)
    theta = torch.stack([torch.stack([c, -s, z], 1), torch.stack([s, c, z], 1)], 1)
    grid = F.affine_grid(theta, list(t.shape), align_corners=False)
    return F.grid_sample(t, grid, align_corners=False)[:, 0].numpy()


def digits_rotated():
    """Digits upscaled to 16x16, each rotated by a random angle in ±45°."""
    X, y = digits_images(16)
    return _rotate(X, 45, np.random.RandomState(DATA_SEED)), y


def digits_inverted():
    """Digits 8x8, intensities inverted (16 - x: light background, dark strokes)."""
    X, y = digits_images(8)
    return 16.0 - X, y


def digits_noisy():
    """Digits 8x8 with Gaussian noise of a quarter of the intensity range."""
    X, y = digits_images(8)
    return X + 4.0 * np.random.RandomState(DATA_SEED).randn(*X.shape), y


def digits_shifted():
    """Digits 8x8 pasted at a random position of a 16x16 black canvas."""
    X, y = digits_images(8)
    rng = np.random.RandomState(DATA_SEED)
    out = np.zeros((len(X), 16, 16), dtype=np.float64)
    for i, (dy, dx) in enumerate(rng.randint(0, 9, size=(len(X), 2))):
        out[i, dy:dy + 8, dx:dx + 8] = X[i]
    return out, y


def digits_thick():
    """Digits upscaled to 16x16, strokes thickened by a 3x3 grey-level dilation."""
    X, y = digits_images(16)
    t = torch.tensor(X[:, None], dtype=torch.float32)
    return F.max_pool2d(t, 3, stride=1, padding=1)[:, 0].numpy(), y


def _flattened(load):
    """The images of ``load()`` as rows of pixels: the same data as feature vectors."""
    def rows():
        X, y = load()
        return X.reshape(len(X), -1), y
    return rows


def _vectors(loader):
    def load():
        X, y = loader(return_X_y=True)
        return X.astype(np.float64), y
    return load


DATASETS = {
    # the targets
    "digits8": lambda: digits_images(8),
    "digits16": lambda: digits_images(16),
    "digits28": lambda: digits_images(28),
    "digits-geo": digits_geometric,
    "digits-one3x": digits_one_large,
    "digits-vectors": _flattened(lambda: digits_images(8)),
    "moons": moons_noise,
    "circles": circles_noise,
    "aniso": aniso_noise,
    # other data, for generality
    "iris": _vectors(load_iris),
    "wine": _vectors(load_wine),
    "cancer": _vectors(load_breast_cancer),
    "shapes": shapes,
    "strokes": strokes,
    "textures": textures,
    "d-rotated": digits_rotated,
    "d-inverted": digits_inverted,
    "d-noisy": digits_noisy,
    "d-shifted": digits_shifted,
    "d-thick": digits_thick,
    # more feature vectors (refine_space, 2026-11-27)
    "blobs-varied": blobs_varied,
    "classification": classification,
    "digits-geo-vectors": _flattened(digits_geometric),
    "digits-one3x-vectors": _flattened(digits_one_large),
}


#: The issue's targets: digits at three sizes, two imbalanced digit sets, digits as vectors, and
#: non-convex synthetic vectors with noise features.
CORE = ["digits8", "digits16", "digits28", "digits-geo", "digits-one3x", "digits-vectors", "moons", "circles",
        "aniso"]
#: Other data, for generality: small real vector sets, synthetic images, transformed digits.
EXTRA = ["iris", "wine", "cancer", "shapes", "strokes", "textures", "d-rotated", "d-inverted", "d-noisy",
         "d-shifted", "d-thick"]
#: Every feature-vector set (the neighbour space of the refinement, ``refine_space``).
VECTORS = ["digits-vectors", "moons", "circles", "aniso", "iris", "wine", "cancer", "blobs-varied", "classification",
           "digits-geo-vectors", "digits-one3x-vectors"]

#: Epochs of the CIFAR-10 fits of the refinement studies (the default 100 take about 25 minutes here).
CIFAR_EPOCHS = 15


def _cifar10_test(grayscale):
    def load():
        from _data import cifar10

        return cifar10("test", grayscale=grayscale)

    return load


#: The 10,000 CIFAR-10 test images (from ../shared/data), in colour and in grayscale, for studies of
#: the refinement on natural images; fitted for :data:`CIFAR_EPOCHS` epochs (:func:`study_data`).
CIFAR_SETS = {"cifar10": _cifar10_test(False), "cifar10-gray": _cifar10_test(True)}


def study_data(name):
    """``(load, params)`` of a study's data set: one of :data:`DATASETS` with no extra parameters, or
    one of :data:`CIFAR_SETS` with ``max_epochs`` :data:`CIFAR_EPOCHS`."""
    if name in CIFAR_SETS:
        return CIFAR_SETS[name], {"max_epochs": CIFAR_EPOCHS}
    return DATASETS[name], {}


if __name__ == "__main__":
    for name, fn in DATASETS.items():
        X, y = fn()
        print(f"{name:14s} X {X.shape} classes {len(np.unique(y))} sizes {np.bincount(y).tolist()}")
