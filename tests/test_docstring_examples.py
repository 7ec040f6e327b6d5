"""The Examples sections of the public docstrings run and print what they show.

The API reference (docs/) publishes them; the docs build does not execute
them, this test does.
"""

import doctest
import importlib

import pytest

MODULES = ["skc2bin.clusterer", "skc2bin.metrics", "skc2bin._show_versions", "skc2bin.data",
           "skc2bin.training.build", "skc2bin.training.distributed"]


@pytest.mark.parametrize("name", MODULES + ["skc2bin.plotting"])
def test_docstring_examples(name):
    if name == "skc2bin.plotting":
        matplotlib = pytest.importorskip("matplotlib")
        matplotlib.use("Agg")
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0
    if name == "skc2bin.plotting":
        import matplotlib.pyplot as plt

        plt.close("all")
