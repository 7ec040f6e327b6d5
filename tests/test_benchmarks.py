"""Every script in benchmarks/ still runs: a tiny ``--smoke`` run of each, and ``--help``.

The smoke runs (``benchmarks/<script>.py --smoke``, one torch thread) run in batches: each batch
is one subprocess that runs its scripts one after the other in the same interpreter, as
``python benchmarks/<script>.py --smoke`` would (``runpy``, ``__main__``), so that torch,
scikit-learn and skorch are imported once per batch rather than once per script (about 5 of a
smoke run's 8 seconds). Under pytest-xdist one batch runs them all, beside the other worker;
otherwise a few batches run at once. The CIFAR-10 archive is hidden from them: smoke runs use
random images of its shape, and a normal run without it must fail with a FileNotFoundError that
names it.
"""

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
MISSING_ARCHIVE = str(ROOT / "no-such-dir" / "cifar10-jpeg.tar.gz")

#: Script -> lines its smoke run must print: a table's header, and the start of one of its rows.
EXPECTED = {
    "quality": ["| method | ACC per seed | ACC mean | ACC min | NMI mean (min) | ARI mean (min) | fit s mean |",
                "| C2BIN default | ", "| C2BIN old | ", "| KMeans | "],
    "multiscale": ["| n_clusters | ACC | NMI | ARI | k-NN acc. of transform |", "| (10, 30) | ",
                   "| n_clusters | nesting of the finer heads in the 10-cluster head | clusters holding a sample, "],
    "tunables": ["| variant | ACC | NMI | ARI | k-NN acc. of transform | fit s |", "| BN ema, heads mean | "],
    "cifar10": ["| method | ACC | NMI | ARI | k-NN acc. | fit s |", "| KMeans (pixels) | "],
    "throughput": ["| pipeline | samples/s (two views each) | ratio to the best conventional |",
                   "| conventional (PIL + torchvision per image, 0 workers) | ",
                   "| vectors (64 features) | fit s (1 epochs) | s per 1,000 samples |"],
    "digits_floor": ["| method | ACC | NMI | ARI | fit s |", "| C2BIN (head) | "],
    "defaults_survey": ["| data | C2BIN ACC | C2BIN NMI | C2BIN fit s | KMeans ACC | KMeans NMI |",
                        "| digits 16x16 images | "],
    "vector_defaults": ["| variant | ACC per seed | mean ACC | fit s |", "| noise 0.3 | "],
    "gpu_check": ["| pipeline | two-view samples/s | ratio to the best conventional |",
                  "| skc2bin (batched, on-device augmentation) | ", "| KMeans (pixels) | "],
    "embedding_clusterers": ["| data | seeds | C2BIN (default) | spectral 10-NN | spectral 30-NN | spectral 10-NN, QR",
                             "| digits8 | 0 | ", "| digits8 | 0 | the classes (labels) | 1.000 | "],
    "refine_guard": ["| data | seed | C2BIN head: ACC (score) | best refined head: ACC (score) |", "| digits8 | 0 | ",
                     "| data | seeds | ACC without: mean (worst) | ACC with the graph candidate: mean (worst) |"],
    "graph_start": ["| data | seeds | no graph: ACC mean (worst) | distilled: ACC mean (worst) | refined (default): ACC "
                    "mean (worst) |", "| moons | 1 | "],
    "cluster_pairs": ["| data | seeds | refine_pairs=0: ACC mean (worst) | refine_pairs=2 (default): ACC mean (worst) |",
                      "| digits-vectors | 1 | "],
    "neighbor_space": ["| data | seeds | representation | input | input, cosine | input, 20 | input, 30 | both "
                       "| weighted input |",
                       "| digits-vectors | 1 | "],
    "start_points": ["| data | seeds | kept head (default) | t-SNE + GMM refined | t-SNE + KMeans refined | true "
                     "classes (oracle) refined |", "| digits-vectors | 1 | "],
    "memory": ["| rows | data MiB | peak before fit MiB |", "| 2,000 | ", "| predict_proba | 1,000 | "],
    "working_size": ["| image | working size (pooled side) | ACC per seed | ACC mean | ACC min |",
                     "| 28x28 | 14 (14 px) | "],
    "view_agreement": ["| data | seed | threads | head before the step | rule: neighbours | rule: views | rule: "
                       "neighbours, else views | rule: neighbours, veto, else views |", "| digits-vectors | 0 | 1 | "],
    "pair_cut": ["| data | seed | C2BIN phase | without: ACC | with (default): ACC | step: ACC (control, copies, head) "
                 "| pairs cut | mean cut per cluster | largest cluster | picked |", "| moons | 0 | ",
                 "| data | seeds | without: ACC mean (worst) | with (default): ACC mean (worst) |"],
    "layout_starts": ["| data | seeds | no layout: ACC mean (worst) | 1 layout: ACC mean (worst) | 2 layouts: ACC mean "
                      "(worst) |", "| moons | 1 | "],
    "layout_draws": ["| data | n | draws | 500 ep, 5 neg: ACC mean (worst), NMI | 250 ep, 5 neg: ACC mean "
                     "(worst), NMI |", "| moons | 200 | 1 | "],
    "refine_variants": ["| data | seeds | no layout: ACC mean (worst) | 1 layout: ACC mean (worst) | tolerance "
                        "0.1: ACC mean (worst) |", "| moons | 1 | "],
    "refine_gate": ["| data | seed | head's neighbour agreement: before → after | 10-NN acc. | C2BIN phase ACC | "
                    "refined ACC | change | what replaced the head |", "| moons | 0 | ",
                    "| tau | fits left unrefined | ACC change there (refined → unrefined) | fits |", "| 0.85 | "],
    "phase_variants": ["| data | seeds | entropy 1 (default): ACC mean (worst) | entropy 0.3: ACC mean (worst) |",
                       "| digits8 | 1 | ", "| data | seed | refined ACC (entropy 1 (default)) | agreement "
                       "(representation): classes / found |"],
    "head_consensus": ["| data | seeds | refined (default): ACC mean (worst) | consensus of the phase's heads: "
                       "ACC mean (worst) |", "| digits8 | 1 | ",
                       "| data | seed | phase's heads ACC (kept) | refined (default) |"],
    "distributed": ["| run | seed | processes × threads | fit s | s per epoch | ACC | NMI | ARI | train_loss | "
                    "processes agree |", "| 2 processes (DDP) | 0 | 2 × 1 | ", "| 1 process | 0 | "],
}

#: Scripts that read the CIFAR-10 archive in a normal run.
NEED_ARCHIVE = ("cifar10", "throughput")

#: Runs, in one interpreter, every script with --help and the archive readers without the
#: archive; prints {script: [exit code or exception, output]} as JSON.
IN_PROCESS = r"""
import contextlib, io, json, runpy, sys
scripts, need_archive = json.loads(sys.argv[1])
results = {}
for name, argv in [(s, ["--help"]) for s in scripts] + [(s + " (no archive)", []) for s in need_archive]:
    path = f"benchmarks/{name.split()[0]}.py"
    sys.argv = [path, *argv]
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            runpy.run_path(path, run_name="__main__")
        outcome = 0
    except SystemExit as exc:
        outcome = exc.code or 0
    except Exception as exc:
        outcome = f"{type(exc).__name__}: {exc}"
    results[name] = [outcome, out.getvalue()]
print(json.dumps(results))
"""

#: Runs ``benchmarks/<script>.py --smoke`` for each script of a JSON list, one after the other in
#: this interpreter; prints {script: [exit code or exception with its traceback, stdout, stderr]}
#: as JSON. Each script leaves the library as it found it (the studies restore what they patch).
BATCH = r"""
import contextlib, io, json, runpy, sys, traceback
results = {}
for name in json.loads(sys.argv[1]):
    path = f"benchmarks/{name}.py"
    sys.argv = [path, "--smoke"]
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            runpy.run_path(path, run_name="__main__")
        outcome = 0
    except SystemExit as exc:
        outcome = exc.code or 0
    except BaseException:
        outcome = traceback.format_exc()
    results[name] = [outcome, out.getvalue(), err.getvalue()]
print(json.dumps(results))
"""


def _scripts():
    return sorted(p.stem for p in BENCHMARKS.glob("*.py") if not p.name.startswith("_"))


def _run(args, timeout=600):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "SKC2BIN_CIFAR10": MISSING_ARCHIVE}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


class _Smoke:
    """One script's smoke run, read from its batch: ``returncode``, ``stdout`` and ``stderr``."""

    def __init__(self, batch, script):
        self.batch, self.script = batch, script

    def result(self):
        proc = self.batch.result()
        if proc.returncode != 0:  # the batch itself died: every script of it fails with its output
            return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout, proc.stderr)
        outcome, out, err = json.loads(proc.stdout.strip().splitlines()[-1])[self.script]
        if not isinstance(outcome, int):  # an exception: its traceback goes with stderr
            outcome, err = 1, f"{err}\n{outcome}"
        return subprocess.CompletedProcess(proc.args, outcome, out, err)


@pytest.fixture(scope="module")
def runs(request):
    """Per selected script, its smoke run (:class:`_Smoke`), and the in-process checks; the
    batches are started at once."""
    selected = [item.callspec.params["script"] for item in request.session.items
                if item.originalname == "test_smoke" and hasattr(item, "callspec")]
    # Under pytest-xdist the other worker already uses a core: one batch runs the (one-thread)
    # scripts one at a time there, rather than oversubscribe the cores.
    workers = 1 if os.environ.get("PYTEST_XDIST_WORKER") else max(2, min(4, (os.cpu_count() or 1) + 1))
    pool = ThreadPoolExecutor(max_workers=workers)
    futures = {"in-process": pool.submit(_run, ["-c", IN_PROCESS, json.dumps([_scripts(), NEED_ARCHIVE])])}
    # Slowest first (memory.py runs five subprocesses of its own), dealt round the batches.
    ordered = sorted(selected, key=lambda s: s != "memory")
    for batch in (ordered[i::workers] for i in range(workers)):
        if batch:
            proc = pool.submit(_run, ["-c", BATCH, json.dumps(batch)], 600 + 60 * len(batch))
            futures.update({script: _Smoke(proc, script) for script in batch})
    yield futures
    pool.shutdown(cancel_futures=True)


def _in_process(runs):
    proc = runs["in-process"].result()
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_every_script_has_a_smoke_test():
    assert _scripts() == sorted(EXPECTED), "give each script in benchmarks/ a --smoke mode and an EXPECTED entry"


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_smoke(script, runs):
    proc = runs[script].result()
    assert proc.returncode == 0, f"{script}.py --smoke failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
    for line in EXPECTED[script]:
        assert line in proc.stdout, f"{script}.py --smoke printed no {line!r}:\n{proc.stdout[-3000:]}"


@pytest.mark.parametrize("script", sorted(EXPECTED))
def test_help(script, runs):
    code, out = _in_process(runs)[script]
    assert code == 0, f"{script}.py --help: {code}"
    assert f"usage: {script}.py" in out and "--smoke" in out


@pytest.mark.parametrize("script", NEED_ARCHIVE)
def test_missing_archive_is_named(script, runs):
    outcome, _ = _in_process(runs)[f"{script} (no archive)"]
    assert outcome.startswith("FileNotFoundError") and MISSING_ARCHIVE in outcome, outcome


def test_gpu_check_table_shows_the_ungated_refinement_where_the_gate_kept_the_heads(monkeypatch):
    """cifar10.py --compare-refine scores the ungated refinement where the gate kept the C2BIN heads
    (refinement_without_gate); gpu_check's Markdown shows it as one more row, and the summary."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from gpu_check import _markdown

    row = {"acc": 0.5, "nmi": 0.4, "ari": 0.3, "knn_acc": 0.6}
    fit = {"params": {"backbone": "resnet18", "batch_size": 1024}, "epochs": 3, "fit_s": 9.0, "s_per_epoch": 3.0,
           "train_samples_per_s": 1000.0, **row, "before_refinement": {**row, "fit_s": 8.0},
           "refinement_without_gate": {**row, "acc": 0.25}, "refinement": {"summary": "refinement: 0.1 s; skipped"},
           "kmeans": {"acc": 0.2, "nmi": 0.1, "ari": 0.05}}
    text = _markdown({"environment": {"gpu": "a GPU", "torch": "2"}, "total_s": 1, "smoke": True, "throughput": {},
                      "training": {"result": fit}})
    assert "| C2BIN, the refinement without its gate | 3 | – | – | – | 0.250 | 0.400 | 0.300 | 0.600 |" in text
    assert text.rstrip().endswith("refinement: 0.1 s; skipped")
    gated_off = {**fit, "refinement_without_gate": None}
    assert "without its gate" not in _markdown({"environment": {"torch": "2"}, "total_s": 1, "smoke": True,
                                                "throughput": {}, "training": {"result": gated_off}})


def test_layout_draws_partitions_mode_smoke():
    """``layout_draws.py --partitions`` (one layout, partitioned each way) runs and reports."""
    proc = _run(["benchmarks/layout_draws.py", "--smoke", "--partitions"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert ("| data | n | draws | GMM, 3 starts: ACC mean (worst), NMI | GMM, 10 starts: ACC mean (worst), NMI "
            "| k-means, 10 starts: ACC mean (worst), NMI | partition seconds") in proc.stdout, proc.stdout[-2000:]
    assert "| moons | 200 | 1 | " in proc.stdout


def test_multiscale_vectors_mode_smoke():
    """``multiscale.py --vectors`` fits digits as 64 feature vectors and reports the finer head."""
    proc = _run(["benchmarks/multiscale.py", "--smoke", "--vectors", "--scales", "10,30"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "digits as 64 feature vectors" in proc.stdout and "| (10, 30) | " in proc.stdout, proc.stdout[-2000:]


def test_c2bin_phase_is_saved_and_read_back_with_phases(monkeypatch, tmp_path):
    """With ``--phases`` a study's C2BIN phase is saved after its fit and read back instead of a
    second fit (the data are not even loaded); without a data set's name nothing is saved."""
    import argparse

    import numpy as np
    from sklearn.datasets import make_blobs

    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from _common import c2bin_phase

    loads = []

    def load():
        loads.append(1)
        return make_blobs(60, n_features=4, centers=3, random_state=0)

    args = argparse.Namespace(smoke=True, phases=str(tmp_path))
    X, y, est, fit_s = c2bin_phase(load, 0, args, name="blobs")
    assert (tmp_path / "phase_blobs_0.joblib").exists() and fit_s > 0
    X2, y2, est2, fit_s2 = c2bin_phase(load, 0, args, name="blobs")
    assert len(loads) == 1 and fit_s2 == fit_s
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(est2.labels_, est.labels_)
    c2bin_phase(load, 1, args)
    assert len(loads) == 2 and sorted(p.name for p in tmp_path.iterdir()) == ["phase_blobs_0.joblib"]


def test_phase_variants_elastic_augmentation_reduces_to_the_default_and_moves_pixels(monkeypatch):
    """``phase_variants.py``'s study augmentation draws what ``GrayscaleAugment`` draws: with no
    elastic shift and an aspect of 1 its views are the default's (up to the rounding of the
    brightness factor, computed another way); an elastic shift moves them, keeping the shape and
    the [0, 1] range."""
    import torch

    from skc2bin.augment import GrayscaleAugment

    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from phase_variants import ElasticGrayscale

    x = torch.rand(6, 1, 8, 8)
    same = ElasticGrayscale()(x, torch.Generator().manual_seed(3))
    torch.testing.assert_close(same, GrayscaleAugment()(x, torch.Generator().manual_seed(3)), rtol=0, atol=1e-6)
    moved = ElasticGrayscale(elastic=0.08)(x, torch.Generator().manual_seed(3))
    assert moved.shape == x.shape and 0 <= moved.min() and moved.max() <= 1
    assert (moved - same).abs().max() > 0.05


def test_phase_variants_head_gradient_scales_only_the_heads_gradient_into_the_backbone(monkeypatch):
    """``phase_variants.head_gradient(s)`` leaves every forward value as it is, passes ``s`` times the
    heads' gradient into the backbone (none at 0) and the heads' own gradient whole, and restores
    :meth:`C2BINNetwork.views_forward` on leaving."""
    import contextlib

    import torch
    from torch import nn

    from skc2bin.networks.model import C2BINNetwork

    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from phase_variants import head_gradient

    torch.manual_seed(0)
    net = C2BINNetwork(nn.Linear(5, 4), 4, 3, 6, [2], nn.Identity())
    x = torch.randn(7, 5)
    original = C2BINNetwork.views_forward

    def grads(scale):
        net.zero_grad(set_to_none=False)  # zeros, not None, where no gradient arrives (after the first call)
        with contextlib.nullcontext() if scale is None else head_gradient(scale):
            pred, (assign,) = net.views_forward(x)
        (assign * torch.arange(2.0)).sum().backward()  # the heads' loss alone
        return pred.detach(), assign.detach(), net.backbone.weight.grad.clone(), next(net.heads[0].parameters()).grad.clone()

    pred, assign, backbone, head = grads(None)
    for scale in (0.2, 0.0):
        p, a, b, h = grads(scale)
        torch.testing.assert_close(p, pred)
        torch.testing.assert_close(a, assign)
        torch.testing.assert_close(b, scale * backbone)
        torch.testing.assert_close(h, head)
    assert backbone.abs().max() > 0 and C2BINNetwork.views_forward is original


def test_quality_reuses_only_baselines_fitted_on_this_host(monkeypatch):
    """``quality.py --results DIR`` reuses a recorded baseline only where its record names this host
    (UMAP + GMM differs across machines); a record of another host, or one from before hosts were
    recorded, is fitted again. A fitted baseline's record names this host."""
    import numpy as np

    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import quality

    records = {("iris", "KMeans", 0): {"host": quality.HOST}, ("iris", "KMeans", 1): {"host": "another CPU"},
               ("iris", "KMeans", 2): {}}
    assert [quality.reusable(records, "iris", "KMeans", s) for s in range(4)] == [True, False, False, False]
    X, y = np.r_[np.zeros((5, 2)), np.ones((5, 2))], np.repeat([0, 1], 5)
    assert quality.fit_baseline("two", X, y, 0, "KMeans")["host"] == quality.HOST


def test_quality_confusion_keeps_empty_clusters_and_orders_columns_by_the_accuracy_map(monkeypatch):
    """``quality.confusion`` counts classes by clusters with a column for every cluster (an empty one
    too); ``confusion_table`` puts each class's mapped cluster on its diagonal, surplus clusters last."""
    import numpy as np

    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import quality

    y = np.array([0, 0, 0, 1, 1, 2, 2, 2])
    labels = np.array([3, 3, 1, 0, 0, 1, 1, 1])
    counts = quality.confusion(y, labels, 5)
    np.testing.assert_array_equal(counts, [[0, 1, 0, 2, 0], [2, 0, 0, 0, 0], [0, 3, 0, 0, 0]])
    lines = quality.confusion_table({"confusion": counts.tolist()}).splitlines()
    assert lines[0] == "| class (size) | cluster 3 | cluster 0 | cluster 1 | cluster 2 | cluster 4 |"
    assert lines[2:] == ["| 0 (3) | 2 | · | 1 | · | · |", "| 1 (2) | · | 2 | · | · | · |",
                         "| 2 (3) | · | · | 3 | · | · |"]


def test_phase_variants_phase_size_prior_swaps_the_entropy_term_of_the_c2bin_loss(monkeypatch):
    """Inside ``phase_variants.phase_size_prior('floor')`` the C2BIN loss's entropy part is the floor
    prior of each view's mean assignment (zero while every cluster holds a tenth of its share, where
    C2BIN's term is not); outside, and after it, C2BIN's own term again."""
    import torch

    from skc2bin.losses import c2bin_loss, cluster_entropy_loss
    from skc2bin.losses.size_prior import size_prior_loss

    monkeypatch.syspath_prepend(str(BENCHMARKS))
    from phase_variants import phase_size_prior

    g = torch.Generator().manual_seed(0)
    pred, target = torch.randn(8, 4, generator=g), torch.randn(8, 4, generator=g)
    a1 = torch.tensor([[0.7, 0.2, 0.1]] * 6 + [[0.1, 0.1, 0.8]] * 2)  # unequal, every cluster above the floor
    a2 = a1.flip(0)

    def entropy_part():
        return c2bin_loss(pred, pred, target, target, [a1], [a2])[1]["entropy"]

    assert entropy_part() > 0.1 and torch.isclose(entropy_part(), cluster_entropy_loss(a1, a2))
    with phase_size_prior("floor"):
        assert entropy_part() == 0
        empty = torch.tensor([[0.5, 0.5, 0.0]] * 8)  # cluster 2 below the floor
        expected = 2 * size_prior_loss(empty.mean(dim=0), "floor", 0.1)
        assert expected > 0 and torch.isclose(c2bin_loss(pred, pred, target, target, [empty], [empty])[1]["entropy"],
                                              expected)
    assert torch.isclose(entropy_part(), cluster_entropy_loss(a1, a2))
