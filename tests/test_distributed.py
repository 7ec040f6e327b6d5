"""Data-parallel training on torch.distributed (issue 11), on CPUs with gloo.

The multi-process tests start 2 processes with ``python -m torch.distributed.run
--standalone --nproc_per_node 2`` (torchrun) running the scripts in
``tests/distributed/``, which save what they computed; the tests compare it
with one process doing the same work. The rest tests the pieces (detection,
batch planning, sharding, seeds, SyncBatchNorm swap) in this process, without
a process group.
"""

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from skorch.dataset import Dataset as SkorchDataset
from torch.utils.data import TensorDataset

from skc2bin import C2BINClusterer
from skc2bin.data import BatchIterator, shard_batch_slice
from skc2bin.training import plan_batch_size
from skc2bin.training import distributed as D

from .conftest import TINY

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = Path(__file__).resolve().parent / "distributed"
TOL = 1e-5


def torchrun(script, *args, nproc=2, timeout=240):
    """Run ``script`` under torchrun with ``nproc`` gloo processes; returns the
    completed process (stdout and stderr together).

    ``timeout`` is far below the process group's 10-minute timeout: a process
    left waiting in a collective for one that failed fails the test with
    ``TimeoutExpired`` instead of being freed by that timeout. The tests assert
    outcomes, never durations (the machines are shared).
    """
    env = {k: v for k, v in os.environ.items()
           if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["OMP_NUM_THREADS"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
         str(SCRIPTS / script), *map(str, args)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout,
    )


def _ok(proc):
    assert proc.returncode == 0, (proc.stdout[-3000:], proc.stderr[-5000:])


# ============================================================ detection (no processes)
@pytest.fixture
def no_launcher(monkeypatch):
    for key in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(key, raising=False)
    assert not (torch.distributed.is_available() and torch.distributed.is_initialized())


def test_auto_trains_data_parallel_only_when_launched_with_several_processes(no_launcher, monkeypatch):
    assert D.wants_distributed("auto") is False
    assert D.wants_distributed(False) is False
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert D.wants_distributed("auto") is False
    assert D.wants_distributed(True) is True  # the data-parallel path with one process
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert D.wants_distributed("auto") is True
    assert D.wants_distributed(False) is False
    # joblib's workers inherit torchrun's environment but are no ranks.
    monkeypatch.setattr(D, "_in_joblib_worker", lambda: True)
    assert D.wants_distributed("auto") is False
    with pytest.raises(ValueError, match="joblib worker"):
        D.wants_distributed(True)


def test_distributed_true_without_launcher_is_a_clear_error(no_launcher, blobs):
    X, _ = blobs
    with pytest.raises(ValueError, match="torchrun --nproc_per_node"):
        D.wants_distributed(True)
    est = C2BINClusterer(n_clusters=3, distributed=True, **TINY)
    with pytest.raises(ValueError, match="not started by torchrun"):
        est.fit(X)
    assert not hasattr(est, "net_")


def test_bad_world_size_and_bad_parameter(no_launcher, monkeypatch, blobs):
    monkeypatch.setenv("WORLD_SIZE", "two")
    with pytest.raises(ValueError, match="WORLD_SIZE='two'"):
        D.wants_distributed("auto")
    monkeypatch.delenv("WORLD_SIZE")
    from sklearn.utils._param_validation import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="distributed"):
        C2BINClusterer(distributed="yes", **TINY).fit(blobs[0])


# ============================================================== batch planning
def test_global_batch_must_split_evenly_over_the_processes():
    assert plan_batch_size(64, 1000, world_size=4) == 64
    assert plan_batch_size("auto", 1797, world_size=3) == 126  # 128 rounded down to a multiple of 3
    assert plan_batch_size(64, 50, world_size=4) == 48  # capped at the data, then rounded down
    with pytest.raises(ValueError, match=r"batch_size=100 .* divisible by 3.*batch_size=99"):
        plan_batch_size(100, 1000, world_size=3)
    with pytest.raises(ValueError, match="at least 8 samples per batch"):
        plan_batch_size("auto", 7, world_size=4)
    # One process: unchanged.
    assert plan_batch_size(37, 1000) == 37 and plan_batch_size(64, 40) == 40


# ==================================================================== sharding
def _rows(n):
    return torch.arange(n, dtype=torch.float32).view(n, 1).repeat(1, 2)


def _ids(iterator):
    return [batch[:, 0].long().tolist() for batch, _ in iterator]


@pytest.mark.parametrize("as_dataset", [False, True])
def test_shards_split_the_batches_one_process_would_take(as_dataset):
    n, batch, world = 50, 12, 3
    data = TensorDataset(_rows(n)) if as_dataset else SkorchDataset(_rows(n), None)

    def iterator(**kw):
        return BatchIterator(data, batch_size=batch, shuffle=True, drop_last=True,
                             generator=torch.Generator().manual_seed(7), **kw)

    whole = _ids(iterator())
    shards = [_ids(iterator(num_shards=world, shard=r)) for r in range(world)]
    assert len(whole) == n // batch == len(iterator(num_shards=world, shard=1))
    for b, rows in enumerate(whole):
        assert all(len(s[b]) == batch // world for s in shards)
        assert sum((s[b] for s in shards), []) == rows  # same permutation, rank r takes slice r
    assert shard_batch_slice(1, 12, 2, 3) == slice(20, 24)


def test_sharded_iterator_refuses_uneven_batches():
    data = SkorchDataset(_rows(10), None)
    with pytest.raises(ValueError, match="drop_last"):
        BatchIterator(data, batch_size=4, num_shards=2)
    with pytest.raises(ValueError, match="does not split evenly"):
        BatchIterator(data, batch_size=5, drop_last=True, num_shards=2)
    with pytest.raises(ValueError, match="shard=2"):
        BatchIterator(data, batch_size=4, drop_last=True, num_shards=2, shard=2)


def test_inference_shards_cover_every_row_once():
    for n in (0, 1, 7, 100):
        for world in (1, 2, 3, 8):
            bounds = [D.shard_bounds(n, r, world) for r in range(world)]
            assert bounds[0][0] == 0 and bounds[-1][1] == n
            assert all(a[1] == b[0] for a, b in zip(bounds, bounds[1:]))
            sizes = [stop - start for start, stop in bounds]
            assert max(sizes) - min(sizes) <= 1


def test_each_process_augments_with_its_own_reproducible_stream():
    state = bytes(torch.Generator().manual_seed(3).get_state().numpy())
    seeds = [D.rank_seed(state, r) for r in range(1, 5)]
    assert len(set(seeds)) == 4 and seeds == [D.rank_seed(state, r) for r in range(1, 5)]
    assert all(0 <= s < 2**63 for s in seeds)


def test_sync_batchnorm_swap_shares_weights_and_restores_the_layers():
    from skc2bin.networks.heads import MLPHead

    head = MLPHead(4, 6, 3)
    originals = [m for m in head.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    params = [id(p) for p in head.parameters()]
    restore = D.use_sync_batchnorm(head)
    assert not any(type(m) is torch.nn.BatchNorm1d for m in head.modules())
    assert any(isinstance(m, torch.nn.SyncBatchNorm) for m in head.modules())
    assert [id(p) for p in head.parameters()] == params  # the optimizer's parameters still train
    head.train()
    head(torch.randn(5, 4))  # without a process group SyncBatchNorm is plain BatchNorm
    sync_stats = [m.running_mean.clone() for m in head.modules() if isinstance(m, torch.nn.SyncBatchNorm)]
    restore()
    assert [m for m in head.modules() if isinstance(m, torch.nn.BatchNorm1d)] == originals
    torch.testing.assert_close([m.running_mean for m in originals], sync_stats, rtol=0, atol=0)


def test_agreement_is_a_no_op_in_one_process():
    with D.agreement(None) as agreed:
        agreed.fingerprint = 1
    with pytest.raises(KeyError), D.agreement(None):
        raise KeyError("x")


def test_data_fingerprint_tells_different_data_apart():
    X = torch.randn(100, 3)
    assert D.data_fingerprint(X) == D.data_fingerprint(X.clone())
    Y = X.clone()
    Y[-1, 0] += 1
    assert D.data_fingerprint(Y) != D.data_fingerprint(X)
    assert D.data_fingerprint(X[:-1]) != D.data_fingerprint(X)
    assert D.data_fingerprint(TensorDataset(X)) == (100,)


def test_single_process_fits_do_not_touch_torch_distributed(no_launcher, blobs, monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("a single-process fit called torch.distributed")

    for name in ("init_process_group", "all_reduce", "all_gather", "broadcast", "all_gather_object"):
        monkeypatch.setattr(torch.distributed, name, forbidden)
    est = C2BINClusterer(n_clusters=3, **{**TINY, "max_epochs": 1}).fit(blobs[0])
    assert est.labels_.shape == (len(blobs[0]),)


# ======================================================== 2 processes (torchrun)
@pytest.fixture
def one_thread():
    """torch on one thread here, as in each torchrun process: the replays below compare with a
    tolerance of 1e-5, and another thread count sums in another order (pytest without ``-n``)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def worker_runs(tmp_path_factory):
    """One torchrun launch runs both worker scripts (``step_worker``, then ``loss_worker``) in the
    same 2 processes and process group (``tests/distributed/workers.py``); returns the folder that
    holds a subfolder of results per worker. One launch instead of two saves a start of torchrun
    and of two interpreters (about 10 s of the suite)."""
    out = tmp_path_factory.mktemp("workers")
    proc = torchrun("workers.py", out, "step_worker", "loss_worker")
    _ok(proc)
    return out


def test_two_processes_give_the_loss_and_gradients_of_one_process_with_both_shards(worker_runs, one_thread):
    """2 processes × b samples, the cluster terms on the gathered assignments,
    DDP averaging the gradients == 1 process with the 2b samples, where that
    process runs the networks shard by shard (BatchNorm statistics per shard,
    as in the processes)."""
    from .distributed import loss_worker as W

    ranks = [torch.load(worker_runs / "loss_worker" / f"rank{r}.pt") for r in range(2)]

    online, target = W.network()
    view1, view2 = W.views(2)
    from skc2bin.networks import TwoViewForward

    two_views = TwoViewForward(online)

    def per_shard(v1, v2):
        outs = [two_views(v1[s * W.LOCAL_BATCH:(s + 1) * W.LOCAL_BATCH], v2[s * W.LOCAL_BATCH:(s + 1) * W.LOCAL_BATCH])
                for s in range(2)]
        cat = lambda view: (torch.cat([o[view][0] for o in outs]),  # noqa: E731
                            [torch.cat([o[view][1][h] for o in outs]) for h in range(len(outs[0][view][1]))])
        return cat(0), cat(1)

    def per_shard_target(v):
        return torch.cat([target(v[s * W.LOCAL_BATCH:(s + 1) * W.LOCAL_BATCH]) for s in range(2)])

    loss, parts = W.loss_parts(online, per_shard_target, view1, view2, per_shard)
    grads = {name: p.grad for name, p in online.named_parameters()}

    # Batch-wide terms: every process computed them on the whole batch.
    for r in ranks:
        for key in ("contrast", "entropy", "heads"):
            torch.testing.assert_close(r["parts"][key], parts[key], rtol=0, atol=TOL)
    # The per-sample BYOL term and the total: their mean over the processes.
    for key in ("instance",):
        torch.testing.assert_close((ranks[0]["parts"][key] + ranks[1]["parts"][key]) / 2, parts[key], rtol=0, atol=TOL)
    torch.testing.assert_close((ranks[0]["loss"] + ranks[1]["loss"]) / 2, loss, rtol=0, atol=TOL)
    # Gradients after DDP's averaging: those of the whole batch, in both processes.
    for r in ranks:
        assert r["grads"].keys() == grads.keys()
        for name in grads:
            torch.testing.assert_close(r["grads"][name], grads[name], rtol=0, atol=TOL, msg=name)
    assert any(g.abs().max() > 1e-3 for g in grads.values())  # not trivially zero


def test_training_steps_match_one_process_stepping_on_both_shards(worker_runs, one_thread):
    """The real net's steps (sharding, DDP, gather, optimizer, EMA): replayed in
    one process on the rows the two processes stepped on."""
    from skc2bin.ema import ema_update
    from skc2bin.networks import TwoViewForward
    from skc2bin.schedules import cosine_momentum

    from .distributed import step_worker as W

    ranks = [torch.load(worker_runs / "step_worker" / f"rank{r}.pt", weights_only=False) for r in range(2)]
    assert len(ranks[0]["steps"]) == len(ranks[1]["steps"]) == W.N_SAMPLES // W.BATCH

    net, Xt, augment = W.build()
    # The batches one process would take with the same shuffling stream.
    shuffle = torch.Generator().manual_seed(0)
    shuffle.set_state(torch.frombuffer(bytearray(net.rng_states_[0]), dtype=torch.uint8))
    whole = [b for b, _ in BatchIterator(SkorchDataset(Xt, None), W.BATCH, shuffle=True, drop_last=True,
                                         generator=shuffle)]
    net.augment, net.generator = augment, torch.Generator()
    online, target = net.module_, net.target_
    two_views = TwoViewForward(online)
    for k, batch in enumerate(whole):
        shards = [r["steps"][k]["rows"] for r in ranks]
        assert all(len(s) == W.BATCH // 2 for s in shards)  # each process: half the global batch
        torch.testing.assert_close(torch.cat(shards), batch, rtol=0, atol=0)
        online.train(), target.train()
        net.optimizer_.zero_grad()
        outs, targets = [], []
        for shard in shards:
            v1, v2 = net.make_views(shard)
            outs.append(two_views(v1, v2))
            with torch.no_grad():
                targets.append((target(v1), target(v2)))
        p = [torch.cat([o[v][0] for o in outs]) for v in (0, 1)]
        a = [[torch.cat([o[v][1][h] for o in outs]) for h in range(len(online.heads))] for v in (0, 1)]
        t = [torch.cat([tt[v] for tt in targets]) for v in (0, 1)]
        loss, parts = net.criterion_(p[0], p[1], t[0], t[1], a[0], a[1])
        loss.backward()
        for r in ranks:
            step = r["steps"][k]
            for name, param in online.named_parameters():
                torch.testing.assert_close(step["grads"][name], param.grad, rtol=TOL, atol=TOL, msg=name)
        mean_losses = (ranks[0]["steps"][k]["losses"] + ranks[1]["steps"][k]["losses"]) / 2
        expected = torch.cat([torch.stack([loss.detach(), parts["instance"], parts["contrast"], parts["entropy"]]),
                              parts["heads"]])
        torch.testing.assert_close(mean_losses, expected, rtol=TOL, atol=TOL)
        net.optimizer_.step()
        ema_update(target, online.online_target_pair(), cosine_momentum(k, len(whole), 0.99))
        for r in ranks:
            for name, param in online.named_parameters():
                torch.testing.assert_close(r["steps"][k]["weights"][name], param.detach(), rtol=TOL, atol=TOL)
    # Both processes end with the same model, history and random states.
    for key in ("module", "target"):
        for name in ranks[0][key]:
            torch.testing.assert_close(ranks[0][key][name], ranks[1][key][name], rtol=0, atol=0, msg=name)
    assert ranks[0]["history"] == ranks[1]["history"]
    assert ranks[0]["rng_states"] == ranks[1]["rng_states"]
    # Weights equal the replay's; BatchNorm statistics are the mean of the processes'.
    for name, param in online.named_parameters():
        torch.testing.assert_close(ranks[0]["module"][name], param.detach(), rtol=TOL, atol=TOL)
    # The history holds the losses averaged over the processes.
    epoch = ranks[0]["history"][0]
    per_step = torch.stack([(ranks[0]["steps"][k]["losses"] + ranks[1]["steps"][k]["losses"]) / 2
                            for k in range(len(whole))])
    assert epoch["train_loss"] == pytest.approx(per_step[:, 0].mean().item(), abs=1e-6)
    assert epoch["instance_loss"] == pytest.approx(per_step[:, 1].mean().item(), abs=1e-6)


def test_a_plain_script_under_torchrun_trains_agrees_and_clusters_like_one_process(tmp_path, no_launcher,
                                                                                    monkeypatch):
    one, many = tmp_path / "one", tmp_path / "many"
    one.mkdir(), many.mkdir()
    # The one-process reference runs here, as `python user_script.py` would (one torch thread, as
    # each torchrun process): a fresh interpreter would only add its imports.
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setattr(sys, "argv", [str(SCRIPTS / "user_script.py"), str(one)])
    runpy.run_path(str(SCRIPTS / "user_script.py"), run_name="__main__")
    proc = torchrun("user_script.py", many)
    _ok(proc)
    ref = json.loads((one / "rank0.json").read_text())
    ranks = [json.loads((many / f"rank{r}.json").read_text()) for r in range(2)]
    # Both processes hold the same fitted estimator.
    for key in ("labels", "predict", "history", "head_losses", "weights", "rng_states"):
        assert ranks[0][key] == ranks[1][key], key
    assert ranks[0]["labels"] == ranks[0]["predict"]  # labels_ in the order of X
    # Each process stepped on half the global batch; one process on all of it.
    assert ranks[0]["batch_sizes"] == [16] and ref["batch_sizes"] == [32]
    assert len(ranks[0]["history"]) == len(ref["history"]) == 8
    # As good as one process.
    assert ranks[0]["ari"] >= min(0.8, ref["ari"] - 0.1), (ranks[0]["ari"], ref["ari"])
    # Only rank 0 printed the table of losses.
    assert proc.stdout.count("train_loss") == 1, proc.stdout[-3000:]


def test_processes_with_different_data_stop_before_training(tmp_path):
    proc = torchrun("failing_script.py", "different-data", tmp_path)
    assert proc.returncode != 0
    for r in range(2):
        outcome = (tmp_path / f"rank{r}.txt").read_text()
        assert "DistributedError" in outcome and "different training data" in outcome, outcome


def test_a_process_that_fails_before_training_stops_the_others(tmp_path):
    """Process 1's input check fails and its script goes on (catches the
    error): process 0 is told at once, by the agreement before training."""
    proc = torchrun("failing_script.py", "bad-data", tmp_path)
    assert proc.returncode != 0
    _, outcome1 = (tmp_path / "rank1.txt").read_text().split("\n", 1)
    assert outcome1.startswith("ValueError") and "NaN" in outcome1
    _, outcome0 = (tmp_path / "rank0.txt").read_text().split("\n", 1)
    assert outcome0.startswith("DistributedError: Process 1 of the distributed fit failed before training (ValueError")


def test_a_process_that_fails_in_training_stops_the_others(tmp_path):
    proc = torchrun("failing_script.py", "rank-fails", tmp_path)
    assert proc.returncode != 0
    _, outcome1 = (tmp_path / "rank1.txt").read_text().split("\n", 1)
    assert "process 1 fails on purpose" in outcome1
    assert "process 1 fails on purpose" in proc.stdout + proc.stderr  # torchrun shows the cause
    # Process 0 was waiting for process 1 in a collective: it stopped with a
    # communication error or was ended by torchrun (not freed by the group's timeout).
    rank0 = tmp_path / "rank0.txt"
    if rank0.exists():
        assert rank0.read_text().split("\n", 1)[1].strip() != "no error"
