"""Where should the refinement mine the neighbours of feature vectors? (issue 13, ``refine_space``)

The refinement phase trains the cluster heads on the frozen representation to agree with each
sample's mined neighbours. For images the neighbours come from the representation; for feature
vectors the representation adds little to the input's geometry (docs/benchmarks.md), so the
neighbours may come from the standardised input instead. This study fits the C2BIN phase once per
data set and seed (``refine=None``), then refines copies of that fit exactly as ``fit`` does (the
same seeded call, ``C2BINNet.refine``), each with the neighbours of one space, and records ACC:

* ``representation``: cosine similarity in the representation (``refine_space='representation'``);
* ``input``: Euclidean distance between the standardised inputs (``refine_space='input'``);
* ``input, cosine``: cosine similarity between the standardised inputs;
* ``input, 20`` / ``input, 30``: Euclidean, 20 / 30 neighbours (``refine_neighbors``);
* ``both``: Euclidean distance in the concatenation of the standardised input divided by the square
  root of its width and the representation scaled to unit length (each part weighs about the same).
* ``weighted input``: Euclidean distance between the standardised inputs, each column weighted by
  its Laplacian score on the representation's neighbour graph (``refine_space='weighted-input'``,
  what ``'auto'`` picks for vectors since it was added; records made before it lack the column).

Labels are used only for scoring. Run (one torch thread; one JSON line per fit appended to --out):
    OMP_NUM_THREADS=1 python benchmarks/neighbor_space.py --data vectors --seeds 0 1 2 \
        --out benchmarks/results/neighbor_space.jsonl
    python benchmarks/neighbor_space.py --report --out benchmarks/results/neighbor_space.jsonl
``--data`` takes data sets of benchmarks/_sets.py or ``vectors`` (every feature-vector set there).
``--smoke`` refines one small fit of 200 digits as vectors into a temporary file.
"""

import sys
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import c2bin_phase, markdown_row, read_records, refined_copy, scores, study_main  # noqa: E402
from _sets import DATASETS, VECTORS  # noqa: E402


#: Variant -> (refine_space, refine_neighbors, rows to mine in place of the network inputs or None).
VARIANTS = {
    "representation": ("representation", 10, None),
    "input": ("input", 10, None),
    "input, cosine": ("input", 10, "unit inputs"),
    "input, 20": ("input", 20, None),
    "input, 30": ("input", 30, None),
    "both": ("input", 10, "both"),
    "weighted input": ("weighted-input", 10, None),
}


def _rows(kind, net, Xt):
    """The rows a variant mines by Euclidean distance: unit-length inputs (a ranking by cosine
    similarity), or the inputs beside the unit-length representation."""
    inputs = net.network_inputs(Xt)
    if kind == "unit inputs":
        return torch.nn.functional.normalize(inputs, dim=1)
    features = net.representation(Xt)
    return torch.cat([inputs / inputs.shape[1] ** 0.5, torch.nn.functional.normalize(features, dim=1)], 1)


def _mining(rows):
    """``prepare`` for :func:`refined_copy`: the copy's refinement mines ``rows`` by the ``'input'``
    space's Euclidean distance (its ``network_inputs`` returns them: an instance attribute shadows
    the method; benchmark only)."""
    def prepare(refined):
        refined.net_.network_inputs = lambda _X: rows
    return prepare


def study(name, seed, args):
    X, y, est, fit_s = c2bin_phase(DATASETS[name], seed, args)
    record = {"data": name, "seed": seed, "fit_s": fit_s, "phase": scores(y, est.labels_)[0]}
    Xt, _ = est._checked_data(X, reset=False)  # the training samples as fit saw them (benchmark only)
    for variant, (space, n_neighbors, rows) in VARIANTS.items():
        prepare = None if rows is None else _mining(_rows(rows, est.net_, Xt))
        refined = refined_copy(est, X, prepare, refine="neighbors", refine_space=space, refine_neighbors=n_neighbors)
        record[variant] = scores(y, refined.labels_)[0]
    return record


def summary(r):
    return f"{r['data']} seed {r['seed']}: " + ", ".join(f"{v} {r[v]:.3f}" for v in VARIANTS)


def report(path):
    """ACC per data set (mean over its seeds, worst seed in brackets) of every variant."""
    recs = read_records(path)
    names = list(dict.fromkeys(name for name, _ in sorted(recs)))
    print("| data | seeds | " + " | ".join(VARIANTS) + " |")
    print("|---|---|" + "---|" * len(VARIANTS))
    for name in names:
        rows = [r for (n, _), r in sorted(recs.items()) if n == name]
        cells = [f"{np.mean([r[v] for r in rows]):.3f} ({min(r[v] for r in rows):.3f})"
                 if all(v in r for r in rows) else "–" for v in VARIANTS]
        print(markdown_row(name, len(rows), *cells))


def main():
    study_main(__doc__, study, summary, report, datasets=DATASETS, groups={"vectors": VECTORS},
               default_out=str(HERE / "results" / "neighbor_space.jsonl"), smoke_data="digits-vectors", seeds=[0, 1, 2])


if __name__ == "__main__":
    main()
