"""A consensus of the ``n_init`` heads as the partition (issue 13's direction 3; a study, eighteenth session).

Each scale trains ``n_init`` (5) heads on one representation; the C2BIN phase keeps the one of
lowest last-epoch loss, and the refinement refines that one and may replace it by a candidate
(the graph partition, a layout, a re-paired copy). Issue 13 asked whether agreement between the
heads, or a consensus partition, picks the good partition more often. This script measures, per
data set and seed, on one C2BIN phase (``refine=None``, the default parameters otherwise):

- the ACC of each of the primary scale's heads after the C2BIN phase, and how much they agree
  (mean adjusted Rand index over the pairs of heads);
- the ACC of the default refinement's kept head (``refined_copy``: what ``fit`` returns);
- two consensus partitions: the co-association matrix (the share of heads that put two samples
  in one cluster) cut into k clusters by average-linkage agglomerative clustering, of the phase's
  heads, and of the heads after the refinement (the kept head in its slot beside the other four,
  which the refinement does not train on).

Labels are used only for scoring.

Run (one torch thread; one JSON line per fit appended to --out):
    OMP_NUM_THREADS=1 python benchmarks/head_consensus.py --data digits-geo digits-one3x --seeds 0 1 2 3 4 \
        --out benchmarks/results/head_consensus.jsonl
    python benchmarks/head_consensus.py --report --out benchmarks/results/head_consensus.jsonl
``--phases DIR`` reads the C2BIN phases from ``DIR/phase_<data>_<seed>.joblib`` where an earlier run
saved them there (and saves them); ``--smoke`` runs one small fit of 200 digits into a temporary file.
"""

import itertools
import sys
from pathlib import Path

import numpy as np
import torch
from sklearn.cluster import AgglomerativeClustering
from sklearn.metrics import adjusted_rand_score

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import c2bin_phase, markdown_row, read_records, refined_copy, scores, study_main  # noqa: E402
from _sets import DATASETS, study_data  # noqa: E402


def primary_heads(est, X):
    """The hard partitions of ``X`` by each head of ``est``'s primary scale, and the index of the
    one ``predict`` uses."""
    module = est.net_.module_
    n_init = len(module.heads) // len(est.n_clusters_)
    rep = torch.as_tensor(est.transform(X), dtype=torch.float32)
    with torch.no_grad():
        parts = [module.heads[i](rep).argmax(1).numpy() for i in range(n_init)]
    return parts, int(module.selected[0])


def consensus(parts, k):
    """The co-association matrix of ``parts`` (share of partitions putting two samples together)
    cut into ``k`` clusters by average-linkage agglomerative clustering on 1 - it."""
    together = np.zeros((len(parts[0]),) * 2, dtype=np.float32)
    for part in parts:
        together += part[:, None] == part[None, :]
    distance = 1.0 - together / len(parts)
    return AgglomerativeClustering(n_clusters=k, metric="precomputed", linkage="average").fit_predict(distance)


def study(name, seed, args):
    load, params = study_data(name)
    X, y, est, fit_s = c2bin_phase(load, seed, args, name=name, **params)
    k = est.n_clusters_[0]
    before, kept_before = primary_heads(est, X)
    refined = refined_copy(est, X, refine="neighbors")
    after, kept_after = primary_heads(refined, X)
    acc = lambda labels: scores(y, labels)[0]  # noqa: E731
    return {"data": name, "seed": seed, "fit_s": fit_s,
            "heads": [acc(p) for p in before], "kept_phase": kept_before,
            "heads_ari": float(np.mean([adjusted_rand_score(a, b) for a, b in itertools.combinations(before, 2)])),
            "refined": acc(refined.labels_), "kept_refined": kept_after,
            "outcome": refined.history_[-1]["refine_per_scale"][0]["outcome"],
            "consensus_phase": acc(consensus(before, k)), "consensus_refined": acc(consensus(after, k))}


def summary(r):
    return (f"{r['data']} seed {r['seed']}: heads " + " / ".join(f"{a:.3f}" for a in r["heads"])
            + f" (kept {r['kept_phase']}, mean ARI {r['heads_ari']:.2f}), refined {r['refined']:.3f}, consensus "
            f"of the phase's heads {r['consensus_phase']:.3f}, after the refinement {r['consensus_refined']:.3f}")


def report(path):
    """Per data set: ACC mean (worst) of the refined kept head and of each consensus, the phase's
    heads (best, kept) and their agreement; then per fit."""
    recs = read_records(path)
    if not recs:
        return
    cols = {"refined (default)": lambda r: r["refined"],
            "consensus of the phase's heads": lambda r: r["consensus_phase"],
            "consensus after the refinement": lambda r: r["consensus_refined"],
            "phase: kept head": lambda r: r["heads"][r["kept_phase"]],
            "phase: best head (oracle)": lambda r: max(r["heads"])}
    print("| data | seeds | " + " | ".join(f"{c}: ACC mean (worst)" for c in cols) + " | heads' mean ARI |")
    print("|---|---|" + "---|" * (len(cols) + 1))
    for name in dict.fromkeys(n for n, _ in sorted(recs)):
        rows = [r for (n, _), r in sorted(recs.items()) if n == name]
        print(markdown_row(name, len(rows),
                           *(f"{np.mean([f(r) for r in rows]):.3f} ({min(f(r) for r in rows):.3f})"
                             for f in cols.values()),
                           f"{np.mean([r['heads_ari'] for r in rows]):.2f}"))
    print()
    print("| data | seed | phase's heads ACC (kept) | refined (default) | consensus: phase → after the refinement |")
    print("|---|---|---|---|---|")
    for (name, seed), r in sorted(recs.items()):
        print(markdown_row(name, seed, " / ".join(f"{a:.3f}" for a in r["heads"]) + f" ({r['kept_phase']})",
                           f"{r['refined']:.3f}", f"{r['consensus_phase']:.3f} → {r['consensus_refined']:.3f}"))


def _add_arguments(parser):
    parser.add_argument("--phases", metavar="DIR", default=None,
                        help="read the C2BIN phases from DIR where an earlier run saved them, else fit and save them")


if __name__ == "__main__":
    study_main(__doc__, study, summary, report, datasets=DATASETS,
               groups={"unequal": ["digits-geo", "digits-one3x"]}, add_arguments=_add_arguments,
               default_out=str(HERE / "results" / "head_consensus.jsonl"), smoke_data="digits8",
               seeds=[0, 1, 2, 3, 4])
