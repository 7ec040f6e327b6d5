"""Feature-vector defaults: variations of the augmentation strength and training length.

Digits as 64 feature vectors (MLP backbone) are where C2BIN trails UMAP + GMM
(benchmarks/quality.py). This fits C2BINClusterer(n_clusters=10, random_state=seed) with the
defaults and with one change at a time — the SCARF-style corruption rate and the Gaussian noise of
:class:`skc2bin.augment.FeatureAugment` (defaults 0.2 and 0.1), or 3× the epochs — and reports
ACC per seed and the mean fit time.

Run:  python benchmarks/vector_defaults.py [--seeds 0 1] [--threads N] [--smoke]
"""

import sys
import time
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import benchmark_parser, markdown_row, model_params, parse_args, scores, smoke_subset  # noqa: E402
from _common import table_header, versions  # noqa: E402

from skc2bin import C2BINClusterer  # noqa: E402
from skc2bin.augment import FeatureAugment  # noqa: E402


def variants(epochs):
    """Variant name -> C2BINClusterer parameters, for fits of ``epochs`` epochs by default."""
    return {
        f"defaults (corruption 0.2, noise 0.1, {epochs} epochs)": {},
        "corruption 0.1, noise 0.05": dict(augmentation=FeatureAugment(0.1, 0.05)),
        "corruption 0.4": dict(augmentation=FeatureAugment(0.4, 0.1)),
        "corruption 0.6, no noise (SCARF's rate)": dict(augmentation=FeatureAugment(0.6, 0.0)),
        "noise 0.3": dict(augmentation=FeatureAugment(0.2, 0.3)),
        f"{3 * epochs} epochs": dict(max_epochs=3 * epochs),
    }


def main():
    args = parse_args(benchmark_parser(__doc__, seeds=(0, 1)))
    base = model_params(args, max_epochs=C2BINClusterer().max_epochs)
    print(versions())
    X, y = smoke_subset(*load_digits(return_X_y=True), args)
    print(f"digits as {X.shape[1]} feature vectors, seeds {args.seeds}\n")
    print(table_header("variant", "ACC per seed", "mean ACC", "fit s"))
    for name, params in variants(base["max_epochs"]).items():
        accs, secs = [], []
        for seed in args.seeds:
            t0 = time.perf_counter()
            est = C2BINClusterer(n_clusters=10, random_state=seed, **{**base, **params}).fit(X)
            secs.append(time.perf_counter() - t0)
            accs.append(scores(y, est.labels_)[0])
        print(markdown_row(name, " / ".join(f"{a:.3f}" for a in accs), f"{np.mean(accs):.3f}", f"{np.mean(secs):.0f}"),
              flush=True)


if __name__ == "__main__":
    main()
