"""Clustering quality of C2BIN with its defaults beside classic baselines, on the same data in one run.

For every data set and every seed: C2BINClusterer(n_clusters=k, random_state=seed), every other
parameter default (the backbone and augmentations are picked from the input's shape: images vs
feature vectors, and the image size); KMeans (n_init=10), spectral clustering (nearest-neighbour
affinity) and UMAP (10 components, min_dist=0) + a Gaussian mixture on the same inputs, flattened
(pixels as they are; feature vectors standardised). Reports ACC (Hungarian), NMI, ARI and fit wall
time, mean ± std over the seeds, as Markdown tables for docs/benchmarks.md. Fitted and scored on the
same samples; labels are used only for scoring.

Data sets (all local): scikit-learn's digits as 8x8 images, the same images upscaled (bilinear)
to 16x16 and 28x28 (same information, other sizes: defaults must scale with the image), and
digits as 64 feature vectors.

Run:  python benchmarks/quality.py [--data digits8 digits16 digits28 digits-vectors]
                                   [--seeds 0 1 2] [--methods c2bin kmeans spectral umap-gmm]
                                   [--threads N] [--smoke]
UMAP needs the benchmark extra:  pip install -e '.[benchmark]'
``--smoke`` (200 samples, one small epoch, one seed) leaves UMAP + GMM out unless ``--methods``
names it: importing UMAP alone takes seconds to tens of seconds.
"""

import sys
import time
import warnings
from functools import partial
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans, SpectralClustering
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import benchmark_parser, model_params, parse_args, scores, smoke_subset  # noqa: E402
from _common import table_header, table_row, versions  # noqa: E402
from _data import digits_images  # noqa: E402

from skc2bin import C2BINClusterer  # noqa: E402

DATASETS = {
    "digits8": lambda: digits_images(8),
    "digits16": lambda: digits_images(16),
    "digits28": lambda: digits_images(28),
    "digits-vectors": lambda: (lambda X, y: (X.reshape(len(X), -1), y))(*digits_images(8)),
}


def _flat(X):
    """Baselines' input: flattened pixels; feature vectors standardised."""
    if X.ndim == 2:
        return StandardScaler().fit_transform(X)
    return X.reshape(len(X), -1).astype(np.float64)


def c2bin(X, k, seed, **params):
    return C2BINClusterer(n_clusters=k, random_state=seed, **params).fit(X).labels_


def kmeans(X, k, seed):
    return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(_flat(X))


def spectral(X, k, seed):
    return SpectralClustering(
        n_clusters=k, affinity="nearest_neighbors", n_neighbors=10, random_state=seed
    ).fit_predict(_flat(X))


def umap_gmm(X, k, seed):
    import umap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "n_jobs overridden by random_state"
        Z = umap.UMAP(n_components=10, n_neighbors=15, min_dist=0.0, random_state=seed).fit_transform(_flat(X))
    return GaussianMixture(n_components=k, n_init=5, random_state=seed).fit_predict(Z)


METHODS = {"c2bin": ("C2BIN (defaults)", c2bin), "kmeans": ("KMeans", kmeans),
           "spectral": ("spectral (k-NN affinity)", spectral), "umap-gmm": ("UMAP + GMM", umap_gmm)}


def main():
    parser = benchmark_parser(__doc__)
    parser.add_argument("--data", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    parser.add_argument("--methods", nargs="+", default=None, choices=list(METHODS),
                        help="default: all (all but umap-gmm with --smoke)")
    args = parse_args(parser)
    methods = args.methods or [m for m in METHODS if not (args.smoke and m == "umap-gmm")]
    print(versions())
    print(f"seeds {args.seeds}")
    for name in args.data:
        X, y = smoke_subset(*DATASETS[name](), args)
        k = len(np.unique(y))
        rows = {}
        for seed in args.seeds:
            for method in methods:
                label, fn = METHODS[method]
                if method == "c2bin":
                    fn = partial(fn, **model_params(args))
                t0 = time.perf_counter()
                labels = fn(X, k, seed)
                rows.setdefault(label, []).append((*scores(y, labels), time.perf_counter() - t0))
                print(f"{name} seed {seed} {label}: ACC {rows[label][-1][0]:.3f} "
                      f"({rows[label][-1][3]:.1f} s)", flush=True)
        print(f"\n{name}: X {X.shape}, {k} classes\n")
        print(table_header("method", "ACC", "NMI", "ARI", "fit s"))
        for label, results in rows.items():
            print(table_row(label, results))
        print(flush=True)


if __name__ == "__main__":
    main()
