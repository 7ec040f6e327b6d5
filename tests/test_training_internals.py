"""Training machinery: batch iterator, optimizer/target split, EMA bookkeeping."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback
from skorch.dataset import Dataset
from torch import nn

from skc2bin import C2BINClusterer
from skc2bin.schedules import cosine_momentum
from skc2bin.data import BatchIterator
from skc2bin.training import EMATarget

from .conftest import TINY


# ------------------------------------------------------------ BatchIterator
def _rows(n=10):
    # Row i holds the value i, so a batch tells which rows it took.
    return torch.arange(n, dtype=torch.float32).view(n, 1).repeat(1, 3)


def _ids(batch):
    X, y = batch
    assert y is None
    return X[:, 0].long().tolist()


def test_iterator_without_drop_last_keeps_the_short_batch():
    it = BatchIterator(Dataset(_rows(), None), batch_size=4)
    batches = list(it)
    assert len(it) == 3
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    assert sum((_ids(b) for b in batches), []) == list(range(10))  # in order, unshuffled


def test_iterator_with_drop_last_skips_the_short_batch():
    it = BatchIterator(SimpleNamespace(X=_rows()), batch_size=4, drop_last=True)
    batches = list(it)
    assert len(it) == 2
    assert [len(b[0]) for b in batches] == [4, 4]
    assert sum((_ids(b) for b in batches), []) == list(range(8))


def test_iterator_exact_multiple_has_no_empty_batch():
    for drop_last in (False, True):
        it = BatchIterator(SimpleNamespace(X=_rows(8)), batch_size=4, drop_last=drop_last)
        assert len(it) == 2
        assert [len(b[0]) for b in it] == [4, 4]


def test_iterator_batch_larger_than_data():
    it = BatchIterator(SimpleNamespace(X=_rows(3)), batch_size=8)
    assert len(it) == 1 and [len(b[0]) for b in it] == [3]
    assert len(BatchIterator(SimpleNamespace(X=_rows(3)), batch_size=8, drop_last=True)) == 0


def test_shuffled_epoch_covers_every_row_once():
    it = BatchIterator(
        SimpleNamespace(X=_rows()), batch_size=4, shuffle=True, generator=torch.Generator().manual_seed(0)
    )
    first = sum((_ids(b) for b in it), [])
    second = sum((_ids(b) for b in it), [])
    assert sorted(first) == list(range(10))
    assert sorted(second) == list(range(10))
    assert first != list(range(10))  # actually shuffled
    assert first != second  # a new permutation every epoch


def test_shuffle_with_same_seed_gives_same_order():
    def order(seed):
        it = BatchIterator(
            SimpleNamespace(X=_rows(20)), batch_size=6, shuffle=True, drop_last=True,
            generator=torch.Generator().manual_seed(seed),
        )
        return [_ids(b) for b in it]

    assert order(3) == order(3)
    assert order(3) != order(4)
    assert all(len(b) == 6 for b in order(3)) and len(order(3)) == 3


# --------------------------------------------------------------------- EMATarget
class _FakeNet:
    def __init__(self):
        self.module_ = nn.Linear(1, 1, bias=False)
        self.module_.online_target_pair = lambda: self.module_
        self.target_ = nn.Linear(1, 1, bias=False)
        with torch.no_grad():
            self.module_.weight.fill_(1.0)
            self.target_.weight.fill_(0.0)
        self.history = SimpleNamespace(records=[], record=lambda k, v: self.history.records.append((k, v)))


def test_ema_target_callback_follows_the_cosine_schedule():
    net = _FakeNet()
    cb = EMATarget(base_momentum=0.5, total_steps=4).initialize()
    cb.on_batch_end(net, training=False)  # validation batches do not move the target
    assert net.target_.weight.item() == 0.0 and cb.step_ == 0
    expected, taus = 0.0, []
    for step in range(4):
        cb.on_batch_end(net, training=True)
        tau = cosine_momentum(step, 4, 0.5)
        taus.append(tau)
        expected = tau * expected + (1 - tau) * 1.0
        assert net.target_.weight.item() == pytest.approx(expected)
    assert taus[0] == 0.5  # first update uses the base momentum
    cb.on_epoch_end(net)
    assert net.history.records == [("ema_momentum", taus[-1])]


# --------------------------------------------------------------- a real tiny fit
@pytest.fixture(scope="module")
def fitted():
    X = np.random.RandomState(0).randn(40, 5)
    return C2BINClusterer(n_clusters=3, **{**TINY, "max_epochs": 2, "batch_size": 16}).fit(X)


def _optimized_ids(net):
    return {id(p) for group in net.optimizer_.param_groups for p in group["params"]}


def test_optimizer_holds_exactly_the_online_parameters(fitted):
    net = fitted.net_
    opt_ids = _optimized_ids(net)
    online = list(net.module_.parameters())
    target = list(net.target_.parameters())
    assert target and online
    assert not any(id(p) in opt_ids for p in target)
    assert all(id(p) in opt_ids for p in online)
    assert len(opt_ids) == len(online)


def test_target_is_frozen_and_lags_the_online_network(fitted):
    net = fitted.net_
    online = list(net.module_.online_target_pair().parameters())
    target = list(net.target_.parameters())
    assert len(online) == len(target)
    assert all(not p.requires_grad for p in target)
    assert all(torch.isfinite(p).all() for p in target)
    assert all(p.shape == q.shape for p, q in zip(online, target))
    assert any(not torch.equal(p, q) for p, q in zip(online, target))
    # Buffers (BatchNorm running statistics) are copied, not averaged.
    for b_o, b_t in zip(net.module_.online_target_pair().buffers(), net.target_.buffers()):
        assert torch.equal(b_o, b_t)


def test_history_records_losses_and_momentum(fitted):
    history = fitted.history_
    assert len(history) == 2
    for epoch in history:
        for key in ("instance_loss", "contrast_loss", "entropy_loss", "train_loss", "ema_momentum"):
            assert key in epoch
            assert np.isfinite(epoch[key])
        # 40 rows, batch 16, drop_last: two optimizer steps per epoch.
        assert len(epoch["batches"]) == 2


def test_history_momentum_follows_the_schedule(fitted):
    # total_steps = (40 // 16) * 2 = 4; the epochs end after steps 1 and 3
    # (0-based), so the last recorded tau is cosine_momentum(3, 4, 0.99),
    # just below 1: the schedule reaches 1 only at step == total_steps,
    # which is never taken.
    history = fitted.history_
    assert history[0, "ema_momentum"] == pytest.approx(cosine_momentum(1, 4, 0.99), rel=1e-12)
    last = history[-1, "ema_momentum"]
    assert last == pytest.approx(cosine_momentum(3, 4, 0.99), rel=1e-12)
    assert last == pytest.approx(1 - 0.01 * (1 - np.sqrt(0.5)) / 2, rel=1e-12)
    assert 0.99 < last < 1.0
    assert dict(fitted.net_.callbacks_)["ema_target"].step_ == 4


# ------------------------------------------------ the net builds its own callbacks
def test_net_default_callbacks_provide_ema_scorings_heads_and_schedule():
    from skc2bin.training import EMA_CALLBACK, LR_CALLBACK

    X = np.random.RandomState(0).randn(40, 5)
    est = C2BINClusterer(n_clusters=3, **{**TINY, "max_epochs": 1, "batch_size": 16, "lr_schedule": "cosine"}).fit(X)
    names = [name for name, _ in est.net_.callbacks_]
    for name in ("epoch_timer", "train_loss", "instance_loss", "contrast_loss", "entropy_loss",
                 EMA_CALLBACK, LR_CALLBACK, "select_heads", "print_log"):
        assert name in names, name
    assert "progress_bar" not in names and "batch_log" not in names  # verbose=0
    # The estimator passes no callbacks of its own: only the user's go in.
    assert est.net_.callbacks == []


def test_pickled_net_drops_training_only_state(fitted):
    import pickle

    net = fitted.net_
    net.augment = lambda x, g: x  # not picklable: must not be pickled
    try:
        clone = pickle.loads(pickle.dumps(net))
    finally:
        net.augment = None
    assert clone.augment is None and clone.generator is None
    assert clone.iterator_train__generator is None
    assert clone.rng_states_ == net.rng_states_


def test_extend_schedules_covers_more_steps(fitted):
    import copy

    from skc2bin.training import EMA_CALLBACK

    net = copy.deepcopy(fitted.net_)
    ema = dict(net.callbacks_)[EMA_CALLBACK]
    assert ema.step_ == ema.total_steps == 4
    net.extend_schedules(6)
    assert ema.total_steps == net.total_steps == 10
    net.extend_schedules(2)  # already covered: unchanged
    assert ema.total_steps == 10


def test_select_heads_callback_picks_the_lowest_loss_head_per_scale():
    from skc2bin.training import SelectHeads

    selected = []
    net = SimpleNamespace(
        history=[{"batches": [{"head_losses": [3.0, 1.0, 2.0, 5.0]}, {"head_losses": [3.0, 1.0, 4.0, 1.0]}]},
                 {"batches": []}],
        module_=SimpleNamespace(select_heads=lambda losses: selected.append(losses.tolist())),
    )
    SelectHeads().on_train_end(net)
    assert selected == [[3.0, 1.0, 3.0, 3.0]]  # mean over the last epoch that recorded losses


def test_make_net_builds_what_fit_builds(fitted):
    """The module-level builder, given the estimator's parameters, builds the
    net fit trained (same class, settings and callbacks)."""
    from skc2bin.networks import build_network
    from skc2bin.preprocessing import Preprocessor
    from skc2bin.training import make_net

    params = fitted.get_params(deep=False)
    spec = fitted.input_spec_
    network = build_network(params, spec.sample_shape, fitted.n_clusters_,
                            Preprocessor(spec.layout, spec.sample_shape), seed=0)
    net = make_net(network, params, batch_size=16, total_steps=4, device="cpu", channels_last=False, seed=0)
    assert type(net) is type(fitted.net_)
    assert [n for n, _ in net.callbacks_] == [n for n, _ in fitted.net_.callbacks_]
    assert net.criterion_.temperature == fitted.cluster_temperature
    assert isinstance(net.optimizer_, torch.optim.AdamW)


# ------------------------------------- loss values: on the device, read once per epoch
class _StepLosses(Callback):
    """Each training step's loss values, as the step returned them (on the device)."""

    def initialize(self):
        self.epochs_ = []
        return self

    def on_epoch_begin(self, net, **kwargs):
        self.epochs_.append([])

    def on_batch_end(self, net, training=False, losses=None, **kwargs):
        if training:
            self.epochs_[-1].append(losses.clone())


def test_epoch_losses_are_the_means_of_the_step_losses(blobs):
    X, _ = blobs  # 120 rows, batch 16: 7 steps per epoch
    est = C2BINClusterer(n_clusters=(3, 4), n_init=2, callbacks=[_StepLosses()],
                         **{**TINY, "max_epochs": 3, "batch_size": 16}).fit(X)
    steps = next(cb for _, cb in est.net_.callbacks_ if isinstance(cb, _StepLosses)).epochs_
    assert len(steps) == len(est.history_) == 3
    for epoch, values in zip(est.history_, steps):
        values = torch.stack(values)  # (steps, 4 + heads), float32
        assert values.shape == (7, 4 + 4)
        # Every batch record holds its step's values ...
        for record, row in zip(epoch["batches"], values.tolist()):
            assert record["train_loss"] == row[0]
            assert [record[f"{p}_loss"] for p in ("instance", "contrast", "entropy")] == row[1:4]
            assert record["head_losses"] == row[4:]
        # ... and each epoch value is their mean (skorch's batch-size weighting, equal batches).
        means = values.double().mean(dim=0)
        for i, key in enumerate(("train_loss", "instance_loss", "contrast_loss", "entropy_loss")):
            assert epoch[key] == pytest.approx(means[i].item(), rel=1e-12), key
        assert epoch["train_loss"] == pytest.approx(
            epoch["instance_loss"] + epoch["contrast_loss"] + epoch["entropy_loss"], rel=1e-5)


_SYNCS = {torch.Tensor.item, torch.Tensor.tolist, torch.Tensor.__bool__, torch.Tensor.__float__,
          torch.Tensor.__int__, torch.Tensor.__index__, torch.Tensor.numpy}


class _CountReads(torch.overrides.TorchFunctionMode):
    """Counts the calls that read a tensor's values back to Python."""

    def __init__(self):
        super().__init__()
        self.reads = []

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in _SYNCS:
            self.reads.append(func.__name__)
        return func(*args, **(kwargs or {}))


def test_a_training_epoch_reads_the_device_once(blobs):
    """No host synchronisation per step: the step losses are read once, at the
    end of the epoch (SGD, whose step reads nothing either; Adam reads its
    step counters, which live on the CPU)."""
    X, _ = blobs
    for batch_size, n_steps in ((16, 7), (40, 3)):
        est = C2BINClusterer(n_clusters=3, optimizer="sgd",
                             **{**TINY, "max_epochs": 1, "batch_size": batch_size}).fit(X)
        net = est.net_
        net.augment = lambda batch, generator: batch + 0.1 * torch.randn(batch.shape, generator=generator)
        net.generator = torch.Generator().manual_seed(0)
        net.iterator_train__generator = torch.Generator().manual_seed(0)
        with _CountReads() as reads:
            net.partial_fit(torch.as_tensor(X, dtype=torch.float32), None, epochs=2)
        assert reads.reads == ["tolist", "tolist"], (batch_size, reads.reads)  # one per epoch
        assert len(net.history[-1]["batches"]) == n_steps


def _nan_from(call):
    """An augmentation that returns NaN from its ``call``-th call on (two calls per step)."""
    calls = []

    def augment(batch, generator):
        calls.append(1)
        return batch * float("nan") if len(calls) >= call else batch

    return augment, calls


def test_divergence_names_the_epoch_and_the_first_nonfinite_batch(blobs):
    from skc2bin import TrainingDivergedError

    X, _ = blobs  # 7 steps per epoch; step 10 = epoch 2, batch 3
    augment, calls = _nan_from(2 * 10 - 1)
    est = C2BINClusterer(n_clusters=3, augmentation=augment, **{**TINY, "max_epochs": 3, "batch_size": 16})
    with pytest.raises(TrainingDivergedError, match=r"in epoch 2, batch 3\. .*lower lr"):
        est.fit(X)
    assert not hasattr(est, "net_")
    assert len(calls) == 2 * 14  # found at the end of epoch 2


def test_divergence_is_checked_every_few_steps_too(blobs, monkeypatch):
    from skc2bin import TrainingDivergedError
    from skc2bin.training import net as net_module

    X, _ = blobs
    monkeypatch.setattr(net_module, "DIVERGENCE_CHECK_STEPS", 2)
    augment, calls = _nan_from(1)
    with pytest.raises(TrainingDivergedError, match="in epoch 1, batch 1"):
        C2BINClusterer(n_clusters=3, augmentation=augment, **{**TINY, "max_epochs": 3, "batch_size": 16}).fit(X)
    assert len(calls) == 2 * 2  # stopped after 2 of the epoch's 7 steps
