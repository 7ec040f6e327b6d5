"""Single-process training did not change when the loss values moved to the device
and the online pass became one two-view forward (issues 11 and 12).

Two checks:

* a reference net with the train step and epoch loop as they were (two calls
  of ``views_forward``, the loss parts read with ``.tolist()`` every step,
  skorch's own ``run_single_epoch`` reading ``loss.item()``) trains, in this
  process, exactly the model the current net trains: same labels, weights,
  and history, batch records included — on any machine;
* fingerprints recorded before the change, on the developers' machine,
  still come out — only where they were recorded (same torch, CPU
  instruction set; bitwise results differ between those, and between CPU
  vendors with the same instruction set: an AMD CPU keeps its own records).
"""

import hashlib
import platform

import numpy as np
import pytest
import torch
from skorch import NeuralNet
from torch.utils.data import TensorDataset

from skc2bin import C2BINClusterer, TrainingDivergedError
from skc2bin.training import LOSS_PARTS, C2BINNet

from .conftest import TINY


class ReferenceNet(C2BINNet):
    """The train step and epoch loop of skc2bin 0.1 (before issues 11/12)."""

    def run_single_epoch(self, *args, **kwargs):
        return NeuralNet.run_single_epoch(self, *args, **kwargs)

    def step_on_views(self, view1, view2):
        forward = self.module_.views_forward
        with self._autocast():
            pred1, assigns1 = forward(view1)
            pred2, assigns2 = forward(view2)
            with torch.no_grad():
                target1 = self.target_(view1)
                target2 = self.target_(view2)
        loss, parts = self.criterion_(
            pred1.float(), pred2.float(), target1.float(), target2.float(),
            [a.float() for a in assigns1], [a.float() for a in assigns2],
        )
        values = torch.stack([loss.detach(), *(parts[name] for name in LOSS_PARTS)]).tolist()
        if not all(v == v and abs(v) != float("inf") for v in values):
            raise TrainingDivergedError("diverged")
        loss.backward()
        for name, value in zip(LOSS_PARTS, values[1:]):
            self.history.record_batch(f"{name}_loss", value)
        self.history.record_batch("head_losses", parts["heads"].tolist())
        return {"loss": loss, "y_pred": pred1}


def _settings(digits_small, blobs, refine="neighbors"):
    Xd, _ = digits_small
    Xb, _ = blobs
    # The fingerprints were recorded with the default refinement epochs, before the
    # refinement's graph candidate (refine_graph, issue 13) and its re-pairing of linked clusters
    # (refine_pairs) existed, and while it mined every fit's neighbours in the representation
    # (refine_space; 'auto' now mines those of vectors in the input).
    tiny = {**TINY, "n_threads": 1, "refine": refine, "refine_epochs": 50, "refine_graph": False,
            "refine_pairs": 0, "refine_space": "representation"}
    return {
        "blobs": (Xb, dict(n_clusters=3, **tiny)),
        "digits_images": (Xd, dict(n_clusters=(3, 5), image_shape=(8, 8), **tiny)),
        "cosine_ninit2_b16": (Xb, dict(n_clusters=(3, 4), n_init=2, lr_schedule="cosine",
                                       **{**tiny, "batch_size": 16, "max_epochs": 3})),
        "dataset": (TensorDataset(torch.from_numpy(Xd.reshape(-1, 1, 8, 8))),
                    dict(n_clusters=3, num_workers=0, **tiny)),
    }


def _fit(X, params, partial=False):
    est = C2BINClusterer(**params)
    if partial:  # two calls, the second on a smaller chunk
        return est.partial_fit(X).partial_fit(X[:60])
    return est.fit(X)


def _weights(est):
    return [v.clone() for m in (est.net_.module_, est.net_.target_) for v in m.state_dict().values()]


@pytest.mark.parametrize("name", ["blobs", "digits_images", "cosine_ninit2_b16", "dataset", "partial_fit"])
def test_training_is_bit_identical_to_the_reference_step(name, digits_small, blobs, monkeypatch):
    settings = _settings(digits_small, blobs)
    X, params = settings.get(name, settings["blobs"])
    partial = name == "partial_fit"
    current = _fit(X, params, partial)
    monkeypatch.setattr("skc2bin.training.build.C2BINNet", ReferenceNet)
    reference = _fit(X, params, partial)
    assert type(reference.net_) is ReferenceNet and type(current.net_) is C2BINNet
    np.testing.assert_array_equal(current.labels_per_scale_, reference.labels_per_scale_)
    for a, b in zip(_weights(current), _weights(reference)):
        assert torch.equal(a, b)
    assert len(current.history_) == len(reference.history_)
    for new, old in zip(current.history_, reference.history_):
        for key in ("train_loss", *(f"{p}_loss" for p in LOSS_PARTS), "ema_momentum", "train_batch_count"):
            assert new[key] == old[key], key
        assert len(new["batches"]) == len(old["batches"])
        for b_new, b_old in zip(new["batches"], old["batches"]):
            assert b_new == b_old


#: Fingerprints of the fits above: ``refine=None`` recorded at commit 43acc98 (before issues
#: 11/12), default refinement at 0c996bc (main, before issues 11/12; its C2BIN phase gives the
#: 43acc98 values), with n_threads=1 on an x86_64 AVX512 CPU, torch 2.14.1+cu130. The two
#: multi-scale refined fits were re-recorded at 0c265f9, when a refined head had to become
#: admissible to replace a head (issue 13: no cluster below size_prior_floor x n/k). Their
#: C2BIN phase is unchanged (same last train_loss; the refine=None fingerprints still hold);
#: only the refinement's choice of head differs: it now refuses a refined head it used to take.
RECORDED = {
    (None, "blobs"): ("b3fc0681eff4659b", "6eecb19e618bb7c2", 5.59474500020345),
    (None, "digits_images"): ("d1bbe1ad7565bb16", "f17d4a438288393d", 4.570476531982422),
    (None, "cosine_ninit2_b16"): ("b1ac1f216eaf1761", "d7b3ee66a331a00b", 5.6486141341073175),
    (None, "dataset"): ("6eec6bf2ddd19329", "8a653c763cfbaf07", 4.0463708771599665),
    (None, "partial_fit"): ("82c0a80ad1ea537a", "9588300a9a7c1b51", 5.927070617675781),
    ("neighbors", "blobs"): ("1c663a0c9f48655c", "74b7b138eb3ec836", 5.59474500020345),
    ("neighbors", "digits_images"): ("d1bbe1ad7565bb16", "f17d4a438288393d", 4.570476531982422),
    ("neighbors", "cosine_ninit2_b16"): ("ae482546d4d0b1a2", "37b36579d691d232", 5.6486141341073175),
    ("neighbors", "dataset"): ("6eec6bf2ddd19329", "8a653c763cfbaf07", 4.0463708771599665),
}
#: The same fits on an AMD EPYC with AVX-512 (tenth session, commit 2580ddf, the code of the fits
#: unchanged since the records above): the same torch and instruction set, other bits (from the
#: first steps: each train_loss differs in the last digits), so every CPU vendor keeps its own.
RECORDED_AMD = {
    (None, "blobs"): ("b3fc0681eff4659b", "a532debd7a3d6758", 5.594555219014485),
    (None, "digits_images"): ("82bbd8fa12343e7d", "e4917792e3a892de", 4.571354177263048),
    (None, "cosine_ninit2_b16"): ("b1ac1f216eaf1761", "ff3d7b41c60f08b0", 5.64985636302403),
    (None, "dataset"): ("1df7787e25d56205", "d988dce1d0680f79", 4.063070721096462),
    (None, "partial_fit"): ("82c0a80ad1ea537a", "a785a0f62cd51ce3", 5.927053451538086),
    ("neighbors", "blobs"): ("1c663a0c9f48655c", "77d2e2f897bed107", 5.594555219014485),
    ("neighbors", "digits_images"): ("82bbd8fa12343e7d", "e4917792e3a892de", 4.571354177263048),
    ("neighbors", "cosine_ninit2_b16"): ("ae482546d4d0b1a2", "351ad51081b375de", 5.64985636302403),
    ("neighbors", "dataset"): ("1df7787e25d56205", "d988dce1d0680f79", 4.063070721096462),
}
#: Since the refinement's gate (eleventh session, MIN_NEIGHBOR_AGREEMENT), the two refined fits of
#: 300 digits skip the refinement: after their few epochs the C2BIN head puts 0.78 and 0.73 of the
#: mined neighbour pairs in one cluster (AMD). Their fingerprints are those of refine=None, bit for
#: bit (checked on the AMD machine; for the Intel table inferred, the shares being far below 0.85).
RECORDED_ON = ("2.14.1+cu130", "x86_64", "AVX512")


def _cpu_vendor():
    """``vendor_id`` of /proc/cpuinfo ('GenuineIntel', 'AuthenticAMD'), '' where there is none."""
    try:
        with open("/proc/cpuinfo") as fh:
            return next((line.split(":", 1)[1].strip() for line in fh if line.startswith("vendor_id")), "")
    except OSError:
        return ""


def _fingerprint(est):
    h = hashlib.sha256()
    for m in (est.net_.module_, est.net_.target_):
        for k, v in sorted(m.state_dict().items()):
            h.update(k.encode())
            h.update(v.detach().cpu().contiguous().numpy().tobytes())
    labels = hashlib.sha256(est.labels_per_scale_.tobytes()).hexdigest()[:16]
    return labels, h.hexdigest()[:16], est.history_[-1, "train_loss"]


@pytest.mark.skipif(
    (torch.__version__, platform.machine(), torch.backends.cpu.get_cpu_capability()) != RECORDED_ON,
    reason="bitwise fingerprints were recorded with another torch or CPU instruction set",
)
@pytest.mark.parametrize("refine, name", sorted(RECORDED, key=str))
def test_fits_reproduce_the_fingerprints_recorded_before_the_change(refine, name, digits_small, blobs):
    settings = _settings(digits_small, blobs, refine)
    X, params = settings.get(name, settings["blobs"])
    recorded = RECORDED_AMD if _cpu_vendor() == "AuthenticAMD" else RECORDED
    assert _fingerprint(_fit(X, params, partial=name == "partial_fit")) == recorded[refine, name]
