"""skc2bin.show_versions: what a bug report needs."""

import platform
import sys
from importlib.metadata import PackageNotFoundError

import numpy as np
import sklearn
import torch

import skc2bin
from skc2bin import _show_versions


def test_exported():
    assert skc2bin.show_versions is _show_versions.show_versions
    assert "show_versions" in skc2bin.__all__


def test_prints_versions_of_skc2bin_and_its_dependencies(capsys):
    skc2bin.show_versions()
    out = capsys.readouterr().out
    lines = {line.split(":", 1)[0].strip(): line.split(":", 1)[1].strip()
             for line in out.splitlines() if ":" in line}
    assert lines["skc2bin"] == skc2bin.__version__
    assert lines["torch"].split("+")[0] == torch.__version__.split("+")[0]
    assert lines["scikit-learn"] == sklearn.__version__
    assert lines["numpy"] == np.__version__
    for name in ("torchvision", "skorch", "scipy", "joblib"):
        assert lines[name] not in ("", "None"), name
    assert lines["python"].startswith(platform.python_version())
    assert lines["executable"] == sys.executable
    assert lines["CUDA available"] == str(torch.cuda.is_available())
    assert lines["CUDA version"] == str(torch.version.cuda)
    assert lines["CPU threads"] == str(torch.get_num_threads())


def test_missing_distribution_is_reported_as_none(monkeypatch):
    def version(name):
        if name == "matplotlib":
            raise PackageNotFoundError(name)
        return "1.0"

    monkeypatch.setattr(_show_versions, "version", version)
    deps = _show_versions._get_deps_info()
    assert deps["matplotlib"] is None
    assert deps["skorch"] == "1.0"
    assert deps["skc2bin"] == skc2bin.__version__


def test_lists_gpus_when_cuda_is_available(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda i: f"Fake GPU {i}")
    monkeypatch.setattr(torch.backends.cudnn, "version", lambda: 91000)
    info = _show_versions._get_torch_info()
    assert info["CUDA available"] == "True"
    assert info["cuDNN version"] == "91000"
    assert info["GPU 0"] == "Fake GPU 0"
    assert info["GPU 1"] == "Fake GPU 1"
