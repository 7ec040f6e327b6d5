"""Shared fixtures: small real data and tiny model settings."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

#: Parameters that train a small model in a fraction of a second.
TINY = dict(
    max_epochs=4,
    batch_size=32,
    hidden_size=16,
    representation_size=8,
    projection_size=8,
    device="cpu",
    random_state=0,
)


@pytest.fixture(scope="session")
def digits():
    X, y = load_digits(return_X_y=True)
    return X.astype(np.float32), y


@pytest.fixture(scope="session")
def digits_small(digits):
    X, y = digits
    rng = np.random.RandomState(0)
    idx = rng.choice(len(X), 300, replace=False)
    return X[idx], y[idx]


@pytest.fixture(scope="session")
def blobs():
    from sklearn.datasets import make_blobs

    X, y = make_blobs(n_samples=120, centers=3, n_features=5, random_state=0)
    return X, y
