"""Defaults on data sets the integration test does not use (a survey for the quality work).

C2BINClusterer with defaults (only n_clusters = number of classes, random_state=0) on
scikit-learn's iris, wine, breast cancer and digits as 64-feature vectors, beside KMeans on the
standardised features in the same process; then digits upscaled (bilinear) to 16x16 images.
Fitted and scored on the same samples.

Run:  python benchmarks/defaults_survey.py [--threads N] [--smoke]
"""

import sys
import time
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.preprocessing import StandardScaler

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import benchmark_parser, markdown_row, model_params, parse_args, scores, smoke_subset  # noqa: E402
from _common import table_header, versions  # noqa: E402
from _data import digits_images  # noqa: E402

from skc2bin import C2BINClusterer  # noqa: E402

DATASETS = {
    "iris": lambda: load_iris(return_X_y=True),
    "wine": lambda: load_wine(return_X_y=True),
    "breast cancer": lambda: load_breast_cancer(return_X_y=True),
    "digits as vectors": lambda: load_digits(return_X_y=True),
    "digits 16x16 images": lambda: digits_images(16),
}


def main():
    args = parse_args(benchmark_parser(__doc__, seeds=None))
    print(versions() + "\n")
    print(table_header("data", "C2BIN ACC", "C2BIN NMI", "C2BIN fit s", "KMeans ACC", "KMeans NMI"))
    for name, load in DATASETS.items():
        X, y = smoke_subset(*load(), args)
        k = len(np.unique(y))
        t0 = time.perf_counter()
        est = C2BINClusterer(n_clusters=k, random_state=0, **model_params(args)).fit(X)
        secs = time.perf_counter() - t0
        # KMeans on standardised features; on images, on the pixels as they are.
        flat = X.reshape(len(X), -1) if X.ndim > 2 else StandardScaler().fit_transform(X)
        km = KMeans(k, n_init=10, random_state=0).fit_predict(flat)
        (acc, nmi, _), (km_acc, km_nmi, _) = scores(y, est.labels_), scores(y, km)
        print(markdown_row(name, f"{acc:.3f}", f"{nmi:.3f}", f"{secs:.0f}", f"{km_acc:.3f}", f"{km_nmi:.3f}"),
              flush=True)


if __name__ == "__main__":
    main()
