"""CIFAR-10 under a fixed time budget: what a user gets from C2BIN in about ten minutes.

Trains C2BINClusterer(n_clusters=10) with its defaults (small CNN and colour augmentations, picked
from the input) on one split of ../shared/data/cifar10-jpeg.tar.gz, for as many epochs as fit in
``--budget`` seconds (measured from a one-epoch fit of a throwaway model, so that the schedules
span the real fit), then scores a split (the same one by default). KMeans (n_init=10) on the
pixels of the scored split runs in the same process as the baseline; the k-NN accuracy of
``transform`` (10 neighbours, 5-fold) on the scored split measures the embeddings.

CPU (the issue's run):  python benchmarks/cifar10.py --split test --budget 600
GPU machine:            python benchmarks/cifar10.py --split train --score-split test \
                            --backbone resnet18 --budget 480 --device cuda

``--compare-refine`` also scores the model before its refinement phase: it fits with
``refine=None``, scores that C2BIN-phase model, then runs the refinement on a copy of it (the same
seeded call ``fit`` makes, so the refined copy is the default fit) and scores that too, all from one
training run. Where the refinement's gate kept the C2BIN heads, it also scores the refinement
without its gate (one more row), so that a run shows what the gate saved or cost.

Smoke test (random images of CIFAR-10's shape, no archive needed, a few seconds):
                        python benchmarks/cifar10.py --smoke

The JPEG images are slightly blurrier than CIFAR-10's original pixels (see shared/data/README):
numbers are close to, not exactly comparable with, published CIFAR-10 results.
"""

import json
import math
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import benchmark_parser, knn_accuracy, markdown_row, model_params, parse_args  # noqa: E402
from _common import refined_copy, scores, table_header, ungated, versions  # noqa: E402
from _data import cifar10, synthetic_cifar10  # noqa: E402

from skc2bin import C2BINClusterer  # noqa: E402
from skc2bin.training.refine_report import refine_summary  # noqa: E402


def main():
    parser = benchmark_parser(__doc__, seeds=None)
    parser.add_argument("--split", default="test", choices=["train", "test"], help="training split")
    parser.add_argument("--score-split", default=None, choices=["train", "test"],
                        help="scored split (default: the training split)")
    parser.add_argument("--budget", type=float, default=600.0,
                        help="training seconds (default: %(default)s; --smoke: one epoch)")
    parser.add_argument("--backbone", default="auto")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=None,
                        help="train this many epochs instead of fitting them to --budget (no probe fit)")
    parser.add_argument("--batch-size", default=None, help="batch_size (default: the estimator's)")
    parser.add_argument("--lr", type=float, default=None, help="lr (default: the estimator's)")
    parser.add_argument("--lr-schedule", default=None, choices=["constant", "cosine"])
    parser.add_argument("--compile", action="store_true", help="compile=True")
    parser.add_argument("--working-size", type=int, default=None,
                        help="small CNN backbone with this working size (default: the estimator's, 12)")
    parser.add_argument("--width", type=int, default=None, help="small CNN stem width (default: 32)")
    parser.add_argument("--crop-scale", type=float, default=None,
                        help="ColorAugment(crop_scale=(this, 1.0)) (default: the estimator's, 0.2)")
    parser.add_argument("--compare-refine", action="store_true",
                        help="also score the model before the refinement phase (from the same training run)")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parse_args(parser)
    score_split = args.score_split or args.split
    load = synthetic_cifar10 if args.smoke else cifar10

    t0 = time.perf_counter()
    X, y = load(args.split)
    Xs, ys = (X, y) if score_split == args.split else load(score_split)
    print(versions())
    print(f"loaded {args.split} {X.shape} (+ scored split {score_split}) in {time.perf_counter() - t0:.1f} s")

    options = {"backbone": args.backbone, "device": args.device, "random_state": args.seed}
    if args.batch_size is not None:
        options["batch_size"] = args.batch_size if args.batch_size == "auto" else int(args.batch_size)
    if args.lr is not None:
        options["lr"] = args.lr
    if args.lr_schedule is not None:
        options["lr_schedule"] = args.lr_schedule
    if args.compile:
        options["compile"] = True
    if args.working_size is not None or args.width is not None:
        from skc2bin.networks import SmallCNN

        cnn = {"working_size": args.working_size, "width": args.width}
        options["backbone"] = SmallCNN(X.shape[-1], X.shape[1:3], 128, **{k: v for k, v in cnn.items() if v})
    if args.crop_scale is not None:
        from skc2bin.augment import ColorAugment

        options["augmentation"] = ColorAugment(crop_scale=(args.crop_scale, 1.0))
    params = model_params(args, n_clusters=10, **options)
    params.pop("max_epochs", None)  # set from the budget below
    if args.smoke:
        epochs = 1
    elif args.epochs is not None:
        epochs = args.epochs
    else:
        t0 = time.perf_counter()
        probe = C2BINClusterer(max_epochs=1, **params).fit(X)
        epoch_s = time.perf_counter() - t0
        epochs = max(1, math.floor(args.budget / epoch_s))
        print(f"one epoch: {epoch_s:.1f} s on {probe.device_} -> max_epochs={epochs}", flush=True)

    t0 = time.perf_counter()
    est = C2BINClusterer(max_epochs=epochs, verbose=0, **params)
    phase, refine, ungated_row = None, est.refine, None
    if args.compare_refine and refine is not None:
        est.set_params(refine=None).fit(X)
        fit_s = time.perf_counter() - t0
        phase = score_model(est, Xs, ys, args.seed)
        phase["fit_s"] = fit_s
        print(f"C2BIN phase: fit {fit_s:.0f} s, ACC {phase['acc']:.3f}, k-NN {phase['knn_acc']:.3f}", flush=True)
        phase_est, est = est, refined_copy(est, X, refine=refine)
        if est.history_[-1].get("refine_gated"):
            # The gate kept the C2BIN heads: score what the refinement would have done, so that a
            # run tells on which side of the line it should be (not part of the default's time).
            with ungated():
                ungated_est = refined_copy(phase_est, X, refine=refine)
            ungated_row = score_model(ungated_est, Xs, ys, args.seed)
            ungated_row["refinement"] = refinement_record(ungated_est)
            print(f"refinement without its gate: ACC {ungated_row['acc']:.3f}", flush=True)
    else:
        est.fit(X)
    fit_s = time.perf_counter() - t0
    print(f"fit: {fit_s:.0f} s", flush=True)
    t0 = time.perf_counter()
    final = score_model(est, Xs, ys, args.seed, labels=est.labels_ if score_split == args.split else None)
    print(f"scoring and k-NN: {time.perf_counter() - t0:.1f} s", flush=True)

    t0 = time.perf_counter()
    km = KMeans(n_clusters=10, n_init=10, random_state=args.seed).fit_predict(Xs.reshape(len(Xs), -1) / 255.0)
    km_s = time.perf_counter() - t0
    km_acc, km_nmi, km_ari = scores(ys, km)

    print(f"\ntrained on {args.split} ({len(X)} images), scored on {score_split} ({len(Xs)}), "
          f"backbone {args.backbone}, device {est.device_}, {epochs} epochs\n")
    print(table_header("method", "ACC", "NMI", "ARI", "k-NN acc.", "fit s"))
    for name, row, secs in [(f"C2BIN ({epochs} epochs)", final, f"{fit_s:.0f}")] + (
            [] if phase is None else [("C2BIN phase only (before refinement)", phase, f"{phase['fit_s']:.0f}")]) + (
            [] if ungated_row is None else [("C2BIN, the refinement without its gate", ungated_row, "–")]):
        print(markdown_row(name, *(f"{row[k]:.3f}" for k in ("acc", "nmi", "ari", "knn_acc")), secs))
    print(markdown_row("KMeans (pixels)", *(f"{v:.3f}" for v in (km_acc, km_nmi, km_ari)), "–", f"{km_s:.0f}"))
    print(f"\ncluster sizes: {final['cluster_sizes']}")
    refinement = refinement_record(est)
    if refinement:
        print(refinement["summary"])
    if args.json:
        durations = est.history_[:, "dur"]
        result = {
            "train_split": args.split, "score_split": score_split, "n_train": len(X), "n_scored": len(Xs),
            "params": {k: (v if isinstance(v, (int, float, str, bool, type(None))) else repr(v))
                       for k, v in est.get_params(deep=False).items()},
            "device": est.device_, "epochs": epochs, "fit_s": fit_s,
            "s_per_epoch": float(np.median(durations)), "first_epoch_s": float(durations[0]),
            "train_samples_per_s": len(X) / float(np.median(durations)),
            **final,
            "kmeans": {"acc": km_acc, "nmi": km_nmi, "ari": km_ari},
        }
        if phase is not None:
            result["before_refinement"] = phase
        if refinement:
            result["refinement"] = refinement
        if ungated_row is not None:
            result["refinement_without_gate"] = ungated_row
        Path(args.json).write_text(json.dumps(result, indent=2))


def refinement_record(est):
    """What the refinement did (empty where it did not run): its summary line, seconds, the
    selection scores of the head and its refined copies, and which step replaced the head."""
    last = est.history_[-1]
    if "refine_dur" not in last:
        return {}
    return {"summary": refine_summary(last), "seconds": last["refine_dur"],
            **{k: last.get(k) for k in ("refine_scores", "refine_admissible", "refine_kept", "refine_graph",
                                          "refine_paired", "refine_agreement", "refine_gated", "refine_changed",
                                          "refine_space")}}


def score_model(est, Xs, ys, seed, labels=None):
    """ACC/NMI/ARI of ``labels`` (default: ``est.predict(Xs)``), the k-NN accuracy of ``est``'s
    embeddings of ``Xs``, and the cluster sizes."""
    labels = est.predict(Xs) if labels is None else labels
    acc, nmi, ari = scores(ys, labels)
    return {"acc": acc, "nmi": nmi, "ari": ari, "knn_acc": knn_accuracy(est.transform(Xs), ys, seed),
            "cluster_sizes": sorted(np.bincount(labels, minlength=10).tolist())}


if __name__ == "__main__":
    main()
