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
    # Its re-pairing step (refine_pairs=2 by default) added a third to such a fit (0.20 -> 0.27 s,
    # measured once); the tests of the refinement turn it on where they check it.
    refine_pairs=0,
    # Its layouts (refine_layouts=2 by default, feature vectors only) take 500 gradient epochs each;
    # the tests of the refinement turn them on where they check them.
    refine_layouts=0,
    batch_size=32,
    hidden_size=16,
    representation_size=8,
    projection_size=8,
    device="cpu",
    random_state=0,
)


#: Test modules that take longest (``--durations``, one torch thread), slowest
#: first. The suite runs in two pytest-xdist workers, one module at a time each
#: (``--dist loadfile``); starting these first, in this order, keeps both
#: workers busy to the end instead of leaving one module of minutes for last.
#: Only a schedule: a module missing here runs after them, in collection order.
SLOW_MODULES = (
    "test_integration.py",  # the 8x8 floor (50 epochs), a layout of digits as vectors
    "test_benchmarks.py",  # every benchmark's --smoke run
    "test_distributed.py",  # six torchrun launches
    "test_larger_images.py",  # the 16x16 floor
    "test_unequal_sizes.py",  # digits with geometric class sizes, 30 epochs
    "test_estimator.py",
    "test_sklearn_compliance.py",
)


def pytest_configure(config):
    # Keep the order that pytest_collection_modifyitems gives (SLOW_MODULES
    # first): pytest-xdist otherwise sends the modules with most tests first
    # (its --loadscope-reorder).
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(SLOW_MODULES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_MODULES)))  # stable: test order kept


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
