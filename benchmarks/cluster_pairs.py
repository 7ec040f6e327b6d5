"""Re-pairing two linked clusters, the refinement's last step (issue 13, ``refine_pairs``).

On digits as 64 feature vectors, four seeds in five kept a head that drew ones and eights as two
clusters holding about half of each, cut by style rather than by digit (ACC 0.83-0.85). Each of the
two clusters, bisected on its own neighbour graph, splits into its ones and its eights; joined
across the pair, the halves give the classes, and the refinement's selection score prefers that
partition once it is refined. ``refine_pairs=2`` (the default) offers, per scale, the two such
re-pairings of each of the two pairs of clusters most linked in the neighbour graph; ``0`` skips the
step. This study fits the C2BIN phase once per data set and seed (``refine=None``), refines copies
of that fit exactly as ``fit`` does (``refined_copy``) with each setting, and records ACC, NMI,
ARI, whether a re-pairing replaced the primary head and the refinement's seconds. Two more
variants judge the re-paired copies by rules the default replaced, kept to show why: by the
selection score alone (no control copy of the head, no second condition), and with the second
condition read on the soft consistency loss rather than on the share of neighbour pairs cut. One
more, *no views*, is the default without its second judge for images (agreement across augmented
views, which vetoes the neighbour rule's copy or takes one it refused, ``_chosen_with_views``): the
default until 2026-11-27.
``--rules`` picks which of these three run beside the two settings (default: all).
(``cluster_pairs.jsonl`` holds the run before the soft rule was replaced, whose default it was;
``cluster_pairs_cut.jsonl`` the run before the second judge, whose default is *no views*.)

Labels are used only for scoring. Run (one torch thread; one JSON line per fit appended to --out):
    OMP_NUM_THREADS=1 python benchmarks/cluster_pairs.py --data images --seeds 0 1 2 3 4 --rules no-views \
        --out benchmarks/results/cluster_pairs_views.jsonl
    python benchmarks/cluster_pairs.py --report --out benchmarks/results/cluster_pairs_views.jsonl
``--data`` takes data sets of benchmarks/_sets.py, ``vectors`` (every feature-vector set there) or
``images`` (every image set).
``--smoke`` refines one small fit of 200 digits as vectors into a temporary file.
"""

import contextlib
import sys
from pathlib import Path
from unittest import mock

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import (c2bin_phase, markdown_row, re_pairing_step, read_records, refined_variants, scores,  # noqa: E402
                     study_main)
from _sets import DATASETS, VECTORS  # noqa: E402

from skc2bin.training import refine as R  # noqa: E402

#: Variant name -> parameters of the refinement (the other parameters are the defaults).
VARIANTS = {"refine_pairs=0": {"refine_pairs": 0}, "refine_pairs=2 (default)": {}}

#: Two rules the default replaced, kept to show why. *Selection score only*: a re-paired copy
#: replaces the head where it is admissible and lower on the selection score than the head alone
#: (step 4's rule; no control, no second condition). *Soft consistency*: the control and the
#: selection score as in the default, but the second condition read on the soft consistency loss
#: (no entropy term) instead of the share of neighbour pairs cut (the default until 2026-11-27).
SCORE_ONLY = "re-paired, selection score only"
SOFT = "re-paired, soft consistency"
NO_VIEWS = "re-paired, no views"


@contextlib.contextmanager
def _score_only():
    """Within: the re-paired copies are judged by step 4's rule alone (the control copy dropped;
    the layout step's judgement as it is)."""
    original = R._refine_into
    with re_pairing_step() as pairing:
        def judge(head, candidates, *args, control=False, **kwargs):
            if control and pairing["on"]:
                return original(head, candidates[1:], *args, **kwargs)
            return original(head, candidates, *args, control=control, **kwargs)

        with mock.patch.object(R, "_refine_into", judge):
            yield


@contextlib.contextmanager
def _soft_consistency():
    """Within: the re-pairing step's second condition compares the consistency loss (``_scores``
    with no entropy term) instead of the share of neighbour pairs cut."""
    original = R._cut_shares
    with re_pairing_step() as pairing:
        def consistency(probabilities, neighbors):
            return R._scores(probabilities, neighbors, 0.0) if pairing["on"] else original(probabilities, neighbors)

        with mock.patch.object(R, "_cut_shares", consistency):
            yield


def _no_views():
    """Within: the re-pairing step has no second judge by agreement across views (the neighbour
    rule's choice stands, for images too)."""
    return mock.patch.object(R, "_chosen_with_views", lambda picked, *args: picked)


#: ``--rules`` name -> (variant name, the context that applies its rule).
RULES = {"no-views": (NO_VIEWS, _no_views), "soft": (SOFT, _soft_consistency), "score-only": (SCORE_ONLY, _score_only)}


def study(name, seed, args):
    X, y, est, fit_s = c2bin_phase(DATASETS[name], seed, args)
    record = {"data": name, "seed": seed, "fit_s": fit_s, "phase": scores(y, est.labels_)[0],
              "threads": torch.get_num_threads(), **refined_variants(est, X, y, VARIANTS)}
    for rule in args.rules:
        variant, context = RULES[rule]
        with context():
            record.update(refined_variants(est, X, y, {variant: {}}))
    return record


def summary(r):
    return f"{r['data']} seed {r['seed']}: C2BIN phase {r['phase']:.3f}, " + ", ".join(
        f"{v} {r[v]['acc']:.3f}{' (re-paired)' if r[v]['paired'] else ''}"
        for v in [*VARIANTS, NO_VIEWS, SOFT, SCORE_ONLY] if v in r)


def report(path):
    """Per data set: ACC mean (worst seed) with and without the step, NMI / ARI means, each rule's
    ACC per seed (* where a re-pairing replaced the head; the rules a file holds) and the
    refinement's seconds."""
    recs = read_records(path)
    names = list(dict.fromkeys(name for name, _ in sorted(recs)))
    old, new = VARIANTS
    rules = [v for v in (new, NO_VIEWS, SOFT, SCORE_ONLY) if any(v in r for r in recs.values())]
    print(f"| data | seeds | {old}: ACC mean (worst) | {new}: ACC mean (worst) | NMI / ARI mean, before → after | "
          + " | ".join(f"{v}: ACC per seed (* re-paired)" for v in rules)
          + " | refinement s, before → after | C2BIN phase s |")
    print("|---|---|---|---|---|" + "---|" * len(rules) + "---|---|")
    for name in names:
        rows = [r for (n, _), r in sorted(recs.items()) if n == name]
        mean = lambda v, m: np.mean([r[v][m] for r in rows])  # noqa: E731
        cells = [f"{mean(v, 'acc'):.3f} ({min(r[v]['acc'] for r in rows):.3f})" for v in VARIANTS]
        nmi_ari = f"{mean(old, 'nmi'):.3f} / {mean(old, 'ari'):.3f} → {mean(new, 'nmi'):.3f} / {mean(new, 'ari'):.3f}"
        per_seed = [" / ".join(f"{r[v]['acc']:.3f}{'*' if r[v]['paired'] else ''}" for r in rows) for v in rules]
        secs = f"{mean(old, 'refine_s'):.1f} → {mean(new, 'refine_s'):.1f}"
        print(markdown_row(name, len(rows), *cells, nmi_ari, *per_seed, secs,
                           f"{np.mean([r['fit_s'] for r in rows]):.0f}"))


def main():
    study_main(__doc__, study, summary, report, datasets=DATASETS,
               groups={"vectors": VECTORS, "images": [d for d in DATASETS if d not in VECTORS]},
               default_out=str(HERE / "results" / "cluster_pairs.jsonl"), smoke_data="digits-vectors",
               seeds=[0, 1, 2, 3, 4], add_arguments=_add_arguments)


def _add_arguments(parser):
    parser.add_argument("--rules", nargs="*", default=list(RULES), choices=list(RULES),
                        help="the other rules to run beside the two settings (default: all)")


if __name__ == "__main__":
    main()
