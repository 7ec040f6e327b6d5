"""More starting points for the refinement: classic clusterers of a t-SNE layout (issue 13, a study).

The refinement chooses among heads by a label-free selection score (neighbour consistency +
entropy term, ``skc2bin.training.refine.selection_scores``). Every head it can choose starts from
the C2BIN phase or from the graph partition (``benchmarks/graph_start.py``). This study asks
whether other starting points would help, and whether the selection score would pick them where
they are better. It changes no default.

Per data set and seed: the C2BIN phase is fitted once (``refine=None``) and refined exactly as
``fit`` does (``refined_copy``), which gives the default's kept head. In the space where that
refinement mined its neighbours (for vectors the weighted input), scikit-learn's t-SNE lays the
samples out in 2-d, and a GMM and KMeans cluster the layout. Each of those partitions (and the
true classes, as an oracle) is distilled into a copy of the kept head and refined like the heads
(``distill_head``, ``refine_heads``, the refinement's own settings). Recorded per start: ACC
before and after refining, selection score, consistency loss (no entropy term) and admissibility,
beside the kept head's. Two rules are reported: a start replaces the kept head if admissible and
(a) lower on the selection score, or (b) lower on both the selection score and the consistency
loss; the lowest selection score wins among the starts that qualify.

Labels are used only for scoring and the oracle. Run (one torch thread; one JSON line per fit):
    OMP_NUM_THREADS=1 python benchmarks/start_points.py --data vectors --seeds 0 1 2 3 4 \
        --out benchmarks/results/start_points.jsonl
    python benchmarks/start_points.py --report --out benchmarks/results/start_points.jsonl
``--tsne-iter 500`` halves t-SNE's iterations (its cost); ``--smoke`` runs one small fit of 200
digits as vectors into a temporary file.
"""

import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.manifold import TSNE
from sklearn.mixture import GaussianMixture

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import c2bin_phase, markdown_row, read_records, refined_copy, scores, study_main  # noqa: E402
from _sets import DATASETS, VECTORS  # noqa: E402

from skc2bin.training import refine as R  # noqa: E402
from skc2bin.training.neighbors import SPACE_METRICS, mine_neighbors  # noqa: E402

STARTS = ("t-SNE + GMM", "t-SNE + KMeans", "true classes (oracle)")
RULES = {"selection": lambda s, h: s["sel"] < h["sel"],
         "selection and consistency": lambda s, h: s["sel"] < h["sel"] and s["cons"] < h["cons"]}


def _scored(head, features, neighbors, y):
    p = R._probabilities(head, features)
    return {"acc": scores(y, R.predicted_clusters(head, features).cpu().numpy())[0],
            "sel": float(R._scores([p], neighbors, 1.0)[0]), "cons": float(R._scores([p], neighbors, 0.0)[0]),
            "admissible": R._admissible(p, 0.1)}


def study(name, seed, args):
    X, y, est, _ = c2bin_phase(DATASETS[name], seed, args)
    k = len(np.unique(y))
    refined = refined_copy(est, X, refine="neighbors")
    net, last = refined.net_, refined.history_[-1]
    Xt, _ = refined._checked_data(X, reset=False)  # the training samples as fit saw them (benchmark only)
    features = net.representation(Xt)
    space = last["refine_space"]
    rows = net.neighbor_rows(Xt, space, features, refined.refine_neighbors)
    rows = features if rows is None else rows
    neighbors = mine_neighbors(rows, refined.refine_neighbors, metric=SPACE_METRICS[space])
    head = net.module_.heads[int(net.module_.selected[0])]
    record = {"data": name, "seed": seed, "tsne_iter": args.tsne_iter, "kept": _scored(head, features, neighbors, y)}
    t0 = time.perf_counter()
    layout = TSNE(2, max_iter=args.tsne_iter, random_state=seed).fit_transform(rows.cpu().numpy())
    record["tsne_s"] = time.perf_counter() - t0
    partitions = {"t-SNE + GMM": GaussianMixture(k, n_init=3, random_state=seed).fit_predict(layout),
                  "t-SNE + KMeans": KMeans(k, n_init=10, random_state=seed).fit_predict(layout),
                  "true classes (oracle)": y}
    for start, labels in partitions.items():
        candidate = copy.deepcopy(head)
        generator = torch.Generator(device=features.device).manual_seed(seed)
        training = {"epochs": refined.refine_epochs, "batch_size": max(net.batch_size, 256), "lr": net.lr,
                    "weight_decay": net.optimizer__weight_decay, "generator": generator}
        R.distill_head(candidate, features, torch.as_tensor(labels, device=features.device), **training)
        R.refine_heads([candidate], features, neighbors, floor=refined.size_prior_floor, **training)
        record[start] = {"start_acc": scores(y, labels)[0], **_scored(candidate, features, neighbors, y)}
    return record


def chosen(r, rule):
    """ACC under ``rule``: the qualifying start (not the oracle) with the lowest selection score, else the kept head."""
    qualifying = [r[s] for s in STARTS[:2] if r[s]["admissible"] and RULES[rule](r[s], r["kept"])]
    return min(qualifying, key=lambda s: s["sel"])["acc"] if qualifying else r["kept"]["acc"]


def summary(r):
    return (f"{r['data']} seed {r['seed']}: kept {r['kept']['acc']:.3f} (sel {r['kept']['sel']:.4f}), "
            + ", ".join(f"{s} {r[s]['start_acc']:.3f}->{r[s]['acc']:.3f} (sel {r[s]['sel']:.4f})" for s in STARTS)
            + f", t-SNE {r['tsne_s']:.1f} s")


def report(path):
    recs = read_records(path)
    names = list(dict.fromkeys(name for name, _ in sorted(recs)))
    print("| data | seeds | kept head (default) | " + " | ".join(f"{s} refined" for s in STARTS)
          + " | " + " | ".join(f"rule: {rule}" for rule in RULES) + " | oracle scores lower | t-SNE s |")
    print("|---|---|" + "---|" * (1 + len(STARTS) + len(RULES) + 2))
    for name in names:
        rows = [r for (n, _), r in sorted(recs.items()) if n == name]
        cell = lambda accs: f"{np.mean(accs):.3f} ({min(accs):.3f})"  # noqa: E731
        print(markdown_row(
            name, len(rows), cell([r["kept"]["acc"] for r in rows]),
            *[cell([r[s]["acc"] for r in rows]) for s in STARTS],
            *[cell([chosen(r, rule) for r in rows]) for rule in RULES],
            f"{sum(r[STARTS[2]]['sel'] < r['kept']['sel'] for r in rows)} of {len(rows)}",
            f"{np.mean([r['tsne_s'] for r in rows]):.1f}"))


def _options(parser):
    parser.add_argument("--tsne-iter", type=int, default=1000,
                        help="t-SNE's iterations (default: %(default)s, scikit-learn's; its least is 250)")


def main():
    study_main(__doc__, study, summary, report, datasets=DATASETS, groups={"vectors": VECTORS},
               default_out=str(HERE / "results" / "start_points.jsonl"), smoke_data="digits-vectors",
               seeds=[0, 1, 2, 3, 4], add_arguments=_options)


if __name__ == "__main__":
    main()
