"""Out-of-core input (torch Datasets) and the speed options of training."""

import copy
import pickle

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import Dataset, TensorDataset

from skc2bin import C2BINClusterer
from skc2bin.augment import resolve_augmentation
from skc2bin.data import BatchIterator, as_sample_tensor, collate_samples, place_training_data, sample_dataset
from skc2bin.metrics import silhouette_in_input_space, silhouette_sample

from .conftest import TINY


def _est(**kw):
    return C2BINClusterer(**{**TINY, "n_clusters": 3, **kw})


class PILDigits(Dataset):
    """(PIL image, target) pairs, as torchvision's image datasets return."""

    def __init__(self, X, y):
        self.images = (X.reshape(-1, 8, 8) * 16).clip(0, 255).astype(np.uint8)
        self.y = y

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return Image.fromarray(self.images[i], mode="L"), int(self.y[i])


# ------------------------------------------------------------------ items
def test_items_become_tensors_in_torch_layout():
    rgb = Image.fromarray(np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3), mode="RGB")
    t = as_sample_tensor((rgb, 7))
    assert t.shape == (3, 2, 3) and t.dtype == torch.uint8
    assert t[1, 0, 2].item() == np.asarray(rgb)[0, 2, 1]
    assert as_sample_tensor(np.ones(4, dtype=np.float32)).shape == (4,)
    with pytest.raises(TypeError, match="PILToTensor"):
        as_sample_tensor("not a sample")


def test_collate_stacks_and_rejects_mixed_shapes():
    batch = collate_samples([(torch.zeros(2, 2, dtype=torch.int16), 0), (torch.ones(2, 2, dtype=torch.int16), 1)])
    assert batch.shape == (2, 2, 2) and batch.dtype == torch.float32
    with pytest.raises(ValueError, match="Resize"):
        collate_samples([torch.zeros(3, 4, 4), torch.zeros(3, 5, 5)])


def test_dataset_batches_follow_the_same_permutation_as_tensor_slices():
    X = torch.arange(10.0).view(10, 1)
    sliced = BatchIterator(TensorDataset(X), 4, shuffle=True, generator=torch.Generator().manual_seed(3))
    sliced.dataset.X = X  # what skorch's wrapper of an array exposes
    loaded = BatchIterator(TensorDataset(X), 4, shuffle=True, generator=torch.Generator().manual_seed(3))
    a = [b for b, _ in sliced]
    b = [b for b, _ in loaded]
    assert [len(t) for t in a] == [len(t) for t in b] == [4, 4, 2]
    assert all(torch.equal(s, t) for s, t in zip(a, b))


def test_sample_dataset_draws_a_fixed_subset():
    ds = TensorDataset(torch.arange(100.0).view(100, 1))
    chunks = sample_dataset(ds, 30, seed=0, batch_size=8)
    first = torch.cat(list(chunks()))
    assert first.shape == (30, 1) and len(first.unique()) == 30
    assert torch.equal(first, torch.cat(list(chunks())))


def test_silhouette_sample_matches_the_scored_rows():
    rng = np.random.RandomState(0)
    X, labels = rng.standard_normal((3000, 2)), rng.randint(0, 3, 3000)
    idx = silhouette_sample(3000)
    assert silhouette_in_input_space(X[idx], labels[idx]) == silhouette_in_input_space(X, labels)
    assert np.array_equal(silhouette_sample(5), np.arange(5))


def test_data_stay_put_on_the_cpu():
    X = torch.zeros(4, 2)
    assert place_training_data(X, "cpu") == (X, False)


# ------------------------------------------------------------- estimator
def test_dataset_of_vectors_trains_exactly_like_the_array(digits_small):
    X, _ = digits_small
    from_array = _est().fit(X)
    from_dataset = _est(num_workers=0).fit(TensorDataset(torch.from_numpy(X)))
    assert np.array_equal(from_array.labels_, from_dataset.labels_)
    np.testing.assert_allclose(from_array.transform(X), from_dataset.transform(TensorDataset(torch.from_numpy(X))),
                               atol=1e-5)
    assert from_dataset.n_features_in_ == X.shape[1]


def test_pil_image_dataset_fits_predicts_and_scores_with_workers(digits_small):
    X, y = digits_small
    ds = PILDigits(X, y)
    est = _est(n_clusters=(3, 5), num_workers=1, max_epochs=2).fit(ds)
    assert est.input_spec_.sample_shape == (1, 8, 8)
    assert est.labels_per_scale_.shape == (len(ds), 2)
    assert np.array_equal(est.predict(ds), est.labels_)
    # 2-D grayscale arrays of the same pixels are the same samples.
    assert np.array_equal(est.predict(ds.images), est.labels_)
    proba = est.predict_proba(ds)
    assert proba.shape == (len(ds), 3)
    assert est.transform(ds).shape == (len(ds), TINY["representation_size"])
    assert -1 <= est.score(ds) <= 1
    est.partial_fit(ds)
    assert len(est.history_) == 3


def test_image_folder_trains(tmp_path, digits_small):
    from torchvision.datasets import ImageFolder

    X, y = digits_small
    images = (X[:60].reshape(-1, 8, 8) * 16).clip(0, 255).astype(np.uint8)
    for i, (img, label) in enumerate(zip(images, y[:60])):
        folder = tmp_path / f"class{label}"
        folder.mkdir(exist_ok=True)
        Image.fromarray(img).convert("RGB").save(folder / f"{i}.png")
    ds = ImageFolder(tmp_path)
    est = _est(max_epochs=1, num_workers=0).fit(ds)
    assert est.input_spec_.sample_shape == (3, 8, 8)
    assert est.labels_.shape == (60,)
    # Arrays in the layout of the dataset's samples are accepted; channels-last ones are not.
    chw = np.stack([np.asarray(ds[i][0]).transpose(2, 0, 1) for i in range(len(ds))])
    est.set_params(image_format="channels_first")
    assert np.array_equal(est.predict(chw), est.labels_)
    est.set_params(image_format="channels_last")
    with pytest.raises(ValueError, match="another layout"):
        est.predict(chw.transpose(0, 2, 3, 1))


class _Bad(Dataset):
    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


@pytest.mark.parametrize(
    "items, error, match",
    [
        ([], ValueError, "empty Dataset"),
        (["text"] * 4, TypeError, "PIL image, a numpy array or a torch tensor"),
        ([torch.zeros(5, 4, 4)] * 4, ValueError, "channels first"),
        ([torch.zeros(2, 2, 2, 2)] * 4, ValueError, "Expected feature vectors"),
        ([torch.zeros(3)] * 2 + [torch.zeros(4)] * 2, ValueError, "differ in shape"),
    ],
)
def test_bad_datasets_are_reported(items, error, match):
    est = _est(num_workers=0, n_clusters=2)
    with pytest.raises(error, match=match):
        est.fit(_Bad(items))
    assert not hasattr(est, "net_")


def test_bfloat16_precision_trains_and_predicts_in_float32(blobs):
    X, _ = blobs
    est = _est(precision="bfloat16").fit(X)
    assert est.net_.precision == "bfloat16"
    assert est.transform(X).dtype == np.float32
    assert np.isfinite(est.predict_proba(X)).all()
    assert np.isfinite(est.history_[:, "train_loss"]).all()


def test_cpu_defaults_float32_and_channels_last_for_images_only(blobs, digits_small):
    X, _ = blobs
    est = _est(max_epochs=1).fit(X)
    assert est.net_.precision == "float32" and not est.net_.channels_last
    images = _est(max_epochs=1, image_shape=(8, 8)).fit(digits_small[0])
    assert images.net_.precision == "float32" and images.net_.channels_last


def test_compile_option_trains_through_torch_compile_and_pickles(blobs, monkeypatch):
    X, _ = blobs
    compiled = []

    def fake_compile(fn):
        compiled.append(fn)
        return fn

    monkeypatch.setattr(torch, "compile", fake_compile)
    est = _est(compile=True, max_epochs=2).fit(X)
    # The online network's two-view training pass, compiled once for the fit.
    from skc2bin.networks import TwoViewForward

    assert len(compiled) == 1 and isinstance(compiled[0], TwoViewForward)
    assert compiled[0].online is est.net_.module_
    restored = pickle.loads(pickle.dumps(est))
    assert np.array_equal(restored.predict(X), est.predict(X))


def test_channels_last_layout_gives_the_same_network_outputs(digits_small):
    gray = digits_small[0].reshape(-1, 8, 8)
    X = np.stack([gray, gray * 0.5, 16 - gray], axis=-1)  # colour: channels-last is not trivial
    est = _est(max_epochs=1).fit(X)
    conv = next(m for m in est.net_.module_.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    plain = copy.deepcopy(est)
    plain.net_.channels_last = False
    plain.net_.module_.to(memory_format=torch.contiguous_format)
    plain.net_.target_.to(memory_format=torch.contiguous_format)
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    np.testing.assert_allclose(plain.transform(X), est.transform(X), atol=1e-5)
    # Training steps run on channels-last views.
    for net in (est.net_, plain.net_):
        net.augment = resolve_augmentation("auto", (3, 8, 8))
        net.generator = torch.Generator().manual_seed(0)
    view = est.net_.make_views(torch.from_numpy(X[:32]))[0]
    assert view.is_contiguous(memory_format=torch.channels_last) and not view.is_contiguous()
    assert plain.net_.make_views(torch.from_numpy(X[:32]))[0].is_contiguous()


def test_resnet18_backbone_trains_a_step_on_colour_images():
    """The GPU recipe's backbone runs its training step (and inference) on the CPU too."""
    X = np.random.RandomState(0).randint(0, 256, (8, 16, 16, 3)).astype(np.uint8)
    est = _est(backbone="resnet18", n_clusters=2, max_epochs=1, batch_size=4, lr_schedule="cosine").fit(X)
    assert est.n_features_out_ == 512 and est.transform(X[:3]).shape == (3, 512)
    assert len(est.history_[-1]["batches"]) == 2 and np.isfinite(est.history_[-1, "train_loss"])


@pytest.mark.slow
def test_compile_really_compiles_on_cpu(blobs):
    """torch.compile (inductor, needs a C++ compiler) trains the same model
    as the eager pass, up to rounding, where it works on this machine."""
    X, _ = blobs
    try:
        compiled = _est(compile=True, max_epochs=2, n_clusters=3).fit(X)
    except Exception as exc:  # no compiler, unsupported platform
        pytest.skip(f"torch.compile does not work here: {type(exc).__name__}: {exc}")
    eager = _est(max_epochs=2, n_clusters=3).fit(X)
    np.testing.assert_allclose(compiled.history_[:, "train_loss"], eager.history_[:, "train_loss"], rtol=1e-3)
