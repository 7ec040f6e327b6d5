"""The scikit-learn surface: :class:`C2BINClusterer`.

The estimator validates its parameters and data, asks the training layer
(:mod:`skc2bin.training`) to build and run a net, holds the fitted state
(one pair of methods sets and reads it: :meth:`_set_fitted_state`,
:meth:`_get_fitted_state`) and runs inference.
"""

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
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted
from torch.utils.data import Subset

from ._threads import resolve_n_threads, torch_threads
from ._validation import check_dataset, check_input
from .augment import resolve_augmentation
from .data import default_num_workers, is_dataset, sample_dataset
from .metrics import silhouette_in_input_space, silhouette_sample
from .networks import build_network
from .persistence import load_model, save_model
from .preprocessing import fit_preprocessor
from .training import OPTIMIZERS, TrainingDivergedError, make_net, plan_batch_size
from .training.distributed import (
    DistributedError,
    agreement,
    data_fingerprint,
    distributed_context,
    shard_bounds,
    tensor_digest,
)
from .training.neighbors import resolve_refine_space

__all__ = ["C2BINClusterer"]

#: Samples of a torch Dataset read to learn the normalisation statistics.
_DATASET_STATS_SAMPLES = 10_000

#: The fitted attributes, all set together by ``_set_fitted_state``.
_FITTED_STATE = ("net", "input_spec", "n_clusters", "n_features_in", "feature_names_in", "labels_per_scale")


def _as_tensor(X):
    """Share ``X``'s memory with a CPU tensor (read-only inputs included)."""
    with warnings.catch_warnings():
        # torch warns that it cannot guarantee read-only memory stays
        # unwritten; skc2bin only ever reads it.
        warnings.simplefilter("ignore", UserWarning)
        return torch.from_numpy(X)


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
        Where a head leaves clusters without a training sample (a fine
        scale on few samples, or a short fit), ``fit`` warns with a
        :class:`~sklearn.exceptions.ConvergenceWarning`, as KMeans does.
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
    refine : {'neighbors'} or None, default='neighbors'
        Refinement phase at the end of :meth:`fit` (skc2bin's addition to
        C2BIN; ``docs/method.md``). ``'neighbors'``: embed the training
        samples, mine each one's ``refine_neighbors`` nearest neighbours (in
        that representation for images, in the standardised input weighted
        by the representation for feature vectors: ``refine_space``), and
        go on training the
        ``n_init`` cluster heads of every scale on the frozen
        representation for ``refine_epochs``
        epochs with SCAN's neighbour-consistency loss
        ``-mean_i log <p_i, p_neighbour>`` plus ``entropy_weight`` times the
        size prior ``size_prior``; per scale, the head kept is the one whose
        partition of the training set has the lowest consistency plus
        ``entropy_weight`` times C2BIN's uniform entropy term, the C2BIN
        head as it was among the candidates (it stays unless a refined head
        scores lower; a refined head with a cluster below
        ``size_prior_floor`` × n/k samples is no candidate). It fixes most
        fits where C2BIN's heads merged two classes and split another, and
        lets large clusters stay whole; the representation (``transform``)
        is unchanged. Uses at most 20,000 training samples (a seeded random
        subset beyond). Skipped where the primary scale's C2BIN head puts
        fewer than 85 % of the mined neighbour pairs in one cluster: the
        neighbours are then too weak to refine with (CIFAR-10 on a CPU;
        ``history_[-1]["refine_gated"]``). ``None`` keeps the C2BIN-phase
        heads (skc2bin 0.1).
        :meth:`partial_fit` never refines.
    refine_epochs : int, default=50
        Epochs of the refinement (passes over the frozen features; cheap
        next to the C2BIN phase: 2–16 % of a fit, measured).
    refine_neighbors : int, default=10
        Neighbours mined per sample for the refinement.
    refine_space : {'auto', 'representation', 'input', 'weighted-input'}, default='auto'
        Where the refinement mines the neighbours. ``'representation'``:
        nearest by cosine similarity in the learned representation
        (``transform``). ``'input'``: nearest by Euclidean distance in the
        preprocessed input (feature vectors standardised; images in
        ``[0, 1]``, standardised per channel, as flat pixel rows).
        ``'weighted-input'``: the same with each input column weighted by
        how alike the representation's nearest neighbours are in it (the
        inverse of its Laplacian score on their graph), so that features
        the representation ignores, such as pure noise, hardly count.
        ``'auto'`` picks ``'weighted-input'`` for feature vectors and
        ``'representation'`` for images: with generic feature-wise
        augmentations the representation of vectors adds little to the
        input's own geometry, while an image's neighbours in pixel space
        are poor. Measured on ten vector data sets over five seeds in
        ``docs/benchmarks.md``, "Refinement neighbours of feature vectors".
        The heads are trained on the representation either way. The input
        spaces hold the refined samples' preprocessed inputs in memory (at
        most 20,000 rows).
    refine_graph : bool or 'distilled', default=True
        At the end of the refinement, per scale, also partition the graph of
        mined neighbours with spectral clustering (no size prior) and distil
        that partition into a copy of the kept head (at most 5,000 samples
        for the partition). It replaces the head if its smallest cluster
        holds at least ``size_prior_floor`` × n/k samples and its
        neighbour-consistency loss ``-mean log <p_i, p_neighbour>`` is at
        least 15 % lower than the head's. This is what keeps a large class
        whole where C2BIN's heads split it (``docs/benchmarks.md``, "The
        graph candidate"). Where it does not, that copy is refined like
        the ``n_init`` heads and replaces the head by the same rule as
        they do: no cluster below the floor and a lower selection score.
        The graph partition is so one more starting point of the
        refinement; on ``make_moons`` it finds the two moons where a
        C2BIN head cut both in half (``docs/benchmarks.md``, "The graph
        partition as a starting point"). ``'distilled'`` offers only the
        distilled candidate (the rule before the refined one was added),
        False none.
        ``history_[-1]["refine_graph"]`` says whether one replaced the
        head, for the primary scale; ``history_[-1]["refine_per_scale"]``
        says what the refinement did at every scale (``'outcome'``:
        ``'graph'`` for the distilled candidate, ``'graph-refined'`` for
        the refined one).
    refine_pairs : int, default=2
        Last step of the refinement, per scale (skipped where
        ``refine_layouts``' step replaced the head): for each of the
        ``refine_pairs`` pairs of clusters most linked in the graph of
        mined neighbours, halve both clusters (spectral bisection of each
        one's own neighbour graph), join the halves across the pair the two
        other ways, distil each such partition into a copy of the kept
        head and refine it like the ``n_init`` heads, beside a copy of the
        head itself. The best replaces the head if no cluster is below the
        floor, it is lower than both the head and that refined copy on the
        selection score, and its partition cuts a smaller share of the
        neighbour pairs than both. For images a second judge, how often a
        partition puts an augmented view of a sample (the fit's
        ``augmentation``) in the sample's own cluster, vetoes that copy
        where it agrees less than both the head and that refined copy, and
        takes one where none passed if it agrees more than both and is
        lower than the worse of the two on the selection score and on the
        share of pairs cut. Last, the copy so chosen must cut, on average
        over its clusters, a smaller share of their neighbour pairs than
        both (every cluster counts once, so a giant cluster that swallows
        its neighbours' classes does not win; ``docs/method.md``, step 6).
        It mends
        a head that drew two classes as two clusters holding half of each,
        cut along another axis (digits 28×28: fives and nines; digits as 64
        features: ones and eights split by style; ``docs/benchmarks.md``,
        "Re-pairing two linked clusters"). Costs two refined heads per
        pair and one more (about doubles the refinement's time). 0 turns
        it off. ``history_[-1]["refine_paired"]`` says
        whether it replaced the primary head, ``refine_per_scale``'s
        ``'paired'`` the same per scale.
    refine_layouts : int, default=1
        Step of the refinement before the re-pairing, per scale, where the
        neighbours are mined in the input (``refine_space`` ``'input'`` or
        ``'weighted-input'``, the default for feature vectors; images skip
        it: layouts of their representation replaced no head in 13 fits):
        lay the standardised input out as UMAP does (unweighted), from a fuzzy graph of each sample's 15 nearest
        neighbours, in 10 dimensions (``refine_layouts`` times, with
        different random draws);
        partition each layout with a Gaussian mixture and with k-means
        (unless a partition is the head's own, or the other's, to within 1 %
        of the samples), distil each into a
        copy of the kept head and refine it like the ``n_init`` heads. The
        best copy replaces the head by the re-pairing step's rule (beside
        a refined copy of the head itself: lower on the selection score,
        on the share of neighbour pairs cut, and on average per cluster),
        except that it may cut up to 10 % more than the lower of the two;
        the re-pairing step then does not run. On digits as 64 features
        one layout lifted ACC from 0.886 to 0.935 over ten seeds (0.935
        over seeds 0-2, worst seed 0.840 -> 0.924; ``docs/benchmarks.md``,
        "A layout of the neighbour graph as a starting point", "The layout
        step's judge and cost" and "Two partitions of each layout"; aniso
        blobs lost 0.012 with the second partition). Where a layout's copy
        replaced the head it cost
        nothing more than the refinement without it; elsewhere 2-5 s there
        (1,797 samples, one thread). 0 turns it off.
        ``history_[-1]["refine_layout"]`` says whether a layout's copy
        replaced the primary head, ``refine_per_scale``'s ``'layout'`` the
        same per scale.
    size_prior : {'floor', 'uniform'}, default='floor'
        Size prior of the refinement: ``'floor'`` only keeps every cluster
        above ``size_prior_floor / k`` of a batch and leaves relative sizes
        free, so a large class is not split; ``'uniform'`` is C2BIN's
        entropy term (pulls clusters towards equal sizes). The C2BIN phase
        always uses the uniform term.
    size_prior_floor : float in (0, 1], default=0.1
        Smallest cluster share, as a fraction of ``1/k``, for
        ``size_prior='floor'``.
    augmentation : {'auto', 'features', 'grayscale', 'color', 'none'}, callable or torch.nn.Module, default='auto'
        ``'auto'`` picks ``'features'`` (SCARF-style corruption and noise)
        for vectors, ``'grayscale'`` (random affine, brightness, noise) for
        one-channel images and ``'color'`` (crop, flip, colour jitter,
        grayscale) otherwise. To change their settings pass the objects
        themselves, e.g. ``GrayscaleAugment(rotation=25)`` from
        :mod:`skc2bin.augment` (searchable as ``augmentation__rotation`` in
        :class:`~sklearn.model_selection.GridSearchCV`). Any callable or
        ``torch.nn.Module`` (torchvision ``transforms.v2``, kornia) gets
        whole batches — images as ``(n, c, h, w)`` floats in ``[0, 1]``,
        vectors standardised — and must return a batch of the same shape.
        It is reproducible either way: one that accepts a ``generator``
        keyword (or a callable taking ``(batch, generator)``) draws from the
        fit's generator; any other is run under a seed drawn from it, with
        torch's global random state saved and restored around the call
        (:class:`skc2bin.augment.CallableAugmentation`).
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
        0 is silent; 1 prints a progress bar and a table of per-epoch losses
        (coloured only on a terminal), then one line on what the refinement
        did; 2 also prints every batch's losses.
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
    n_threads : int or 'auto', default='auto'
        CPU threads torch computes with during each call (set on entry,
        restored on exit). Results depend on it: reductions over several
        threads round differently, and training amplifies the difference.
        ``'auto'`` uses ``OMP_NUM_THREADS`` when that environment variable
        is set (as torchrun and batch schedulers do), else the CPUs this
        process may run on. joblib's worker processes set
        ``OMP_NUM_THREADS`` themselves and are not fooled by it, so
        ``GridSearchCV(..., n_jobs=k)`` gives the same results for every
        ``k`` — unless you set ``OMP_NUM_THREADS`` yourself: then pass
        ``n_threads`` explicitly. Fits with the same data, ``random_state``
        and ``n_threads`` on the same CPU give identical results; GPU fits
        are not bitwise reproducible.
    distributed : {'auto', True, False}, default='auto'
        Data-parallel training on several GPUs or machines with
        ``torch.distributed``. Start the unchanged script with torchrun
        (``torchrun --nproc_per_node 8 script.py``): with ``'auto'``, ``fit``
        trains data-parallel when the process was started so with more than
        one process (``WORLD_SIZE > 1``) or a process group of several
        processes exists, and initialises the process group itself when
        needed (NCCL with one GPU per process, ``cuda:LOCAL_RANK``, or gloo
        on CPUs). ``batch_size`` is then the global batch: each of the ``W``
        processes steps on ``batch_size / W`` samples (an int
        ``batch_size`` must be divisible by ``W``), the batch-wide cluster
        terms see the assignments of all processes, logged losses are
        averaged over them, only rank 0 prints, and every process ends
        with the same model, history and ``labels_``. ``True`` also trains
        through the data-parallel path with a single process (and raises
        when no launcher or process group is there); ``False`` always
        trains in this process alone. See the user guide's page "Several
        GPUs and machines".

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
        ``contrast_loss``, ``entropy_loss``, ``ema_momentum``, ``dur``; after
        a refined fit the last one also holds ``refine_loss``,
        ``refine_losses``, ``refine_changed``, ``refine_scores``,
        ``refine_admissible``, ``refine_kept``, ``refine_graph``,
        ``refine_paired``, ``refine_merged`` (the primary scale), ``refine_per_scale`` (every scale),
        ``refine_space`` (where the neighbours were mined) and
        ``refine_dur`` (see ``refine``).
    device_ : str
        Device the model lives on.
    n_features_out_ : int
        Width of the representation returned by ``transform``.

    See Also
    --------
    sklearn.cluster.KMeans : Clustering in the input space.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skc2bin import C2BINClusterer
    >>> X, y = load_digits(return_X_y=True)
    >>> est = C2BINClusterer(n_clusters=(10, 30), image_shape=(8, 8), max_epochs=2,
    ...                      device='cpu', random_state=0).fit(X)
    >>> est.labels_.shape, est.labels_per_scale_.shape
    ((1797,), (1797, 2))
    >>> est.transform(X[:5]).shape
    (5, 128)
    >>> est.predict(X[:5]).shape, est.predict_per_scale(X[:5]).shape, est.predict_proba(X[:5]).shape
    ((5,), (5, 2), (5, 10))
    >>> bool((est.predict(X) == est.labels_).all())
    True
    >>> -1.0 <= est.score(X) <= 1.0
    True
    >>> len(est.history_), est.device_
    (2, 'cpu')
    >>> est = est.partial_fit(X)  # one more epoch
    >>> len(est.history_)
    3
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
        "optimizer": [StrOptions(set(OPTIMIZERS)), type],
        "base_momentum": [Interval(Real, 0, 1, closed="both")],
        "cluster_temperature": [Interval(Real, 0, None, closed="neither")],
        "cluster_weight": [Interval(Real, 0, None, closed="left")],
        "entropy_weight": [Interval(Real, 0, None, closed="left")],
        "n_init": [Interval(Integral, 1, None, closed="left")],
        "refine": [StrOptions({"neighbors"}), None],
        "refine_epochs": [Interval(Integral, 1, None, closed="left")],
        "refine_neighbors": [Interval(Integral, 1, None, closed="left")],
        "refine_graph": ["boolean", StrOptions({"distilled"})],
        "refine_pairs": [Interval(Integral, 0, None, closed="left")],
        "refine_layouts": [Interval(Integral, 0, None, closed="left")],
        "refine_space": [StrOptions({"auto", "representation", "input", "weighted-input"})],
        "size_prior": [StrOptions({"floor", "uniform"})],
        "size_prior_floor": [Interval(Real, 0, 1, closed="right")],
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
        "n_threads": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "distributed": [StrOptions({"auto"}), "boolean"],
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
        refine="neighbors",
        refine_epochs=50,
        refine_neighbors=10,
        refine_graph=True,
        refine_pairs=2,
        refine_layouts=1,
        refine_space="auto",
        size_prior="floor",
        size_prior_floor=0.1,
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
        n_threads="auto",
        distributed="auto",
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
        self.refine = refine
        self.refine_epochs = refine_epochs
        self.refine_neighbors = refine_neighbors
        self.refine_graph = refine_graph
        self.refine_pairs = refine_pairs
        self.refine_layouts = refine_layouts
        self.refine_space = refine_space
        self.size_prior = size_prior
        self.size_prior_floor = size_prior_floor
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
        self.n_threads = n_threads
        self.distributed = distributed

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

    def _num_workers(self):
        return default_num_workers() if self.num_workers == "auto" else self.num_workers

    def _checked_data(self, X, *, reset):
        """Validated ``X`` as a tensor (arrays) or as is (torch Datasets), and its spec."""
        if is_dataset(X):
            return check_dataset(self, X, reset=reset)
        X, spec = check_input(self, X, reset=reset)
        return _as_tensor(X), spec

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
        if self.warm_start and hasattr(self, "net_"):
            self._guarded(self._continue, X, self.max_epochs, refine=True)
        else:
            self._guarded(self._fit_new, X, self.max_epochs, refine=True)
        self._warn_empty_clusters()
        return self

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
        """
        if hasattr(self, "net_"):
            return self._guarded(self._continue, X, 1, refine=False)
        return self._guarded(self._fit_new, X, 1, refine=False)

    def _guarded(self, run, X, epochs, refine):
        """``run(X, epochs)`` with torch's thread count fixed, leaving the
        estimator untouched if anything fails.

        A KeyboardInterrupt inside the training loop is not a failure: the
        model keeps the weights reached so far (with a warning).
        """
        state = self.__dict__.copy()
        try:
            with torch_threads(resolve_n_threads(self.n_threads)):
                run(X, epochs, refine)
        except BaseException:
            self.__dict__.clear()
            self.__dict__.update(state)
            raise
        interrupted = self.net_.interrupted_
        if interrupted is not None:
            warnings.warn(
                f"Training was interrupted (KeyboardInterrupt) after {interrupted} "
                f"epoch(s) of {epochs}. The model keeps the weights reached so far; call "
                "partial_fit, or fit with warm_start=True, to continue training.",
                UserWarning,
            )
        return self

    def _warn_empty_clusters(self):
        """Warn, as KMeans does, where a head of the fit leaves clusters without a training sample
        (``predict`` may still return them for new data)."""
        for scale, k in enumerate(self.n_clusters_):
            found = np.unique(self.labels_per_scale_[:, scale]).size
            if found < k:
                warnings.warn(
                    f"Number of distinct clusters ({found}) found smaller than n_clusters ({k}) "
                    f"at scale {scale} (n_clusters[{scale}]): {k - found} of its clusters "
                    f"{'holds' if k - found == 1 else 'hold'} no training sample. Use a smaller n_clusters "
                    "entry there, more samples per cluster, or more max_epochs.",
                    ConvergenceWarning,
                )

    def _fit_new(self, X, epochs, refine):
        """Validate, build, train for ``epochs`` epochs (and refine), set the fitted state.

        In a data-parallel fit every process runs this with the same ``X``:
        they agree on one seed, check together that nothing failed and that
        their data and plans match, train, and label ``X`` shard by shard.
        """
        n_clusters = self._check_params()
        device = self._resolve_device()
        context = distributed_context(self.distributed, self.device)
        world = 1 if context is None else context.world_size
        seed = int(check_random_state(self.random_state).randint(np.iinfo(np.int32).max))
        if context is not None:
            device = context.device
            seed = context.broadcast_object(seed)

        with agreement(context) as agreed:
            Xt, spec = self._checked_data(X, reset=True)
            self._check_n_samples(len(Xt), n_clusters)
            params = self.get_params(deep=False)
            if is_dataset(Xt):
                stats = sample_dataset(Xt, _DATASET_STATS_SAMPLES, seed, num_workers=self._num_workers())
            else:
                stats = Xt
            preprocessor = fit_preprocessor(stats, spec.layout, spec.sample_shape)
            network = build_network(params, spec.sample_shape, n_clusters, preprocessor, seed)
            batch_size = plan_batch_size(self.batch_size, len(Xt), world)
            net = make_net(
                network, params, batch_size=batch_size, total_steps=(len(Xt) // batch_size) * self.max_epochs,
                device=device, channels_last=spec.is_image, seed=seed,
            )
            augment = resolve_augmentation(self.augmentation, spec.sample_shape, device)
            agreed.fingerprint = (data_fingerprint(Xt), spec.layout, tuple(spec.sample_shape), batch_size,
                                  tensor_digest(preprocessor.buffers()))

        labels = self._train(net, Xt, epochs, augment, context, refine)
        self._set_fitted_state({
            "net": net,
            "input_spec": spec,
            "n_clusters": n_clusters,
            "n_features_in": self.n_features_in_,
            "feature_names_in": getattr(self, "feature_names_in_", None),
            "labels_per_scale": labels,
        })

    def _continue(self, X, epochs, refine):
        """Train the fitted model ``epochs`` more epochs on ``X``."""
        context = distributed_context(self.distributed, self.device)
        world = 1 if context is None else context.world_size
        with agreement(context) as agreed:
            Xt, _ = self._checked_data(X, reset=False)
            if len(Xt) < 2:
                raise ValueError(
                    f"n_samples={len(Xt)}: a training step needs at least 2 samples. "
                    "Pass more samples to continue training."
                )
            # Train a copy: if this call fails, the fitted model stays as it was.
            net = copy.deepcopy(self.net_)
            if context is not None and torch.device(net.device) != torch.device(context.device):
                # e.g. a model loaded on cuda:0 in every process: each trains on its own GPU.
                net.__setstate__({**net.__getstate__(), "device": context.device})
            batch_size = plan_batch_size(net.batch_size, len(Xt), world)
            net.extend_schedules((len(Xt) // batch_size) * epochs)
            augment = resolve_augmentation(self.augmentation, self.input_spec_.sample_shape, net.device)
            agreed.fingerprint = (data_fingerprint(Xt), batch_size)
        labels = self._train(net, Xt, epochs, augment, context, refine)
        self._set_fitted_state({**self._get_fitted_state(), "net": net, "labels_per_scale": labels})

    def _train(self, net, Xt, epochs, augment, context, refine):
        """Train ``net`` (and refine), return the labels per scale of ``Xt``
        (in a data-parallel fit, an error says which process raised it)."""
        try:
            net.train_epochs(Xt, epochs, augment, self._num_workers(), distributed=context)
            self._refine(net, Xt, refine, augment, context)
            return self._infer(net, Xt, distributed=context)[1]
        except Exception as exc:
            if context is not None and not isinstance(exc, (TrainingDivergedError, DistributedError)):
                context.note_failure(exc)
            raise

    def _refine(self, net, Xt, refine, augment, context=None):
        """The refinement phase, when this call refines (``fit``, not
        ``partial_fit``), ``refine`` is set and training was not interrupted.
        In a data-parallel fit every process refines the same samples from
        the same seed, and rank 0's result is kept by all. For images, the
        re-pairing step may also judge by agreement across views of
        ``augment``, the fit's augmentation (for vectors, a corruption and
        noise, that signal picked wrong copies: ``docs/benchmarks.md``)."""
        if refine and self.refine is not None and net.interrupted_ is None:
            is_image = net.module_.preprocessor.is_image
            net.refine(Xt, n_neighbors=self.refine_neighbors, epochs=self.refine_epochs, prior=self.size_prior,
                       floor=self.size_prior_floor, prior_weight=self.entropy_weight, graph=self.refine_graph,
                       pairs=self.refine_pairs, layouts=self.refine_layouts,
                       space=resolve_refine_space(self.refine_space, is_image),
                       augment=augment if is_image else None, distributed=context)

    # ------------------------------------------------------------ fitted state
    def _get_fitted_state(self):
        """The fitted state as a dict (what :meth:`save` writes)."""
        check_is_fitted(self)
        return {
            "net": self.net_,
            "input_spec": self.input_spec_,
            "n_clusters": self.n_clusters_,
            "n_features_in": self.n_features_in_,
            "feature_names_in": getattr(self, "feature_names_in_", None),
            "labels_per_scale": self.labels_per_scale_,
        }

    def _set_fitted_state(self, state):
        """Set every fitted attribute from ``state`` (keys as :meth:`_get_fitted_state`)."""
        missing = set(_FITTED_STATE) - set(state)
        if missing:
            raise ValueError(f"Fitted state lacks {sorted(missing)}.")
        self.net_ = state["net"]
        self.input_spec_ = state["input_spec"]
        self.n_clusters_ = tuple(int(k) for k in state["n_clusters"])
        self.n_features_in_ = int(state["n_features_in"])
        if state["feature_names_in"] is not None:
            self.feature_names_in_ = np.asarray(state["feature_names_in"], dtype=object)
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_
        self.labels_per_scale_ = np.asarray(state["labels_per_scale"], dtype=np.int64)
        self.labels_ = self.labels_per_scale_[:, 0].copy()

    @property
    def n_features_out_(self):
        """Width of the representation returned by :meth:`transform`."""
        check_is_fitted(self)
        return self.net_.module_.rep_dim

    @property
    def _n_features_out(self):
        # Read by ClassNamePrefixFeaturesOutMixin.get_feature_names_out.
        return self.net_.module_.rep_dim

    # --------------------------------------------------------------- inference
    def _infer(self, net, Xt, *, embed=False, proba=False, distributed=None):
        """Stream ``Xt`` through ``net``'s online network in eval mode.

        Returns ``(embedding or None, labels per scale, primary proba or
        None)``, filled batch by batch into preallocated arrays. With a
        ``distributed`` context of several processes, each process infers
        its contiguous block of ``Xt`` and the blocks are gathered, so every
        process returns the outputs of all of ``Xt``, in its order.
        """
        if distributed is not None and distributed.world_size > 1:
            start, stop = shard_bounds(len(Xt), distributed.rank, distributed.world_size)
            part = Subset(Xt, range(start, stop)) if is_dataset(Xt) else Xt[start:stop]
            outputs = self._infer(net, part, embed=embed, proba=proba)
            return tuple(None if out is None else distributed.gather_shards(out) for out in outputs)
        network = net.module_
        n = len(Xt)
        n_scales = len(network.selected)
        labels = np.empty((n, n_scales), dtype=np.int64)
        emb = np.empty((n, network.rep_dim), dtype=np.float32) if embed else None
        prob = None
        start = 0
        with torch_threads(resolve_n_threads(self.n_threads)):
            for y, *heads in net.forward_iter(Xt, training=False):
                stop = start + len(y)
                for j, p in enumerate(heads):
                    labels[start:stop, j] = p.argmax(dim=1).numpy()
                if embed:
                    emb[start:stop] = y.numpy()
                if proba:
                    if prob is None:
                        prob = np.empty((n, heads[0].shape[1]), dtype=np.float64)
                    prob[start:stop] = heads[0].double().numpy()
                start = stop
        return emb, labels, prob

    def _inference_data(self, X):
        check_is_fitted(self)
        Xt, _ = self._checked_data(X, reset=False)
        self.net_.set_loader_options(Xt, self._num_workers())
        return Xt

    def predict(self, X):
        """Primary-scale cluster of each sample.

        Parameters
        ----------
        X : array-like or torch Dataset shaped like the training data

        Returns
        -------
        labels : ndarray of shape (n_samples,)
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
        """
        Xt = self._inference_data(X)
        return self._infer(self.net_, Xt)[1]

    def predict_proba(self, X):
        """Soft assignments of the primary head.

        Parameters
        ----------
        X : array-like or torch Dataset shaped like the training data

        Returns
        -------
        proba : ndarray of shape (n_samples, n_clusters_[0])
            Rows sum to one.
        """
        Xt = self._inference_data(X)
        return self._infer(self.net_, Xt, proba=True)[2]

    def transform(self, X):
        """Learned representation of each sample (online backbone, eval mode).

        Parameters
        ----------
        X : array-like or torch Dataset shaped like the training data

        Returns
        -------
        embedding : ndarray of shape (n_samples, ``n_features_out_``), float32
        """
        Xt = self._inference_data(X)
        return self._infer(self.net_, Xt, embed=True)[0]

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
        """
        Xt = self._inference_data(X)
        # Only the rows the silhouette will use are labelled and normalised.
        idx = silhouette_sample(len(Xt))
        sample = Subset(Xt, idx.tolist()) if is_dataset(Xt) else Xt[torch.as_tensor(idx)]
        net = self.net_
        labels = self._infer(net, sample)[1][:, 0]
        pre = net.module_.preprocessor
        with torch.no_grad(), torch_threads(resolve_n_threads(self.n_threads)):
            flat = np.concatenate([
                pre(net.to_device(batch)).reshape(len(batch), -1).cpu().numpy()
                for batch, _ in net.get_iterator(net.get_dataset(sample), training=False)
            ])
        return silhouette_in_input_space(flat, labels)

    # ------------------------------------------------------------- persistence
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
        save_model(path, self.get_params(deep=False), self._get_fitted_state())

    @classmethod
    def load(cls, path, **overrides):
        """Load a model written by :meth:`save` (example there).

        Parameters
        ----------
        path : str or path-like
        **overrides
            Parameters saved as custom Python objects (e.g. ``backbone=``)
            must be passed again; any other parameter may be changed.

        Returns
        -------
        estimator : C2BINClusterer
            Fitted; predicts exactly like the saved model.
        """
        params, state = load_model(path, validate=lambda p: cls(**p)._validate_params(), **overrides)
        est = cls(**params)
        est._set_fitted_state(state)
        return est

    @property
    def device_(self):
        """Device the fitted model lives on (``'cpu'`` after loading a CUDA-fitted
        model on a machine without a GPU)."""
        check_is_fitted(self)
        return str(self.net_.device)

    @property
    def history_(self):
        """Training history (:class:`skorch.history.History`).

        One record per epoch with ``epoch``, ``dur``, ``train_loss``,
        ``instance_loss``, ``contrast_loss``, ``entropy_loss`` and
        ``ema_momentum``; read a column with ``history_[:, key]``. After a
        refined fit the last record also holds ``refine_loss``,
        ``refine_losses``, ``refine_changed``, ``refine_scores``,
        ``refine_admissible``, ``refine_kept``, ``refine_graph``,
        ``refine_paired``, ``refine_merged`` (the primary scale), ``refine_per_scale`` (every scale),
        ``refine_space`` (where the neighbours were mined) and
        ``refine_dur`` (see ``refine``).
        """
        check_is_fitted(self)
        return self.net_.history

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # transform returns float32 whatever the input dtype.
        tags.transformer_tags.preserves_dtype = ["float32"]
        # 3-D (n, height, width) and 4-D image arrays are accepted.
        tags.input_tags.three_d_array = True
        return tags
