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

CPU:  python benchmarks/throughput.py --image-folder /tmp/cifar10/test
GPU:  python benchmarks/throughput.py --device cuda --backbone resnet18 --batch-size 512
"""

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Subset
from torchvision.transforms import v2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import cifar10  # noqa: E402
from quality import versions  # noqa: E402

from skc2bin import C2BINClusterer  # noqa: E402
from skc2bin.augment import resolve_augmentation  # noqa: E402
from skc2bin.data import BatchIterator, place_training_data  # noqa: E402
from skc2bin.ema import ema_update  # noqa: E402


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


def _train_batches(net, batches, n_batches, to_views):
    """Run ``n_batches`` training steps; returns seconds (device-synchronised)."""
    online = net.module_
    ema = dict(net.callbacks_)["ema_target"]
    cuda = torch.device(net.device).type == "cuda"
    if cuda:
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    done = 0
    for batch in batches:
        net.history.new_batch()
        net.optimizer_.zero_grad(set_to_none=True)
        net.step_on_views(*to_views(batch))
        net.optimizer_.step()
        ema_update(net.target_, online.online_target_pair(), 0.99, "copy")
        done += 1
        if done == n_batches:
            break
    if cuda:
        torch.cuda.synchronize()
    return time.perf_counter() - t0, done


def _timed_row(rows, name, net, batches, to_views, args):
    """Warm up, time ``args.batches`` steps, append ``(name, samples/s)`` to ``rows`` and print it."""
    _train_batches(net, batches, args.warmup, to_views)
    secs, done = _train_batches(net, batches, args.batches, to_views)
    rows.append((name, done * args.batch_size / secs))
    print(f"{name}: {rows[-1][1]:.0f} samples/s", flush=True)


def _set_layout(net, layout):
    net.module_.to(memory_format=layout)
    net.target_.to(memory_format=layout)
    net.channels_last = layout is torch.channels_last


def _cycle(make_iter):
    while True:
        yield from make_iter()


def prepared_net(X, args):
    """The trained-for-two-batches skorch net of C2BINClusterer on ``X``, ready for raw steps."""
    est = C2BINClusterer(n_clusters=10, backbone=args.backbone, device=args.device,
                         batch_size=args.batch_size, max_epochs=1, random_state=0, num_workers=0)
    est.fit(X)
    net = est.net_
    net.module_.train()
    net.target_.train()
    net.history.new_epoch()
    # Training-only state, dropped by the estimator after fit.
    net.augment = resolve_augmentation("auto", est.input_spec_.sample_shape)
    net.generator = torch.Generator(device=net.device).manual_seed(0)
    return net


def throughput(X, args):
    net = prepared_net(X[: 2 * args.batch_size], args)
    pre = net.module_.preprocessor
    device = net.device
    print(f"model: backbone {args.backbone}, device {net.device}, batch {args.batch_size}, "
          f"precision {net.precision}, channels_last {net.channels_last}", flush=True)

    rows = []
    # skc2bin: slices of one (device) tensor, batched augmentation on the device.
    Xt, on_device = place_training_data(torch.from_numpy(X), device)
    ours = BatchIterator(net.get_dataset(Xt), args.batch_size, shuffle=True, drop_last=True, generator=torch.Generator().manual_seed(0))

    def our_views(batch):
        return net.make_views(net._to_device(batch[0]))

    batches = _cycle(lambda: iter(ours))
    _timed_row(rows, "skc2bin (batched, on-device augmentation)", net, batches, our_views, args)
    if net.channels_last:
        # The same, with the networks in the default (contiguous) memory layout.
        _set_layout(net, torch.contiguous_format)
        _timed_row(rows, "skc2bin, contiguous memory layout instead of channels-last", net, batches,
                   our_views, args)
        _set_layout(net, torch.channels_last)

    if args.image_folder:
        # skc2bin reading a torch Dataset (JPEG files decoded in DataLoader
        # workers), augmented on the device like the in-memory tensor.
        from torchvision.datasets import ImageFolder

        from skc2bin.data import default_num_workers

        folder = ImageFolder(args.image_folder)
        # Same architecture; its preprocessor reads (c, h, w) samples.
        folder_net = prepared_net(Subset(folder, range(2 * args.batch_size)), args)
        workers = default_num_workers()
        lazy = BatchIterator(folder, args.batch_size, shuffle=True, drop_last=True,
                             generator=torch.Generator().manual_seed(0), num_workers=workers,
                             pin_memory=torch.device(device).type == "cuda")

        def folder_views(batch):
            return folder_net.make_views(folder_net._to_device(batch[0]))

        batches = _cycle(lambda: iter(lazy))
        _timed_row(rows, f"skc2bin reading an ImageFolder of JPEGs ({workers} workers)", folder_net,
                   batches, folder_views, args)
        del batches, lazy

    # Conventional: per-image torchvision transforms in DataLoader workers.
    dataset = TwoViewPIL(X)
    cuda = torch.device(device).type == "cuda"

    def conventional_views(batch):
        v1, v2_ = batch
        v1 = pre.after_augment(v1.to(device, non_blocking=True))
        v2_ = pre.after_augment(v2_.to(device, non_blocking=True))
        return net._layout(v1), net._layout(v2_)

    for workers in args.workers:
        loader = DataLoader(dataset, batch_size=args.batch_size, shuffle=True, drop_last=True,
                            num_workers=workers, pin_memory=cuda, persistent_workers=workers > 0,
                            generator=torch.Generator().manual_seed(0))
        batches = _cycle(lambda: iter(loader))
        _timed_row(rows, f"conventional (PIL + torchvision per image, {workers} workers)", net,
                   batches, conventional_views, args)
        del batches, loader
    return rows


def fit_scaling(args):
    rows = []
    rng = np.random.RandomState(0)
    centers = rng.standard_normal((10, 64)) * 3
    for n in (1_000, 10_000, 100_000):
        X = (centers[rng.randint(0, 10, n)] + rng.standard_normal((n, 64))).astype(np.float32)
        t0 = time.perf_counter()
        C2BINClusterer(n_clusters=10, max_epochs=3, device=args.device, random_state=0).fit(X)
        rows.append((n, time.perf_counter() - t0))
        print(f"fit on {n:,} vectors (3 epochs): {rows[-1][1]:.1f} s", flush=True)
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--backbone", default="auto")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--n", type=int, default=10_000, help="CIFAR-10 test images used")
    parser.add_argument("--warmup", type=int, default=5, help="untimed batches")
    parser.add_argument("--batches", type=int, default=30, help="timed batches")
    parser.add_argument("--workers", type=int, nargs="+",
                        default=sorted({1, os.cpu_count() or 1}), help="conventional DataLoader workers")
    parser.add_argument("--image-folder", default=None,
                        help="also time reading this ImageFolder (e.g. the unpacked CIFAR-10 test split)")
    parser.add_argument("--skip-scaling", action="store_true")
    args = parser.parse_args()
    print(versions())
    X, _ = cifar10("test")
    X = X[: args.n]
    print(f"CIFAR-10 test images {X.shape}, uint8\n", flush=True)

    rows = throughput(X, args)
    base = max(rate for name, rate in rows if name.startswith("conventional"))
    print("\n| pipeline | samples/s (two views each) | ratio to the best conventional |")
    print("|---|---|---|")
    for name, rate in rows:
        print(f"| {name} | {rate:.0f} | {rate / base:.2f} |")

    if not args.skip_scaling:
        print()
        scaling = fit_scaling(args)
        print("\n| vectors (64 features) | fit s (3 epochs) | s per 1,000 samples |")
        print("|---|---|---|")
        for n, secs in scaling:
            print(f"| {n:,} | {secs:.1f} | {secs / n * 1000:.3f} |")


if __name__ == "__main__":
    main()
