"""Digits quality at the settings of the integration test, over several seeds.

Fits C2BINClusterer on scikit-learn's digits as 8x8 images (the integration
test's settings: defaults but ``max_epochs`` and ``random_state``) for each
seed, and KMeans on the raw pixels in the same process, and prints ACC
(Hungarian), NMI, ARI and fit wall time as a Markdown table for
docs/benchmarks.md. Train and score on the same 1,797 images (clustering
is transductive here; labels are used only for scoring).

Run:  python benchmarks/digits_floor.py [--seeds 0 1 2] [--epochs 100]
"""

import argparse
import platform
import time

import numpy as np
import sklearn
import skorch
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import load_digits
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

import skc2bin
from skc2bin import C2BINClusterer
from skc2bin.metrics import clustering_accuracy


def _scores(y, labels):
    return (clustering_accuracy(y, labels), normalized_mutual_info_score(y, labels),
            adjusted_rand_score(y, labels))


def _row(name, results):
    arr = np.array(results)
    cells = [f"{m:.3f} ± {s:.3f}" for m, s in zip(arr.mean(0), arr.std(0))]
    return f"| {name} | " + " | ".join(cells) + " |"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=100)
    args = parser.parse_args()

    X, y = load_digits(return_X_y=True)
    c2bin, kmeans = [], []
    for seed in args.seeds:
        t0 = time.perf_counter()
        est = C2BINClusterer(n_clusters=10, image_shape=(8, 8), max_epochs=args.epochs,
                             random_state=seed).fit(X)
        c2bin.append((*_scores(y, est.labels_), time.perf_counter() - t0))
        t0 = time.perf_counter()
        km = KMeans(n_clusters=10, n_init=10, random_state=seed).fit(X)
        kmeans.append((*_scores(y, km.labels_), time.perf_counter() - t0))
        print(f"seed {seed}: C2BIN ACC {c2bin[-1][0]:.3f}  KMeans ACC {kmeans[-1][0]:.3f}", flush=True)

    print(f"\nmachine: {platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"python {platform.python_version()}, torch {torch.__version__}, "
          f"scikit-learn {sklearn.__version__}, skorch {skorch.__version__}, skc2bin {skc2bin.__version__}")
    print(f"seeds {args.seeds}, max_epochs {args.epochs}\n")
    print("| method | ACC | NMI | ARI | fit s |")
    print("|---|---|---|---|---|")
    print(_row("C2BIN (head)", c2bin))
    print(_row("KMeans (pixels)", kmeans))


if __name__ == "__main__":
    main()
