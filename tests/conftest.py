"""Shared fixtures: small real data and tiny model settings."""

import os

# Under pytest-xdist (the README's `-n 2`), each worker process trains with one
# torch thread: two workers with two threads each on a 2-core machine
# oversubscribe the cores (fits become many times slower), and one thread per
# worker makes every fit's floating-point path, hence the quality floors, the
# same whatever the machine's core count. Set before torch is imported.
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from sklearn.datasets import load_digits

#: Parameters that train a small model in a fraction of a second. The
#: refinement phase runs, briefly: at its default 50 epochs it took 80 % of
#: such a fit (0.4 of 0.5 s; most tests fit several times).
TINY = dict(
    max_epochs=4,
    refine_epochs=5,
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
