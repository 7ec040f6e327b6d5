"""Training throughput: skc2bin's batched on-device augmentation vs the conventional pipeline.

Both pipelines feed the *same* network step (``C2BINNet.step_on_views``: online and target
passes on two views, the C2BIN loss, backward), followed by the same optimizer step and EMA
move, with the same model, batch size and machine, in one process:

* **skc2bin**: the uint8 images are one tensor (on the GPU when it fits); each batch is sliced
  out of it and augmented as a whole on the training device, with per-sample random
  parameters (``make_views``).
* **conventional** (what Contrastive Clustering, lightly and SCAN do): a torch Dataset of PIL
  images, torchvision transforms applied to each image twice (random resized crop, flip,
  colour jitter, grayscale) in DataLoader worker processes, collated, copied to the device.

Reported: training samples per second (each sample is two augmented views), after a warm-up,
and the ratio. A second part times ``fit`` on 1k, 10k and 100k feature vectors (3 epochs) to
show that fit time grows linearly with the number of samples.

With ``--image-folder`` (e.g. the unpacked CIFAR-10 test split), a third row times skc2bin
reading the JPEG files as a torch Dataset (out-of-core), decoded in DataLoader workers.

CPU:    python benchmarks/throughput.py --image-folder /tmp/cifar10/test
GPU:    python benchmarks/throughput.py --device cuda --backbone resnet18 --batch-size 512
Smoke:  python benchmarks/throughput.py --smoke   (200 random images of CIFAR-10's shape, no archive
        needed; batch 32, 1 + 2 batches, 0 workers, a small model; scaling on 200 and 400 vectors, 1 epoch)
"""

import os
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Subset
from torchvision.transforms import v2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import benchmark_parser, markdown_row, model_params, parse_args, table_header, versions  # noqa: E402
from _data import cifar10, synthetic_cifar10  # noqa: E402

from skc2bin import C2BINClusterer  # noqa: E402
from skc2bin.augment import resolve_augmentation  # noqa: E402
from skc2bin.data import BatchIterator, place_training_data  # noqa: E402
from skc2bin.ema import ema_update  # noqa: E402
from skc2bin.training import EMA_CALLBACK  # noqa: E402


class TwoViewPIL(Dataset):
    """The conventional pipeline: PIL images, two torchvision-augmented views per item."""

    def __init__(self, images):
        self.images = [Image.fromarray(img) for img in images]
        size = images.shape[1]
        self.transform = v2.Compose([
            v2.RandomResizedCrop(size, scale=(0.2, 1.0), antialias=True),
            v2.RandomHorizontalFlip(),
            v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
            v2.RandomGrayscale(p=0.2),
            v2.PILToTensor(),
            v2.ToDtype(torch.float32, scale=True),
        ])

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        img = self.images[i]
        return self.transform(img), self.transform(img)


def raw_trainer(est):
    """Training steps one at a time on ``est``'s fitted skorch net, outside ``fit``'s loop.

    All that this benchmark uses of the net's internals is here (they are not public API: when
    they change, this is the one function to update). Puts the networks in training mode and sets
    the training-only state that ``fit`` drops, and returns a namespace of:

    * ``step(views)``: one optimizer step on a pair of views (``step_on_views``: online and target
      passes, loss, backward), then the EMA move of the target;
    * ``views(batch)``: skc2bin's two views of a batch of a ``BatchIterator`` over ``dataset(X)``,
      augmented as a whole on the training device (``make_views``);
    * ``conventional_views(batch)``: a pair of views augmented elsewhere, moved to the device and
      finished as ``make_views`` finishes its own (normalisation, memory layout);
    * ``set_layout(memory_format)``: the networks' memory layout;
    * ``dataset``, and the net's ``device``, ``precision`` and ``channels_last`` (as fitted).
    """
    net = est.net_
    online, target = net.module_, net.target_
    online.train()
    target.train()
    net.history.new_epoch()
    # Training-only state, dropped by the estimator after fit.
    net.augment = resolve_augmentation("auto", est.input_spec_.sample_shape)
    net.generator = torch.Generator(device=net.device).manual_seed(0)
    ema = dict(net.callbacks_)[EMA_CALLBACK]

    def step(views):
        net.history.new_batch()
        net.optimizer_.zero_grad(set_to_none=True)
        net.step_on_views(*views)
        net.optimizer_.step()
        ema_update(target, online.online_target_pair(), 0.99, ema.buffers)

    def views(batch):
        return net.make_views(torch.as_tensor(batch[0]).to(net.device, non_blocking=True))

    def conventional_views(batch):
        return tuple(net._layout(online.preprocessor.after_augment(v.to(net.device, non_blocking=True)))
                     for v in batch)

    def set_layout(memory_format):
        online.to(memory_format=memory_format)
        target.to(memory_format=memory_format)
        net.channels_last = memory_format is torch.channels_last

    return SimpleNamespace(step=step, views=views, conventional_views=conventional_views, set_layout=set_layout,
                           dataset=net.get_dataset, device=net.device, precision=net.precision,
                           channels_last=net.channels_last)


def _train_batches(trainer, batches, n_batches, to_views):
    """Run ``n_batches`` training steps; returns seconds (device-synchronised) and steps run."""
    cuda = torch.device(trainer.device).type == "cuda"
    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    done = 0
    for batch in batches:
        trainer.step(to_views(batch))
        done += 1
        if done == n_batches:
            break
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - t0, done


def _timed_row(rows, name, trainer, batches, to_views, args):
    """Warm up, time ``args.batches`` steps, append ``(name, samples/s)`` to ``rows`` and print it."""
    _train_batches(trainer, batches, args.warmup, to_views)
    secs, done = _train_batches(trainer, batches, args.batches, to_views)
    rows.append((name, done * args.batch_size / secs))
    print(f"{name}: {rows[-1][1]:.0f} samples/s", flush=True)


def _cycle(make_iter):
    while True:
        yield from make_iter()


def prepared_trainer(X, args):
    """:func:`raw_trainer` of C2BINClusterer fitted on ``X`` (two batches) for one epoch."""
    est = C2BINClusterer(**model_params(args, n_clusters=10, backbone=args.backbone, device=args.device,
                                        batch_size=args.batch_size, max_epochs=1, random_state=0, num_workers=0))
    return raw_trainer(est.fit(X))


def throughput(X, args):
    trainer = prepared_trainer(X[: 2 * args.batch_size], args)
    device = trainer.device
    print(f"model: backbone {args.backbone}, device {device}, batch {args.batch_size}, "
          f"precision {trainer.precision}, channels_last {trainer.channels_last}", flush=True)

    rows = []
    # skc2bin: slices of one (device) tensor, batched augmentation on the device.
    Xt, _ = place_training_data(torch.from_numpy(X), device)
    ours = BatchIterator(trainer.dataset(Xt), args.batch_size, shuffle=True, drop_last=True,
                         generator=torch.Generator().manual_seed(0))
    batches = _cycle(lambda: iter(ours))
    _timed_row(rows, "skc2bin (batched, on-device augmentation)", trainer, batches, trainer.views, args)
    if trainer.channels_last:
        # The same, with the networks in the default (contiguous) memory layout.
        trainer.set_layout(torch.contiguous_format)
        _timed_row(rows, "skc2bin, contiguous memory layout instead of channels-last", trainer, batches,
                   trainer.views, args)
        trainer.set_layout(torch.channels_last)

    if args.image_folder:
        # skc2bin reading a torch Dataset (JPEG files decoded in DataLoader
        # workers), augmented on the device like the in-memory tensor.
        from torchvision.datasets import ImageFolder

        from skc2bin.data import default_num_workers

        folder = ImageFolder(args.image_folder)
        # Same architecture; its preprocessor reads (c, h, w) samples.
        folder_trainer = prepared_trainer(Subset(folder, range(2 * args.batch_size)), args)
        workers = default_num_workers()
        lazy = BatchIterator(folder, args.batch_size, shuffle=True, drop_last=True,
                             generator=torch.Generator().manual_seed(0), num_workers=workers,
                             pin_memory=torch.device(device).type == "cuda")
        batches = _cycle(lambda lazy=lazy: iter(lazy))
        _timed_row(rows, f"skc2bin reading an ImageFolder of JPEGs ({workers} workers)", folder_trainer,
                   batches, folder_trainer.views, args)
        del batches, lazy

    # Conventional: per-image torchvision transforms in DataLoader workers.
    dataset = TwoViewPIL(X)
    cuda = torch.device(device).type == "cuda"
    for workers in args.workers:
        loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True, drop_last=True,
                            num_workers=workers, pin_memory=cuda, persistent_workers=workers > 0,
                            generator=torch.Generator().manual_seed(0))
        batches = _cycle(lambda loader=loader: iter(loader))
        _timed_row(rows, f"conventional (PIL + torchvision per image, {workers} workers)", trainer,
                   batches, trainer.conventional_views, args)
        del batches, loader
    return rows


def fit_scaling(args):
    """Fit time on growing numbers of feature vectors; returns the epochs and ``(n, seconds)`` rows."""
    rows = []
    rng = np.random.RandomState(0)
    centers = rng.standard_normal((10, 64)) * 3
    params = model_params(args, n_clusters=10, max_epochs=3, device=args.device, random_state=0)
    epochs = params["max_epochs"]
    for n in (200, 400) if args.smoke else (1_000, 10_000, 100_000):
        X = (centers[rng.randint(0, 10, n)] + rng.standard_normal((n, 64))).astype(np.float32)
        t0 = time.perf_counter()
        C2BINClusterer(**params).fit(X)
        rows.append((n, time.perf_counter() - t0))
        print(f"fit on {n:,} vectors ({epochs} epochs): {rows[-1][1]:.1f} s", flush=True)
    return epochs, rows


def main():
    parser = benchmark_parser(__doc__, seeds=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--backbone", default="auto")
    parser.add_argument("--batch-size", type=int, default=None, help="default: 256 (--smoke: 32)")
    parser.add_argument("--n", type=int, default=10_000, help="CIFAR-10 test images used (default: %(default)s)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed batches (default: 5; --smoke: 1)")
    parser.add_argument("--batches", type=int, default=None, help="timed batches (default: 30; --smoke: 2)")
    parser.add_argument("--workers", type=int, nargs="+", default=None,
                        help="conventional DataLoader workers (default: 1 and the number of CPUs; --smoke: 0)")
    parser.add_argument("--image-folder", default=None,
                        help="also time reading this ImageFolder (e.g. the unpacked CIFAR-10 test split)")
    parser.add_argument("--skip-scaling", action="store_true")
    parser.add_argument("--json", default=None, help="also write the rows to this JSON file")
    args = parse_args(parser)
    for name, full, smoke in [("batch_size", 256, 32), ("warmup", 5, 1), ("batches", 30, 2),
                              ("workers", sorted({1, os.cpu_count() or 1}), [0])]:
        if getattr(args, name) is None:
            setattr(args, name, smoke if args.smoke else full)
    print(versions())
    X, _ = synthetic_cifar10("test") if args.smoke else cifar10("test")
    X = X[: args.n]
    print(f"CIFAR-10 test images {X.shape}, uint8{' (random: --smoke)' if args.smoke else ''}\n", flush=True)

    rows = throughput(X, args)
    base = max(rate for name, rate in rows if name.startswith("conventional"))
    print()
    print(table_header("pipeline", "samples/s (two views each)", "ratio to the best conventional"))
    for name, rate in rows:
        print(markdown_row(name, f"{rate:.0f}", f"{rate / base:.2f}"))

    if args.json:
        import json

        Path(args.json).write_text(json.dumps(
            {"batch_size": args.batch_size, "backbone": args.backbone, "device": str(args.device),
             "rows": [{"pipeline": name, "samples_per_s": rate, "ratio_to_best_conventional": rate / base}
                      for name, rate in rows]}, indent=2))

    if not args.skip_scaling:
        print()
        epochs, scaling = fit_scaling(args)
        print()
        print(table_header("vectors (64 features)", f"fit s ({epochs} epochs)", "s per 1,000 samples"))
        for n, secs in scaling:
            print(markdown_row(f"{n:,}", f"{secs:.1f}", f"{secs / n * 1000:.3f}"))


if __name__ == "__main__":
    main()
