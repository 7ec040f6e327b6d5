"""Where does the refinement lower ACC, and does the neighbours' agreement with C2BIN's head tell? (issue 13)

The refinement (method.md, steps 1-6) follows the neighbours mined in the frozen representation.
On the CIFAR-10 test images (CPU and GPU) it lowers ACC in every run so far, and on the CPU the
C2BIN head's partition keeps only about 78 % of the mined neighbour pairs together, where every
other data set studied keeps 89 % or more. This study asks whether that share,
``history_[-1]["refine_agreement"][0]``, separates the fits the refinement lowers from those it
lifts, so that a rule "refine only where the head keeps at least a share tau of the neighbour pairs
together" could be judged on every data set before it becomes a default.

Per data set and seed the C2BIN phase is fitted once (``refine=None``) and scored, then refined
exactly as ``fit`` does (``refined_copy``) and scored; the record keeps the head's neighbour
agreement before and after, what replaced the head and the 10-NN accuracy of ``transform``.
Labels are used only for scoring. The report lists the fits by that agreement and, for a few
values of tau, which fits the rule would leave unrefined and the ACC it would gain or lose there.

``--clusters K`` fits every data set with ``n_clusters=K`` instead of its number of classes, to see
how the share moves with the number of clusters (a finer partition cuts more neighbour pairs
whatever the data). The gate reads a head of more than ``refine.GATE_CLUSTERS`` clusters with its
most linked clusters merged down to that many (``gate_agreement``); the report then gives NMI and
ARI (ACC needs as many clusters as classes), the head's own share, the share the gate reads, and
whether the gate would skip the refinement by either.

Run (one torch thread; one JSON line per fit appended to --out):
    OMP_NUM_THREADS=1 python benchmarks/refine_gate.py --data cifar10 cifar10-gray --seeds 0 1 \
        --out benchmarks/results/refine_gate.jsonl
    OMP_NUM_THREADS=1 python benchmarks/refine_gate.py --data extra --seeds 0 --out ...
    python benchmarks/refine_gate.py --report --out benchmarks/results/refine_gate.jsonl
    OMP_NUM_THREADS=1 python benchmarks/refine_gate.py --data digits8 cifar10 --seeds 0 --clusters 30 \
        --out benchmarks/results/refine_gate_clusters.jsonl
``--data`` takes data sets of benchmarks/_sets.py, the groups ``core``, ``extra`` and ``vectors``,
``cifar10`` (the 10,000 CIFAR-10 test images, 15 epochs, about 4 minutes) and ``cifar10-gray``
(the same in grayscale). ``--smoke`` refines one small fit of 200 moons into a temporary file.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import c2bin_phase, knn_accuracy, markdown_row, read_records, refined_variants, scores  # noqa: E402
from _common import study_main, ungated  # noqa: E402
from _sets import CIFAR_SETS, CORE, DATASETS, EXTRA, VECTORS, study_data  # noqa: E402

from skc2bin.training.refine import GATE_CLUSTERS, MIN_NEIGHBOR_AGREEMENT  # noqa: E402

#: The shares tau the report tries.
TAUS = (0.80, 0.85, 0.88)


def study(name, seed, args):
    load, params = study_data(name)
    if args.clusters is not None:
        params = {**params, "n_clusters": args.clusters}
    X, y, est, fit_s = c2bin_phase(load, seed, args, **params)
    acc, nmi, ari = scores(y, est.labels_)
    with ungated():  # what the refinement does where the gate would not stop it
        refined = refined_variants(est, X, y, {"default": {}})
    return {"data": name, "seed": seed, **({} if args.clusters is None else {"n_clusters": args.clusters}),
            "fit_s": fit_s, "phase": {"acc": acc, "nmi": nmi, "ari": ari},
            "knn": knn_accuracy(est.transform(X), y, seed), **refined}


def summary(r):
    d = r["default"]
    if "n_clusters" in r:
        return (f"{r['data']} seed {r['seed']}, {r['n_clusters']} clusters: agreement {d['agreement'][0]:.3f}, "
                f"read by the gate {d['gate_agreement']:.3f}; NMI {r['phase']['nmi']:.3f} -> refined {d['nmi']:.3f}")
    return (f"{r['data']} seed {r['seed']}: agreement {d['agreement'][0]:.3f}, C2BIN phase {r['phase']['acc']:.3f} "
            f"-> refined {d['acc']:.3f} ({d['outcome']}{', re-paired' if d['paired'] else ''}), k-NN {r['knn']:.3f}")


def report(path):
    """The fits by the C2BIN head's neighbour agreement, then what the rule would do for each tau
    (records of ``--clusters`` runs: :func:`report_clusters`)."""
    recs = sorted(read_records(path, key=("data", "seed", "n_clusters")).values(),
                  key=lambda r: r["default"]["agreement"][0])
    if recs and "n_clusters" in recs[0]:
        return report_clusters(recs)
    print("| data | seed | head's neighbour agreement: before → after | 10-NN acc. | C2BIN phase ACC | refined ACC "
          "| change | what replaced the head |")
    print("|---|---|---|---|---|---|---|---|")
    for r in recs:
        d = r["default"]
        print(markdown_row(r["data"], r["seed"], f"{d['agreement'][0]:.3f} → {d['agreement'][1]:.3f}",
                           f"{r['knn']:.3f}", f"{r['phase']['acc']:.3f}", f"{d['acc']:.3f}",
                           f"{d['acc'] - r['phase']['acc']:+.3f}",
                           d["outcome"] + (", re-paired" if d["paired"] else "")))
    print("\n| tau | fits left unrefined | ACC change there (refined → unrefined) | fits |")
    print("|---|---|---|---|")
    for tau in TAUS:
        gated = [r for r in recs if r["default"]["agreement"][0] < tau]
        gain = sum(r["phase"]["acc"] - r["default"]["acc"] for r in gated)
        print(markdown_row(f"{tau:.2f}", f"{len(gated)} of {len(recs)}", f"{gain:+.3f} in all",
                           ", ".join(f"{r['data']} {r['seed']} ({r['phase']['acc'] - r['default']['acc']:+.3f})"
                                     for r in gated) or "–"))


def report_clusters(recs):
    """Per fit with ``n_clusters`` set: the head's share, the share the gate reads (merged down to
    GATE_CLUSTERS clusters where it has more), whether each would skip the refinement, and NMI / ARI
    of the C2BIN phase and of the refinement (run without the gate)."""
    print(f"| data | seed | n_clusters | head's neighbour agreement | read by the gate (merged down to {GATE_CLUSTERS}) "
          "| skipped by the head's share | skipped by the gate | NMI: C2BIN phase → refined | ARI: C2BIN phase → "
          "refined | what replaced the head |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in sorted(recs, key=lambda r: (r["data"], r["seed"], r["n_clusters"])):
        d = r["default"]
        print(markdown_row(r["data"], r["seed"], r["n_clusters"], f"{d['agreement'][0]:.3f}",
                           f"{d['gate_agreement']:.3f}",
                           *("yes" if a < MIN_NEIGHBOR_AGREEMENT else "no" for a in (d["agreement"][0],
                                                                                    d["gate_agreement"])),
                           f"{r['phase']['nmi']:.3f} → {d['nmi']:.3f}", f"{r['phase']['ari']:.3f} → {d['ari']:.3f}",
                           d["outcome"] + (", re-paired" if d["paired"] else "")))


def add_arguments(parser):
    parser.add_argument("--clusters", type=int, default=None, metavar="K",
                        help="fit with n_clusters=K instead of the number of classes (default: the classes)")


if __name__ == "__main__":
    study_main(__doc__, study, summary, report, datasets=[*DATASETS, *CIFAR_SETS],
               groups={"extra": EXTRA, "core": CORE, "vectors": VECTORS},
               default_out=str(HERE / "results" / "refine_gate.jsonl"), smoke_data="moons",
               add_arguments=add_arguments)
