"""How samples reach the network: in-memory tensors and torch Datasets.

Two kinds of training data are accepted:

* an array (any array-like that :func:`skc2bin._validation.check_input`
  accepts), held as one CPU tensor — or, on a GPU with room for it, one
  device tensor — and cut into mini-batches by slicing;
* a map-style :class:`torch.utils.data.Dataset` (for example torchvision's
  ``ImageFolder``) that is read batch by batch through a
  :class:`~torch.utils.data.DataLoader` with worker processes, so the data
  never has to fit in memory.

Either way a batch is a raw tensor (uint8 images stay uint8): the
normalisation and the augmentations run afterwards, on whole batches on the
training device (:mod:`skc2bin.preprocessing`, :mod:`skc2bin.augment`).
"""

import os

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

__all__ = [
    "BatchIterator",
    "as_sample_tensor",
    "collate_samples",
    "default_num_workers",
    "is_dataset",
    "place_training_data",
    "sample_dataset",
    "shard_batch_slice",
]


def is_dataset(X):
    """Whether ``X`` is a torch Dataset (read lazily) rather than an array."""
    return isinstance(X, Dataset)


def as_sample_tensor(item):
    """One dataset item as a tensor in torch's layout.

    ``(sample, target)`` pairs (what ``ImageFolder`` returns) keep the
    sample. PIL images become ``(channels, height, width)`` uint8 tensors;
    numpy arrays and tensors are taken as they are, so images must already
    be channels first (as torchvision's ``ToTensor``/``PILToTensor`` give).
    """
    if isinstance(item, (tuple, list)):
        if not item:
            raise ValueError("A dataset item is an empty tuple: it must hold a sample.")
        item = item[0]
    if isinstance(item, torch.Tensor):
        return item
    if isinstance(item, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(item))
    if hasattr(item, "getbands"):  # a PIL image, without importing PIL
        from torchvision.transforms.v2.functional import pil_to_tensor

        return pil_to_tensor(item)
    raise TypeError(
        f"A dataset item is a {type(item).__name__}; expected a PIL image, a numpy array or a "
        "torch tensor (or a (sample, target) tuple of one). Give the dataset a transform that "
        "returns one, e.g. torchvision.transforms.PILToTensor()."
    )


def collate_samples(items):
    """Stack dataset items into one raw batch tensor (a DataLoader ``collate_fn``)."""
    samples = [as_sample_tensor(item) for item in items]
    first = samples[0].shape
    for s in samples[1:]:
        if s.shape != first:
            raise ValueError(
                f"Dataset samples differ in shape ({tuple(first)} and {tuple(s.shape)}); a batch "
                "needs equal shapes. Give the dataset a transform that resizes every image to "
                "one size, e.g. torchvision.transforms.Resize((32, 32))."
            )
    batch = torch.stack(samples)
    if batch.dtype not in (torch.uint8, torch.float32, torch.float64):
        batch = batch.float()
    return batch


def default_num_workers():
    """DataLoader workers for a Dataset: half the CPUs (the rest train), 1 to 8."""
    return int(min(8, max(1, (os.cpu_count() or 2) // 2)))


def _worker_init(worker_id):
    # Each worker decodes samples on one thread: several workers, each with
    # torch's default thread pool, would oversubscribe the cores.
    torch.set_num_threads(1)


def shard_batch_slice(batch_index, batch_size, rank, world_size):
    """Positions in the epoch's permutation of process ``rank``'s part of
    global batch ``batch_index`` (``batch_size`` samples over ``world_size``
    processes).

    Examples
    --------
    >>> from skc2bin.data import shard_batch_slice
    >>> shard_batch_slice(0, 8, 0, 2), shard_batch_slice(0, 8, 1, 2), shard_batch_slice(2, 8, 1, 2)
    (slice(0, 4, None), slice(4, 8, None), slice(20, 24, None))
    """
    if batch_size % world_size:
        raise ValueError(f"A global batch of {batch_size} samples does not split evenly over {world_size} processes.")
    local = batch_size // world_size
    start = batch_index * batch_size + rank * local
    return slice(start, start + local)


class BatchIterator:
    """Mini-batches (``(batch, None)`` pairs) of a skorch dataset or a torch Dataset.

    A tensor-backed dataset (skorch's wrapper of an array, which has ``X``)
    is sliced: torch's DataLoader would index it one sample at a time and
    collate the samples in Python, while a batch of a tensor is a single
    fancy-indexing operation — on the GPU itself when the tensor lives there.
    Any other Dataset is read through a DataLoader with ``num_workers``
    worker processes and :func:`collate_samples`.

    Accepts the DataLoader keyword arguments that skorch passes
    (``batch_size``, ``shuffle``, ``drop_last``, ``generator``).

    Parameters
    ----------
    dataset : skorch.dataset.Dataset or torch.utils.data.Dataset
    batch_size : int
    shuffle : bool, default=False
        Draw a new permutation (from ``generator``) every epoch.
    drop_last : bool, default=False
        Skip the last, smaller batch.
    generator : torch.Generator, optional
        CPU generator for the permutations.
    num_workers : int, default=0
        DataLoader workers (torch Datasets only).
    pin_memory : bool, default=False
        Page-locked batches, for asynchronous copies to a GPU (torch
        Datasets only).
    num_shards : int, default=1
        Processes of a data-parallel fit that share each batch.
        ``batch_size`` is then the global batch: every process draws the same
        permutation and takes its ``batch_size / num_shards`` samples of each
        batch (:func:`shard_batch_slice`), so the
        processes together step on exactly the batches one process would.
        Needs ``drop_last=True`` and a ``batch_size`` divisible by
        ``num_shards``.
    shard : int, default=0
        This process's shard (its rank).
    """

    def __init__(self, dataset, batch_size, shuffle=False, drop_last=False, generator=None,
                 num_workers=0, pin_memory=False, num_shards=1, shard=0):
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.generator = generator
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.num_shards = int(num_shards)
        self.shard = int(shard)
        if self.num_shards > 1:
            if not drop_last:
                raise ValueError("A sharded BatchIterator needs drop_last=True (every process steps on equal batches).")
            if self.batch_size % self.num_shards:
                raise ValueError(
                    f"batch_size={self.batch_size} does not split evenly over {self.num_shards} processes."
                )
        if not 0 <= self.shard < self.num_shards:
            raise ValueError(f"shard={self.shard} is not in [0, num_shards={self.num_shards}).")

    def _tensor(self):
        X = getattr(self.dataset, "X", None)
        return X if isinstance(X, torch.Tensor) else None

    def __len__(self):
        X = self._tensor()
        n = len(self.dataset) if X is None else len(X)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def __iter__(self):
        X = self._tensor()
        if X is not None:
            yield from self._slices(X)
            return
        # The permutation is drawn exactly as for a tensor (one randperm per
        # epoch; torch's RandomSampler draws a second one), so an array and a
        # Dataset of the same samples train identically.
        order = None
        if self.shuffle:
            order = torch.randperm(len(self.dataset), generator=self.generator).tolist()
        # Seeds the workers (for random transforms of the user's dataset)
        # without touching torch's global generator; differs between epochs
        # and between the processes of a data-parallel fit.
        seed = (self.generator.initial_seed() if self.generator is not None else 0) + (order or [0])[0]
        seed += self.shard * 1_000_003
        batch_size = self.batch_size
        if self.num_shards > 1:
            order = self._shard_positions(order if order is not None else list(range(len(self.dataset))))
            batch_size //= self.num_shards
        loader = DataLoader(
            self.dataset,
            batch_size=batch_size,
            sampler=order,
            drop_last=self.drop_last,
            collate_fn=collate_samples,
            num_workers=self.num_workers,
            worker_init_fn=_worker_init if self.num_workers else None,
            pin_memory=self.pin_memory,
            generator=torch.Generator().manual_seed(seed),
        )
        for batch in loader:
            yield batch, None

    def _batch_slice(self, b, n):
        """Positions in the epoch's order of this process's part of batch ``b``."""
        if self.num_shards > 1:
            return shard_batch_slice(b, self.batch_size, self.shard, self.num_shards)
        start = b * self.batch_size
        return slice(start, min(start + self.batch_size, n))

    def _shard_positions(self, order):
        """This process's samples of every batch of the epoch, in order."""
        return [i for b in range(len(self)) for i in order[self._batch_slice(b, len(order))]]

    def _slices(self, X):
        n = len(X)
        order = None
        if self.shuffle:
            order = torch.randperm(n, generator=self.generator).to(X.device)
        # Fancy indexing of a page-locked tensor gives a pageable batch; pin
        # it again so that its copy to the GPU can be asynchronous.
        pinned = X.device.type == "cpu" and X.is_pinned()
        for b in range(len(self)):
            rows = self._batch_slice(b, n)
            batch = X[rows] if order is None else X[order[rows]]
            yield (batch.pin_memory() if pinned and order is not None else batch), None


def sample_dataset(dataset, n_max, seed, batch_size=256, num_workers=0):
    """Up to ``n_max`` random samples of ``dataset`` as chunks of raw tensors.

    Used to learn the normalisation statistics of a torch Dataset without
    reading all of it (and without holding the sample in memory at once).

    Returns
    -------
    chunks : callable
        Each call returns a fresh iterator over batches of the same samples.
    """
    n = len(dataset)
    if n > n_max:
        idx = torch.randperm(n, generator=torch.Generator().manual_seed(seed))[:n_max]
        dataset = Subset(dataset, idx.sort().values.tolist())

    def chunks():
        loader = DataLoader(dataset, batch_size=batch_size, collate_fn=collate_samples,
                            num_workers=num_workers,
                            worker_init_fn=_worker_init if num_workers else None,
                            generator=torch.Generator().manual_seed(seed))
        return iter(loader)

    return chunks


def place_training_data(Xt, device, max_fraction=0.25):
    """Where an in-memory training tensor should live during a fit.

    On a CUDA device, the whole tensor is copied to the GPU when it takes
    at most ``max_fraction`` of the free GPU memory: batches are then sliced
    on the GPU and no host-to-device copy happens per step. Otherwise it
    stays on the host in page-locked memory, so each batch's copy can be
    asynchronous. On the CPU it is returned unchanged.

    Returns
    -------
    Xt : Tensor
    on_device : bool
    """
    if torch.device(device).type != "cuda" or not isinstance(Xt, torch.Tensor):
        return Xt, False
    free, _ = torch.cuda.mem_get_info(torch.device(device))
    nbytes = Xt.element_size() * Xt.nelement()
    if nbytes <= max_fraction * free:
        return Xt.to(device), True
    return Xt.pin_memory(), False
