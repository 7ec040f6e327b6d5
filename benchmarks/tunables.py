"""Settle the two *tunable* choices of docs/method.md by measurement.

1. The target network's BatchNorm running statistics: copied from the online network after each
   step (``buffers='copy'``, the default) or averaged like the weights (``buffers='ema'``).
2. Several cluster heads (one per entry of ``n_clusters``): their losses averaged
   (``combine_heads='mean'``, the default) or summed (``'sum'``, so each extra scale adds weight).

Every variant fits C2BINClusterer(n_clusters=(10, 100), random_state=seed) with all other
parameters default, on the same data in the same process, and reports the primary head's
ACC/NMI/ARI, the 10-NN accuracy of ``transform`` (5-fold) and fit wall time, mean ± std over seeds.
The variants are set on the built skorch net (the estimator does not expose them as parameters).

Run:  python benchmarks/tunables.py [--size 8] [--seeds 0 1 2]
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _data import digits_images  # noqa: E402
from multiscale import knn_accuracy  # noqa: E402
from quality import scores, table_row, versions  # noqa: E402

from skc2bin import C2BINClusterer  # noqa: E402

VARIANTS = {
    "BN copy, heads mean (default)": dict(buffers="copy", combine_heads="mean"),
    "BN ema, heads mean": dict(buffers="ema", combine_heads="mean"),
    "BN copy, heads sum": dict(buffers="copy", combine_heads="sum"),
}


class VariantClusterer(C2BINClusterer):
    """C2BINClusterer whose EMA-buffer rule and head combination are set after the net is built.

    They are plain attributes, not constructor parameters, so scikit-learn's
    parameter handling of the base class is untouched.
    """

    buffers = "copy"
    combine_heads = "mean"

    def _build_net(self, network, batch_size, total_steps, device):
        net = super()._build_net(network, batch_size, total_steps, device)
        net.criterion_.combine_heads = self.combine_heads
        dict(net.callbacks_)["ema_target"].buffers = self.buffers
        return net


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=8)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    print(versions())
    X, y = digits_images(args.size)
    print(f"digits {args.size}x{args.size} images, n_clusters=(10, 100), seeds {args.seeds}\n")
    rows = {}
    for name, variant in VARIANTS.items():
        for seed in args.seeds:
            t0 = time.perf_counter()
            est = VariantClusterer(n_clusters=(10, 100), random_state=seed)
            vars(est).update(variant)
            est.fit(X)
            secs = time.perf_counter() - t0
            result = (*scores(y, est.labels_), knn_accuracy(est.transform(X), y, seed), secs)
            rows.setdefault(name, []).append(result)
            print(f"{name}, seed {seed}: ACC {result[0]:.3f} k-NN {result[3]:.3f} ({secs:.0f} s)", flush=True)
    print("\n| variant | ACC | NMI | ARI | k-NN acc. of transform | fit s |")
    print("|---|---|---|---|---|---|")
    for name, results in rows.items():
        print(table_row(name, results))


if __name__ == "__main__":
    main()
