"""
CIFAR-10 on one or several GPUs, from an image folder
=====================================================

Clusters CIFAR-10's 32×32 colour images with the CIFAR-style ResNet-18
backbone on a CUDA GPU. The images are read from an *image folder*, one
sub-folder per class (``<root>/<split>/<class>/<name>.jpg``), as many image
data sets are distributed, through torchvision's ``ImageFolder``: the estimator
takes the torch Dataset itself and decodes the images batch by batch in
DataLoader workers, so the data never have to fit in memory. The class folder
names are used only to score the clusters, never to train.

This script is not run when the documentation is built (it needs a GPU and
the CIFAR-10 images). Its data: the archive ``shared/data/cifar10-jpeg.tar.gz``
next to the project holds ``train/<class>/NNNN.jpg`` (50,000 images) and
``test/<class>/NNNN.jpg`` (10,000 images) as JPEG files, slightly blurrier
than CIFAR-10's original pixels, so scores are close to, not exactly
comparable with, published CIFAR-10 results. Unpack it, then run::

    mkdir -p /tmp/cifar10 && tar -xzf ../shared/data/cifar10-jpeg.tar.gz -C /tmp/cifar10
    python examples/cifar10_gpu.py /tmp/cifar10 --epochs 200

It fits :class:`~skc2bin.C2BINClusterer` with the recipe of the user guide's
"Photographs on a GPU" (``backbone='resnet18'``, batch 1024, ``lr=2.8e-3``,
warm-up and cosine decay, ``compile=True``, no refinement phase) and
``device='cuda'`` on the training split, prints ACC/NMI/ARI of the training
clusters (``labels_``) and of ``predict`` on the test split, and saves a
confusion matrix and the training history as PNG files. Deep clustering
results on CIFAR-10 are usually reported after hundreds of epochs; how many
fit your time depends on the GPU (``verbose=1`` prints the seconds per
epoch; ``benchmarks/cifar10.py`` fits as many epochs as a time budget allows).

For a quick check of the script on a CPU, read a few images per class and
train one epoch: ``--per-class 20 --epochs 1 --device cpu``.

**Several GPUs and machines.** The same script, unchanged, trains
data-parallel when ``torchrun`` starts it: one process per GPU, each running
this script; :class:`~skc2bin.C2BINClusterer` (``distributed='auto'``) sees
the launch and trains with PyTorch's DistributedDataParallel over NCCL. On
one machine with 8 GPUs::

    torchrun --nproc_per_node 8 examples/cifar10_gpu.py /tmp/cifar10 --epochs 200

or on 4 machines with 8 GPUs each (run on every machine; ``HOST:PORT`` is one
of them, reachable from the others)::

    torchrun --nnodes 4 --nproc_per_node 8 --rdzv_backend c10d --rdzv_endpoint HOST:PORT \\
        examples/cifar10_gpu.py /tmp/cifar10 --epochs 200

``--batch-size`` (default 1024) is then the *global* batch: with 8 processes, each
GPU steps on 128 images (it must be divisible by the number of processes).
Every process reads the whole image folder and takes its share of every
batch. After ``fit`` every process holds the same model and ``labels_``; only
rank 0 prints and saves, so the output appears once. Two gloo processes on a
CPU check the launch::

    torchrun --nproc_per_node 2 examples/cifar10_gpu.py /tmp/cifar10 \\
        --per-class 20 --epochs 1 --device cpu --batch-size 64
"""

import argparse
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from torch.utils.data import Subset
from torchvision.datasets import ImageFolder

from skc2bin import C2BINClusterer
from skc2bin.metrics import clustering_accuracy
from skc2bin.plotting import plot_confusion_matrix, plot_training_history


def image_folder(folder, per_class=None):
    """torchvision's ImageFolder over ``folder/<class>/*`` and its labels.

    The images are read lazily, batch by batch, by worker processes while
    the model trains (C2BINClusterer accepts a torch Dataset as ``X``);
    nothing is decoded up front. With ``per_class``, only the first that
    many images of each class are used.
    """
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
    """Rank 0 of a torchrun job, or the only process."""
    return not dist.is_initialized() or dist.get_rank() == 0


def main():
    parser = argparse.ArgumentParser(description="C2BIN on CIFAR-10 from an image folder (GPU).")
    parser.add_argument("root", help="folder holding train/<class>/*.jpg and test/<class>/*.jpg")
    parser.add_argument("--epochs", type=int, default=200, help="max_epochs (default: 200)")
    parser.add_argument("--batch-size", type=int, default=1024, help="global batch (default: 1024)")
    parser.add_argument("--lr", type=float, default=2.8e-3,
                        help="learning rate (default: 2.8e-3, the recipe's for batch 1024)")
    parser.add_argument("--refine", action="store_true",
                        help="run the refinement phase (off: it lowered CIFAR-10's accuracy in every GPU run)")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu", "auto"])
    parser.add_argument("--per-class", type=int, default=None,
                        help="read only this many images per class (quick checks)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="cifar10", help="prefix of the saved model and pictures")
    args = parser.parse_args()

    X_train, y_train, classes = image_folder(Path(args.root) / "train", args.per_class)
    X_test, y_test, _ = image_folder(Path(args.root) / "test", args.per_class)

    # The recipe of docs/user_guide/photographs.rst; torch.compile pays off in long GPU fits only.
    on_gpu = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    est = C2BINClusterer(
        n_clusters=10, backbone="resnet18", device=args.device, max_epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, lr_schedule="cosine", compile=on_gpu,
        refine="neighbors" if args.refine else None, random_state=args.seed, verbose=1,
    )
    t0 = time.perf_counter()
    est.fit(X_train)  # data-parallel when torchrun started several processes
    fit_seconds = time.perf_counter() - t0

    test_labels = est.predict(X_test)  # every process predicts all of X_test
    if not is_main_process():
        return
    world = dist.get_world_size() if dist.is_initialized() else 1
    print(f"{len(X_train)} train and {len(X_test)} test images; classes: {', '.join(classes)}")
    print(f"fit: {fit_seconds:.0f} s on {world} process(es) ({est.device_}), global batch {args.batch_size}")
    print(f"\n{'split':<8}{'ACC':>7}{'NMI':>7}{'ARI':>7}")
    for split, y, labels in (("train", y_train, est.labels_), ("test", y_test, test_labels)):
        print(f"{split:<8}" + "".join(f"{v:7.3f}" for v in scores(y, labels)))

    fig = plot_confusion_matrix(y_test, test_labels, class_names=classes,
                                title="C2BIN on CIFAR-10 test images (clusters matched to classes)")
    fig.savefig(f"{args.out}_confusion.png", dpi=120, bbox_inches="tight")
    fig = plot_training_history(est, title="C2BIN on CIFAR-10: training history")
    fig.savefig(f"{args.out}_history.png", dpi=120, bbox_inches="tight")
    est.save(f"{args.out}.safetensors")  # once, on rank 0: every process holds the same model
    print(f"saved {args.out}.safetensors, {args.out}_confusion.png and {args.out}_history.png")


if __name__ == "__main__":
    main()
