"""Multi-scale ablation: do extra cluster heads help the primary head and the embeddings?

Fits C2BINClusterer(n_clusters=scales, random_state=seed), every other parameter default, for
scales (10,), (10, 30), (10, 100) and (10, 30, 100), on digits images (8x8 by default), and
reports for the primary (10-cluster) head ACC, NMI, ARI, and for the embeddings (``transform``
output) the 10-nearest-neighbour accuracy under 5-fold stratified cross-validation (labels are used
only for this probe), plus fit wall time; mean ± std over the seeds. The same two measures taken on
the EMA target's backbone instead of the online one answer whether inference should use the target. For the finer heads, the
fraction of each fine cluster that falls in its majority coarse cluster (nesting, 1 = perfectly
nested) is reported too, how many of its clusters hold at least one sample, and what the
refinement did to it (``history_[-1]["refine_per_scale"]``: kept, refined, or graph).

``--vectors`` fits digits as 64 feature vectors instead (the MLP backbone, the feature augmentation,
and the refinement's layout step, which only vectors take).

Run:  python benchmarks/multiscale.py [--size 8 | --vectors] [--seeds 0 1 2] [--scales 10,100 ...] [--threads N]
      [--smoke]
"""

import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import benchmark_parser, fit_scored, knn_accuracy, markdown_row, mean_std  # noqa: E402
from _common import model_params, parse_args, scores, smoke_subset, table_header, table_row  # noqa: E402
from _common import versions  # noqa: E402
from _data import digits_images  # noqa: E402

from skc2bin import C2BINClusterer  # noqa: E402

SCALES = [(10,), (10, 30), (10, 100), (10, 30, 100)]


@torch.no_grad()
def target_network_outputs(est, X):
    """Embedding of the EMA target's backbone, and the primary head's labels on it.

    C2BIN's inference uses the online network; BYOL evaluates the online
    one too, but the target is a smoothed average of it, so this measures
    whether predicting from the target would be better.
    """
    online = est.net_.module_
    target = est.net_.target_.eval()
    online.eval()
    x = online.preprocessor(torch.as_tensor(X, dtype=torch.float32))
    y = target.backbone(x)
    return y.numpy(), online.heads[0](y).argmax(1).numpy()


def nesting(coarse, fine):
    """Share of samples whose fine cluster's majority coarse cluster is their own coarse cluster."""
    agree = 0
    for c in np.unique(fine):
        agree += np.bincount(coarse[fine == c]).max()
    return agree / len(fine)


def main():
    parser = benchmark_parser(__doc__)
    parser.add_argument("--size", type=int, default=8, help="image side in pixels (default: %(default)s)")
    parser.add_argument("--vectors", action="store_true", help="digits as 64 feature vectors instead of images")
    parser.add_argument("--scales", nargs="+", default=None, metavar="K1,K2",
                        help="n_clusters configurations, e.g. 10,100 (default: " + " ".join(
                            ",".join(map(str, s)) for s in SCALES) + ")")
    args = parse_args(parser)
    if args.vectors and args.size != 8:
        parser.error("--vectors fits the 64 pixels of the 8x8 digits: leave --size out")
    print(versions())
    X, y = smoke_subset(*digits_images(args.size), args)
    if args.vectors:
        X = X.reshape(len(X), -1)
    print(f"digits {'as 64 feature vectors' if args.vectors else f'{args.size}x{args.size} images'}, "
          f"seeds {args.seeds}\n")
    rows, nests, used, outcomes = {}, {}, {}, {}
    configs = [tuple(int(k) for k in text.split(",")) for text in args.scales] if args.scales else SCALES
    for scales in configs:
        for seed in args.seeds:
            est = C2BINClusterer(n_clusters=scales, random_state=seed, **model_params(args))
            result, secs = fit_scored(est, X, y, seed, str(scales))
            emb_t, labels_t = target_network_outputs(est, X)
            rows.setdefault(scales, []).append(
                (*result, scores(y, labels_t)[0], knn_accuracy(emb_t, y, seed), secs)
            )
            per_scale = est.labels_per_scale_
            nests.setdefault(scales, []).append(
                [nesting(per_scale[:, 0], per_scale[:, j]) for j in range(1, len(scales))]
            )
            used.setdefault(scales, []).append([len(np.unique(per_scale[:, j])) for j in range(1, len(scales))])
            outcomes.setdefault(scales, []).append(
                [scale["outcome"] for scale in est.history_[-1]["refine_per_scale"][1:]])
    print()
    print(table_header("n_clusters", "ACC", "NMI", "ARI", "k-NN acc. of transform", "ACC, head on target backbone",
                       "k-NN acc., target backbone", "fit s"))
    for scales, results in rows.items():
        print(table_row(str(scales), results))
    print()
    print(table_header("n_clusters", "nesting of the finer heads in the 10-cluster head",
                       "clusters holding a sample, per seed", "refinement of the finer heads, per seed"))
    for scales, values in nests.items():
        if len(scales) > 1:
            counts = "; ".join(f"k={k}: " + " / ".join(str(u[j]) for u in used[scales])
                               for j, k in enumerate(scales[1:]))
            refined = "; ".join(f"k={k}: " + " / ".join(o[j] for o in outcomes[scales])
                                for j, k in enumerate(scales[1:]))
            print(markdown_row(scales, ", ".join(f"k={k}: {cell}" for k, cell in zip(scales[1:], mean_std(values))),
                               counts, refined))


if __name__ == "__main__":
    main()
