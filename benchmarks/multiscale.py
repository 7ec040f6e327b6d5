"""Multi-scale ablation: do extra cluster heads help the primary head and the embeddings?

Fits C2BINClusterer(n_clusters=scales, random_state=seed), every other parameter default, for
scales (10,), (10, 30), (10, 100) and (10, 30, 100), on digits images (8x8 by default), and
reports for the primary (10-cluster) head ACC, NMI, ARI, and for the embeddings (``transform``
output) the 10-nearest-neighbour accuracy under 5-fold stratified cross-validation (labels are used
only for this probe), plus fit wall time; mean ± std over the seeds. The same two measures taken on
the EMA target's backbone instead of the online one answer whether inference should use the target. For the finer heads, the
fraction of each fine cluster that falls in its majority coarse cluster (nesting, 1 = perfectly
nested) is reported too.

Run:  python benchmarks/multiscale.py [--size 8] [--seeds 0 1 2]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import digits_images  # noqa: E402
from quality import scores, table_row, versions  # noqa: E402

from skc2bin import C2BINClusterer  # noqa: E402

SCALES = [(10,), (10, 30), (10, 100), (10, 30, 100)]


def knn_accuracy(embedding, y, seed):
    """Mean 5-fold accuracy of a 10-nearest-neighbour classifier on ``embedding``."""
    cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    return cross_val_score(KNeighborsClassifier(n_neighbors=10), embedding, y, cv=cv).mean()


@torch.no_grad()
def target_network_outputs(est, X):
    """Embedding of the EMA target's backbone, and the primary head's labels on it.

    C2BIN's inference uses the online network; BYOL evaluates the online
    one too, but the target is a smoothed average of it, so this measures
    whether predicting from the target would be better.
    """
    online = est.net_.module_
    target = est.net_.target_.eval()
    online.eval()
    x = online.preprocessor(torch.as_tensor(X, dtype=torch.float32))
    y = target.backbone(x)
    return y.numpy(), online.heads[0](y).argmax(1).numpy()


def nesting(coarse, fine):
    """Share of samples whose fine cluster's majority coarse cluster is their own coarse cluster."""
    agree = 0
    for c in np.unique(fine):
        agree += np.bincount(coarse[fine == c]).max()
    return agree / len(fine)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    print(versions())
    X, y = digits_images(args.size)
    print(f"digits {args.size}x{args.size} images, seeds {args.seeds}\n")
    rows, nests = {}, {}
    for scales in SCALES:
        for seed in args.seeds:
            t0 = time.perf_counter()
            est = C2BINClusterer(n_clusters=scales, random_state=seed).fit(X)
            secs = time.perf_counter() - t0
            emb_t, labels_t = target_network_outputs(est, X)
            result = (*scores(y, est.labels_), knn_accuracy(est.transform(X), y, seed),
                      scores(y, labels_t)[0], knn_accuracy(emb_t, y, seed), secs)
            rows.setdefault(scales, []).append(result)
            per_scale = est.labels_per_scale_
            nests.setdefault(scales, []).append(
                [nesting(per_scale[:, 0], per_scale[:, j]) for j in range(1, len(scales))]
            )
            print(f"{scales} seed {seed}: ACC {result[0]:.3f} k-NN {result[3]:.3f} ({secs:.0f} s)", flush=True)
    print("\n| n_clusters | ACC | NMI | ARI | k-NN acc. of transform | ACC, head on target backbone "
          "| k-NN acc., target backbone | fit s |")
    print("|---|---|---|---|---|---|---|---|")
    for scales, results in rows.items():
        print(table_row(str(scales), results))
    print("\n| n_clusters | nesting of the finer heads in the 10-cluster head |")
    print("|---|---|")
    for scales, values in nests.items():
        if len(scales) > 1:
            arr = np.array(values)
            cells = ", ".join(f"k={k}: {m:.3f} ± {s:.3f}" for k, m, s in zip(scales[1:], arr.mean(0), arr.std(0)))
            print(f"| {scales} | {cells} |")


if __name__ == "__main__":
    main()
