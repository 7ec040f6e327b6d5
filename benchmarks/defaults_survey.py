"""Defaults on data sets the integration test does not use (a survey for the quality work).

C2BINClusterer with defaults (only n_clusters = number of classes, random_state=0) on
scikit-learn's iris, wine, breast cancer and digits as 64-feature vectors, beside KMeans on the
standardised features in the same process; then digits upscaled (bilinear) to 16x16 images.
Fitted and scored on the same samples.

Run:  python benchmarks/defaults_survey.py
"""

import time

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.datasets import load_breast_cancer, load_digits, load_iris, load_wine
from sklearn.metrics import normalized_mutual_info_score as nmi
from sklearn.preprocessing import StandardScaler

from skc2bin import C2BINClusterer
from skc2bin.metrics import clustering_accuracy as acc


def main():
    print("| data | C2BIN ACC | C2BIN NMI | C2BIN fit s | KMeans ACC | KMeans NMI |")
    print("|---|---|---|---|---|---|")
    for name, loader in [("iris", load_iris), ("wine", load_wine),
                         ("breast cancer", load_breast_cancer), ("digits as vectors", load_digits)]:
        X, y = loader(return_X_y=True)
        k = len(np.unique(y))
        t0 = time.perf_counter()
        est = C2BINClusterer(n_clusters=k, random_state=0).fit(X)
        secs = time.perf_counter() - t0
        km = KMeans(k, n_init=10, random_state=0).fit_predict(StandardScaler().fit_transform(X))
        print(f"| {name} | {acc(y, est.labels_):.3f} | {nmi(y, est.labels_):.3f} | {secs:.0f} | "
              f"{acc(y, km):.3f} | {nmi(y, km):.3f} |", flush=True)
    X, y = load_digits(return_X_y=True)
    X16 = torch.nn.functional.interpolate(
        torch.tensor(X.reshape(-1, 1, 8, 8), dtype=torch.float32), size=16, mode="bilinear"
    ).numpy()[:, 0]
    t0 = time.perf_counter()
    est = C2BINClusterer(n_clusters=10, random_state=0).fit(X16)
    secs = time.perf_counter() - t0
    km = KMeans(10, n_init=10, random_state=0).fit_predict(X16.reshape(len(X16), -1))
    print(f"| digits 16x16 images | {acc(y, est.labels_):.3f} | {nmi(y, est.labels_):.3f} | {secs:.0f} | "
          f"{acc(y, km):.3f} | {nmi(y, km):.3f} |", flush=True)


if __name__ == "__main__":
    main()
