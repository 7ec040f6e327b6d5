"""Agreement between augmented views as a second judge of the re-pairing step (issue 13; since 2026-11-27 for images).

The re-pairing step (``refine_pairs``) refuses some re-paired heads that were right: on the
rotated digits, on digits 16×16 with 2 torch threads (seed 0) and on digits as vectors (seed 2)
the right copy ties the control (the head refined further) on the selection score and on the share
of neighbour pairs it cuts, so no neighbour-based rule takes it without also taking harmful ones.
This study asks whether a signal the neighbour graph does not hold tells them apart: how often a
head puts an augmented view of a sample (the fit's own augmentation) in the same cluster as the
sample itself. A partition that cuts a class along a style the augmentations change should agree
less with itself across views than one that follows the classes.

Per fit, the C2BIN phase is fitted once (``refine=None``) and refined as ``fit`` does
(``refined_copy``, default parameters, without the refinement's gate so that the step runs on
every fit). During the re-pairing step of the primary scale the study
records, for the control, each re-paired copy (refined) and the head as it was: the selection
score, the share of neighbour pairs its partition cuts, its agreement across views (the share of
samples whose cluster on an augmented view is their cluster un-augmented, mean over
``R.VIEWS`` views), admissibility and, for scoring only, its ACC.
The report applies four rules to those records: *neighbours* (the default's rule until
2026-11-27, and still for vectors), *views* (the copy with the highest view agreement among the
admissible ones that agree across views more than both the head and the control and are lower
than the worse of the two on the selection score and on the share of pairs cut), *neighbours,
else views*, and *neighbours, veto, else views*, the default for images since 2026-11-27 (as
that, but the neighbour rule's pick is dropped where it agrees across views less than both the
head and the control; ``_chosen_with_views``). The condition on the selection score and the veto
came after the records of ``view_agreement.jsonl``.

The views are drawn as the refinement draws them (``C2BINNet.augmented_representation``, the fit's
augmentation, ``R.VIEWS`` views); for images they are the very views the refinement's rule saw
(``views_from: 'refinement'``), for vectors, which the refinement gives none, the study's own
(``'study'``). ``view_agreement.jsonl`` was recorded by this script at commit 8de44b4, which drew
its views in batches of 256 from a generator seeded with 0 (``git show 8de44b4:benchmarks/view_agreement.py``).

Labels are used only for scoring. Run (one JSON line per fit appended to --out):
    OMP_NUM_THREADS=1 python benchmarks/view_agreement.py --data d-rotated digits-one3x --seeds 0 1 3
    python benchmarks/view_agreement.py --report
``--smoke`` runs one small fit of 200 digits as vectors into a temporary file.
"""

import copy
import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import c2bin_phase, fit_augmentation, markdown_row, read_records, refined_copy, scores  # noqa: E402
from _common import re_pairing_step, study_main, ungated  # noqa: E402
from _sets import DATASETS, VECTORS  # noqa: E402

from skc2bin.training import refine as R  # noqa: E402

def library_views(est, X, seed=0):
    """A source of augmented views of ``X`` as the refinement draws them for images
    (``C2BINNet.augmented_representation``, the fit's augmentation, ``R.VIEWS`` views, ``seed``):
    for feature vectors, where the refinement draws none, the study draws them alike."""
    augment, Xt = fit_augmentation(est), est._checked_data(X, reset=False)[0]
    return lambda: est.net_.augmented_representation(Xt, augment, R.VIEWS, seed)


def study(name, seed, args):
    X, y, est, fit_s = c2bin_phase(DATASETS[name], seed, args)
    own_views = library_views(est, X)
    steps = []
    original = R._refine_into
    # The re-pairing step is studied on every fit (the smoke's one-epoch fit is gated), and only it:
    # not the layout step's judgement, which comes first on feature vectors.
    with ungated(), re_pairing_step() as pairing:
        def spy(head, candidates, features, neighbors, *, control=False, views=None, **kwargs):
            as_was = copy.deepcopy(head)
            out = original(head, candidates, features, neighbors, control=control, views=views, **kwargs)
            if control and pairing["on"] and not steps:  # the primary scale's re-pairing step
                heads = [*candidates, as_was]
                probabilities = [R._probabilities(h, features) for h in heads]
                source = "refinement" if views is not None else "study"  # images: the views the rule saw
                agreement = R.view_agreement(heads, features, (views or own_views)(), probabilities)
                steps.append({"sel": out[1].tolist(), "cut": R._cut_shares(probabilities, neighbors).tolist(),
                              "views": agreement.tolist(), "views_from": source,
                              "admissible": out[2].tolist(), "replaced": out[3],
                              "acc": [scores(y, p.argmax(1).cpu().numpy())[0] for p in probabilities]})
            return out

        R._refine_into = spy
        try:
            refined = refined_copy(est, X, refine="neighbors")
        finally:
            R._refine_into = original
    return {"data": name, "seed": seed, "fit_s": fit_s, "threads": torch.get_num_threads(),
            "default": scores(y, refined.labels_)[0], "step": steps[0] if steps else None}


def chosen(step, rule):
    """Index of the re-paired copy ``rule`` takes from a recorded step (control 0, head last), or None."""
    sel, adm = torch.tensor(step["sel"]), torch.tensor(step["admissible"])
    cut, views = (torch.tensor(step[k], dtype=torch.float64) for k in ("cut", "views"))
    first = R._chosen_candidate(sel, adm, cut)  # the library's neighbour rule, on the recorded numbers
    if rule == "neighbours":
        return first
    if rule == "views":  # the second judge alone: a copy the views take where the neighbours take none
        return R._chosen_with_views(None, sel, adm, cut, lambda: views)
    if rule == "neighbours, else views":
        return first if first is not None else R._chosen_with_views(None, sel, adm, cut, lambda: views)
    return R._chosen_with_views(first, sel, adm, cut, lambda: views)  # the default for images


RULES = ("neighbours", "views", "neighbours, else views", "neighbours, veto, else views")


def summary(r):
    if r["step"] is None:
        return f"{r['data']} seed {r['seed']}: no re-pairing step ran; default {r['default']:.3f}"
    s = r["step"]
    names = ["control", *[f"copy {i}" for i in range(1, len(s["sel"]) - 1)], "head"]
    lines = [f"{r['data']} seed {r['seed']} ({r['threads']} threads): default {r['default']:.3f}"]
    lines += [f"  {n:8s} sel {s['sel'][i]:.4f} cut {s['cut'][i]:.4f} views {s['views'][i]:.4f} acc {s['acc'][i]:.3f}"
              for i, n in enumerate(names)]
    return "\n".join(lines)


def report(path):
    """Per fit: the head's ACC before the step, then the ACC each rule gives (* where it takes a copy),
    and the view agreement of the control, the head and the best re-paired copy by ACC."""
    recs = read_records(path, key=("data", "seed", "threads"))
    print("| data | seed | threads | head before the step | " + " | ".join(f"rule: {r}" for r in RULES)
          + " | view agreement: control / head / best copy by ACC (its ACC) |")
    print("|---|---|---|---|" + "---|" * len(RULES) + "---|")
    for (name, seed, threads), r in sorted(recs.items()):
        s = r["step"]
        if s is None:
            continue
        acc, views = s["acc"], s["views"]
        cells = []
        for rule in RULES:
            i = chosen(s, rule)
            cells.append(f"{acc[-1]:.3f}" if i is None else f"{acc[i]:.3f}*")
        best = 1 + int(np.argmax(acc[1:-1]))
        print(markdown_row(name, seed, threads, f"{acc[-1]:.3f}", *cells,
                           f"{views[0]:.4f} / {views[-1]:.4f} / {views[best]:.4f} ({acc[best]:.3f})"))


def main():
    study_main(__doc__, study, summary, report, datasets=DATASETS, groups={"vectors": VECTORS},
               default_out=str(HERE / "results" / "view_agreement.jsonl"), smoke_data="digits-vectors",
               seeds=[0])


if __name__ == "__main__":
    main()
