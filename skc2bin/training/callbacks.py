"""Callbacks the C2BIN net trains with (:attr:`C2BINNet._default_callbacks`).

* :class:`EMATarget` moves the target network after every optimizer step;
* :class:`SelectHeads` keeps, per scale, the cluster head with the lowest
  loss when training ends;
* :class:`PlainPrintLog` is skorch's per-epoch table, coloured only on a
  terminal;
* :class:`BatchLog` prints every batch's losses (``verbose=2``);
* :class:`MainProcessProgressBar` is skorch's progress bar;
* :class:`EpochTimer` records each epoch's duration.

In a data-parallel fit only the main process (rank 0) prints, and the
recorded duration is the slowest process's, so every process ends with the
same history.
"""

import re
import sys
import time

import torch
from skorch.callbacks import Callback, PrintLog, ProgressBar

from ..ema import ema_update
from ..schedules import cosine_momentum

__all__ = [
    "EMATarget",
    "SelectHeads",
    "PlainPrintLog",
    "BatchLog",
    "MainProcessProgressBar",
    "EpochTimer",
    "LOSS_PARTS",
    "is_main_process",
]

#: Names of the loss components recorded in the history (``<name>_loss``).
LOSS_PARTS = ("instance", "contrast", "entropy")

_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def is_main_process(net):
    """Whether ``net`` trains in the process that prints: the only one, or
    rank 0 of a data-parallel fit (``net.distributed_``)."""
    context = getattr(net, "distributed_", None)
    return context is None or context.is_main


class EpochTimer(Callback):
    """Record each epoch's duration as ``dur`` (skorch's ``EpochTimer``);
    in a data-parallel fit, the slowest process's."""

    def on_epoch_begin(self, net, **kwargs):
        self.epoch_start_time_ = time.time()

    def on_epoch_end(self, net, **kwargs):
        dur = time.time() - self.epoch_start_time_
        context = getattr(net, "distributed_", None)
        if context is not None:
            dur = context.all_reduce_max(dur)
        net.history.record("dur", dur)


class EMATarget(Callback):
    """Move the target network after every optimizer step.

    ``tau`` follows :func:`skc2bin.schedules.cosine_momentum` from
    ``base_momentum`` to 1 over ``total_steps``; the value reached is
    recorded in the history as ``ema_momentum`` at the end of every epoch.

    Parameters
    ----------
    base_momentum : float
    total_steps : int
        Optimizer steps of the whole fit (extended by
        :meth:`C2BINNet.extend_schedules` for continued training).
    buffers : {'copy', 'ema'}, default='copy'
        How BatchNorm statistics follow (:func:`skc2bin.ema.ema_update`).
    """

    def __init__(self, base_momentum, total_steps, buffers="copy"):
        self.base_momentum = base_momentum
        self.total_steps = total_steps
        self.buffers = buffers

    def initialize(self):
        self.step_ = 0
        self.momentum_ = self.base_momentum
        return self

    def on_batch_end(self, net, batch=None, training=False, **kwargs):
        if not training:
            return
        self.momentum_ = cosine_momentum(self.step_, self.total_steps, self.base_momentum)
        ema_update(net.target_, net.module_.online_target_pair(), self.momentum_, self.buffers)
        self.step_ += 1

    def on_epoch_end(self, net, **kwargs):
        net.history.record("ema_momentum", self.momentum_)


class SelectHeads(Callback):
    """When training ends, let every scale use its head with the lowest mean
    cluster loss over the last epoch that recorded one.

    Runs after an interrupted fit too (skorch calls ``on_train_end`` after a
    KeyboardInterrupt); with no recorded epoch the selection is kept.
    """

    def on_train_end(self, net, **kwargs):
        for epoch in reversed(net.history):
            losses = [b["head_losses"] for b in epoch["batches"] if "head_losses" in b]
            if losses:
                net.module_.select_heads(torch.tensor(losses, dtype=torch.float64).mean(dim=0))
                return


def _is_terminal(stream):
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


class PlainPrintLog(PrintLog):
    """skorch's per-epoch table, with ANSI colours only when stdout is a terminal.

    skorch colours the best value of each column; in CI logs, files and
    captured notebook output those codes are noise.
    """

    def format_row(self, row, key, color):
        text = super().format_row(row, key, color)
        if isinstance(text, str) and not _is_terminal(sys.stdout):
            text = _ANSI.sub("", text)
        return text

    def on_epoch_end(self, net, **kwargs):
        if is_main_process(net):
            super().on_epoch_end(net, **kwargs)


class MainProcessProgressBar(ProgressBar):
    """skorch's progress bar, shown by the main process only."""

    def on_epoch_begin(self, net, **kwargs):
        if is_main_process(net):
            super().on_epoch_begin(net, **kwargs)

    def on_batch_end(self, net, **kwargs):
        if is_main_process(net) and hasattr(self, "pbar_"):
            super().on_batch_end(net, **kwargs)

    def on_epoch_end(self, net, **kwargs):
        if is_main_process(net) and hasattr(self, "pbar_"):
            super().on_epoch_end(net, **kwargs)


class BatchLog(Callback):
    """Print every training batch's losses (``verbose=2``).

    One line per optimizer step: epoch, batch, ``train_loss`` and its parts
    (at ``verbose=2`` the net records them as each batch ends; otherwise it
    reads them from the device once per epoch).
    """

    def __init__(self, sink=print):
        self.sink = sink

    def on_batch_end(self, net, training=False, **kwargs):
        if not training or not is_main_process(net):
            return
        record = net.history[-1]["batches"][-1]
        epoch, batch = len(net.history), len(net.history[-1]["batches"])
        parts = "  ".join(
            f"{key} {record[key]:.4f}"
            for key in ("train_loss", *(f"{p}_loss" for p in LOSS_PARTS))
            if key in record
        )
        self.sink(f"epoch {epoch} batch {batch}: {parts}")
