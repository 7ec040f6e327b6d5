"""Feature-vector defaults: variations of the augmentation strength and training length.

Digits as 64 feature vectors (MLP backbone) are where C2BIN trails UMAP + GMM
(benchmarks/quality.py). This fits C2BINClusterer(n_clusters=10, random_state=seed) with the
defaults and with one change at a time — the SCARF-style corruption rate and the Gaussian noise of
:class:`skc2bin.augment.FeatureAugment` (defaults 0.2 and 0.1), or 3× the epochs — and reports
ACC per seed and the mean fit time.

Run:  python benchmarks/vector_defaults.py [--seeds 0 1]
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality import versions  # noqa: E402

from skc2bin import C2BINClusterer  # noqa: E402
from skc2bin.augment import FeatureAugment  # noqa: E402
from skc2bin.metrics import clustering_accuracy  # noqa: E402

VARIANTS = {
    "defaults (corruption 0.2, noise 0.1, 100 epochs)": {},
    "corruption 0.1, noise 0.05": dict(augmentation=FeatureAugment(0.1, 0.05)),
    "corruption 0.4": dict(augmentation=FeatureAugment(0.4, 0.1)),
    "corruption 0.6, no noise (SCARF's rate)": dict(augmentation=FeatureAugment(0.6, 0.0)),
    "noise 0.3": dict(augmentation=FeatureAugment(0.2, 0.3)),
    "300 epochs": dict(max_epochs=300),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()
    print(versions())
    X, y = load_digits(return_X_y=True)
    print(f"digits as {X.shape[1]} feature vectors, seeds {args.seeds}\n")
    print("| variant | ACC per seed | mean ACC | fit s |")
    print("|---|---|---|---|")
    for name, params in VARIANTS.items():
        accs, secs = [], []
        for seed in args.seeds:
            t0 = time.perf_counter()
            est = C2BINClusterer(n_clusters=10, random_state=seed, **params).fit(X)
            secs.append(time.perf_counter() - t0)
            accs.append(clustering_accuracy(y, est.labels_))
        print(f"| {name} | {' / '.join(f'{a:.3f}' for a in accs)} | {np.mean(accs):.3f} | "
              f"{np.mean(secs):.0f} |", flush=True)


if __name__ == "__main__":
    main()
