"""Safe model files: save/load without pickle, refusing damaged or foreign files."""

import json
import struct

import numpy as np
import pytest
import torch

from skc2bin import C2BINClusterer
from skc2bin.persistence import FORMAT

from .conftest import TINY


@pytest.fixture(scope="module")
def fitted(digits_small):
    X, _ = digits_small
    return C2BINClusterer(**{**TINY, "n_clusters": (3, 5)}, image_shape=(8, 8)).fit(X), X


def _header(path):
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return raw, n, json.loads(raw[8:8 + n])


def _rewrite(path, header, data):
    blob = json.dumps(header).encode()
    blob += b" " * (-len(blob) % 8)
    path.write_bytes(struct.pack("<Q", len(blob)) + blob + data)


def test_round_trip_predicts_identically(fitted, tmp_path):
    est, X = fitted
    path = tmp_path / "m.safetensors"
    est.save(path)
    loaded = C2BINClusterer.load(path)
    np.testing.assert_array_equal(loaded.predict_per_scale(X), est.predict_per_scale(X))
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))
    np.testing.assert_array_equal(loaded.labels_per_scale_, est.labels_per_scale_)
    assert loaded.get_params() == {**est.get_params(), "callbacks": None}
    assert len(loaded.history_) == len(est.history_)
    assert loaded.history_[-1, "train_loss"] == est.history_[-1, "train_loss"]


def test_file_is_not_a_pickle(fitted, tmp_path):
    est, _ = fitted
    path = tmp_path / "m.safetensors"
    est.save(path)
    raw, n, header = _header(path)
    # safetensors' layout, nothing else: an 8-byte little-endian header length, a JSON header,
    # then the tensors' raw bytes, which end exactly at the last tensor's end offset. (The first
    # byte is the low byte of the header length: it may be anything, pickle's 0x80 included.)
    assert raw[8:9] == b"{"
    tensors = {k: v for k, v in header.items() if k != "__metadata__"}
    assert tensors and max(v["data_offsets"][1] for v in tensors.values()) == len(raw) - 8 - n
    meta = header["__metadata__"]
    assert meta["format"] == FORMAT and "skc2bin_version" in meta
    assert json.loads(meta["params"])["n_clusters"] == {"__tuple__": [3, 5]}


def test_loaded_model_keeps_training(fitted, tmp_path):
    est, X = fitted
    path = tmp_path / "m.safetensors"
    est.save(path)
    loaded = C2BINClusterer.load(path).partial_fit(X)
    assert len(loaded.history_) == len(est.history_) + 1


def test_tampered_weights_are_refused(fitted, tmp_path):
    est, _ = fitted
    path = tmp_path / "m.safetensors"
    est.save(path)
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0xFF  # flip bits in the last tensor's data
    path.write_bytes(bytes(raw))
    with pytest.raises(ValueError, match="checksum"):
        C2BINClusterer.load(path)


def test_tampered_parameters_are_refused(fitted, tmp_path):
    est, _ = fitted
    path = tmp_path / "m.safetensors"
    est.save(path)
    raw, n, header = _header(path)
    params = json.loads(header["__metadata__"]["params"])
    params["lr"] = 123.0
    header["__metadata__"]["params"] = json.dumps(params)
    _rewrite(path, header, raw[8 + n:])
    with pytest.raises(ValueError, match="checksum"):
        C2BINClusterer.load(path)


def test_other_format_version_is_refused(fitted, tmp_path):
    est, _ = fitted
    path = tmp_path / "m.safetensors"
    est.save(path)
    raw, n, header = _header(path)
    header["__metadata__"]["format"] = "skc2bin-model-999"
    _rewrite(path, header, raw[8 + n:])
    with pytest.raises(ValueError, match="skc2bin-model-999"):
        C2BINClusterer.load(path)


@pytest.mark.parametrize("content", [b"", b"not a model at all", b"\x80\x04K\x01."])
def test_malformed_files_are_refused(tmp_path, content):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="not a readable skc2bin model file"):
        C2BINClusterer.load(path)


def test_plain_safetensors_file_without_skc2bin_metadata(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(ValueError, match="format"):
        C2BINClusterer.load(path)


def test_custom_backbone_must_be_passed_again(digits_small, tmp_path):
    X, _ = digits_small

    def make():
        return torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 12), torch.nn.ReLU())

    est = C2BINClusterer(**{**TINY, "n_clusters": 3}, image_shape=(8, 8), backbone=make()).fit(X)
    path = tmp_path / "m.safetensors"
    est.save(path)
    with pytest.raises(ValueError, match="backbone"):
        C2BINClusterer.load(path)
    loaded = C2BINClusterer.load(path, backbone=make())
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))
    wrong = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 7), torch.nn.ReLU())
    with pytest.raises(ValueError, match="architecture"):
        C2BINClusterer.load(path, backbone=wrong)


def test_save_before_fit():
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        C2BINClusterer().save("never.safetensors")


def test_builtin_augmentation_objects_round_trip_without_overrides(digits_small, tmp_path):
    from skc2bin.augment import GrayscaleAugment

    X, _ = digits_small
    aug = GrayscaleAugment(rotation=25.0, scale=(0.9, 1.1))
    est = C2BINClusterer(**{**TINY, "n_clusters": 3, "max_epochs": 1}, image_shape=(8, 8), augmentation=aug).fit(X)
    path = tmp_path / "m.safetensors"
    est.save(path)
    loaded = C2BINClusterer.load(path)  # no override needed for the library's own classes
    assert isinstance(loaded.augmentation, GrayscaleAugment)
    assert loaded.augmentation.get_params() == aug.get_params()
    assert loaded.augmentation is not aug
    np.testing.assert_array_equal(loaded.predict(X), est.predict(X))


def test_persistence_needs_no_estimator_internals():
    """persistence reads and writes a params dict and a fitted-state dict; it
    imports neither the estimator nor its private builders (no import cycle)."""
    import ast
    import inspect

    import skc2bin.persistence as persistence

    tree = ast.parse(inspect.getsource(persistence))
    imported = {
        node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module
    }
    assert "clusterer" not in imported and not any("clusterer" in m for m in imported)
    assert "C2BINClusterer(" not in inspect.getsource(persistence)
    assert "._build" not in inspect.getsource(persistence)
