"""Does the refinement's head selection know when to keep C2BIN's own head? (issue 13, refinement guard)

The refinement phase (``refine='neighbors'``) raises ACC on most data sets but lowers it on some
(CIFAR-10 on a CPU and on a GPU, iris, one digits-vectors seed, one digits-geo seed:
docs/benchmarks.md). This study fits the C2BIN phase once per data set and seed (``refine=None``),
then, on the same frozen representation and the same mined neighbours the refinement uses, scores
every candidate partition with the refinement's label-free selection score
(:func:`skc2bin.training.refine.selection_scores`, lower is better):

* ``orig j``: the ``n_init`` heads as C2BIN trained them (``j`` = 0 is the one ``predict`` uses);
* ``ref j``: the same heads after the refinement (the default keeps the lowest-scoring one).

Per fit it records every candidate's score and ACC, and the neighbour agreement (share of mined
neighbour pairs with the same cluster) of each, so that a rule — "keep the original head when it
scores lower", or "refine only when the neighbours agree" — can be judged on every data set before
it becomes a default. Labels are used only for scoring.

Run (one torch thread; one JSON line per fit appended to ``--out``):
    OMP_NUM_THREADS=1 python benchmarks/refine_guard.py --data cifar10 iris digits-geo --seeds 0 1 2 \
        --out benchmarks/results/refine_guard.jsonl
    python benchmarks/refine_guard.py --report --out benchmarks/results/refine_guard.jsonl
With ``--all-candidates`` a fit also records every refined candidate (trained again from the same
C2BIN heads with the same settings, its own seed), and ``--report-selection`` prints which ACC the
selection would reach with another weight ``w`` of its entropy term, beside the best candidate:
    OMP_NUM_THREADS=1 python benchmarks/refine_guard.py --data digits-geo --seeds 0 1 2 3 4 --all-candidates \
        --out benchmarks/results/refine_selection.jsonl
    python benchmarks/refine_guard.py --report-selection --out benchmarks/results/refine_selection.jsonl
With ``--graph`` a fit also records the refinement's graph candidate (``refine_graph``): the
spectral partition of the mined neighbours, raw and distilled into a head, beside the refined
head kept without it; ``--report-graph [--margin M]`` prints what the candidate's rule keeps:
    OMP_NUM_THREADS=1 python benchmarks/refine_guard.py --graph --data digits-geo iris --seeds 0 1 \
        --out benchmarks/results/refine_graph.jsonl
    python benchmarks/refine_guard.py --report-graph --out benchmarks/results/refine_graph.jsonl
``--smoke`` fits 200 digits (8x8) for one small epoch into a temporary file (with ``--graph``).
``cifar10`` is the 10,000 CIFAR-10 test images (``--cifar-epochs``, default 15, about 4 minutes).
"""

import ast
import copy
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import benchmark_parser, model_params, parse_args, read_records, record_fits  # noqa: E402
from _common import refined_copy, scores, smoke_subset  # noqa: E402
from _sets import DATASETS  # noqa: E402

from skc2bin import C2BINClusterer  # noqa: E402
from skc2bin.training.neighbors import mine_neighbors  # noqa: E402
from skc2bin.training.partitions import graph_partition, neighbor_agreement  # noqa: E402
from skc2bin.training.refine import (  # noqa: E402
    GRAPH_MARGIN,
    MAX_SAMPLES,
    distill_head,
    refine_heads,
    selection_scores,
)


def load(name, cifar_epochs):
    """``(X, y, extra params)`` of a data set."""
    if name == "cifar10":
        from _data import cifar10

        X, y = cifar10("test")
        return X, y, {"max_epochs": cifar_epochs}
    X, y = DATASETS[name]()
    return (X.astype(np.float32) if X.ndim == 3 else X), y, {}


def candidates(est, Xt):
    """Features, neighbours, and the primary scale's heads of a fitted (unrefined) estimator."""
    net = est.net_
    if len(Xt) > MAX_SAMPLES:
        raise ValueError("this study assumes at most MAX_SAMPLES samples (no subset)")
    features = net.representation(Xt)
    network = net.module_
    heads = [network.heads[j] for j in range(network.n_init)]  # scale 0's n_init heads
    order = [int(network.selected[0])] + [j for j in range(network.n_init) if j != int(network.selected[0])]
    return features, [heads[j] for j in order]


@torch.no_grad()
def describe(heads, features, neighbors, y, prior_weight):
    """Per head: selection score, ACC/NMI/ARI on the training samples, neighbour agreement, sizes."""
    out = []
    score = selection_scores(heads, features, neighbors, prior_weight).tolist()
    consistency = selection_scores(heads, features, neighbors, 0.0).tolist()
    for head, s, c in zip(heads, score, consistency):
        head.eval()
        labels = head(features).argmax(1)
        agree = neighbor_agreement(labels, neighbors)
        lab = labels.cpu().numpy()
        acc, nmi, ari = scores(y, lab)
        out.append({"score": s, "consistency": c, "uniform": (s - c) / prior_weight if prior_weight else None,
                    "acc": acc, "nmi": nmi, "ari": ari, "agree": agree,
                    "sizes": sorted(np.bincount(lab).tolist())})
    return out


def study(name, seed, args):
    X, y, extra = load(name, args.cifar_epochs)
    X, y = smoke_subset(X, y, args)
    k = len(np.unique(y))
    t0 = time.perf_counter()
    # The study mines every neighbour in the representation, as fit did before refine_space (its
    # records predate it): the refined copy below is pinned to the same space.
    est = C2BINClusterer(**model_params(args, n_clusters=k, random_state=seed, **extra)).set_params(
        refine=None, refine_space="representation")
    est.fit(X)
    fit_s = time.perf_counter() - t0
    Xt, _ = est._checked_data(X, reset=False)  # the training samples as fit saw them (benchmark only)
    features, originals = candidates(est, Xt)
    neighbors = mine_neighbors(features, est.refine_neighbors)
    record = {"data": name, "seed": seed, "fit_s": fit_s,
              "orig": describe(originals, features, neighbors, y, est.entropy_weight)}
    # The default refinement on a copy: the same seeded call fit makes (_common.refined_copy).
    # (Without the graph candidate: --graph emulates it below, beside the refined heads.)
    refined = refined_copy(est, X, refine="neighbors", refine_graph=False)
    record["refine_scores"] = refined.history_[-1]["refine_scores"]
    record["refine_admissible"] = refined.history_[-1]["refine_admissible"]
    _, refined_heads = candidates(refined, Xt)
    record["ref_selected"] = describe(refined_heads[:1], features, neighbors, y, est.entropy_weight)[0]
    if args.all_candidates:
        # Every refined candidate, from the same C2BIN heads and settings (own seed: not bit-identical
        # to the estimator's candidates, the same procedure), for judging selection rules.
        settings = dict(epochs=est.refine_epochs, batch_size=max(est.net_.batch_size, 256), lr=est.lr,
                        weight_decay=est.net_.optimizer__weight_decay, prior=est.size_prior,
                        prior_weight=est.entropy_weight, floor=est.size_prior_floor)
        for name, change in [("default", {}), *args.candidate_variants]:
            heads = [copy.deepcopy(h) for h in originals]
            refine_heads(heads, features, neighbors, **{**settings, **change},
                         generator=torch.Generator().manual_seed(seed))
            record["ref_all" if name == "default" else f"ref_all {name}"] = describe(
                heads, features, neighbors, y, est.entropy_weight)
    if args.graph:
        # The graph candidate: a spectral partition of the mined neighbours, distilled into a copy of
        # the C2BIN head (the same settings as the refinement).
        labels = graph_partition(neighbors, k, seed=seed)
        acc, nmi, ari = scores(y, labels)
        record["graph_raw"] = {"acc": acc, "nmi": nmi, "ari": ari, "agree": neighbor_agreement(labels, neighbors),
                               "sizes": sorted(np.bincount(labels, minlength=k).tolist())}
        head = copy.deepcopy(originals[0])
        distill_head(head, features, labels, epochs=est.refine_epochs, batch_size=max(est.net_.batch_size, 256),
                     lr=est.lr, weight_decay=est.net_.optimizer__weight_decay,
                     generator=torch.Generator().manual_seed(seed))
        record["graph_head"] = describe([head], features, neighbors, y, est.entropy_weight)[0]
    return record


def _best_refined_score(rec):
    """The lowest selection score of the admissible refined heads (records made before the guard
    hold the n_init refined scores; later ones the C2BIN head's last; records made before the
    admissibility test hold no ``refine_admissible`` and count every refined head)."""
    refined = rec["refine_scores"][:len(rec["orig"])]
    admissible = rec.get("refine_admissible", [True] * len(refined))
    return min((s for s, ok in zip(refined, admissible) if ok), default=float("inf"))


def _kept(rec):
    """Whether the guard keeps the C2BIN head (it scores no higher than every refined head)."""
    return rec["orig"][0]["score"] <= _best_refined_score(rec)


def _final(rec):
    """The primary head the default fit keeps (with the guard): ``orig[0]`` or ``ref_selected``."""
    return rec["orig"][0] if _kept(rec) else rec["ref_selected"]


def _share(sizes, k):
    """Smallest cluster × k / n from a list of cluster sizes (missing clusters are empty)."""
    return 0.0 if len(sizes) < k else min(sizes) * k / sum(sizes)


def _cell(c, k):
    """``ACC (consistency, agreement, smallest cluster × k/n)`` of a described head."""
    return f"{c['acc']:.3f} ({c['consistency']:.3f}, {c['agree']:.3f}, {_share(c['sizes'], k):.2f})"


def report_graph(path, floor=0.1, margin=GRAPH_MARGIN):
    """Per fit (records made with ``--graph``): the default's primary head without the graph
    candidate, the spectral partition of the mined neighbours (raw and distilled into a head),
    and what ``refine_graph=True``'s rule keeps: the graph head when its smallest cluster holds
    at least ``floor`` × n/k samples and its neighbour-consistency loss (the selection score
    without the entropy term) is lower than the head's by at least ``margin`` of it. Then the mean
    and the worst seed per data set."""
    recs = [rec for _, rec in sorted(read_records(path).items()) if "graph_head" in rec]
    print("| data | seed | without: ACC (consistency, agreement, smallest) | spectral: ACC (agreement, smallest) | "
          "graph head: ACC (consistency, agreement, smallest) | rule keeps | ACC of the rule |")
    print("|---|---|---|---|---|---|---|")
    per_set = {}
    for r in recs:
        k = len(r["graph_raw"]["sizes"])  # every cluster, empty ones included
        d, g, h = _final(r), r["graph_raw"], r["graph_head"]
        take = _share(h["sizes"], k) >= floor and h["consistency"] < (1 - margin) * d["consistency"]
        print(f"| {r['data']} | {r['seed']} | {_cell(d, k)} | {g['acc']:.3f} ({g['agree']:.3f}, "
              f"{_share(g['sizes'], k):.2f}) | {_cell(h, k)} | {'graph' if take else 'head'} | "
              f"{(h if take else d)['acc']:.3f} |")
        per_set.setdefault(r["data"], []).append((d["acc"], (h if take else d)["acc"]))
    print("\n| data | seeds | ACC without: mean (worst) | ACC with the graph candidate: mean (worst) |")
    print("|---|---|---|---|")
    for name, pairs in sorted(per_set.items()):
        before, after = np.array(pairs).T
        print(f"| {name} | {len(pairs)} | {before.mean():.3f} ({before.min():.3f}) | "
              f"{after.mean():.3f} ({after.min():.3f}) |")


def report(path):
    """The table of every record in ``path``: the C2BIN head, the best refined head, and the guard."""
    recs = [rec for _, rec in sorted(read_records(path).items())]
    print("| data | seed | C2BIN head: ACC (score) | best refined head: ACC (score) | guard keeps the C2BIN head | "
          "ACC of the default fit |")
    print("|---|---|---|---|---|---|")
    for r in recs:
        head, best, keep = r["orig"][0], _best_refined_score(r), _kept(r)
        # ref_selected is the best refined head, except in a record made with the guard where it kept the head.
        known = not (keep and len(r["refine_scores"]) > len(r["orig"]))
        refined = f"{r['ref_selected']['acc']:.3f}" if known else "not recorded"
        print(f"| {r['data']} | {r['seed']} | {head['acc']:.3f} ({head['score']:.3f}) | {refined} ({best:.3f}) | "
              f"{'yes' if keep else 'no'} | {_final(r)['acc']:.3f} |")


def report_selection(path, weights=(0.0, 0.25, 0.5, 1.0, 2.0)):
    """ACC of the head that ``consistency + w · (log k - H(P))`` picks among the C2BIN heads and
    every refined candidate (records made with ``--all-candidates``), per weight ``w``."""
    recs = {key: rec for key, rec in read_records(path).items() if "ref_all" in rec}
    print("| data | seed | candidates | " + " | ".join(f"w = {w:g}" for w in weights) + " | best candidate |")
    print("|---|---|---|" + "---|" * (len(weights) + 1))
    for (data, seed), rec in sorted(recs.items()):
        for key in sorted(k for k in rec if k.startswith("ref_all")):
            pool = rec["orig"] + rec[key]
            picks = [min(pool, key=lambda c: c["consistency"] + w * c["uniform"])["acc"] for w in weights]
            print(f"| {data} | {seed} | {key[8:] or 'default'} | " + " | ".join(f"{a:.3f}" for a in picks)
                  + f" | {max(c['acc'] for c in pool):.3f} |")


def summary(rec):
    """One line per fit while the study runs."""
    o, f = rec["orig"][0], rec["ref_selected"]
    return (f"{rec['data']} seed {rec['seed']}: orig ACC {o['acc']:.3f} score {o['score']:.3f} "
            f"agree {o['agree']:.2f} | refined ACC {f['acc']:.3f} score {f['score']:.3f} agree {f['agree']:.2f} | "
            f"fit {rec['fit_s']:.0f} s")


def _variant(text):
    """``NAME=VALUE`` -> ``(text, {NAME: VALUE})``, VALUE a Python literal or else a string."""
    key, value = text.split("=", 1)
    try:
        value = ast.literal_eval(value)
    except (ValueError, SyntaxError):
        pass
    return text, {key: value}


def main():
    parser = benchmark_parser(__doc__, seeds=[0])
    parser.add_argument("--data", nargs="+", default=["cifar10"])
    parser.add_argument("--cifar-epochs", type=int, default=15)
    parser.add_argument("--out", default=str(HERE / "results" / "refine_guard.jsonl"))
    parser.add_argument("--report", action="store_true", help="print the table of --out; fit nothing")
    parser.add_argument("--all-candidates", action="store_true",
                        help="also record every refined candidate (for --report-selection)")
    parser.add_argument("--candidate-variants", nargs="*", default=[], type=_variant, metavar="NAME=VALUE",
                        help="with --all-candidates: also train the candidates with this refine_heads setting "
                             "changed (e.g. epochs=200 lr=0.003 prior_weight=0.5)")
    parser.add_argument("--graph", action="store_true",
                        help="also record the graph candidate (spectral partition of the mined neighbours, "
                             "distilled into a head; for --report-graph)")
    parser.add_argument("--report-graph", action="store_true",
                        help="print the graph candidate beside the default (records made with --graph)")
    parser.add_argument("--margin", type=float, default=GRAPH_MARGIN,
                        help="with --report-graph: the rule's consistency margin (default: %(default)s)")
    parser.add_argument("--report-selection", action="store_true",
                        help="print the ACC each selection weight picks (records with --all-candidates)")
    args = parse_args(parser)
    if args.report_selection:
        return report_selection(args.out)
    if args.report_graph:
        return report_graph(args.out, margin=args.margin)
    if args.smoke:
        args.data, args.out = ["digits8"], tempfile.mkstemp(suffix=".jsonl")[1]
        args.graph = True  # the smoke run checks the graph candidate's records too
    if args.report:
        return report(args.out)
    record_fits(args, study, summary)
    print()
    report(args.out)
    if args.all_candidates:
        print()
        report_selection(args.out)
    if args.graph:
        print()
        report_graph(args.out, margin=args.margin)


if __name__ == "__main__":
    main()
