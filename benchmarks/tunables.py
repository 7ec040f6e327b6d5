"""Settle the two *tunable* choices of docs/method.md by measurement.

1. The target network's BatchNorm running statistics: copied from the online network after each
   step (``buffers='copy'``, the default) or averaged like the weights (``buffers='ema'``).
2. Several cluster heads (one per entry of ``n_clusters``): their losses averaged
   (``combine_heads='mean'``, the default) or summed (``'sum'``, so each extra scale adds weight).

Every variant fits C2BINClusterer(n_clusters=(10, 100), random_state=seed) with all other
parameters default, on the same data in the same process, and reports the primary head's
ACC/NMI/ARI, the 10-NN accuracy of ``transform`` (5-fold) and fit wall time, mean ± std over seeds.
The estimator does not expose the variants as parameters: a callback passed through its public
``callbacks`` parameter sets them on the skorch net when training begins.

Run:  python benchmarks/tunables.py [--size 8] [--seeds 0 1 2] [--epochs 100] [--threads N] [--smoke]
"""

import sys
from pathlib import Path

from skorch.callbacks import Callback

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import benchmark_parser, fit_scored, model_params, parse_args, smoke_subset  # noqa: E402
from _common import table_header, table_row, versions  # noqa: E402
from _data import digits_images  # noqa: E402

from skc2bin import C2BINClusterer  # noqa: E402
from skc2bin.training import EMA_CALLBACK  # noqa: E402

VARIANTS = {
    "BN copy, heads mean (default)": dict(buffers="copy", combine_heads="mean"),
    "BN ema, heads mean": dict(buffers="ema", combine_heads="mean"),
    "BN copy, heads sum": dict(buffers="copy", combine_heads="sum"),
}


class SetVariant(Callback):
    """Set the EMA target's buffer rule and the criterion's head combination when training begins."""

    def __init__(self, buffers="copy", combine_heads="mean"):
        self.buffers = buffers
        self.combine_heads = combine_heads

    def on_train_begin(self, net, **kwargs):
        net.criterion_.combine_heads = self.combine_heads
        dict(net.callbacks_)[EMA_CALLBACK].buffers = self.buffers


def main():
    parser = benchmark_parser(__doc__)
    parser.add_argument("--size", type=int, default=8, help="image side in pixels (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="max_epochs of every fit (default: the estimator's default)")
    args = parse_args(parser)
    print(versions())
    X, y = smoke_subset(*digits_images(args.size), args)
    params = model_params(args, **({} if args.epochs is None else dict(max_epochs=args.epochs)))
    epochs = params.get("max_epochs", C2BINClusterer().max_epochs)
    print(f"digits {args.size}x{args.size} images, n_clusters=(10, 100), {epochs} epochs, seeds {args.seeds}\n")
    rows = {}
    for name, variant in VARIANTS.items():
        for seed in args.seeds:
            est = C2BINClusterer(n_clusters=(10, 100), random_state=seed, callbacks=[SetVariant(**variant)],
                                 **params)
            result, secs = fit_scored(est, X, y, seed, name)
            rows.setdefault(name, []).append((*result, secs))
    print()
    print(table_header("variant", "ACC", "NMI", "ARI", "k-NN acc. of transform", "fit s"))
    for name, results in rows.items():
        print(table_row(name, results))


if __name__ == "__main__":
    main()
