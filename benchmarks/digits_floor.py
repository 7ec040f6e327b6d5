"""Digits quality at the settings of the integration test, over several seeds.

Fits C2BINClusterer on scikit-learn's digits as 8x8 images (the integration
test's settings: defaults but ``max_epochs`` and ``random_state``) for each
seed, and KMeans on the raw pixels in the same process, and prints ACC
(Hungarian), NMI, ARI and fit wall time as a Markdown table for
docs/benchmarks.md. Train and score on the same 1,797 images (clustering
is transductive here; labels are used only for scoring).

Run:  python benchmarks/digits_floor.py [--seeds 0 1 2] [--epochs 100] [--threads N] [--smoke]
"""

import sys
import time
from pathlib import Path

from sklearn.cluster import KMeans
from sklearn.datasets import load_digits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import benchmark_parser, model_params, parse_args, scores, smoke_subset, table_header  # noqa: E402
from _common import table_row, versions  # noqa: E402

from skc2bin import C2BINClusterer  # noqa: E402


def main():
    parser = benchmark_parser(__doc__)
    parser.add_argument("--epochs", type=int, default=100, help="max_epochs (default: %(default)s)")
    args = parse_args(parser)
    params = model_params(args, max_epochs=args.epochs)

    X, y = smoke_subset(*load_digits(return_X_y=True), args)
    c2bin, kmeans = [], []
    for seed in args.seeds:
        t0 = time.perf_counter()
        est = C2BINClusterer(n_clusters=10, image_shape=(8, 8), random_state=seed, **params).fit(X)
        c2bin.append((*scores(y, est.labels_), time.perf_counter() - t0))
        t0 = time.perf_counter()
        km = KMeans(n_clusters=10, n_init=10, random_state=seed).fit(X)
        kmeans.append((*scores(y, km.labels_), time.perf_counter() - t0))
        print(f"seed {seed}: C2BIN ACC {c2bin[-1][0]:.3f}  KMeans ACC {kmeans[-1][0]:.3f}", flush=True)

    print(f"\n{versions()}")
    print(f"seeds {args.seeds}, max_epochs {params['max_epochs']}\n")
    print(table_header("method", "ACC", "NMI", "ARI", "fit s"))
    print(table_row("C2BIN (head)", c2bin))
    print(table_row("KMeans (pixels)", kmeans))


if __name__ == "__main__":
    main()
