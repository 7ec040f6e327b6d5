"""Re-pairing two linked clusters, the refinement's last step (issue 13, ``refine_pairs``).

On digits as 64 feature vectors, four seeds in five kept a head that drew ones and eights as two
clusters holding about half of each, cut by style rather than by digit (ACC 0.83-0.85). Each of the
two clusters, bisected on its own neighbour graph, splits into its ones and its eights; joined
across the pair, the halves give the classes, and the refinement's selection score prefers that
partition once it is refined. ``refine_pairs=2`` (the default) offers, per scale, the two such
re-pairings of each of the two pairs of clusters most linked in the neighbour graph; ``0`` skips the
step. This study fits the C2BIN phase once per data set and seed (``refine=None``), refines copies
of that fit exactly as ``fit`` does (``refined_copy``) with each setting, and records ACC, NMI,
ARI, whether a re-pairing replaced the primary head and the refinement's seconds. A third
variant judges the re-paired copies by the selection score alone (no control copy of the head, no
consistency condition): the rule the default replaced, kept to show why.

Labels are used only for scoring. Run (one torch thread; one JSON line per fit appended to --out):
    OMP_NUM_THREADS=1 python benchmarks/cluster_pairs.py --data vectors --seeds 0 1 2 3 4 \
        --out benchmarks/results/cluster_pairs.jsonl
    python benchmarks/cluster_pairs.py --report --out benchmarks/results/cluster_pairs.jsonl
``--data`` takes data sets of benchmarks/_sets.py or ``vectors`` (every feature-vector set there).
``--smoke`` refines one small fit of 200 digits as vectors into a temporary file.
"""

import contextlib
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import c2bin_phase, markdown_row, read_records, refined_variants, scores, study_main  # noqa: E402
from _sets import DATASETS, VECTORS  # noqa: E402

from skc2bin.training import refine as R  # noqa: E402

#: Variant name -> parameters of the refinement (the other parameters are the defaults).
VARIANTS = {"refine_pairs=0": {"refine_pairs": 0}, "refine_pairs=2 (default)": {}}

#: The rule the default replaced, kept to show why: a re-paired copy replaces the head where it is
#: admissible and lower on the selection score than the head alone (step 4's rule; no control, no
#: consistency condition).
SCORE_ONLY = "re-paired, selection score only"


@contextlib.contextmanager
def _score_only():
    """Within: the re-paired copies are judged by step 4's rule alone (the control copy dropped)."""
    original = R._refine_into

    def judge(head, candidates, *args, control=False, **kwargs):
        return original(head, candidates[1:] if control else candidates, *args, **kwargs)

    R._refine_into = judge
    try:
        yield
    finally:
        R._refine_into = original


def study(name, seed, args):
    X, y, est, fit_s = c2bin_phase(DATASETS[name], seed, args)
    record = {"data": name, "seed": seed, "fit_s": fit_s, "phase": scores(y, est.labels_)[0],
              **refined_variants(est, X, y, VARIANTS)}
    with _score_only():
        record.update(refined_variants(est, X, y, {SCORE_ONLY: {}}))
    return record


def summary(r):
    return f"{r['data']} seed {r['seed']}: C2BIN phase {r['phase']:.3f}, " + ", ".join(
        f"{v} {r[v]['acc']:.3f}{' (re-paired)' if r[v]['paired'] else ''}" for v in [*VARIANTS, SCORE_ONLY])


def report(path):
    """Per data set: ACC mean (worst seed) of both settings, NMI / ARI means, the default's ACC per
    seed (* where a re-pairing replaced the head), and the refinement's seconds."""
    recs = read_records(path)
    names = list(dict.fromkeys(name for name, _ in sorted(recs)))
    old, new = VARIANTS
    print(f"| data | seeds | {old}: ACC mean (worst) | {new}: ACC mean (worst) | NMI / ARI mean, before → after "
          f"| default: ACC per seed (* re-paired) | {SCORE_ONLY}: ACC per seed (* re-paired) "
          "| refinement s, before → after | C2BIN phase s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in names:
        rows = [r for (n, _), r in sorted(recs.items()) if n == name]
        mean = lambda v, m: np.mean([r[v][m] for r in rows])  # noqa: E731
        cells = [f"{mean(v, 'acc'):.3f} ({min(r[v]['acc'] for r in rows):.3f})" for v in VARIANTS]
        nmi_ari = f"{mean(old, 'nmi'):.3f} / {mean(old, 'ari'):.3f} → {mean(new, 'nmi'):.3f} / {mean(new, 'ari'):.3f}"
        per_seed = [" / ".join(f"{r[v]['acc']:.3f}{'*' if r[v]['paired'] else ''}" for r in rows)
                    for v in (new, SCORE_ONLY)]
        secs = f"{mean(old, 'refine_s'):.1f} → {mean(new, 'refine_s'):.1f}"
        print(markdown_row(name, len(rows), *cells, nmi_ari, *per_seed, secs,
                           f"{np.mean([r['fit_s'] for r in rows]):.0f}"))


def main():
    study_main(__doc__, study, summary, report, datasets=DATASETS, groups={"vectors": VECTORS},
               default_out=str(HERE / "results" / "cluster_pairs.jsonl"), smoke_data="digits-vectors",
               seeds=[0, 1, 2, 3, 4])


if __name__ == "__main__":
    main()
