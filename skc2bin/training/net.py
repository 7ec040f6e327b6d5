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
* replaces skorch's epoch loop with one that keeps each step's losses on the
  device and reads them once per epoch (no host synchronisation per step),
  checking there (and every :data:`DIVERGENCE_CHECK_STEPS` steps) that they
  are finite;
* trains data-parallel when given a
  :class:`~skc2bin.training.distributed.DistributedContext`: the online
  network's two-view training pass runs through
  :class:`~torch.nn.parallel.DistributedDataParallel` (with SyncBatchNorm on
  CUDA), the batch-wide loss terms see the assignments of every process,
  each process steps on its shard of the global batch, and the logged losses
  are averaged over the processes;
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
from contextlib import contextmanager

import torch
from skorch import NeuralNet
from skorch.callbacks import EarlyStopping, LRScheduler, PassthroughScoring
from skorch.dataset import get_len, unpack_data
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import Subset

from ..data import is_dataset, place_training_data
from ..networks import TargetNetwork, TwoViewForward
from ..schedules import WarmupCosine
from .callbacks import (
    LOSS_PARTS,
    BatchLog,
    EMATarget,
    EpochTimer,
    MainProcessProgressBar,
    PlainPrintLog,
    SelectHeads,
    is_main_process,
)
from .distributed import gather_rows, rank_seed, use_sync_batchnorm
from .layout import drawn_seed
from .neighbors import SPACE_METRICS, weigh_inputs
from .partitions import share_changed
from .refine import MAX_SAMPLES, VIEWS, refine_scales
from .refine_report import refine_outcome, refine_summary

__all__ = ["C2BINNet", "TrainingDivergedError", "EMA_CALLBACK", "LR_CALLBACK", "DIVERGENCE_CHECK_STEPS"]

#: Name of the :class:`EMATarget` callback in ``net.callbacks_``.
EMA_CALLBACK = "ema_target"
#: Name of the learning-rate schedule callback (``lr_schedule='cosine'``).
LR_CALLBACK = "lr_schedule"
#: Training steps between two checks that the losses are still finite (each
#: reads one flag from the device; the end of every epoch is checked too).
DIVERGENCE_CHECK_STEPS = 50


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
        Train through ``torch.compile`` of the online network's two-view
        training pass (:class:`~skc2bin.networks.TwoViewForward`; compiled
        once per net, on the first step, or once per data-parallel call;
        not pickled). skorch's own ``compile=True`` compiles each module's
        ``forward``, which training does not call, so this compiles the
        training pass instead.

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
    distributed_ : DistributedContext or None
        During a data-parallel call of :meth:`train_epochs`, this process's
        place in it; None otherwise.

    Notes
    -----
    The per-batch loss records of the history (``train_loss``, its parts and
    ``head_losses``) are written when the epoch ends, from values kept on the
    device, so callbacks see them in ``on_epoch_end``, not in
    ``on_batch_end`` — except at ``verbose=2``, where every batch is
    recorded (and printed) as it ends.
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
            callbacks.append(("progress_bar", MainProcessProgressBar()))
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
        state["distributed_"] = None
        state.pop("_train_forward_fn", None)
        if "callbacks_" in state:
            state["callbacks_"] = [(name, _without_scheduler(cb)) for name, cb in state["callbacks_"]]
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        if self.module is None:
            self.module = self.module_

    # ------------------------------------------------------------- training
    def train_epochs(self, X, epochs, augment, num_workers=0, distributed=None):
        """Train for ``epochs`` epochs on ``X``, continuing where the last call stopped.

        Weights, optimizer state, schedules and random streams carry over
        between calls, so several calls give exactly the model of one call
        with their total epochs (on the same data).

        Parameters
        ----------
        X : Tensor or torch Dataset
            Raw training samples (in a data-parallel fit, all of them, in
            every process).
        epochs : int
        augment : callable
            ``augment(batch, generator)``.
        num_workers : int, default=0
            DataLoader workers when ``X`` is a torch Dataset.
        distributed : DistributedContext, optional
            Train data-parallel with the other processes of this context:
            ``batch_size`` is the global batch, each process steps on its
            ``1/world_size`` of every batch and augments with its own
            generator (derived from the shared state), and the processes end
            with the same weights, buffers, history and random states.

        Returns
        -------
        self
        """
        from .build import plan_batch_size

        world, rank = (distributed.world_size, distributed.rank) if distributed is not None else (1, 0)
        self.max_epochs = epochs
        self.augment = augment
        shuffle_state, augment_state = self.rng_states_
        self.iterator_train__generator = generator_from_state(shuffle_state, "cpu")
        self.generator = self._augment_generator(augment_state, rank)
        # Smaller data than planned (a partial_fit chunk) shrinks this call's
        # batches only; batch_size stays the planned size.
        self.iterator_train__batch_size = plan_batch_size(self.batch_size, len(X), world)
        self.iterator_train__num_shards, self.iterator_train__shard = world, rank
        self.set_loader_options(X, num_workers)
        self.interrupted_ = None
        self.stopped_early_ = None
        # In-memory data go to the GPU once when they fit there (pinned host
        # memory otherwise); this copy lives for this call only.
        train_data, _ = place_training_data(X, self.device)
        self.distributed_ = distributed
        try:
            with self._data_parallel(distributed):
                self.partial_fit(train_data, None)
            if distributed is not None:
                augment_state = self._finish_data_parallel(distributed)
            else:
                augment_state = generator_state(self.generator)
        finally:
            self.distributed_ = None
            self.iterator_train__num_shards, self.iterator_train__shard = 1, 0
        del train_data
        self.rng_states_ = (generator_state(self.iterator_train__generator), augment_state)
        return self

    def _augment_generator(self, state, rank):
        """The augmentation generator of process ``rank``: the saved stream
        itself on rank 0 (and in single-process training), a stream seeded
        from it and the rank elsewhere."""
        if rank == 0:
            return generator_from_state(state, self.device)
        return torch.Generator(device=self.device).manual_seed(rank_seed(state, rank))

    @contextmanager
    def _data_parallel(self, context):
        """Train through DDP while in this block (nothing to do without ``context``).

        The online network's two-view pass is wrapped in
        :class:`~torch.nn.parallel.DistributedDataParallel`; on CUDA the
        BatchNorm layers of both networks become SyncBatchNorm for the block
        (the model keeps plain BatchNorm afterwards, so it trains and predicts
        alone as any other). The target network is not wrapped: it has no
        trainable parameters, and its EMA move is the same on every process
        because the online weights are.
        """
        if context is None:
            yield
            return
        from torch.nn.parallel import DistributedDataParallel

        device = torch.device(self.device)
        restore = []
        if device.type == "cuda":
            restore = [use_sync_batchnorm(self.module_), use_sync_batchnorm(self.target_)]
        previous = self.__dict__.get("_train_forward_fn")
        try:
            ddp = DistributedDataParallel(
                TwoViewForward(self.module_),
                device_ids=[device.index] if device.type == "cuda" else None,
                # Buffers (BatchNorm statistics) are made equal once, after
                # training, not broadcast from rank 0 before every step.
                **_no_forward_buffer_sync(DistributedDataParallel),
            )
            self._train_forward_fn = (self.module_, torch.compile(ddp) if self.compile_views else ddp)
            yield
        finally:
            if previous is None:
                self.__dict__.pop("_train_forward_fn", None)
            else:
                self._train_forward_fn = previous
            for undo in reversed(restore):
                undo()

    def _finish_data_parallel(self, context):
        """After a data-parallel call: make every process hold the same model.

        Parameters and optimizer states already agree (DDP averaged the
        gradients); BatchNorm statistics, which each process gathered on its
        own samples, become their mean over the processes; the augmentation
        stream carried on is rank 0's (the others derive theirs from it).

        Returns
        -------
        augment_state : bytes
        """
        if self.interrupted_ is not None:
            # Each process was interrupted at its own step: they can no
            # longer exchange anything safely.
            raise KeyboardInterrupt(
                "A distributed fit was interrupted; the processes stopped at different steps, "
                "so no model is kept."
            )
        context.synchronise_buffers(self.module_)
        context.synchronise_buffers(self.target_)
        state = context.broadcast_object(generator_state(self.generator))
        # What draws from the stream after training (the refinement's seed)
        # draws the same in every process.
        self.generator = generator_from_state(state, self.device)
        return state

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

    def refine(self, X, *, n_neighbors=10, epochs=50, prior="floor", floor=0.1, prior_weight=1.0, graph=True,
               pairs=2, layouts=1, space="representation", augment=None, distributed=None):
        """The refinement phase (:mod:`skc2bin.training.refine`) on the training samples ``X``.

        Retrains the cluster heads on the frozen representation of ``X`` (at
        most :data:`~skc2bin.training.refine.MAX_SAMPLES` of them, a seeded
        random subset beyond) with neighbour consistency, and records in the
        last history row ``refine_loss`` (final loss of the primary scale),
        ``refine_losses`` (its per-epoch curve), ``refine_changed`` (share of
        the samples whose primary cluster changed, after matching the old and
        new cluster numbers one to one), ``refine_scores`` (the primary
        scale's candidates: the refined heads, then the head as it was),
        ``refine_admissible`` (per refined head, whether none of its clusters
        falls below ``floor`` × n/k samples: only those may replace the
        head), ``refine_kept`` (True where that head stayed because no
        admissible refined head scored lower), ``refine_graph`` (True where
        the spectral partition of the neighbour graph, distilled or refined,
        replaced the chosen head; ``graph`` turns that candidate on: True
        offers both forms, ``'distilled'`` only the distilled one), ``refine_layout``
        (True where a partition of a layout of the standardised input, refined,
        replaced it next; ``layouts`` is how many are tried, 0 none, and
        only where ``space`` is an input space), ``refine_paired``
        (True where the head's partition with two of its clusters re-paired
        replaced it, the last step; ``pairs`` is how many of the most linked
        pairs of clusters are tried, 0 none), ``refine_merged`` (the number
        of rounds of the merge-and-split step, the last, that replaced the
        head; 0 while :data:`~skc2bin.training.refine.MERGE_SPLITS` is 0, the
        default), ``refine_agreement`` (the
        share of mined neighbour pairs in one cluster of the head, before
        and after), ``refine_gated`` (True where that share, before, was
        below :data:`~skc2bin.training.refine.MIN_NEIGHBOR_AGREEMENT` for the
        primary scale, so that nothing was refined; a head of more than
        :data:`~skc2bin.training.refine.GATE_CLUSTERS` clusters is read with
        its most linked clusters merged down to that many), ``refine_gate``
        (that threshold, as the fit read it), ``refine_gate_agreement`` (the
        share compared with it), ``refine_per_scale`` (the
        same for every scale, in ``n_clusters`` order: one dict per scale
        with ``n_clusters``, ``outcome`` (:func:`~skc2bin.training.refine_report.refine_outcome`),
        ``layout``, ``paired``, ``merged``, ``loss``, ``changed``, ``scores``, ``admissible`` and
        ``agreement``) and
        ``refine_space`` (``space``) and ``refine_dur`` (seconds); the keys
        without ``per_scale`` describe the primary scale.
        The neighbours are mined in the representation (``space=
        'representation'``, cosine similarity), in the preprocessed,
        un-augmented network input (``space='input'``, Euclidean distance:
        standardised features for vectors), or in that input with each
        column weighted by the representation
        (``space='weighted-input'``, :func:`~skc2bin.training.neighbors.weigh_inputs`).
        With ``augment`` (``augment(batch, generator)``; the clusterer passes
        its augmentation for images only), the re-pairing step may also judge
        its copies by their agreement across
        :data:`~skc2bin.training.refine.VIEWS` augmented views of ``X``
        (:meth:`augmented_representation`), drawn where needed from a seed of
        their own, so that they change no other draw.
        Deterministic: seeded from the augmentation stream, after
        :meth:`train_epochs` saved its state. With a ``distributed`` context
        every process refines the same samples from the same seed (it is
        cheap next to training), then all keep rank 0's heads and records,
        so they agree even where GPU kernels are not deterministic.
        With ``verbose`` the main process prints :func:`refine_summary`.
        """
        if space not in SPACE_METRICS:
            raise ValueError(f"space={space!r}: expected 'representation', 'input' or 'weighted-input'.")
        start = time.perf_counter()
        generator = self.generator or generator_from_state(self.rng_states_[1], self.device)
        seed = drawn_seed(generator)
        generator = torch.Generator(device=self.device).manual_seed(seed)
        if len(X) > MAX_SAMPLES:
            idx = torch.randperm(len(X), generator=torch.Generator().manual_seed(seed))[:MAX_SAMPLES]
            X = Subset(X, idx.sort().values.tolist()) if is_dataset(X) else X[idx.sort().values]
        network = self.module_
        features = self.representation(X)
        # The layouts read the standardised input as it is, even where the neighbours weigh it: on
        # digits as vectors its layouts landed on the classes far more often (docs/benchmarks.md).
        inputs = None if space == "representation" else self.network_inputs(X)
        neighbor_space = self.neighbor_rows(X, space, features, n_neighbors, inputs=inputs)
        layout_space = inputs if layouts else None
        views = None if augment is None else (lambda: self.augmented_representation(X, augment, VIEWS, seed + 1))
        info = refine_scales(
            network, features, n_neighbors=n_neighbors, epochs=epochs, batch_size=max(self.batch_size, 256),
            lr=self.lr, weight_decay=self.optimizer__weight_decay, prior=prior, prior_weight=prior_weight,
            floor=floor, graph=graph, pairs=pairs, layouts=layouts, neighbor_space=neighbor_space,
            layout_space=layout_space,
            metric=SPACE_METRICS[space], views=views, generator=generator,
        )
        network.train()
        changed = [share_changed(before, after) for before, after in info["partitions"]]
        record = {
            "refine_loss": info["losses"][0][-1] if info["losses"][0] else float("nan"),
            "refine_losses": info["losses"][0],
            "refine_changed": changed[0],
            "refine_scores": info["scores"][0],
            "refine_admissible": info["admissible"][0],
            "refine_kept": info["kept"][0],
            "refine_graph": bool(info["graph"][0]),
            "refine_layout": bool(info["layout"][0]),
            "refine_paired": info["paired"][0],
            "refine_merged": info["merged"][0],
            "refine_agreement": info["agreement"][0],
            "refine_gated": info["gated"],
            "refine_gate": info["gate"],
            "refine_gate_agreement": info["gate_agreement"],
            "refine_per_scale": [
                {"n_clusters": network.heads[i].n_clusters,
                 "outcome": refine_outcome(info["kept"][s], info["graph"][s]), "layout": bool(info["layout"][s]),
                 "paired": info["paired"][s], "merged": info["merged"][s],
                 "loss": info["losses"][s][-1] if info["losses"][s] else float("nan"),
                 "changed": changed[s], "scores": info["scores"][s], "admissible": info["admissible"][s],
                 "agreement": info["agreement"][s]}
                for s, i in enumerate(network.selected.tolist())
            ],
            "refine_space": space,
            "refine_dur": time.perf_counter() - start,
        }
        if distributed is not None:
            for tensor in network.heads.state_dict().values():
                distributed.broadcast_(tensor)
            distributed.broadcast_(network.selected)
            record = distributed.broadcast_object(record)
        for key, value in record.items():
            self.history.record(key, value)
        if self.verbose and is_main_process(self):
            print(refine_summary(self.history[-1]), flush=True)
        return self

    @torch.no_grad()
    def representation(self, X):
        """The online backbone's output for ``X`` (eval mode, un-augmented), as
        one tensor of shape ``(n_samples, rep_dim)`` on the device: the
        features every prediction uses."""
        return torch.cat([y for y, *_ in self.forward_iter(X, training=False, device=self.device)])

    def augmented_representation(self, X, augment, n_views, seed):
        """The online backbone's output (eval mode) on ``n_views`` augmented
        views of ``X``, batch by batch: yields ``(rows, features)``, ``rows``
        the slice of ``X`` the batch holds. Each view is drawn with
        ``augment(batch, generator)`` from one generator on the device seeded
        with ``seed``, as in training (:meth:`make_views`); nothing is kept,
        so memory stays one batch whatever ``n_views``."""
        pre, backbone = self.module_.preprocessor, self.module_.backbone
        generator = torch.Generator(device=self.device).manual_seed(seed)
        self.module_.eval()
        for _ in range(n_views):
            start = 0
            for x in self._device_batches(X):
                with torch.no_grad(), self._autocast():
                    out = backbone(self._view(pre.before_augment(x), augment, generator)).float()
                yield slice(start, start + len(x)), out
                start += len(x)

    @torch.no_grad()
    def neighbor_rows(self, X, space, features, n_neighbors, inputs=None):
        """The rows :meth:`refine` mines the neighbours of ``X`` in, for
        ``space``: None for ``'representation'`` (it mines ``features``, the
        representation of ``X``), else :meth:`network_inputs` (``inputs``
        where the caller has them already), weighted by ``features``'
        ``n_neighbors``-NN graph for ``'weighted-input'``
        (:func:`~skc2bin.training.neighbors.weigh_inputs`)."""
        if space == "representation":
            return None
        rows = self.network_inputs(X) if inputs is None else inputs
        return weigh_inputs(rows, features, n_neighbors) if space == "weighted-input" else rows

    @torch.no_grad()
    def network_inputs(self, X):
        """The preprocessed, un-augmented network inputs of ``X`` as rows of
        shape ``(n_samples, n_values)`` (float32, on the device): what the
        online network reads, before any augmentation."""
        pre = self.module_.preprocessor
        return torch.cat([pre.after_augment(pre.before_augment(x)).flatten(1).float() for x in self._device_batches(X)])

    def _device_batches(self, X):
        """The raw batches of ``X`` in order (the inference iterator), each on the device."""
        for batch in self.get_iterator(self.get_dataset(X), training=False):
            yield self.to_device(unpack_data(batch)[0])

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

    def _train_forward(self):
        """The online network's two-view training pass: a
        :class:`~skc2bin.networks.TwoViewForward`, compiled when
        ``compile_views=True``, or its DDP wrapper during a data-parallel call."""
        cached = self.__dict__.get("_train_forward_fn")
        if cached is None or cached[0] is not self.module_:
            fn = TwoViewForward(self.module_)
            cached = self._train_forward_fn = (self.module_, torch.compile(fn) if self.compile_views else fn)
        return cached[1]

    # -------------------------------------------------------------- the steps
    def make_views(self, x):
        """Two augmented, preprocessed views of a raw batch ``x`` on the device."""
        base = self.module_.preprocessor.before_augment(x)
        return self._view(base, self.augment, self.generator), self._view(base, self.augment, self.generator)

    def _view(self, base, augment, generator):
        """One augmented view of ``base`` (a batch after ``before_augment``),
        preprocessed and laid out for the backbone: a training view
        (:meth:`make_views`) or one the refinement judges by
        (:meth:`augmented_representation`)."""
        return self._layout(self.module_.preprocessor.after_augment(augment(base, generator)))

    def step_on_views(self, view1, view2):
        """Online and target passes, the C2BIN loss and its backward pass.

        Nothing is read back from the device. The optimizer step and the
        target's EMA move are left to skorch's loop (and to
        :class:`EMATarget`); the loss values go to :meth:`run_single_epoch`.
        In a data-parallel call the online pass runs through DDP and the
        cluster terms are computed on the assignments of every process.

        Returns
        -------
        step : dict
            ``{'loss': loss, 'y_pred': prediction of view 1, 'losses':
            values}``, where ``values`` is a detached float32 vector on the
            device: the loss, its parts (:data:`LOSS_PARTS`) and every
            head's cluster loss.
        """
        forward = self._train_forward()
        with self._autocast():
            (pred1, assigns1), (pred2, assigns2) = forward(view1, view2)
            with torch.no_grad():
                target1 = self.target_(view1)
                target2 = self.target_(view2)
        gather = gather_rows if getattr(self, "distributed_", None) is not None else None
        loss, parts = self.criterion_(
            pred1.float(), pred2.float(), target1.float(), target2.float(),
            [a.float() for a in assigns1], [a.float() for a in assigns2],
            gather=gather,
        )
        loss.backward()
        values = torch.cat([torch.stack([loss.detach(), *(parts[name] for name in LOSS_PARTS)]), parts["heads"]])
        return {"loss": loss, "y_pred": pred1, "losses": values}

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

    # ------------------------------------------------------------ the epoch loop
    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        """skorch's epoch loop, without reading anything from the device per step.

        Calls the same callbacks and records ``<prefix>_batch_size`` per batch
        and ``<prefix>_batch_count`` per epoch as skorch does. Each training
        step's loss values stay on the device; at the end of the epoch they
        are read at once (averaged over the processes of a data-parallel fit
        first), checked and written into the epoch's batch records
        (``train_loss``, ``instance_loss``, ``contrast_loss``,
        ``entropy_loss``, ``head_losses``), from which the per-epoch values
        are averaged as before. Every :data:`DIVERGENCE_CHECK_STEPS` steps one
        flag tells whether they are still finite, so a diverged fit stops
        early. At ``verbose=2`` every batch is read and recorded as it ends.

        Raises
        ------
        TrainingDivergedError
            A loss is NaN or infinite; the message names the epoch and the
            first batch where it was.
        """
        if iterator is None:
            return
        if not training:
            return super().run_single_epoch(iterator, training, prefix, step_fn, **fit_params)
        per_batch = bool(self.verbose) and self.verbose > 1
        pending, first, checked = [], len(self.history[-1]["batches"]), 0
        batch_count = 0
        try:
            for batch in iterator:
                self.notify("on_batch_begin", batch=batch, training=training)
                step = step_fn(batch, **fit_params)
                batch_size = get_len(batch[0]) if isinstance(batch, (tuple, list)) else get_len(batch)
                self.history.record_batch(prefix + "_batch_size", batch_size)
                pending.append(step["losses"])
                if per_batch:
                    self._record_losses(pending, first, prefix)
                    first, pending = first + len(pending), []
                elif len(pending) - checked >= DIVERGENCE_CHECK_STEPS:
                    if not self._finite(pending[checked:]):
                        self._record_losses(pending, first, prefix)  # raises
                    checked = len(pending)
                self.notify("on_batch_end", batch=batch, training=training, **step)
                batch_count += 1
        except KeyboardInterrupt:
            # Keep what the completed steps recorded (for the head selection);
            # in a data-parallel fit the other processes are elsewhere, so
            # nothing is exchanged and nothing is checked.
            self._record_losses(pending, first, prefix, local=True)
            raise
        self._record_losses(pending, first, prefix)
        self.history.record(prefix + "_batch_count", batch_count)

    def _finite(self, values):
        """Whether every step's loss values in ``values`` are finite (on every process)."""
        values = torch.stack(values)[:, : 1 + len(LOSS_PARTS)]
        context = getattr(self, "distributed_", None)
        if context is not None:
            return context.all_finite(values)
        return bool(torch.isfinite(values).all())

    def _record_losses(self, pending, first, prefix, local=False):
        """Read the steps' loss values from the device (one transfer), average
        them over the processes, stop on a non-finite one, and write them
        into batch records ``first, first + 1, ...`` of the current epoch."""
        if not pending:
            return
        values = torch.stack(pending)
        context = getattr(self, "distributed_", None)
        if context is not None and not local:
            values = context.all_reduce_mean(values)
        rows = values.tolist()
        batches = self.history[-1]["batches"]
        n_parts = 1 + len(LOSS_PARTS)
        for i, row in enumerate(rows):
            if not local and not all(v == v and abs(v) != float("inf") for v in row[:n_parts]):
                raise TrainingDivergedError(self._divergence_message(row[0], len(self.history), first + i + 1))
            record = batches[first + i]
            record[prefix + "_loss"] = row[0]
            for name, value in zip(LOSS_PARTS, row[1:n_parts]):
                record[f"{name}_loss"] = value
            record["head_losses"] = row[n_parts:]

    def _divergence_message(self, value, epoch, batch):
        return (
            f"Training diverged: the loss became {value} in epoch {epoch}, batch {batch}. "
            f"The usual cause is a learning rate too high for this data (lr={self.lr}): "
            "lower lr (try a tenth of it) or increase batch_size. Extreme feature values "
            "or a custom backbone/augmentation that produces NaN can cause it too."
        )


def _no_forward_buffer_sync(ddp_class):
    """DDP's keyword that turns off the broadcast of buffers before every
    forward: ``forward_sync_buffers=False`` where torch has it (it keeps the
    sync at construction), ``broadcast_buffers=False`` before."""
    import inspect

    if "forward_sync_buffers" in inspect.signature(ddp_class.__init__).parameters:
        return {"forward_sync_buffers": False}
    return {"broadcast_buffers": False}


def _without_scheduler(callback):
    """``callback`` as pickled: a learning-rate scheduler callback without its
    live scheduler (rebuilt by skorch when training starts again)."""
    if isinstance(callback, LRScheduler) and getattr(callback, "lr_scheduler_", None) is not None:
        callback = copy.copy(callback)
        callback.lr_scheduler_ = None
    return callback
