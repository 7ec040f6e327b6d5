"""The small CNN's working size: how far larger images are average-pooled before the convolutions.

The default backbone for images (``backbone='auto'``, :class:`skc2bin.networks.SmallCNN`) first
average-pools an image whose longer side exceeds ``working_size`` (default 12) by the smallest
integer factor that brings it to at most that size: 16x16 -> 8x8, 28x28 -> 10x10. This script fits
``C2BINClusterer(n_clusters=10, random_state=seed)`` with every other parameter default on digits
upscaled to ``--sizes`` pixels, once per working size in ``--working-sizes``. The default working
size runs ``backbone='auto'``: the default fit itself. Another one passes
``backbone=SmallCNN(1, (size, size), 128, working_size=w)``, the 'auto' backbone with that working
size, its weights seeded from ``random_state`` as the estimator seeds its own. A working size that
gives the same pooling factor as one already run for that image size is skipped (it is the same
model). Reports ACC per seed, the mean and the worst seed, NMI and ARI (mean and worst) and the fit
time, as a ratio to the default working size's fits of the same seeds, run in the same process.

Run:  OMP_NUM_THREADS=1 python benchmarks/working_size.py [--sizes 28] [--working-sizes 12 14]
      [--seeds 0 1 2 3 4] [--out FILE.jsonl] [--smoke]
      python benchmarks/working_size.py --report FILE.jsonl   # the table from recorded fits

(16x16 is not in the default run: convolving it at 16x16, working size 16, is known to cluster
badly, see :class:`~skc2bin.networks.SmallCNN`; working sizes 12 and 14 pool it alike.)
"""

import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.utils import check_random_state

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import append_record, benchmark_parser, markdown_row, model_params, parse_args, read_records  # noqa: E402
from _common import scores, smoke_subset, table_header, versions  # noqa: E402
from _data import digits_images  # noqa: E402

from skc2bin import C2BINClusterer  # noqa: E402
from skc2bin.networks import SmallCNN  # noqa: E402

#: SmallCNN's default working size (what ``backbone='auto'`` uses).
DEFAULT_WORKING_SIZE = 12


def pool_factor(size, working_size):
    """SmallCNN's average-pooling factor for a ``size``-pixel image."""
    return max(1, math.ceil(size / working_size))


def fit_one(X, y, size, working_size, seed, args):
    backbone = "auto"  # the default working size: exactly the default fit
    if working_size != DEFAULT_WORKING_SIZE:
        # Weights seeded as the estimator seeds its own (a module's initialisation is the caller's).
        representation = 8 if args.smoke else 128  # the estimator's representation_size (smoke: SMOKE_PARAMS')
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(check_random_state(seed).randint(np.iinfo(np.int32).max)))
            backbone = SmallCNN(1, (size, size), representation, working_size=working_size)
    est = C2BINClusterer(n_clusters=10, random_state=seed, backbone=backbone, **model_params(args))
    t0 = time.perf_counter()
    est.fit(X)
    secs = time.perf_counter() - t0
    acc, nmi, ari = scores(y, est.labels_)
    return {"size": size, "working_size": working_size, "pooled": -(-size // pool_factor(size, working_size)),
            "seed": seed, "acc": acc, "nmi": nmi, "ari": ari, "fit_s": secs}


def summary_row(records, baseline):
    acc = [r["acc"] for r in records]
    nmi = [r["nmi"] for r in records]
    ari = [r["ari"] for r in records]
    secs = float(np.mean([r["fit_s"] for r in records]))
    ratio = secs / float(np.mean([r["fit_s"] for r in baseline]))
    first = records[0]
    return markdown_row(f"{first['size']}x{first['size']}", f"{first['working_size']} ({first['pooled']} px)",
                        " / ".join(f"{a:.3f}" for a in acc), f"{np.mean(acc):.3f}", f"{min(acc):.3f}",
                        f"{np.mean(nmi):.3f} ({min(nmi):.3f})", f"{np.mean(ari):.3f} ({min(ari):.3f})",
                        f"{secs:.0f}", f"{ratio:.2f}")


def main():
    parser = benchmark_parser(__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[28], help="image sides (default: %(default)s)")
    parser.add_argument("--working-sizes", type=int, nargs="+", default=[12, 14],
                        help="SmallCNN working sizes (default: %(default)s; the default 12 always runs first)")
    parser.add_argument("--out", default=None, help="also append one JSON line per fit to this file")
    parser.add_argument("--report", default=None, help="print the table of the fits recorded in this file, fit nothing")
    args = parse_args(parser)
    if args.report:
        records = read_records(args.report, key=("size", "working_size", "seed")).values()
        results = {}
        for r in sorted(records, key=lambda r: (r["size"], r["working_size"] != DEFAULT_WORKING_SIZE,
                                                r["working_size"], r["seed"])):
            results.setdefault((r["size"], r["working_size"]), []).append(r)
        print_table(results)
        return
    print(versions())
    working_sizes = [DEFAULT_WORKING_SIZE] + [w for w in args.working_sizes if w != DEFAULT_WORKING_SIZE]
    results = {}
    for size in args.sizes:
        X, y = smoke_subset(*digits_images(size), args)
        seen = set()
        for w in working_sizes:
            if pool_factor(size, w) in seen:
                continue
            seen.add(pool_factor(size, w))
            for seed in args.seeds:
                record = fit_one(X, y, size, w, seed, args)
                if args.out:
                    append_record(args.out, record)
                print(f"{size}x{size}, working size {w} ({record['pooled']} px), seed {seed}: "
                      f"ACC {record['acc']:.3f} ({record['fit_s']:.0f} s)", flush=True)
                results.setdefault((size, w), []).append(record)
    print_table(results)


def print_table(results):
    """One row per (image size, working size) of ``results``; fit time as a ratio to the default's."""
    print()
    print(table_header("image", "working size (pooled side)", "ACC per seed", "ACC mean", "ACC min",
                       "NMI mean (min)", "ARI mean (min)", "fit s mean", "fit time / default's"))
    for (size, w), records in results.items():
        print(summary_row(records, results[(size, DEFAULT_WORKING_SIZE)]))


if __name__ == "__main__":
    main()
