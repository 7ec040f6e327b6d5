"""The training loop: a skorch ``NeuralNet`` that runs C2BIN's steps.

skorch supplies the machinery (optimizer set-up, device moves, callbacks,
history, progress printing, pickling of every registered module); this
module adds what C2BIN needs on top. :class:`C2BINNet`

* registers the target network as a skorch module (so device moves and
  pickling cover it) and hands the optimizer only the online parameters;
* extends skorch's default callbacks with the EMA move of the target, the
  loss-part scorings, the optional learning-rate schedule, the selection of
  the cluster heads and the progress output (as skorch's
  ``NeuralNetClassifier`` extends its defaults);
* replaces the train step with two augmented views, the online/target
  passes and the C2BIN loss, with optional bf16 autocast, channels-last
  memory layout and ``torch.compile`` of the online network's training pass;
* owns its random streams (shuffling and augmentation) so that training
  continued later (``partial_fit``, ``warm_start``) picks them up exactly,
  and drops training-only state (the augmentation, live generators, the
  learning-rate scheduler) when pickled.

Mini-batches come from :class:`skc2bin.data.BatchIterator`.

``C2BINNet`` is an internal object built by :func:`skc2bin.training.make_net`
for :class:`skc2bin.C2BINClusterer`; users never construct or clone it.
"""

import copy
import time

import torch
from sklearn.metrics.cluster import contingency_matrix
from skorch import NeuralNet
from skorch.callbacks import EarlyStopping, EpochTimer, LRScheduler, PassthroughScoring, ProgressBar
from skorch.dataset import unpack_data
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import Subset

from ..data import is_dataset, place_training_data
from ..metrics import best_cluster_map
from ..networks import TargetNetwork
from ..schedules import WarmupCosine
from .callbacks import LOSS_PARTS, BatchLog, EMATarget, PlainPrintLog, SelectHeads
from .refine import MAX_SAMPLES, refine_scales

__all__ = ["C2BINNet", "TrainingDivergedError", "EMA_CALLBACK", "LR_CALLBACK"]

#: Name of the :class:`EMATarget` callback in ``net.callbacks_``.
EMA_CALLBACK = "ema_target"
#: Name of the learning-rate schedule callback (``lr_schedule='cosine'``).
LR_CALLBACK = "lr_schedule"


class TrainingDivergedError(FloatingPointError):
    """The training loss became NaN or infinite."""


def generator_state(generator):
    """A torch.Generator's state as bytes (picklable, device-free)."""
    return bytes(generator.get_state().numpy())


def generator_from_state(state, device):
    """A torch.Generator on ``device`` in the state :func:`generator_state` saved."""
    generator = torch.Generator(device=device)
    generator.set_state(torch.frombuffer(bytearray(state), dtype=torch.uint8))
    return generator


class C2BINNet(NeuralNet):
    """skorch net running C2BIN's train step (internal to the estimator).

    Parameters
    ----------
    *args, **kwargs
        Passed to :class:`skorch.NeuralNet`; ``module`` must be a
        :class:`skc2bin.networks.C2BINNetwork`.
    base_momentum : float, default=0.99
        Starting EMA momentum of the target (:class:`EMATarget`).
    total_steps : int, default=1
        Optimizer steps the schedules span.
    lr_schedule : {'constant', 'cosine'}, default='constant'
    seed : int, default=0
        Seeds the shuffling (CPU) and augmentation (training device)
        generators; their states are kept in ``rng_states_`` between calls.
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

    Attributes
    ----------
    augment : callable
        ``augment(batch, generator)``, applied twice per batch; set by
        :meth:`train_epochs`.
    rng_states_ : tuple of bytes
        States of the shuffling and augmentation generators.
    interrupted_, stopped_early_ : int or None
        Epochs completed when a KeyboardInterrupt, or an
        :class:`~skorch.callbacks.EarlyStopping` callback, ended the last
        call of :meth:`train_epochs`.
    """

    def __init__(self, *args, base_momentum=0.99, total_steps=1, lr_schedule="constant", seed=0,
                 precision="float32", channels_last=False, compile_views=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.base_momentum = base_momentum
        self.total_steps = total_steps
        self.lr_schedule = lr_schedule
        self.seed = seed
        self.precision = precision
        self.channels_last = channels_last
        self.compile_views = compile_views
        self.augment = None
        self.generator = None

    # ------------------------------------------------------------ composition
    @property
    def _default_callbacks(self):
        callbacks = [
            ("epoch_timer", EpochTimer()),
            ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
            *[(f"{p}_loss", PassthroughScoring(name=f"{p}_loss", on_train=True)) for p in LOSS_PARTS],
            (EMA_CALLBACK, EMATarget(self.base_momentum, self.total_steps)),
        ]
        if self.lr_schedule == "cosine":
            schedule = LRScheduler(LambdaLR, lr_lambda=WarmupCosine(self.total_steps), step_every="batch")
            callbacks.append((LR_CALLBACK, schedule))
        callbacks.append(("select_heads", SelectHeads()))
        if self.verbose:
            callbacks.append(("progress_bar", ProgressBar()))
        if self.verbose and self.verbose > 1:
            callbacks.append(("batch_log", BatchLog()))
        callbacks.append(("print_log", PlainPrintLog()))
        return callbacks

    def initialize_module(self):
        super().initialize_module()
        if self.channels_last:
            self.module_.to(memory_format=torch.channels_last)
        # Assigned inside skorch's module-initialisation context, so it is
        # registered as a module: moved to the device and pickled with it.
        self.target_ = TargetNetwork.from_online(self.module_)
        return self

    def initialize(self):
        super().initialize()
        self.rng_states_ = (
            generator_state(torch.Generator().manual_seed(self.seed)),
            generator_state(torch.Generator(device=self.device).manual_seed(self.seed + 1)),
        )
        self.interrupted_ = None
        self.stopped_early_ = None
        return self

    def get_all_learnable_params(self):
        """Only the online network is optimised; the target follows by EMA."""
        yield from self.module_.named_parameters()

    # -------------------------------------------------------------- pickling
    def __getstate__(self):
        state = super().__getstate__()
        # ``module`` (the init argument) is the very object ``module_`` holds.
        # skorch saves ``module_`` as a device-mapped torch payload; pickled
        # again as a plain attribute it would be stored twice and its CUDA
        # tensors would not load on a machine without a GPU.
        if state.get("module") is self.__dict__.get("module_"):
            state["module"] = None
        # Training-only state: not needed to predict. A user's augmentation
        # need not be picklable, a CUDA generator or the learning-rate
        # scheduler (it references the optimizer) pickled as plain objects
        # would not load on a machine without a GPU, and a compiled function
        # is not picklable; all are rebuilt when training continues.
        state["augment"] = None
        state["generator"] = None
        state["iterator_train__generator"] = None
        state.pop("_compiled_views_forward", None)
        if "callbacks_" in state:
            state["callbacks_"] = [(name, _without_scheduler(cb)) for name, cb in state["callbacks_"]]
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if self.module is None:
            self.module = self.module_

    # ------------------------------------------------------------- training
    def train_epochs(self, X, epochs, augment, num_workers=0):
        """Train for ``epochs`` epochs on ``X``, continuing where the last call stopped.

        Weights, optimizer state, schedules and random streams carry over
        between calls, so several calls give exactly the model of one call
        with their total epochs (on the same data).

        Parameters
        ----------
        X : Tensor or torch Dataset
            Raw training samples.
        epochs : int
        augment : callable
            ``augment(batch, generator)``.
        num_workers : int, default=0
            DataLoader workers when ``X`` is a torch Dataset.

        Returns
        -------
        self
        """
        self.max_epochs = epochs
        self.augment = augment
        shuffle_state, augment_state = self.rng_states_
        self.iterator_train__generator = generator_from_state(shuffle_state, "cpu")
        self.generator = generator_from_state(augment_state, self.device)
        # Smaller data than planned (a partial_fit chunk) shrinks this call's
        # batches only; batch_size stays the planned size.
        self.iterator_train__batch_size = min(self.batch_size, len(X))
        self.set_loader_options(X, num_workers)
        self.interrupted_ = None
        self.stopped_early_ = None
        # In-memory data go to the GPU once when they fit there (pinned host
        # memory otherwise); this copy lives for this call only.
        train_data, _ = place_training_data(X, self.device)
        self.partial_fit(train_data, None)
        del train_data
        self.rng_states_ = (
            generator_state(self.iterator_train__generator),
            generator_state(self.generator),
        )
        return self

    def extend_schedules(self, n_steps):
        """Make the EMA and learning-rate schedules cover ``n_steps`` more
        optimizer steps when they would otherwise end before."""
        callbacks = dict(self.callbacks_)
        ema = callbacks[EMA_CALLBACK]
        self.total_steps = max(self.total_steps, ema.step_ + int(n_steps))
        ema.total_steps = max(ema.total_steps, self.total_steps)
        if LR_CALLBACK in callbacks:
            schedule = callbacks[LR_CALLBACK].lr_lambda
            schedule.total_steps = max(schedule.total_steps, self.total_steps)
        return self

    def refine(self, X, *, n_neighbors=10, epochs=50, prior="floor", floor=0.1, prior_weight=1.0):
        """The refinement phase (:mod:`skc2bin.training.refine`) on the training samples ``X``.

        Retrains the cluster heads on the frozen representation of ``X`` (at
        most :data:`~skc2bin.training.refine.MAX_SAMPLES` of them, a seeded
        random subset beyond) with neighbour consistency, and records in the
        last history row ``refine_loss`` (final loss of the primary scale),
        ``refine_losses`` (its per-epoch curve), ``refine_changed`` (share of
        the samples whose primary cluster changed, after matching the old and
        new cluster numbers one to one), ``refine_scores`` (the
        primary scale's candidates) and ``refine_dur`` (seconds).
        Deterministic: seeded from the augmentation stream, after
        :meth:`train_epochs` saved its state.
        """
        start = time.perf_counter()
        generator = self.generator or generator_from_state(self.rng_states_[1], self.device)
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator, device=generator.device))
        generator = torch.Generator(device=self.device).manual_seed(seed)
        if len(X) > MAX_SAMPLES:
            idx = torch.randperm(len(X), generator=torch.Generator().manual_seed(seed))[:MAX_SAMPLES]
            X = Subset(X, idx.sort().values.tolist()) if is_dataset(X) else X[idx.sort().values]
        network = self.module_
        with torch.no_grad():
            features = torch.cat([y for y, *_ in self.forward_iter(X, training=False, device=self.device)])
            primary = network.heads[int(network.selected[0])]
            before = primary.eval()(features).argmax(1)
        info = refine_scales(
            network, features, n_neighbors=n_neighbors, epochs=epochs, batch_size=max(self.batch_size, 256),
            lr=self.lr, weight_decay=self.optimizer__weight_decay, prior=prior, prior_weight=prior_weight,
            floor=floor, generator=generator,
        )
        with torch.no_grad():
            after = network.heads[int(network.selected[0])].eval()(features).argmax(1)
        network.train()
        self.history.record("refine_loss", info["losses"][0][-1] if info["losses"][0] else float("nan"))
        self.history.record("refine_losses", info["losses"][0])
        # Cluster numbers of the kept head need not match the old ones: count
        # the samples outside the best one-to-one map between the two.
        counts = contingency_matrix(before.cpu().numpy(), after.cpu().numpy())
        rows, cols = best_cluster_map(counts)
        self.history.record("refine_changed", 1.0 - float(counts[rows, cols].sum()) / len(features))
        self.history.record("refine_scores", info["scores"][0])
        self.history.record("refine_dur", time.perf_counter() - start)
        return self

    def set_loader_options(self, X, num_workers):
        """DataLoader workers and pinned memory for a torch Dataset (arrays are sliced)."""
        workers = num_workers if is_dataset(X) else 0
        pin = is_dataset(X) and torch.device(self.device).type == "cuda"
        for prefix in ("iterator_train", "iterator_valid"):
            setattr(self, f"{prefix}__num_workers", workers)
            setattr(self, f"{prefix}__pin_memory", pin)

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

    def to_device(self, x):
        """A raw batch on the training device (asynchronous from page-locked
        memory; a no-op when the data already live there)."""
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
        return self.step_on_views(*self.make_views(self.to_device(Xi)))

    def infer(self, x, **fit_params):
        """Inference pass on a raw batch; float32 outputs whatever the precision.

        A batch shorter than ``batch_size`` (the last one, or a small ``X``)
        is padded to it by repeating its last row, and the padding is cut
        from the outputs. Matrix products of another row count round
        differently (measured: 1e-7 in ``predict_proba``), so without this a
        sample's outputs would depend on which batch it falls in, i.e. on
        the order and number of the samples passed with it.
        """
        x = self.to_device(x)
        n = len(x)
        if 0 < n < self.batch_size:
            x = torch.cat([x, x[-1:].expand(self.batch_size - n, *x.shape[1:])])
        with self._autocast():
            out = self.module_(x)
        return tuple(o[:n].float() for o in out)

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


def _without_scheduler(callback):
    """``callback`` as pickled: a learning-rate scheduler callback without its
    live scheduler (rebuilt by skorch when training starts again)."""
    if isinstance(callback, LRScheduler) and getattr(callback, "lr_scheduler_", None) is not None:
        callback = copy.copy(callback)
        callback.lr_scheduler_ = None
    return callback
