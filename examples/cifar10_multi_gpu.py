"""
CIFAR-10 on several GPUs and machines, with torchrun
=====================================================

The script of :doc:`cifar10_gpu`, trained data-parallel: ``torchrun`` starts
one process per GPU, each runs this script, and
:class:`~skc2bin.C2BINClusterer` (``distributed='auto'``) sees that and trains
with PyTorch's DistributedDataParallel over NCCL. Nothing in the fitting
code is specific to several GPUs; only the printing and saving are done by
one process (rank 0), so they happen once.

This script is not run when the documentation is built (it needs GPUs and the
CIFAR-10 images). Unpack the image folder as for ``examples/cifar10_gpu.py``::

    mkdir -p /tmp/cifar10 && tar -xzf ../shared/data/cifar10-jpeg.tar.gz -C /tmp/cifar10

then, on one machine with 8 GPUs::

    torchrun --nproc_per_node 8 examples/cifar10_multi_gpu.py /tmp/cifar10 --epochs 200

or on 4 machines with 8 GPUs each (run on every machine; ``HOST:PORT`` is one of
them, reachable from the others)::

    torchrun --nnodes 4 --nproc_per_node 8 --rdzv_backend c10d --rdzv_endpoint HOST:PORT \\
        examples/cifar10_multi_gpu.py /tmp/cifar10 --epochs 200

``--batch-size`` is the *global* batch: with 8 processes and the default 1024,
each GPU steps on 128 images (it must be divisible by the number of
processes). Every process reads the whole image folder; each takes its share
of every batch. After ``fit`` every process holds the same model and
``labels_``; rank 0 prints the scores, saves the model and the pictures.

For a quick check on a CPU, two gloo processes, a few images per class and one
epoch::

    torchrun --nproc_per_node 2 examples/cifar10_multi_gpu.py /tmp/cifar10 \\
        --per-class 20 --epochs 1 --device cpu --batch-size 64
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch.distributed as dist
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from torch.utils.data import Subset
from torchvision.datasets import ImageFolder

from skc2bin import C2BINClusterer
from skc2bin.metrics import clustering_accuracy


def image_folder(folder, per_class=None):
    """torchvision's ImageFolder over ``folder/<class>/*`` and its labels (read lazily)."""
    dataset = ImageFolder(folder)
    targets = np.asarray(dataset.targets)
    if per_class is not None:
        keep = np.concatenate([np.flatnonzero(targets == c)[:per_class] for c in range(len(dataset.classes))])
        return Subset(dataset, keep.tolist()), targets[keep], dataset.classes
    return dataset, targets, dataset.classes


def scores(y, labels):
    return (clustering_accuracy(y, labels), normalized_mutual_info_score(y, labels),
            adjusted_rand_score(y, labels))


def is_main_process():
    """Rank 0 of the job (or the only process)."""
    return not dist.is_initialized() or dist.get_rank() == 0


def main():
    parser = argparse.ArgumentParser(description="C2BIN on CIFAR-10 on several GPUs (launch with torchrun).")
    parser.add_argument("root", help="folder holding train/<class>/*.jpg and test/<class>/*.jpg")
    parser.add_argument("--epochs", type=int, default=200, help="max_epochs (default: 200)")
    parser.add_argument("--batch-size", type=int, default=1024,
                        help="global batch over all processes (default: 1024)")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu", "auto"])
    parser.add_argument("--per-class", type=int, default=None,
                        help="read only this many images per class (quick checks)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="cifar10_multi_gpu", help="prefix of the saved model and pictures")
    args = parser.parse_args()

    X_train, y_train, classes = image_folder(Path(args.root) / "train", args.per_class)
    X_test, y_test, _ = image_folder(Path(args.root) / "test", args.per_class)

    est = C2BINClusterer(
        n_clusters=10, backbone="resnet18", device=args.device, max_epochs=args.epochs,
        batch_size=args.batch_size, random_state=args.seed, verbose=1,
    )
    t0 = time.perf_counter()
    est.fit(X_train)  # data-parallel over the processes torchrun started
    fit_seconds = time.perf_counter() - t0

    test_labels = est.predict(X_test)  # every process can predict; each predicts all of X_test
    if not is_main_process():
        return
    world = dist.get_world_size() if dist.is_initialized() else 1
    print(f"{len(X_train)} train and {len(X_test)} test images; fit: {fit_seconds:.0f} s "
          f"on {world} process(es), global batch {args.batch_size}")
    print(f"\n{'split':<8}{'ACC':>7}{'NMI':>7}{'ARI':>7}")
    for split, y, labels in (("train", y_train, est.labels_), ("test", y_test, test_labels)):
        print(f"{split:<8}" + "".join(f"{v:7.3f}" for v in scores(y, labels)))

    est.save(f"{args.out}.safetensors")
    from skc2bin.plotting import plot_confusion_matrix, plot_training_history

    fig = plot_confusion_matrix(y_test, test_labels, class_names=classes,
                                title="C2BIN on CIFAR-10 test images (clusters matched to classes)")
    fig.savefig(f"{args.out}_confusion.png", dpi=120, bbox_inches="tight")
    fig = plot_training_history(est, title="C2BIN on CIFAR-10: training history")
    fig.savefig(f"{args.out}_history.png", dpi=120, bbox_inches="tight")
    print(f"saved {args.out}.safetensors, {args.out}_confusion.png and {args.out}_history.png")


if __name__ == "__main__":
    main()
