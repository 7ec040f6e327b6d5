"""The re-pairing step's cut per cluster (issue 13; ``refine.PAIRS_CLUSTER_CUT``).

The last step of the refinement (``refine_pairs``, method.md) offers the head its own partition
with two linked clusters re-paired: copies distilled, refined like the heads, and judged against the
head and a control (the head refined once more) by the selection score, the share of neighbour
pairs cut and, for images, agreement across augmented views. Each of the three counts every sample
once. On the CIFAR-10 test images (CPU, 15 epochs) the step took a copy that had refined into two
clusters of 27 % and 38 % of the images and lowered ACC: a giant cluster that swallows its
neighbours' classes cuts few pairs in all, agrees well across views and pays only the entropy term.
The veto studied here also asks that the copy cut, on average over its clusters, a smaller share of
their neighbour pairs than both the head and the control
(:func:`skc2bin.training.partitions.mean_cluster_cut`, a normalised cut: every cluster counts once).

Per data set and seed the C2BIN phase is fitted once (``refine=None``), then refined as ``fit``
does (``refined_copy``, without the refinement's gate, which came after this study and leaves
CIFAR-10 unrefined) twice in the same process: without the veto
(``PAIRS_CLUSTER_CUT = False``, the rule before) and with it (the default). For the primary scale's
re-pairing step it also records, per candidate (the control, the copies, the head): ACC, selection
score, share of pairs cut, mean share cut per cluster, largest cluster, agreement across views
where the rule computed it, and which copy the rule before picked. Labels are used only for
scoring.

Run (one torch thread; one JSON line per fit appended to --out):
    OMP_NUM_THREADS=1 python benchmarks/pair_cut.py --data cifar10 --seeds 0 --out benchmarks/results/pair_cut.jsonl
    OMP_NUM_THREADS=1 python benchmarks/pair_cut.py --data images --seeds 0 1 2 3 4 --out ...
    python benchmarks/pair_cut.py --report --out benchmarks/results/pair_cut.jsonl
``--data`` takes data sets of benchmarks/_sets.py, ``vectors`` (every feature-vector set there),
``images`` (the digit image sets of the issue's goals) or ``cifar10`` (the 10,000 CIFAR-10 test
images, 15 epochs, about 4 minutes). ``--smoke`` refines one small fit of 200 moons into a
temporary file.
"""

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import (c2bin_phase, markdown_row, re_pairing_step, read_records, refine_constants,  # noqa: E402
                     refined_variants, scores, study_main, ungated)
from _sets import DATASETS, VECTORS, study_data  # noqa: E402

from skc2bin.training import refine  # noqa: E402
from skc2bin.training.partitions import mean_cluster_cut  # noqa: E402

#: Variant name -> refine.PAIRS_CLUSTER_CUT.
VARIANTS = {"without": False, "with (default)": True}
#: The image sets of the issue's goals.
IMAGES = ["digits8", "digits16", "digits28", "digits-geo", "digits-one3x"]


def study(name, seed, args):
    load, params = study_data(name)
    X, y, est, fit_s = c2bin_phase(load, seed, args, **params)
    record = {"data": name, "seed": seed, "fit_s": fit_s, "phase": scores(y, est.labels_)[0]}
    for variant, flag in VARIANTS.items():
        # The step as it runs where the gate lets the refinement run.
        with _Recorder(y) as step, ungated(), refine_constants({"PAIRS_CLUSTER_CUT": flag}):
            record.update(refined_variants(est, X, y, {variant: {}}))
        record[variant]["step"] = step.record
    return record


class _Recorder:
    """Wraps the re-pairing step's helpers in :mod:`skc2bin.training.refine` while a refinement
    runs, recording the first step (the primary scale): per candidate its ACC, selection score,
    share of pairs cut, mean share cut per cluster, largest cluster and views, and the pick."""

    NAMES = ("_cut_shares", "_chosen_candidate", "_chosen_with_views", "view_agreement")

    def __init__(self, y):
        self.y, self.record, self.saved = y, None, {}
        self._pairing = re_pairing_step()  # record that step only, not the layout step's judgement
        self.pairing = {"on": False}

    def __enter__(self):
        self.pairing = self._pairing.__enter__()
        self.saved = {name: getattr(refine, name) for name in self.NAMES}
        for name in self.NAMES:
            setattr(refine, name, getattr(self, name))
        return self

    def __exit__(self, *exc):
        for name, function in self.saved.items():
            setattr(refine, name, function)
        self._pairing.__exit__(*exc)

    def _open(self):
        return self.record is not None and "picked" not in self.record

    def _cut_shares(self, probabilities, neighbors):
        cuts = self.saved["_cut_shares"](probabilities, neighbors)
        if self.record is None and self.pairing["on"] and len(probabilities[0]) == len(self.y):
            k = probabilities[0].shape[1]
            labels = [p.argmax(1).cpu() for p in probabilities]
            self.record = {"acc": [scores(self.y, lab.numpy())[0] for lab in labels], "cut": cuts.tolist(),
                           "cluster_cut": [mean_cluster_cut(lab, neighbors.cpu(), k) for lab in labels],
                           "largest": [float(np.bincount(lab.numpy(), minlength=k).max() / len(lab))
                                       for lab in labels]}
        return cuts

    def _chosen_candidate(self, scores_, admissible, cuts=None, cut_tolerance=0.0):
        picked = self.saved["_chosen_candidate"](scores_, admissible, cuts, cut_tolerance)
        if cuts is not None and self._open():
            self.record.update(sel=scores_.tolist(), admissible=admissible.tolist(), picked=picked)
        return picked

    def _chosen_with_views(self, picked, scores_, admissible, cuts, agreements):
        chosen = self.saved["_chosen_with_views"](picked, scores_, admissible, cuts, agreements)
        if self.record is not None and "with_views" not in self.record:
            self.record["with_views"] = chosen
        return chosen

    def view_agreement(self, *args, **kwargs):
        agree = self.saved["view_agreement"](*args, **kwargs)
        if self.record is not None and "views" not in self.record:
            self.record["views"] = agree.tolist()
        return agree


def summary(r):
    return f"{r['data']} seed {r['seed']}: C2BIN phase {r['phase']:.3f}, " + ", ".join(
        f"{v} {r[v]['acc']:.3f} ({r[v]['outcome']}{', re-paired' if r[v]['paired'] else ''})" for v in VARIANTS)


def report(path):
    """Per fit: ACC and outcome of both variants; the step's candidates (control, copies, head):
    ACC, share of pairs cut and mean share cut per cluster, the copy the rule before picked."""
    recs = read_records(path)
    print("| data | seed | C2BIN phase | " + " | ".join(f"{v}: ACC" for v in VARIANTS)
          + " | step: ACC (control, copies, head) | pairs cut | mean cut per cluster | largest cluster | picked |")
    print("|---|---|---|" + "---|" * (len(VARIANTS) + 5))
    for (name, seed), r in sorted(recs.items()):
        step = r["without"].get("step") or {}
        cells = [" / ".join(f"{v:.3f}" for v in step[m]) if m in step else "–"
                 for m in ("acc", "cut", "cluster_cut", "largest")]
        picked = step.get("with_views", step.get("picked"))
        print(markdown_row(name, seed, f"{r['phase']:.3f}",
                           *(f"{r[v]['acc']:.3f}{' (paired)' if r[v]['paired'] else ''}" for v in VARIANTS),
                           *cells, "–" if picked is None else picked))
    print("\n| data | seeds | " + " | ".join(f"{v}: ACC mean (worst)" for v in VARIANTS) + " |")
    print("|---|---|" + "---|" * len(VARIANTS))
    for name in dict.fromkeys(n for n, _ in sorted(recs)):
        rows = [r for (n, _), r in sorted(recs.items()) if n == name]
        print(markdown_row(name, len(rows), *(f"{np.mean([r[v]['acc'] for r in rows]):.3f} "
                                               f"({min(r[v]['acc'] for r in rows):.3f})" for v in VARIANTS)))


if __name__ == "__main__":
    study_main(__doc__, study, summary, report, datasets=[*DATASETS, "cifar10"],
               groups={"images": IMAGES, "vectors": VECTORS},
               default_out=str(HERE / "results" / "pair_cut.jsonl"), smoke_data="moons")
