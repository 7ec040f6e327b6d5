"""Variants of the C2BIN phase, each refined as ``fit`` refines by default (issue 13).

The refinement studies (``refine_variants.py`` and others) vary what happens *after* the C2BIN
phase and found the unequal-size digit sets bounded by the representation that phase learns: in
it, the partitions the refinement finds keep more neighbour pairs together than the true classes
do (docs/benchmarks.md, "Why the unequal-size sets stop below 0.90"). This script varies the
phase instead. Per data set and seed, each variant of a named set (``--variants``) fits the C2BIN
phase (``refine=None``) with its estimator parameters, then refines it with the default refinement
(``refined_copy``; its ``entropy_weight``, the selection's prior weight, back at the default 1, so
that only the phase differs). Labels are used only for scoring. The sets:

``entropy`` (seventeenth session): the weight of C2BIN's uniform entropy term in the phase, 1 (the
default), 0.3 and 0.1. The term pulls every head towards equal cluster sizes (issue 13's direction 2).

``grayscale-augment`` (seventeenth session): the augmentation of small grayscale images, the
default (``GrayscaleAugment()``: rotation ±15°, zoom 0.85-1.15, shift ±12 %, brightness, noise),
with a smooth random (elastic) displacement added (:class:`ElasticGrayscale`, a 3×3 grid of
Gaussian shifts of 8 % of the side, bicubically upsampled), and a stronger affine (rotation ±25°,
zoom 0.8-1.2, shift ±15 %, aspect 0.8-1.25).

``cluster-terms`` (eighteenth session): the two weights of the cluster terms in the phase, the
column contrast's temperature at CC's 1.0 instead of 0.5, and the cluster terms' weight against
BYOL's loss halved (``cluster_weight=0.5``): the terms that shape the representation beside the
instance task.

``head-gradient`` (twentieth session): how much of the cluster terms' gradient reaches the backbone.
The heads train at full rate on the representation in every variant; the gradient they send back
into the backbone is scaled by 1 (the default), 0.2, or 0 (the heads read a detached
representation, which then learns from BYOL's instance task alone). The uniform entropy term pulls
every head towards equal cluster sizes; through the backbone it may also pull the representation
towards partitions of equal sizes, the bound the refinement studies found on the unequal-size sets.
The scaling is a study patch of :meth:`~skc2bin.networks.model.C2BINNetwork.views_forward` (see
:func:`head_gradient`), active only while the phase is fitted.
``head-gradient-cost`` holds the default and the scale 0.2 alone, for the data sets where a change
of the phase could cost (balanced digits, feature vectors).

``phase-prior`` (twentieth session): the refinement's size prior in the C2BIN phase too. The
entropy term (``KL(P || uniform)`` of each view's mean assignment ``P``) is replaced by the
``'floor'`` prior, which only keeps every cluster above a tenth of its fair share of a batch (issue
13's direction 2; probed on 2026-11-27 without a kept script, docs/benchmarks.md, section "Why
the unequal-size sets stop below 0.90"). A study patch of the loss (:func:`phase_size_prior`),
active only while the phase is fitted.

Each record also holds, per variant, the 10-NN accuracy of ``transform`` (5-fold), and for the
first variant what label-free criteria of the learned representation prefer: the share of 10-NN
pairs inside one cluster (in the L2-normalised representation and in the flattened input), the
silhouette (cosine), Calinski-Harabasz and Davies-Bouldin indices (the last lower is better), each
of the true classes and of the refined partition.

Run (one torch thread; one JSON line per fit appended to --out):
    OMP_NUM_THREADS=1 python benchmarks/phase_variants.py --variants entropy --data digits-geo digits-one3x \
        --seeds 0 1 2 3 4 --out benchmarks/results/phase_variants_entropy.jsonl
    OMP_NUM_THREADS=1 python benchmarks/phase_variants.py --variants grayscale-augment --data digits-geo \
        digits-one3x --seeds 0 1 2 3 4 --out benchmarks/results/phase_variants_augment.jsonl
    OMP_NUM_THREADS=1 python benchmarks/phase_variants.py --variants cluster-terms --data digits-geo \
        digits-one3x --seeds 0 1 2 3 4 --out benchmarks/results/phase_variants_cluster_terms.jsonl
    OMP_NUM_THREADS=1 python benchmarks/phase_variants.py --variants head-gradient --data digits-geo \
        digits-one3x --seeds 0 1 2 3 4 --out benchmarks/results/phase_variants_head_gradient.jsonl
    OMP_NUM_THREADS=1 python benchmarks/phase_variants.py --variants head-gradient-cost --data digits8 digits16 \
        digits-vectors moons aniso --seeds 0 1 2 3 4 --out benchmarks/results/phase_variants_head_gradient_cost.jsonl
    OMP_NUM_THREADS=1 python benchmarks/phase_variants.py --variants phase-prior --data digits-geo \
        digits-one3x --seeds 0 1 2 3 4 --out benchmarks/results/phase_variants_prior.jsonl
    python benchmarks/phase_variants.py --report --out benchmarks/results/phase_variants_entropy.jsonl
``--phases DIR`` reads each variant's C2BIN phase from ``DIR/<variant>/phase_<data>_<seed>.joblib``
(the variant's name, its words joined by dashes)
where an earlier run saved it there (and saves it); ``--smoke`` runs one small fit of 200 digits
into a temporary file.
"""

import argparse
import contextlib
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score, silhouette_score
from sklearn.preprocessing import normalize

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import c2bin_phase, knn_accuracy, markdown_row, read_records, refined_copy, scores  # noqa: E402
from _common import study_main, variant_options  # noqa: E402
from _sets import DATASETS, study_data  # noqa: E402

from skc2bin.augment import GrayscaleAugment, random_affine_matrices  # noqa: E402
from skc2bin.losses import c2bin as c2bin_module  # noqa: E402
from skc2bin.losses.size_prior import size_prior_loss  # noqa: E402
from skc2bin.networks.model import C2BINNetwork  # noqa: E402
from skc2bin.training.neighbors import mine_neighbors  # noqa: E402
from skc2bin.training.partitions import neighbor_agreement  # noqa: E402


class ElasticGrayscale(GrayscaleAugment):
    """:class:`~skc2bin.augment.GrayscaleAugment` with ``aspect`` (range of the width/height ratio)
    and an elastic displacement: a ``grid`` × ``grid`` field of Gaussian shifts of standard
    deviation ``elastic`` (a share of the side), bicubically upsampled, added to the affine
    sampling grid. Study only: not adopted (docs/benchmarks.md)."""

    def __init__(self, rotation=15.0, scale=(0.85, 1.15), translate=0.12, brightness=0.2, noise=0.03,
                 aspect=(1.0, 1.0), elastic=0.0, grid=3):
        super().__init__(rotation, scale, translate, brightness, noise)
        self.aspect, self.elastic, self.grid = aspect, elastic, grid

    def __call__(self, x, generator):
        n, device = x.shape[0], x.device
        theta = random_affine_matrices(n, rotation=self.rotation, scale=(1.0 / self.scale[1], 1.0 / self.scale[0]),
                                       translate=self.translate, aspect=self.aspect, generator=generator,
                                       device=device)
        grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
        if self.elastic > 0:  # the sampling grid spans [-1, 1]: a shift of s sides is 2 s there
            coarse = torch.randn((n, 2, self.grid, self.grid), generator=generator, device=device, dtype=x.dtype)
            flow = F.interpolate(coarse, size=tuple(x.shape[-2:]), mode="bicubic", align_corners=True)
            grid = grid + 2 * self.elastic * flow.permute(0, 2, 3, 1)
        out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        factor = 1 + self.brightness * (2 * torch.rand(n, generator=generator, device=device) - 1)
        out = out * factor.view(n, 1, 1, 1).to(out.dtype)
        if self.noise > 0:
            out = out + self.noise * torch.randn(out.shape, generator=generator, device=device, dtype=out.dtype)
        return out.clamp_(0.0, 1.0)


@contextlib.contextmanager
def head_gradient(scale):
    """While open, the cluster heads of every :class:`C2BINNetwork` pass only ``scale`` times their
    gradient back into the backbone (0: none). The forward values are unchanged: the heads read
    ``scale * y + (1 - scale) * y.detach()``, which equals ``y``. Study only: not in the package."""
    original = C2BINNetwork.views_forward

    def views_forward(self, view):
        y = self.backbone(view)
        prediction = self.predictor(self.projector(y))
        seen = y.detach() if scale == 0 else scale * y + (1 - scale) * y.detach()
        return prediction, [head(seen) for head in self.heads]

    C2BINNetwork.views_forward = views_forward
    try:
        yield
    finally:
        C2BINNetwork.views_forward = original


@contextlib.contextmanager
def phase_size_prior(prior, floor=0.1):
    """While open, the C2BIN loss's entropy term (:func:`~skc2bin.losses.cluster_entropy_loss`,
    ``sum_v KL(P_v || uniform)``) is :func:`~skc2bin.losses.size_prior.size_prior_loss` with
    ``prior`` on each view's mean assignment ``P_v`` instead: ``'floor'`` only keeps every cluster
    above ``floor / k`` of a batch, as the refinement's prior does. Study only: not in the package."""
    original = c2bin_module.cluster_entropy_loss

    def prior_loss(assign1, assign2):
        return sum(size_prior_loss(a.mean(dim=0), prior, floor) for a in (assign1, assign2))

    c2bin_module.cluster_entropy_loss = prior_loss
    try:
        yield
    finally:
        c2bin_module.cluster_entropy_loss = original


#: Variant set -> variant name -> estimator parameters of the C2BIN phase (the key ``"patch"``,
#: where present, is not a parameter: a study patch, a context manager the phase is fitted in).
VARIANT_SETS = {
    "entropy": {
        "entropy 1 (default)": {},
        "entropy 0.3": {"entropy_weight": 0.3},
        "entropy 0.1": {"entropy_weight": 0.1},
    },
    "cluster-terms": {
        "default": {},
        "cluster temperature 1.0": {"cluster_temperature": 1.0},
        "cluster weight 0.5": {"cluster_weight": 0.5},
    },
    "head-gradient": {
        "default": {},
        "head gradient 0.2": {"patch": lambda: head_gradient(0.2)},
        "heads detached": {"patch": lambda: head_gradient(0.0)},
    },
    "head-gradient-cost": {  # the promising variant of ``head-gradient`` alone, on the other data sets
        "default": {},
        "head gradient 0.2": {"patch": lambda: head_gradient(0.2)},
    },
    "phase-prior": {
        "default": {},
        "floor prior in the phase": {"patch": lambda: phase_size_prior("floor")},
    },
    "grayscale-augment": {
        "default": {},
        "elastic 0.08": {"augmentation": ElasticGrayscale(elastic=0.08)},
        "stronger affine": {"augmentation": ElasticGrayscale(rotation=25.0, scale=(0.8, 1.2), translate=0.15,
                                                             aspect=(0.8, 1.25))},
    },
}


def criteria(X, y, est, labels):
    """What label-free criteria of ``est``'s representation prefer: per criterion, its value for
    the true classes ``y`` and for ``labels``."""
    rep = normalize(est.transform(X))
    flat = X.reshape(len(X), -1).astype(np.float32)
    out = {}
    spaces = (("agreement (representation)", rep, "cosine"), ("agreement (input)", flat, "euclidean"))
    for name, space, metric in spaces:
        neighbors = mine_neighbors(torch.as_tensor(space, dtype=torch.float32), 10, metric=metric)
        out[name] = [neighbor_agreement(torch.as_tensor(part), neighbors) for part in (y, labels)]
    out["silhouette"] = [float(silhouette_score(rep, part, metric="cosine")) for part in (y, labels)]
    out["Calinski-Harabasz"] = [float(calinski_harabasz_score(rep, part)) for part in (y, labels)]
    out["Davies-Bouldin"] = [float(davies_bouldin_score(rep, part)) for part in (y, labels)]
    return out


def study(name, seed, args):
    load, params = study_data(name)
    record = {"data": name, "seed": seed, "variants": args.variants}
    for i, (variant, phase_params) in enumerate(VARIANT_SETS[args.variants].items()):
        folder = None if args.phases is None else str(Path(args.phases) / "-".join(re.findall(r"[\w.]+", variant)))
        phase_params = dict(phase_params)
        patch = phase_params.pop("patch", contextlib.nullcontext)()
        with patch:
            X, y, est, fit_s = c2bin_phase(load, seed, argparse.Namespace(**{**vars(args), "phases": folder}),
                                           name=name, **params, **phase_params)
        t0 = time.perf_counter()
        refined = refined_copy(est, X, refine="neighbors", entropy_weight=1.0)
        refine_s = time.perf_counter() - t0
        acc, nmi, ari = scores(y, refined.labels_)
        record[variant] = {"phase": scores(y, est.labels_)[0], "knn": knn_accuracy(est.transform(X), y, seed),
                           "acc": acc, "nmi": nmi, "ari": ari, "fit_s": fit_s, "refine_s": refine_s,
                           "outcome": refined.history_[-1]["refine_per_scale"][0]["outcome"]}
        if i == 0:
            record["criteria"] = criteria(X, y, refined, refined.labels_)
    return record


def _variants(record):
    return VARIANT_SETS[record["variants"]]


def summary(r):
    return f"{r['data']} seed {r['seed']}: " + ", ".join(
        f"{v} phase {r[v]['phase']:.3f} k-NN {r[v]['knn']:.3f} refined {r[v]['acc']:.3f}" for v in _variants(r))


def report(path):
    """Per data set: per variant the refined ACC mean (worst), per seed, the C2BIN phase's ACC and
    10-NN accuracy (means); then, per fit, what the label-free criteria prefer."""
    recs = read_records(path)
    if not recs:
        return
    variants = list(_variants(next(iter(recs.values()))))
    print("| data | seeds | " + " | ".join(f"{v}: ACC mean (worst)" for v in variants) + " | ACC per seed, "
          + " → ".join(variants) + " | C2BIN phase ACC, k-NN acc. (means) | fit s (means) |")
    print("|---|---|" + "---|" * (len(variants) + 3))
    for name in dict.fromkeys(n for n, _ in sorted(recs)):
        rows = [r for (n, _), r in sorted(recs.items()) if n == name]
        mean = lambda v, m: np.mean([r[v][m] for r in rows])  # noqa: E731
        print(markdown_row(
            name, len(rows), *(f"{mean(v, 'acc'):.3f} ({min(r[v]['acc'] for r in rows):.3f})" for v in variants),
            " / ".join(" → ".join(f"{r[v]['acc']:.3f}" for v in variants) for r in rows),
            " → ".join(f"{mean(v, 'phase'):.3f}, {mean(v, 'knn'):.3f}" for v in variants),
            " → ".join(f"{mean(v, 'fit_s'):.0f}" for v in variants)))
    print()
    names = list(next(iter(recs.values()))["criteria"])
    print(f"| data | seed | refined ACC ({variants[0]}) | "
          + " | ".join(f"{c}: classes / found" for c in names) + " |")
    print("|---|---|---|" + "---|" * len(names))
    for (name, seed), r in sorted(recs.items()):
        print(markdown_row(name, seed, f"{r[variants[0]]['acc']:.3f}",
                           *(f"{a:.4g} / {b:.4g}" for a, b in r["criteria"].values())))


if __name__ == "__main__":
    study_main(__doc__, study, summary, report, datasets=DATASETS, groups={"unequal": ["digits-geo", "digits-one3x"]},
               add_arguments=variant_options(
                   VARIANT_SETS, "entropy", "of the C2BIN phase",
                   "read each variant's C2BIN phase from DIR/<variant> where an earlier run saved it, else fit it "
                   "and save it there"),
               default_out=str(HERE / "results" / "phase_variants_entropy.jsonl"),
               smoke_data="digits8", seeds=[0, 1, 2, 3, 4])
