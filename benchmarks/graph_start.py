"""The graph partition as a starting point of the refinement (issue 13, ``refine_graph``).

At the end of the refinement, per scale, the spectral partition of the mined-neighbour graph is
distilled into a copy of the chosen head; it replaces the head if it is clearly (15 %) more
neighbour-consistent (``refine_graph='distilled'``, the rule before this study). Since 2026-11-27
``refine_graph=True`` goes on where that rule keeps the head: the copy is refined like the C2BIN
heads and replaces the head by their rule, a lower selection score with no cluster below the floor.
This study fits the C2BIN phase once per data set and seed (``refine=None``), then refines copies of
that fit exactly as ``fit`` does (``refined_copy``) with each ``refine_graph`` and records ACC, NMI,
ARI, what happened to the primary head (``outcome``) and the refinement's seconds.

Labels are used only for scoring. Run (one torch thread; one JSON line per fit appended to --out):
    OMP_NUM_THREADS=1 python benchmarks/graph_start.py --data vectors --seeds 0 1 2 3 4 \
        --out benchmarks/results/graph_start.jsonl
    python benchmarks/graph_start.py --report --out benchmarks/results/graph_start.jsonl
``--data`` takes data sets of benchmarks/_sets.py or ``vectors`` (every feature-vector set there).
``--smoke`` refines one small fit of 200 moons into a temporary file.
"""

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import c2bin_phase, markdown_row, read_records, refined_variants, scores, study_main  # noqa: E402
from _sets import DATASETS, VECTORS  # noqa: E402


#: Variant name -> refine_graph. Re-pairing (``refine_pairs``, added after this study; its own study
#: is ``cluster_pairs.py``) is off in all three, so that the records stay comparable.
VARIANTS = {"no graph": False, "distilled": "distilled", "refined (default)": True}


def study(name, seed, args):
    X, y, est, fit_s = c2bin_phase(DATASETS[name], seed, args)
    return {"data": name, "seed": seed, "fit_s": fit_s, "phase": scores(y, est.labels_)[0],
            **refined_variants(est, X, y, {v: {"refine_graph": g, "refine_pairs": 0} for v, g in VARIANTS.items()})}


def summary(r):
    return f"{r['data']} seed {r['seed']}: C2BIN phase {r['phase']:.3f}, " + ", ".join(
        f"{v} {r[v]['acc']:.3f} ({r[v]['outcome']})" for v in VARIANTS)


def report(path):
    """Per data set: ACC per seed, mean (worst seed), NMI and ARI means of every variant; then the
    outcomes and the refinement's seconds of the default."""
    recs = read_records(path)
    names = list(dict.fromkeys(name for name, _ in sorted(recs)))
    print("| data | seeds | " + " | ".join(f"{v}: ACC mean (worst)" for v in VARIANTS)
          + " | NMI / ARI mean, distilled → refined | default: ACC per seed (outcome)"
          + " | refinement s, distilled → refined |")
    print("|---|---|" + "---|" * (len(VARIANTS) + 3))
    for name in names:
        rows = [r for (n, _), r in sorted(recs.items()) if n == name]
        cells = [f"{np.mean([r[v]['acc'] for r in rows]):.3f} ({min(r[v]['acc'] for r in rows):.3f})" for v in VARIANTS]
        old, new = "distilled", "refined (default)"
        mean = lambda v, m: np.mean([r[v][m] for r in rows])  # noqa: E731
        nmi_ari = f"{mean(old, 'nmi'):.3f} / {mean(old, 'ari'):.3f} → {mean(new, 'nmi'):.3f} / {mean(new, 'ari'):.3f}"
        per_seed = " / ".join(f"{r[new]['acc']:.3f} ({r[new]['outcome']})" for r in rows)
        secs = f"{mean(old, 'refine_s'):.1f} → {mean(new, 'refine_s'):.1f}"
        print(markdown_row(name, len(rows), *cells, nmi_ari, per_seed, secs))


def main():
    study_main(__doc__, study, summary, report, datasets=DATASETS, groups={"vectors": VECTORS},
               default_out=str(HERE / "results" / "graph_start.jsonl"), smoke_data="moons", seeds=[0, 1, 2, 3, 4])


if __name__ == "__main__":
    main()
