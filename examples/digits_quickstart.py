"""Cluster scikit-learn's handwritten digits with C2BIN.

Fits ``C2BINClusterer`` on the 1,797 8×8 digit images (rows read as images
with ``image_shape=(8, 8)``), prints clustering accuracy (ACC, Hungarian
map), NMI and ARI against the true digits beside KMeans on the same pixels,
and saves a picture of sample images per cluster.

Run:  python examples/digits_quickstart.py [--out digits_clusters.png]
"""

import argparse
import time

import matplotlib

matplotlib.use("Agg")

from sklearn.cluster import KMeans  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score  # noqa: E402

from skc2bin import C2BINClusterer  # noqa: E402
from skc2bin.metrics import clustering_accuracy  # noqa: E402
from skc2bin.plotting import plot_cluster_samples  # noqa: E402


def scores(y, labels):
    return (
        clustering_accuracy(y, labels),
        normalized_mutual_info_score(y, labels),
        adjusted_rand_score(y, labels),
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="digits_clusters.png", help="where to save the picture")
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    X, y = load_digits(return_X_y=True)
    t0 = time.perf_counter()
    est = C2BINClusterer(
        n_clusters=(10, 30), image_shape=(8, 8), max_epochs=args.epochs,
        random_state=args.seed, verbose=1,
    ).fit(X)
    c2bin_time = time.perf_counter() - t0
    t0 = time.perf_counter()
    km = KMeans(n_clusters=10, n_init=10, random_state=args.seed).fit(X)
    km_time = time.perf_counter() - t0

    print(f"\n{'method':<14}{'ACC':>7}{'NMI':>7}{'ARI':>7}{'fit s':>8}")
    for name, labels, secs in (("C2BIN", est.labels_, c2bin_time), ("KMeans", km.labels_, km_time)):
        acc, nmi, ari = scores(y, labels)
        print(f"{name:<14}{acc:7.3f}{nmi:7.3f}{ari:7.3f}{secs:8.1f}")

    fig = plot_cluster_samples(
        X.reshape(-1, 8, 8), est.labels_,
        title=f"C2BIN on digits: 10 samples per cluster (ACC {scores(y, est.labels_)[0]:.3f})",
    )
    fig.savefig(args.out, dpi=120)
    print(f"saved {args.out}")


if __name__ == "__main__":
    main()
