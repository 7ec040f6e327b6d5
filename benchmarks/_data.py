"""Benchmark data, from local files only (nothing is downloaded).

* scikit-learn's digits as 8x8 images, or upscaled (bilinear) to larger
  sizes: the same information at another resolution, to catch defaults that
  do not scale with the image size;
* CIFAR-10 from ``../shared/data/cifar10-jpeg.tar.gz`` (one JPEG per image,
  ``<split>/<class>/<NNNN>.jpg``), decoded straight from the archive;
* random images of CIFAR-10's shape, for the ``--smoke`` runs (no archive needed).
"""

import io
import os
import tarfile
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits

CIFAR10_ARCHIVE = Path(
    os.environ.get(
        "SKC2BIN_CIFAR10",
        Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cifar10-jpeg.tar.gz",
    )
)
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def digits_images(size=8):
    """Digits as ``(1797, size, size)`` float images (bilinear upscaling above 8) and labels."""
    X, y = load_digits(return_X_y=True)
    X = X.reshape(-1, 8, 8)
    if size != 8:
        X = torch.nn.functional.interpolate(
            torch.tensor(X[:, None], dtype=torch.float32), size=size, mode="bilinear", align_corners=False
        ).numpy()[:, 0]
    return X, y


def cifar10(split="test", archive=CIFAR10_ARCHIVE, grayscale=False):
    """CIFAR-10 ``split`` as ``(n, 32, 32, 3)`` uint8 images (``(n, 32, 32)`` if grayscale) and labels.

    Labels follow the alphabetical class order of the folders. Raises
    FileNotFoundError naming the archive (and the ``SKC2BIN_CIFAR10``
    variable that overrides its path) when it is missing.
    """
    from PIL import Image

    archive = Path(archive)
    if not archive.exists():
        raise FileNotFoundError(
            f"CIFAR-10 archive not found at {archive}. Point the SKC2BIN_CIFAR10 environment "
            "variable at cifar10-jpeg.tar.gz."
        )
    images, labels = [], []
    with tarfile.open(archive) as tar:
        for member in tar:
            parts = member.name.split("/")
            if not member.isfile() or len(parts) != 3 or parts[0] != split:
                continue
            with Image.open(io.BytesIO(tar.extractfile(member).read())) as im:
                images.append(np.asarray(im.convert("L" if grayscale else "RGB")))
            labels.append(CIFAR10_CLASSES.index(parts[1]))
    return np.stack(images), np.asarray(labels)


def synthetic_cifar10(split="test", n=200):
    """Stand-in for :func:`cifar10` in smoke runs on machines without the archive: ``n`` random
    ``(32, 32, 3)`` uint8 images (another draw per split) and balanced labels 0-9."""
    rng = np.random.RandomState(("train", "test").index(split))
    return rng.randint(0, 256, (n, 32, 32, 3), dtype=np.uint8), np.arange(n) % len(CIFAR10_CLASSES)
