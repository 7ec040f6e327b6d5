"""The scikit-learn surface: :class:`C2BINClusterer`."""

import copy
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    ClusterMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import LRScheduler, PassthroughScoring, ProgressBar
from torch.optim.lr_scheduler import LambdaLR
from torch.utils.data import Subset

from ._validation import check_dataset, check_input
from .augment import resolve_augmentation
from .data import BatchIterator, default_num_workers, is_dataset, place_training_data, sample_dataset
from .metrics import silhouette_in_input_space, silhouette_sample
from .networks import C2BINNetwork, build_backbone
from .preprocessing import fit_preprocessor
from .training import (
    EMA_CALLBACK,
    LOSS_PARTS,
    C2BINCriterion,
    C2BINNet,
    EMATarget,
    WarmupCosine,
)

__all__ = ["C2BINClusterer"]

_OPTIMIZERS = {"adam": torch.optim.Adam, "adamw": torch.optim.AdamW, "sgd": torch.optim.SGD}

#: Samples of a torch Dataset read to learn the normalisation statistics.
_DATASET_STATS_SAMPLES = 10_000


def _generator_state(generator):
    """A torch.Generator's state as bytes (picklable, device-free)."""
    return bytes(generator.get_state().numpy())


def _generator_from_state(state, device):
    generator = torch.Generator(device=device)
    generator.set_state(torch.frombuffer(bytearray(state), dtype=torch.uint8))
    return generator


def _as_tensor(X):
    """Share ``X``'s memory with a CPU tensor (read-only inputs included)."""
    with warnings.catch_warnings():
        # torch warns that it cannot guarantee read-only memory stays
        # unwritten; skc2bin only ever reads it.
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(X)


def _select_heads(net):
    """Let every scale use its head with the lowest mean cluster loss over the
    last epoch that recorded one (kept as it was if none did)."""
    for epoch in reversed(net.history):
        losses = [b["head_losses"] for b in epoch["batches"] if "head_losses" in b]
        if losses:
            net.module_.select_heads(torch.tensor(losses, dtype=torch.float64).mean(dim=0))
            return


class C2BINClusterer(ClassNamePrefixFeaturesOutMixin, TransformerMixin, ClusterMixin, BaseEstimator):
    """Deep clustering by Contrasting Clusters while Bootstrapping INstances.

    Trains an online network (backbone -> projector -> predictor) to predict
    a slowly moving target network's projection of another augmented view of
    each sample (BYOL), together with one softmax cluster head per entry of
    ``n_clusters`` whose assignment *columns* are contrasted between the two
    views (Contrastive Clustering), plus an entropy term against collapse.
    See ``docs/method.md`` for the losses.

    After fitting it behaves like any scikit-learn clusterer and
    transformer: ``labels_``/``predict`` give the primary scale's clusters,
    ``predict_proba`` its soft assignments, ``transform`` the learned
    representation, and ``labels_per_scale_``/``predict_per_scale`` one label
    column per entry of ``n_clusters``.

    Parameters
    ----------
    n_clusters : int or tuple of int, default=8
        Number of clusters of each head. The first entry is the primary
        scale used by ``predict``, ``labels_`` and ``predict_proba``; e.g.
        ``(10, 100)`` trains a 10-cluster and a 100-cluster head together.
        An entry of 1 is accepted (every sample in one cluster: the model
        then only learns representations, for ``transform``) with a warning.
    backbone : {'auto', 'mlp', 'cnn', 'resnet18'} or torch.nn.Module, default='auto'
        Network mapping (preprocessed) inputs to representations. ``'auto'``
        uses an MLP for feature vectors and, for images, a small CNN that
        first average-pools images larger than 12 px to at most 12 px
        (:class:`skc2bin.networks.SmallCNN`: clusters follow coarse shape;
        pass ``SmallCNN(..., working_size=32)`` to keep fine detail).
        ``'resnet18'`` is the CIFAR-style
        ResNet-18 (for 32×32 colour images on a GPU). A module receives float
        batches of shape ``(n, n_features)`` or ``(n, channels, height,
        width)`` and must return ``(n, dim)``; it is copied, not modified.
    representation_size : int, default=128
        Width of the representation of the built-in backbones (the output of
        ``transform``).
    projection_size : int, default=64
        Output width of the projector and predictor.
    hidden_size : int, default=256
        Hidden width of the projector, predictor and MLP backbone.
    max_epochs : int, default=100
        Passes over the training data.
    batch_size : int or 'auto', default='auto'
        Samples per optimizer step (capped at the number of samples); also
        the inference batch size. ``'auto'`` uses 128, lowered for small
        data sets to ``n_samples // 8`` (at least 16) so that every epoch
        still takes several optimizer steps.
    lr : float, default=1e-3
        Learning rate.
    weight_decay : float, default=1e-4
        Weight decay of the optimizer.
    lr_schedule : {'constant', 'cosine'}, default='constant'
        ``'cosine'``: linear warm-up over the first 5% of optimizer steps,
        then cosine decay to zero; ``'constant'``: ``lr`` throughout.
    optimizer : {'adam', 'adamw', 'sgd'} or torch.optim.Optimizer subclass, default='adamw'
        Optimizer of the online network (``'sgd'`` uses momentum 0.9).
    base_momentum : float, default=0.99
        Starting EMA momentum ``tau_base`` of the target network; it rises
        towards 1 with BYOL's cosine schedule over the fit.
    cluster_temperature : float, default=0.5
        Temperature of the column-wise cluster contrast (CC uses 1.0 for
        1,000-epoch trainings; 0.5 learns clusters in far fewer steps).
    cluster_weight : float, default=1.0
        Weight ``lambda_c`` of the cluster terms against the BYOL loss.
    entropy_weight : float, default=1.0
        Weight ``lambda_e`` of the entropy (anti-collapse) term.
    n_init : int, default=5
        Cluster heads trained per scale, from different random
        initialisations, on the shared representation (like KMeans's
        ``n_init``, but in one training run: heads are small). After each
        fit, every scale keeps the head whose cluster loss (contrast +
        entropy) over the last epoch was lowest. The column contrast has
        local optima (two classes merged, another split); one head among
        several usually avoids them, and the loss tells which
        (``docs/method.md``).
    augmentation : {'auto', 'features', 'grayscale', 'color', 'none'} or callable, default='auto'
        ``'auto'`` picks ``'features'`` (SCARF-style corruption and noise)
        for vectors, ``'grayscale'`` (random affine, brightness, noise) for
        one-channel images and ``'color'`` (crop, flip, colour jitter,
        grayscale) otherwise. A callable gets ``(batch, generator)`` — images
        as ``(n, c, h, w)`` in ``[0, 1]``, vectors standardised — and must
        return an augmented batch of the same shape, drawing randomness from
        ``generator``.
    image_shape : tuple of int, default=None
        Read each row of a 2-D ``X`` as an image of this shape: ``(height,
        width)`` or, per ``image_format``, ``(height, width, channels)``. For
        example ``image_shape=(8, 8)`` for scikit-learn's digits.
    image_format : {'channels_last', 'channels_first'}, default='channels_last'
        Layout of 4-D image arrays (and of 3-entry ``image_shape``):
        ``(n, height, width, channels)`` or ``(n, channels, height, width)``.
    device : {'auto', 'cpu', 'cuda'}, default='auto'
        Where to train and infer; ``'auto'`` uses a CUDA GPU when there is
        one. On a GPU, in-memory training data are copied there once when
        they take at most a quarter of the free GPU memory (page-locked
        host memory and asynchronous copies otherwise), and image models
        run with channels-last memory layout (on CPUs too, where it was
        measured faster).
    precision : {'auto', 'float32', 'bfloat16'}, default='auto'
        Arithmetic of the network passes. ``'bfloat16'`` runs them under
        bf16 autocast (the losses stay float32; outputs are returned as
        float32). ``'auto'`` picks ``'bfloat16'`` on a CUDA GPU that
        supports it and ``'float32'`` otherwise.
    compile : bool, default=False
        Train through ``torch.compile`` of the online network's training
        pass. The first steps pay the compilation (tens of seconds); worth
        it for long GPU fits. Needs a working ``torch.compile`` (a C++
        compiler on CPU, Triton on GPU).
    num_workers : int or 'auto', default='auto'
        DataLoader worker processes that read samples when ``X`` is a
        torch Dataset (arrays need none: batches are slices of one
        tensor). ``'auto'`` uses half the CPUs, 1 to 8; 0 reads in the
        main process.
    random_state : int, RandomState instance or None, default=None
        Seeds weight initialisation, shuffling and augmentations. With an
        int, fits on the same data and CPU give identical results. The
        global torch seed is neither used nor changed.
    verbose : int, default=0
        0 is silent; 1 prints a progress bar and a table of per-epoch losses.
    callbacks : list of skorch callbacks, default=None
        Extra callbacks for the training loop (e.g.
        ``skorch.callbacks.EarlyStopping(monitor='train_loss')``, which ends
        the fit quietly; ``history_`` shows the epochs run). They are
        copied for each fit.
    warm_start : bool, default=False
        If True and the estimator is fitted, :meth:`fit` continues training
        the current model for ``max_epochs`` more epochs (schedules extended
        to cover them) instead of starting anew. Only ``max_epochs`` and
        ``augmentation`` are re-read; the rest of the model is kept.

    Attributes
    ----------
    labels_ : ndarray of shape (n_samples,)
        Primary-scale cluster of each training sample.
    labels_per_scale_ : ndarray of shape (n_samples, n_scales)
        Column ``j`` holds the clusters of the head with ``n_clusters_[j]``
        clusters.
    n_clusters_ : tuple of int
        ``n_clusters`` as a tuple.
    n_features_in_ : int
        Number of values per sample seen in fit (features, or pixels ×
        channels for images).
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names of a DataFrame ``X``; only then defined.
    input_spec_ : InputSpec
        How samples were read (layout, raw and network shapes).
    net_ : skorch.NeuralNet
        The trained skorch net; ``net_.module_`` is the online network,
        ``net_.target_`` the target network.
    history_ : skorch.History
        Per-epoch records: ``train_loss``, ``instance_loss``,
        ``contrast_loss``, ``entropy_loss``, ``ema_momentum``, ``dur``.
    device_ : str
        Device the model lives on.

    See Also
    --------
    sklearn.cluster.KMeans : Clustering in the input space.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skc2bin import C2BINClusterer
    >>> X, y = load_digits(return_X_y=True)
    >>> est = C2BINClusterer(n_clusters=(10, 30), image_shape=(8, 8),
    ...                      max_epochs=2, random_state=0).fit(X)
    >>> est.labels_.shape, est.labels_per_scale_.shape
    ((1797,), (1797, 2))
    >>> est.transform(X[:5]).shape
    (5, 128)
    """

    _parameter_constraints = {
        "n_clusters": [Interval(Integral, None, None, closed="neither"), tuple, list],
        "backbone": [StrOptions({"auto", "mlp", "cnn", "resnet18"}), torch.nn.Module],
        "representation_size": [Interval(Integral, 1, None, closed="left")],
        "projection_size": [Interval(Integral, 1, None, closed="left")],
        "hidden_size": [Interval(Integral, 1, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "batch_size": [Interval(Integral, 2, None, closed="left"), StrOptions({"auto"})],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "lr_schedule": [StrOptions({"cosine", "constant"})],
        "optimizer": [StrOptions(set(_OPTIMIZERS)), type],
        "base_momentum": [Interval(Real, 0, 1, closed="both")],
        "cluster_temperature": [Interval(Real, 0, None, closed="neither")],
        "cluster_weight": [Interval(Real, 0, None, closed="left")],
        "entropy_weight": [Interval(Real, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "augmentation": [StrOptions({"auto", "features", "grayscale", "color", "none"}), callable],
        "image_shape": [tuple, list, None],
        "image_format": [StrOptions({"channels_last", "channels_first"})],
        "device": [StrOptions({"auto", "cpu", "cuda"})],
        "precision": [StrOptions({"auto", "float32", "bfloat16"})],
        "compile": ["boolean"],
        "num_workers": [Interval(Integral, 0, None, closed="left"), StrOptions({"auto"})],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "callbacks": [list, None],
        "warm_start": ["boolean"],
    }

    def __init__(
        self,
        n_clusters=8,
        *,
        backbone="auto",
        representation_size=128,
        projection_size=64,
        hidden_size=256,
        max_epochs=100,
        batch_size="auto",
        lr=1e-3,
        weight_decay=1e-4,
        lr_schedule="constant",
        optimizer="adamw",
        base_momentum=0.99,
        cluster_temperature=0.5,
        cluster_weight=1.0,
        entropy_weight=1.0,
        n_init=5,
        augmentation="auto",
        image_shape=None,
        image_format="channels_last",
        device="auto",
        precision="auto",
        compile=False,
        num_workers="auto",
        random_state=None,
        verbose=0,
        callbacks=None,
        warm_start=False,
    ):
        self.n_clusters = n_clusters
        self.backbone = backbone
        self.representation_size = representation_size
        self.projection_size = projection_size
        self.hidden_size = hidden_size
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.lr_schedule = lr_schedule
        self.optimizer = optimizer
        self.base_momentum = base_momentum
        self.cluster_temperature = cluster_temperature
        self.cluster_weight = cluster_weight
        self.entropy_weight = entropy_weight
        self.n_init = n_init
        self.augmentation = augmentation
        self.image_shape = image_shape
        self.image_format = image_format
        self.device = device
        self.precision = precision
        self.compile = compile
        self.num_workers = num_workers
        self.random_state = random_state
        self.verbose = verbose
        self.callbacks = callbacks
        self.warm_start = warm_start

    # ------------------------------------------------------------------ checks
    def _check_params(self):
        """Validate what the parameter constraints cannot express alone.

        Returns
        -------
        n_clusters : tuple of int
        """
        ks = (self.n_clusters,) if isinstance(self.n_clusters, Integral) else tuple(self.n_clusters)
        if not ks or not all(isinstance(k, Integral) and not isinstance(k, bool) for k in ks):
            raise ValueError(
                f"n_clusters must be an int or a non-empty tuple of ints, got {self.n_clusters!r}. "
                "For example n_clusters=10 or n_clusters=(10, 100)."
            )
        ks = tuple(int(k) for k in ks)
        if min(ks) < 1:
            raise ValueError(
                f"Every entry of n_clusters must be >= 1 (>= 2 to cluster), got {self.n_clusters!r}. "
                "Set every entry of n_clusters to the number of clusters you want (>= 2)."
            )
        if 1 in ks:
            warnings.warn(
                "n_clusters has an entry of 1: that head puts every sample into one cluster "
                "and adds nothing to training. Use n_clusters >= 2 to cluster; with "
                "n_clusters=1 the model only learns representations (see transform).",
                UserWarning,
            )
        if self.image_shape is not None:
            shape = tuple(self.image_shape)
            if len(shape) not in (2, 3) or not all(
                isinstance(s, Integral) and not isinstance(s, bool) and s > 0 for s in shape
            ):
                raise ValueError(
                    f"image_shape must be (height, width) or a 3-entry shape of positive ints, "
                    f"got {self.image_shape!r}."
                )
        return ks

    @staticmethod
    def _check_n_samples(n_samples, n_clusters):
        if n_samples < max(2, max(n_clusters)):
            raise ValueError(
                f"n_samples={n_samples} should be >= n_clusters={max(n_clusters)} and >= 2: C2BIN "
                "needs at least as many samples as clusters. Pass more samples or lower n_clusters."
            )

    def _resolve_device(self):
        if self.device == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                "device='cuda' but no CUDA GPU is available to torch. Use device='auto' "
                "(GPU when present, else CPU) or device='cpu'."
            )
        if self.device == "auto":
            return "cuda" if torch.cuda.is_available() else "cpu"
        return self.device

    # --------------------------------------------------------------------- fit
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the model on ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features), image array, or torch Dataset
            Feature vectors, or images as ``(n, height, width)`` or
            ``(n, height, width, channels)`` (see ``image_format``), uint8 or
            float. Rows of a 2-D array are read as images when
            ``image_shape`` is set. A map-style :class:`torch.utils.data.Dataset`
            (e.g. torchvision's ``ImageFolder``) is read batch by batch, so it
            need not fit in memory: its items are PIL images, arrays or
            tensors (or ``(sample, target)`` pairs) in torch's layout —
            ``(channels, height, width)`` images, all of one size (give it a
            ``Resize`` transform otherwise). Normalisation statistics come
            from up to 10,000 of its samples.
        y : None
            Ignored; present for API consistency.

        Returns
        -------
        self : C2BINClusterer
            Fitted estimator. If training fails (bad input, divergence),
            the estimator is left exactly as it was before the call.

        Examples
        --------
        >>> from sklearn.datasets import make_blobs
        >>> from skc2bin import C2BINClusterer
        >>> X, _ = make_blobs(n_samples=60, centers=3, random_state=0)
        >>> est = C2BINClusterer(n_clusters=3, max_epochs=2, random_state=0).fit(X)
        >>> est.labels_.shape, len(est.history_)
        ((60,), 2)
        """
        return self._guarded_fit(X, self.max_epochs, continue_=self.warm_start)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Train for one more epoch on ``X``.

        The first call builds the model (as :meth:`fit` would); every call
        then continues from where the last one stopped: weights, optimizer
        state, random streams and the EMA/learning-rate schedules, which span
        ``max_epochs`` epochs. So ``max_epochs`` calls of ``partial_fit`` on
        the same data give exactly the model of one ``fit``; further calls
        extend the schedules. ``X`` may differ between calls (chunks of a
        larger data set); ``labels_`` then describe the latest ``X``. The
        normalisation statistics are those of the first call's ``X``.

        Parameters
        ----------
        X : array-like or torch Dataset shaped like the training data
        y : None
            Ignored.

        Returns
        -------
        self : C2BINClusterer

        Examples
        --------
        >>> from sklearn.datasets import make_blobs
        >>> from skc2bin import C2BINClusterer
        >>> X, _ = make_blobs(n_samples=60, centers=3, random_state=0)
        >>> est = C2BINClusterer(n_clusters=3, max_epochs=4, random_state=0)
        >>> for _ in range(2):
        ...     est = est.partial_fit(X)
        >>> len(est.history_)
        2
        """
        return self._guarded_fit(X, 1, continue_=True)

    def _guarded_fit(self, X, epochs, continue_):
        """Fit or continue, leaving the estimator untouched if anything fails.

        A KeyboardInterrupt inside the training loop is not a failure: the
        model keeps the weights reached so far (with a warning).
        """
        state = self.__dict__.copy()
        try:
            if continue_ and hasattr(self, "net_"):
                self._continue(X, epochs)
            else:
                self._fit_new(X, epochs)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(state)
            raise
        return self

    def _fit_new(self, X, epochs):
        n_clusters = self._check_params()
        device = self._resolve_device()
        Xt, spec = self._checked_data(X, reset=True)
        self._check_n_samples(len(Xt), n_clusters)
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))

        if is_dataset(Xt):
            stats = sample_dataset(Xt, _DATASET_STATS_SAMPLES, seed, num_workers=self._num_workers())
        else:
            stats = Xt
        preprocessor = fit_preprocessor(stats, spec.layout, spec.sample_shape)
        network, rep_dim = self._build_network(spec, n_clusters, preprocessor, seed)
        batch_size = self._batch_size(len(Xt))
        net = self._build_net(network, batch_size, (len(Xt) // batch_size) * self.max_epochs, device, spec)
        net.max_epochs = epochs
        self._rng_states_ = (
            _generator_state(torch.Generator().manual_seed(seed)),
            _generator_state(torch.Generator(device=device).manual_seed(seed + 1)),
        )
        self.input_spec_ = spec
        self.n_clusters_ = n_clusters
        self._n_features_out = rep_dim
        self._train(net, Xt, epochs)

    def _build_network(self, spec, n_clusters, preprocessor, seed):
        """The online network for inputs described by ``spec``; returns it and
        the representation width."""
        backbone = copy.deepcopy(self.backbone) if isinstance(self.backbone, torch.nn.Module) else self.backbone
        # Weight initialisation draws from torch's global generator (modules
        # take no generator argument): seed it inside fork_rng, which restores
        # the caller's global RNG state on exit.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            backbone, rep_dim = build_backbone(
                backbone, spec.sample_shape, self.representation_size, self.hidden_size
            )
            network = C2BINNetwork(
                backbone, rep_dim, self.projection_size, self.hidden_size, n_clusters, preprocessor,
                n_init=self.n_init,
            )
        return network, rep_dim

    def _build_net(self, network, batch_size, total_steps, device, spec):
        """The skorch net around ``network``, initialised (target included)."""
        cuda = torch.device(device).type == "cuda"
        precision = self.precision
        if precision == "auto":
            precision = "bfloat16" if cuda and torch.cuda.is_bf16_supported() else "float32"
        net = C2BINNet(
            module=network,
            criterion=C2BINCriterion,
            criterion__temperature=self.cluster_temperature,
            criterion__cluster_weight=self.cluster_weight,
            criterion__entropy_weight=self.entropy_weight,
            **self._optimizer_kwargs(),
            max_epochs=self.max_epochs,
            batch_size=batch_size,
            iterator_train=BatchIterator,
            iterator_train__shuffle=True,
            iterator_train__drop_last=True,
            iterator_valid=BatchIterator,
            train_split=None,
            callbacks=self._callbacks(total_steps),
            device=device,
            verbose=int(self.verbose > 0),
            precision=precision,
            # Channels-last convolutions: faster on GPUs (tensor cores) and,
            # measured here, on CPUs too (benchmarks/throughput.py).
            channels_last=spec.is_image,
            compile_views=self.compile,
        )
        return net.initialize()

    def _continue(self, X, epochs):
        Xt, _ = self._checked_data(X, reset=False)
        if len(Xt) < 2:
            raise ValueError(
                f"n_samples={len(Xt)}: a training step needs at least 2 samples. "
                "Pass more samples to continue training."
            )
        # Train a copy: if this call fails, the fitted model stays as it was.
        net = copy.deepcopy(self.net_)
        net.max_epochs = epochs
        callbacks = dict(net.callbacks_)
        ema = callbacks[EMA_CALLBACK]
        # Extend the schedules when this call runs past their end.
        end = ema.step_ + (len(Xt) // min(net.batch_size, len(Xt))) * epochs
        ema.total_steps = max(ema.total_steps, end)
        if "lr_schedule" in callbacks:
            schedule = callbacks["lr_schedule"].kwargs["lr_lambda"]
            schedule.total_steps = max(schedule.total_steps, end)
        self._train(net, Xt, epochs)

    def _train(self, net, Xt, epochs):
        """Run ``epochs`` epochs of ``net`` on ``Xt`` and set the fitted attributes."""
        shuffle_state, augment_state = self._rng_states_
        net.augment = resolve_augmentation(self.augmentation, self.input_spec_.sample_shape)
        net.generator = _generator_from_state(augment_state, net.device)
        net.iterator_train__generator = _generator_from_state(shuffle_state, "cpu")
        # Smaller data than planned (a partial_fit chunk) shrinks this call's
        # batches only; net.batch_size stays the planned size.
        net.iterator_train__batch_size = min(net.batch_size, len(Xt))
        self._set_loader_options(net, Xt)
        net.interrupted_ = None
        net.stopped_early_ = None
        # In-memory data go to the GPU once when they fit there (pinned host
        # memory otherwise); this copy lives for this call only.
        train_data, _ = place_training_data(Xt, net.device)
        net.partial_fit(train_data, None)
        del train_data
        _select_heads(net)
        self._rng_states_ = (
            _generator_state(net.iterator_train__generator),
            _generator_state(net.generator),
        )
        # Training-only state: not needed to predict, and a user's callable
        # or a CUDA generator should not have to be picklable.
        net.augment = None
        net.generator = None
        net.iterator_train__generator = None
        for _, cb in net.callbacks_:
            if isinstance(cb, LRScheduler):
                # It references the optimizer; pickled through the callback
                # list (not skorch's device-mapped state) its CUDA tensors
                # would not load on a machine without a GPU.
                cb.lr_scheduler_ = None
        self.net_ = net
        self.labels_per_scale_ = self._infer(Xt, embed=False)[1]
        self.labels_ = self.labels_per_scale_[:, 0].copy()
        if net.interrupted_ is not None:
            warnings.warn(
                f"Training was interrupted (KeyboardInterrupt) after {net.interrupted_} "
                f"epoch(s) of {epochs}. The model keeps the weights reached so far; call "
                "partial_fit, or fit with warm_start=True, to continue training.",
                UserWarning,
            )

    def _num_workers(self):
        return default_num_workers() if self.num_workers == "auto" else self.num_workers

    def _set_loader_options(self, net, X):
        """DataLoader workers and pinned memory for a torch Dataset (arrays are sliced)."""
        workers = self._num_workers() if is_dataset(X) else 0
        pin = is_dataset(X) and torch.device(net.device).type == "cuda"
        for prefix in ("iterator_train", "iterator_valid"):
            setattr(net, f"{prefix}__num_workers", workers)
            setattr(net, f"{prefix}__pin_memory", pin)

    def _batch_size(self, n_samples):
        if self.batch_size == "auto":
            return min(128, max(16, n_samples // 8), n_samples)
        return min(self.batch_size, n_samples)

    def _optimizer_kwargs(self):
        optimizer = _OPTIMIZERS.get(self.optimizer, self.optimizer)
        kwargs = {"optimizer": optimizer, "lr": self.lr, "optimizer__weight_decay": self.weight_decay}
        if optimizer is torch.optim.SGD:
            kwargs["optimizer__momentum"] = 0.9
        return kwargs

    def _callbacks(self, total_steps):
        callbacks = [(EMA_CALLBACK, EMATarget(self.base_momentum, total_steps))]
        if self.lr_schedule == "cosine":
            callbacks.append(
                ("lr_schedule", LRScheduler(LambdaLR, lr_lambda=WarmupCosine(total_steps), step_every="batch"))
            )
        callbacks += [
            (f"{part}_loss", PassthroughScoring(name=f"{part}_loss", on_train=True))
            for part in LOSS_PARTS
        ]
        if self.verbose > 0:
            callbacks.append(("progress_bar", ProgressBar()))
        for i, cb in enumerate(copy.deepcopy(self.callbacks or [])):
            callbacks.append(cb if isinstance(cb, tuple) else (f"user_{i}_{type(cb).__name__}", cb))
        return callbacks

    # --------------------------------------------------------------- inference
    def _infer(self, Xt, *, embed=False, proba=False):
        """Stream ``Xt`` through the online network in eval mode.

        Returns ``(embedding or None, labels per scale, primary proba or
        None)``, filled batch by batch into preallocated arrays.
        """
        n = len(Xt)
        labels = np.empty((n, len(self.n_clusters_)), dtype=np.int64)
        emb = np.empty((n, self._n_features_out), dtype=np.float32) if embed else None
        prob = np.empty((n, self.n_clusters_[0]), dtype=np.float64) if proba else None
        start = 0
        for y, *heads in self.net_.forward_iter(Xt, training=False):
            stop = start + len(y)
            for j, p in enumerate(heads):
                labels[start:stop, j] = p.argmax(dim=1).numpy()
            if embed:
                emb[start:stop] = y.numpy()
            if proba:
                prob[start:stop] = heads[0].double().numpy()
            start = stop
        return emb, labels, prob

    def _checked_data(self, X, *, reset):
        """Validated ``X`` as a tensor (arrays) or as is (torch Datasets), and its spec."""
        if is_dataset(X):
            return check_dataset(self, X, reset=reset)
        X, spec = check_input(self, X, reset=reset)
        return _as_tensor(X), spec

    def _inference_data(self, X):
        check_is_fitted(self)
        Xt, _ = self._checked_data(X, reset=False)
        self._set_loader_options(self.net_, Xt)
        return Xt

    def predict(self, X):
        """Primary-scale cluster of each sample.

        Parameters
        ----------
        X : array-like or torch Dataset shaped like the training data

        Returns
        -------
        labels : ndarray of shape (n_samples,)

        Examples
        --------
        >>> from sklearn.datasets import make_blobs
        >>> from skc2bin import C2BINClusterer
        >>> X, _ = make_blobs(n_samples=60, centers=3, random_state=0)
        >>> est = C2BINClusterer(n_clusters=3, max_epochs=2, random_state=0).fit(X)
        >>> est.predict(X[:4]).shape
        (4,)
        >>> bool((est.predict(X) == est.labels_).all())
        True
        """
        return self.predict_per_scale(X)[:, 0]

    def predict_per_scale(self, X):
        """Cluster of each sample at every scale.

        Parameters
        ----------
        X : array-like or torch Dataset shaped like the training data

        Returns
        -------
        labels : ndarray of shape (n_samples, n_scales)
            Column ``j`` is the head with ``n_clusters_[j]`` clusters.

        Examples
        --------
        >>> from sklearn.datasets import make_blobs
        >>> from skc2bin import C2BINClusterer
        >>> X, _ = make_blobs(n_samples=60, centers=3, random_state=0)
        >>> est = C2BINClusterer(n_clusters=(3, 6), max_epochs=2, random_state=0).fit(X)
        >>> est.predict_per_scale(X[:4]).shape
        (4, 2)
        """
        return self._infer(self._inference_data(X))[1]

    def predict_proba(self, X):
        """Soft assignments of the primary head.

        Parameters
        ----------
        X : array-like or torch Dataset shaped like the training data

        Returns
        -------
        proba : ndarray of shape (n_samples, n_clusters_[0])
            Rows sum to one.

        Examples
        --------
        >>> from sklearn.datasets import make_blobs
        >>> from skc2bin import C2BINClusterer
        >>> X, _ = make_blobs(n_samples=60, centers=3, random_state=0)
        >>> est = C2BINClusterer(n_clusters=3, max_epochs=2, random_state=0).fit(X)
        >>> proba = est.predict_proba(X[:4])
        >>> proba.shape, bool(abs(proba.sum(axis=1) - 1).max() < 1e-6)
        ((4, 3), True)
        """
        return self._infer(self._inference_data(X), proba=True)[2]

    def transform(self, X):
        """Learned representation of each sample (online backbone, eval mode).

        Parameters
        ----------
        X : array-like or torch Dataset shaped like the training data

        Returns
        -------
        embedding : ndarray of shape (n_samples, n_features_out), float32

        Examples
        --------
        >>> from sklearn.datasets import make_blobs
        >>> from skc2bin import C2BINClusterer
        >>> X, _ = make_blobs(n_samples=60, centers=3, random_state=0)
        >>> est = C2BINClusterer(n_clusters=3, representation_size=16, max_epochs=2,
        ...                      random_state=0).fit(X)
        >>> Z = est.transform(X[:4])
        >>> Z.shape, Z.dtype
        ((4, 16), dtype('float32'))
        """
        return self._infer(self._inference_data(X), embed=True)[0]

    def score(self, X, y=None):
        """Label-free quality of the primary clustering of ``X`` (higher is better).

        The mean silhouette coefficient of ``predict(X)`` measured on ``X``
        standardised with the statistics learned in fit — a space that
        depends only on the data, not on the model — so scores compare
        models with different hyperparameters (``n_clusters`` included) in
        :class:`~sklearn.model_selection.GridSearchCV` without labels.
        Putting all samples into one cluster scores -1, the minimum. At most
        2,000 samples (fixed seed) are used.

        Parameters
        ----------
        X : array-like or torch Dataset shaped like the training data
        y : None
            Ignored.

        Returns
        -------
        score : float in [-1, 1]

        Examples
        --------
        >>> from sklearn.datasets import make_blobs
        >>> from skc2bin import C2BINClusterer
        >>> X, _ = make_blobs(n_samples=60, centers=3, random_state=0)
        >>> est = C2BINClusterer(n_clusters=3, max_epochs=2, random_state=0).fit(X)
        >>> -1.0 <= est.score(X) <= 1.0
        True
        """
        Xt = self._inference_data(X)
        # Only the rows the silhouette will use are labelled and normalised.
        idx = silhouette_sample(len(Xt))
        sample = Subset(Xt, idx.tolist()) if is_dataset(Xt) else Xt[torch.as_tensor(idx)]
        labels = self._infer(sample)[1][:, 0]
        net, pre = self.net_, self.net_.module_.preprocessor
        with torch.no_grad():
            flat = np.concatenate([
                pre(net._to_device(batch)).reshape(len(batch), -1).cpu().numpy()
                for batch, _ in net.get_iterator(net.get_dataset(sample), training=False)
            ])
        return silhouette_in_input_space(flat, labels)

    def save(self, path):
        """Save the fitted model to ``path`` without pickle (safetensors + JSON).

        The file holds the weights, the parameters, the skc2bin version and a
        checksum; :meth:`load` refuses files that were changed or come from an
        incompatible version. Unlike pickle/joblib files, loading one runs no
        code. See :mod:`skc2bin.persistence`.

        Parameters
        ----------
        path : str or path-like
            Conventionally ending in ``.safetensors``.

        Examples
        --------
        >>> import numpy as np, tempfile, os
        >>> from skc2bin import C2BINClusterer
        >>> X = np.random.RandomState(0).rand(40, 3)
        >>> est = C2BINClusterer(n_clusters=2, max_epochs=1, random_state=0).fit(X)
        >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
        >>> est.save(path)
        >>> bool((C2BINClusterer.load(path).predict(X) == est.predict(X)).all())
        True
        """
        check_is_fitted(self)
        from .persistence import save_model

        save_model(self, path)

    @classmethod
    def load(cls, path, **overrides):
        """Load a model written by :meth:`save`.

        Parameters
        ----------
        path : str or path-like
        **overrides
            Parameters saved as custom Python objects (e.g. ``backbone=``)
            must be passed again.

        Returns
        -------
        estimator : C2BINClusterer

        Examples
        --------
        >>> import os, tempfile
        >>> from sklearn.datasets import make_blobs
        >>> from skc2bin import C2BINClusterer
        >>> X, _ = make_blobs(n_samples=60, centers=3, random_state=0)
        >>> est = C2BINClusterer(n_clusters=3, max_epochs=2, random_state=0).fit(X)
        >>> path = os.path.join(tempfile.mkdtemp(), "model.safetensors")
        >>> est.save(path)
        >>> loaded = C2BINClusterer.load(path)
        >>> loaded.n_clusters_, bool((loaded.predict(X) == est.predict(X)).all())
        ((3,), True)
        """
        from .persistence import load_model

        return load_model(path, **overrides)

    @property
    def device_(self):
        """Device the fitted model lives on (``'cpu'`` after loading a CUDA-fitted
        model on a machine without a GPU).

        Examples
        --------
        >>> from sklearn.datasets import make_blobs
        >>> from skc2bin import C2BINClusterer
        >>> X, _ = make_blobs(n_samples=60, centers=3, random_state=0)
        >>> est = C2BINClusterer(n_clusters=3, max_epochs=2, device="cpu", random_state=0).fit(X)
        >>> est.device_
        'cpu'
        """
        check_is_fitted(self)
        return str(self.net_.device)

    @property
    def history_(self):
        """Training history (:class:`skorch.history.History`).

        One record per epoch with ``epoch``, ``dur``, ``train_loss``,
        ``instance_loss``, ``contrast_loss``, ``entropy_loss`` and
        ``ema_momentum``; read a column with ``history_[:, key]``.

        Examples
        --------
        >>> from sklearn.datasets import make_blobs
        >>> from skc2bin import C2BINClusterer
        >>> X, _ = make_blobs(n_samples=60, centers=3, random_state=0)
        >>> est = C2BINClusterer(n_clusters=3, max_epochs=2, random_state=0).fit(X)
        >>> len(est.history_[:, "train_loss"]), est.history_[-1, "epoch"]
        (2, 2)
        """
        check_is_fitted(self)
        return self.net_.history

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # transform returns float32 whatever the input dtype.
        tags.transformer_tags.preserves_dtype = ["float32"]
        return tags
