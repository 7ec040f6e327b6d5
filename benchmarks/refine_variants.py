"""The refinement with variants of its constants, each from the same C2BIN phase (issue 13).

Per data set and seed the C2BIN phase is fitted once (``refine=None``), then refined as ``fit``
does (``refined_copy``, the gate included) once per variant of a named set (``--variants``), in the
same process; each variant sets estimator parameters and module constants of
:mod:`skc2bin.training.refine` (restored after). Labels are used only for scoring. The sets:

``layout-judge`` (fourteenth session). On digits as vectors seed 9 the layout step's copy (ACC
0.932) scored lower than the head (0.856) and its refined control on the selection score, but cut
7.5 % more neighbour pairs than the control (4 % more than the head; 7 % more per cluster) and was
refused; the true classes cut more than both. One refinement moves a partition's cut by 5-13 % (a
probe of seed 9 and digits-geo). On the unequal digits-geo vectors the refused layout copies (ACC
0.60-0.71, below the head's 0.73) cut 24-42 % more. So the set lets a layout's copy cut up to
``refine.LAYOUT_CUT_TOLERANCE`` more, in all and per cluster (the re-pairing step's copies keep
the strict rule), and, to bring the refinement's time back, distils the copies that are refined
next (a layout's, the re-paired ones) for ``refine.STEP_DISTILL_EPOCHS`` epochs instead of 50.

``step-distill``: only the distillation epochs of the copies refined next, 50 or 20, everything
else at its default: for images, where only the re-pairing step distils such copies.

``image-layouts`` (fifteenth session): the layout step on images too, on layouts of the
L2-normalised representation (``refine.LAYOUT_REPRESENTATION``), with and without the re-pairing
step after a layout's copy.

``layout-partition`` (fifteenth session): each layout partitioned by the Gaussian mixture with 3
starts (the earlier default), with 10, or by the mixture and k-means both (``refine.LAYOUT_PARTITIONS``,
the default since).

``merge-split`` (sixteenth session): the refinement without and with the merge-and-split step
after the re-pairing step (``refine.MERGE_SPLITS`` 2, off by default: one of the most linked pairs
of clusters merged, a third cluster halved; distilled copies judged on the cut), for images, with
and without its check of the merged pair (``refine.MERGE_PAIR_CUT`` 0: the first rule).
``merge-split-first``: the records of that first rule, fitted before the check existed (whose extra
bisections now shift the random draws). ``merge-split-vectors``: the first rule where the
neighbours are mined in the input (feature vectors; ``refine.MERGE_INPUT_SPACES``).

``layout-shape`` (seventeenth session): the layout's graph and size, its default (15 neighbours, 10
dimensions) against 10 and 30 neighbours (``refine.LAYOUT_NEIGHBORS``) and 5 and 20 dimensions
(``refine.LAYOUT_COMPONENTS``).

``defaults``: the layout step as the thirteenth session left it (every constant above at its old
value, the re-pairing step also after a layout's copy replaced the head, ``PAIRS_AFTER_LAYOUT``,
and no ``LAYOUT_MIN_CHANGE``), the refinement without the layout step, and today's defaults.

Run (one torch thread; one JSON line per fit appended to --out):
    OMP_NUM_THREADS=1 python benchmarks/refine_variants.py --variants layout-judge --data vectors \
        --seeds 0 1 2 3 4 --out benchmarks/results/layout_judge.jsonl
    OMP_NUM_THREADS=1 python benchmarks/refine_variants.py --variants step-distill \
        --data digits8 digits16 digits28 digits-geo digits-one3x --seeds 0 1 2 3 4 \
        --out benchmarks/results/step_distill.jsonl
    OMP_NUM_THREADS=1 python benchmarks/refine_variants.py --variants defaults --data vectors \
        --seeds 0 1 2 3 4 --out benchmarks/results/layout_defaults.jsonl
    OMP_NUM_THREADS=1 python benchmarks/refine_variants.py --variants image-layouts --data digits-geo digits-one3x \
        --seeds 0 1 2 3 4 --out benchmarks/results/image_layouts.jsonl
    OMP_NUM_THREADS=1 python benchmarks/refine_variants.py --variants layout-partition --data vectors \
        --seeds 0 1 2 3 4 --out benchmarks/results/layout_partition.jsonl
    OMP_NUM_THREADS=1 python benchmarks/refine_variants.py --variants merge-split --phases DIR \
        --data digits-geo digits-one3x digits8 digits16 digits28 --seeds 0 1 2 3 4 \
        --out benchmarks/results/merge_split_images.jsonl
    OMP_NUM_THREADS=1 python benchmarks/refine_variants.py --variants merge-split-vectors --data vectors \
        --seeds 0 1 2 --out benchmarks/results/merge_split.jsonl
    OMP_NUM_THREADS=1 python benchmarks/refine_variants.py --variants layout-shape --data digits-vectors \
        --seeds 0 1 2 --out benchmarks/results/layout_shape.jsonl
    python benchmarks/refine_variants.py --report --out benchmarks/results/layout_judge.jsonl
``--data`` takes data sets of benchmarks/_sets.py or ``vectors`` (every feature-vector set there);
``--phases DIR`` reads each C2BIN phase from DIR where an earlier run saved it there (and saves it);
``--smoke`` refines one small fit of 200 moons into a temporary file.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import (c2bin_phase, read_records, refine_constants, refined_variants, scores, study_main,  # noqa: E402
                     variant_options, variants_summary, variants_table)
from _sets import DATASETS, VECTORS, study_data  # noqa: E402

#: Variant set -> variant name -> (estimator parameters, constants of the refine module).
#: The thirteenth session's layout step: no tolerance, 50 distillation epochs, re-pairing after it.
_THIRTEENTH = {"LAYOUT_CUT_TOLERANCE": 0.0, "STEP_DISTILL_EPOCHS": None, "PAIRS_AFTER_LAYOUT": True,
               "LAYOUT_MIN_CHANGE": 0.0}

VARIANT_SETS = {
    "layout-judge": {
        "no layout": ({"refine_layouts": 0}, _THIRTEENTH),
        "1 layout": ({"refine_layouts": 1}, _THIRTEENTH),
        "tolerance 0.1": ({"refine_layouts": 1}, {**_THIRTEENTH, "LAYOUT_CUT_TOLERANCE": 0.1}),
        "distil 20": ({"refine_layouts": 1}, {**_THIRTEENTH, "STEP_DISTILL_EPOCHS": 20}),
        "tolerance 0.1, distil 20": ({"refine_layouts": 1}, {**_THIRTEENTH, "LAYOUT_CUT_TOLERANCE": 0.1,
                                                             "STEP_DISTILL_EPOCHS": 20}),
    },
    "step-distill": {
        "distil 50": ({}, {"STEP_DISTILL_EPOCHS": None}),
        "distil 20": ({}, {"STEP_DISTILL_EPOCHS": 20}),
    },
    "image-layouts": {
        "default": ({}, {}),
        "layout": ({}, {"LAYOUT_REPRESENTATION": True}),
        "layout, pairs after": ({}, {"LAYOUT_REPRESENTATION": True, "PAIRS_AFTER_LAYOUT": True}),
    },
    "layout-partition": {
        "GMM, 3 starts": ({}, {"LAYOUT_PARTITIONS": (("gmm", 3),)}),
        "GMM, 10 starts": ({}, {"LAYOUT_PARTITIONS": (("gmm", 10),)}),
        "GMM 3 + k-means 10": ({}, {"LAYOUT_PARTITIONS": (("gmm", 3), ("kmeans", 10))}),
    },
    "merge-split": {
        "no merge-split": ({}, {"MERGE_SPLITS": 0}),
        "no pair check": ({}, {"MERGE_SPLITS": 2, "MERGE_PAIR_CUT": 0.0}),
        "merge-split": ({}, {"MERGE_SPLITS": 2}),
    },
    "merge-split-first": {
        "no merge-split": ({}, {"MERGE_SPLITS": 0}),
        "no pair check": ({}, {"MERGE_SPLITS": 2, "MERGE_PAIR_CUT": 0.0}),
    },
    "merge-split-vectors": {
        "no merge-split": ({}, {"MERGE_SPLITS": 0}),
        "on vectors": ({}, {"MERGE_SPLITS": 2, "MERGE_INPUT_SPACES": True, "MERGE_PAIR_CUT": 0.0}),
    },
    "layout-shape": {
        "default": ({}, {}),
        "10 neighbours": ({}, {"LAYOUT_NEIGHBORS": 10}),
        "30 neighbours": ({}, {"LAYOUT_NEIGHBORS": 30}),
        "5 dimensions": ({}, {"LAYOUT_COMPONENTS": 5}),
        "20 dimensions": ({}, {"LAYOUT_COMPONENTS": 20}),
    },
    "defaults": {
        "13th session": ({}, _THIRTEENTH),
        "no layout": ({"refine_layouts": 0}, {}),
        "default": ({}, {}),
    },
}


def study(name, seed, args):
    load, params = study_data(name)
    X, y, est, fit_s = c2bin_phase(load, seed, args, name=name, **params)
    record = {"data": name, "seed": seed, "fit_s": fit_s, "phase": scores(y, est.labels_)[0],
              "variants": args.variants}
    for variant, (est_params, values) in VARIANT_SETS[args.variants].items():
        with refine_constants(values):
            record.update(refined_variants(est, X, y, {variant: est_params}))
    return record


def _variants(record):
    """The variant names of ``record``'s set (records of the first study lack the set's name)."""
    return VARIANT_SETS[record.get("variants", "layout-judge")]


def summary(r):
    return variants_summary(r, _variants(r))


def report(path):
    """Per data set: ACC mean (worst) per variant, NMI / ARI means, per seed the ACC of each variant
    (L: a layout's copy replaced the head; P: a re-paired copy did), the refinement's seconds per
    variant and the C2BIN phase's."""
    recs = read_records(path)
    if recs:
        variants_table(recs, _variants(next(iter(recs.values()))))  # one set per file


if __name__ == "__main__":
    study_main(__doc__, study, summary, report, datasets=DATASETS, groups={"vectors": VECTORS},
               add_arguments=variant_options(
                   VARIANT_SETS, "layout-judge", "to refine with",
                   "read each C2BIN phase from DIR where an earlier run saved it, else fit it and save it there"),
               default_out=str(HERE / "results" / "layout_judge.jsonl"), smoke_data="moons",
               seeds=[0, 1, 2, 3, 4])
