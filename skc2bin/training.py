"""The training loop: a skorch ``NeuralNet`` that runs C2BIN's steps.

skorch supplies the machinery (optimizer set-up, device moves, callbacks,
history, progress printing, pickling of every registered module); this
module adds what C2BIN needs on top:

* :class:`C2BINNet` registers the target network as a skorch module (so
  device moves and pickling cover it), hands the optimizer only the online
  parameters, and replaces the train step with two augmented views, the
  online/target passes and the C2BIN loss;
* :class:`EMATarget` moves the target after every optimizer step with
  BYOL's cosine momentum schedule;
* optional bf16 autocast, channels-last memory layout and ``torch.compile``
  of the online network's training pass, for speed on GPUs.

Mini-batches come from :class:`skc2bin.data.BatchIterator`.

``C2BINNet`` is an internal object composed by
:class:`skc2bin.C2BINClusterer`; users never construct or clone it.
"""

import math

import torch
from skorch import NeuralNet
from skorch.callbacks import Callback, EarlyStopping
from skorch.dataset import unpack_data
from torch import nn

from .ema import cosine_momentum, ema_update
from .losses import c2bin_loss
from .networks import TargetNetwork

__all__ = [
    "C2BINCriterion",
    "C2BINNet",
    "EMATarget",
    "TrainingDivergedError",
    "WarmupCosine",
    "LOSS_PARTS",
    "EMA_CALLBACK",
]

#: Names of the loss components recorded in the history (``<name>_loss``).
LOSS_PARTS = ("instance", "contrast", "entropy")

#: Name of the :class:`EMATarget` callback in ``net.callbacks_``.
EMA_CALLBACK = "ema_target"


class TrainingDivergedError(FloatingPointError):
    """The training loss became NaN or infinite."""


class WarmupCosine:
    """Learning-rate factor: linear warm-up, then cosine decay to zero.

    ``factor(step) = (step + 1) / warmup`` for the first ``warmup`` steps,
    then ``(1 + cos(pi * progress)) / 2`` over the remaining steps. A class
    (not a closure) so that a fitted net stays picklable.

    Parameters
    ----------
    total_steps : int
    warmup_fraction : float, default=0.05
    """

    def __init__(self, total_steps, warmup_fraction=0.05):
        self.total_steps = max(int(total_steps), 1)
        self.warmup = max(1, int(round(warmup_fraction * self.total_steps)))

    def __call__(self, step):
        if step < self.warmup:
            return (step + 1) / self.warmup
        progress = min(1.0, (step - self.warmup) / max(1, self.total_steps - self.warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress))


class C2BINCriterion(nn.Module):
    """The C2BIN loss (:func:`skc2bin.losses.c2bin_loss`) with its weights."""

    def __init__(self, temperature=1.0, cluster_weight=1.0, entropy_weight=1.0, combine_heads="mean"):
        super().__init__()
        self.temperature = temperature
        self.cluster_weight = cluster_weight
        self.entropy_weight = entropy_weight
        self.combine_heads = combine_heads

    def forward(self, pred1, pred2, target1, target2, assigns1, assigns2):
        return c2bin_loss(
            pred1,
            pred2,
            target1,
            target2,
            assigns1,
            assigns2,
            temperature=self.temperature,
            cluster_weight=self.cluster_weight,
            entropy_weight=self.entropy_weight,
            combine_heads=self.combine_heads,
        )


class EMATarget(Callback):
    """Move the target network after every optimizer step.

    ``tau`` follows :func:`skc2bin.ema.cosine_momentum` from
    ``base_momentum`` to 1 over ``total_steps``; the value reached is
    recorded in the history as ``ema_momentum`` at the end of every epoch.

    Parameters
    ----------
    base_momentum : float
    total_steps : int
        Optimizer steps of the whole fit.
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


class C2BINNet(NeuralNet):
    """skorch net running C2BIN's train step (internal to the estimator).

    Parameters
    ----------
    *args, **kwargs
        Passed to :class:`skorch.NeuralNet`; ``module`` must be a
        :class:`skc2bin.networks.C2BINNetwork`.
    augment : callable
        ``augment(batch, generator)``, applied twice per batch.
    generator : torch.Generator
        Generator on the training device for the augmentations.
    precision : {'float32', 'bfloat16'}, default='float32'
        ``'bfloat16'`` runs the network passes (training and inference) under
        bf16 autocast; the losses are always computed in float32.
    channels_last : bool, default=False
        Keep the networks' convolution weights and the image batches in
        channels-last memory layout (faster convolutions with bf16 tensor
        cores on GPUs, and with oneDNN on CPUs).
    compile_views : bool, default=False
        Train through ``torch.compile`` of the online network's training
        pass (compiled once per net, on the first step; not pickled).
        skorch's own ``compile=True`` compiles each module's ``forward``,
        which training does not call (it calls ``views_forward``), so this
        compiles that method instead.
    """

    def __init__(self, *args, augment=None, generator=None, precision="float32",
                 channels_last=False, compile_views=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.augment = augment
        self.generator = generator
        self.precision = precision
        self.channels_last = channels_last
        self.compile_views = compile_views

    def initialize_module(self):
        super().initialize_module()
        if self.channels_last:
            self.module_.to(memory_format=torch.channels_last)
        # Assigned inside skorch's module-initialisation context, so it is
        # registered as a module: moved to the device and pickled with it.
        self.target_ = TargetNetwork.from_online(self.module_)
        return self

    def __getstate__(self):
        state = super().__getstate__()
        # ``module`` (the init argument) is the very object ``module_`` holds.
        # skorch saves ``module_`` as a device-mapped torch payload; pickled
        # again as a plain attribute it would be stored twice and its CUDA
        # tensors would not load on a machine without a GPU.
        if state.get("module") is self.__dict__.get("module_"):
            state["module"] = None
        # A compiled function is not picklable; it is rebuilt when needed.
        state.pop("_compiled_views_forward", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if self.module is None:
            self.module = self.module_

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        """skorch's loop; a KeyboardInterrupt is recorded in ``interrupted_``
        (epochs completed) before skorch stops training on it — unless an
        :class:`~skorch.callbacks.EarlyStopping` callback raised it to stop
        training, which is recorded in ``stopped_early_`` instead."""
        try:
            return super().fit_loop(X, y, epochs=epochs, **fit_params)
        except KeyboardInterrupt:
            done = len(self.history) - (1 if self.history and "dur" not in self.history[-1] else 0)
            if self._early_stopping_fired():
                self.stopped_early_ = done
            else:
                self.interrupted_ = done
            raise

    def _early_stopping_fired(self):
        # skorch's EarlyStopping signals a stop by raising KeyboardInterrupt
        # once its misses reach its patience.
        return any(
            isinstance(cb, EarlyStopping) and getattr(cb, "misses_", 0) >= cb.patience
            for _, cb in self.callbacks_
        )

    def get_all_learnable_params(self):
        """Only the online network is optimised; the target follows by EMA."""
        yield from self.module_.named_parameters()

    # ------------------------------------------------------------ speed options
    def _autocast(self):
        """bf16 autocast context when ``precision='bfloat16'`` (a no-op otherwise)."""
        return torch.autocast(
            device_type=torch.device(self.device).type,
            dtype=torch.bfloat16,
            enabled=self.precision == "bfloat16",
        )

    def _layout(self, x):
        if self.channels_last and x.ndim == 4:
            return x.contiguous(memory_format=torch.channels_last)
        return x

    def _to_device(self, x):
        # Asynchronous when the batch is in page-locked memory (a no-op when
        # the training data already live on the device).
        return torch.as_tensor(x).to(self.device, non_blocking=True)

    def _views_forward(self):
        """The online network's training pass, compiled when ``compile_views=True``."""
        if not self.compile_views:
            return self.module_.views_forward
        fn = self.__dict__.get("_compiled_views_forward")
        if fn is None:
            fn = self._compiled_views_forward = torch.compile(self.module_.views_forward)
        return fn

    # -------------------------------------------------------------- the steps
    def make_views(self, x):
        """Two augmented, preprocessed views of a raw batch ``x`` on the device."""
        pre = self.module_.preprocessor
        base = pre.before_augment(x)
        view1 = pre.after_augment(self.augment(base, self.generator))
        view2 = pre.after_augment(self.augment(base, self.generator))
        return self._layout(view1), self._layout(view2)

    def step_on_views(self, view1, view2):
        """Online and target passes, the C2BIN loss and its backward pass.

        Records the loss parts in the history's current batch. The optimizer
        step and the target's EMA move are left to skorch's loop (and to
        :class:`EMATarget`).

        Returns
        -------
        step : dict
            ``{'loss': loss, 'y_pred': prediction of view 1}``.
        """
        forward = self._views_forward()
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
            raise TrainingDivergedError(self._divergence_message(values[0]))
        loss.backward()
        for name, value in zip(LOSS_PARTS, values[1:]):
            self.history.record_batch(f"{name}_loss", value)
        self.history.record_batch("head_losses", parts["heads"].tolist())
        return {"loss": loss, "y_pred": pred1}

    def train_step_single(self, batch, **fit_params):
        self._set_training(True)
        Xi, _ = unpack_data(batch)
        return self.step_on_views(*self.make_views(self._to_device(Xi)))

    def infer(self, x, **fit_params):
        """Inference pass on a raw batch; float32 outputs whatever the precision."""
        with self._autocast():
            out = self.module_(self._to_device(x))
        return tuple(o.float() for o in out)

    def _divergence_message(self, value):
        epoch = len(self.history)
        # skorch has already opened this batch's record.
        batch = len(self.history[-1]["batches"]) if len(self.history) else 1
        return (
            f"Training diverged: the loss became {value} in epoch {epoch}, batch {batch}. "
            f"The usual cause is a learning rate too high for this data (lr={self.lr}): "
            "lower lr (try a tenth of it) or increase batch_size. Extreme feature values "
            "or a custom backbone/augmentation that produces NaN can cause it too."
        )
