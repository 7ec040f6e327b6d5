"""Training machinery: batch iterator, optimizer/target split, EMA bookkeeping."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
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
