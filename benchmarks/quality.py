"""Clustering quality of C2BIN seed by seed, beside classic baselines, on many data sets (issues 3, 13).

For every data set, seed and variant: ``C2BINClusterer(n_clusters=k, random_state=seed, **variant)``
(a variant is a named set of parameters: ``default`` sets none, ``old`` is ``refine=None``, the
behaviour of skc2bin 0.1 without the refinement phase, ``no-graph`` the refinement without its
graph candidate; ``--param NAME=VALUE`` adds one more). Every
other parameter is default: backbone and augmentations are picked from the input (images vs feature
vectors, image size). Beside it, on the same inputs in the same run, flattened (pixels as they are,
feature vectors standardised): KMeans (n_init=10), spectral clustering (10-NN affinity) and UMAP
(10 components, min_dist=0) + a Gaussian mixture. Fitted and scored on the same samples; labels
are used only for scoring.

One line per fit while it runs (ACC, NMI, ARI, fit seconds, 10-NN accuracy of ``transform``; for a
refined fit the refinement's seconds and ``history_``'s ``refine_changed``, which counts a cluster
renumbered as changed; the records also keep ``refine_graph``, whether the graph candidate
replaced the primary head), then per data set a Markdown table: ACC of every seed, its mean and its
worst seed, NMI and ARI mean (worst), mean fit seconds.

Data sets (``benchmarks/_sets.py``, all made locally, nothing downloaded). ``core``, the issue's
targets: digits as 8x8 images and upscaled (bilinear) to 16x16 / 28x28, two imbalanced digit sets
(``digits-geo``: sizes falling geometrically to a tenth; ``digits-one3x``: one class 3x the others),
digits as 64 feature vectors, moons / circles / anisotropic blobs with 3 noise features. ``extra``,
for generality: iris, wine, breast cancer, synthetic shapes / strokes / textures, and digits
rotated / inverted / noisy / shifted / thickened.

Run (one torch thread on a shared machine; all of ``core`` x 5 seeds x 2 variants takes hours):
    OMP_NUM_THREADS=1 python benchmarks/quality.py [--data core|extra|all|NAME ...] [--seeds 0 1 2 3 4]
        [--variants default old] [--param NAME=VALUE ...] [--baselines KMeans spectral UMAP+GMM]
        [--results DIR] [--confusion] [--threads N] [--smoke]
    python benchmarks/quality.py --report [VARIANT ...] [--data ...] [--results DIR]
``--results DIR`` appends one JSON line per fit to ``DIR/quality.jsonl`` and reuses the baselines
found there that were fitted on the same host (they are deterministic per data set, seed and host:
the CPU model and the numerical libraries' versions, which each baseline's record holds; others
are fitted again). ``--report`` runs nothing: it prints the tables from the records in ``DIR``
(default ``benchmarks/results``, which holds the issue-13 study's records: docs/benchmarks.md).
UMAP needs the benchmark extra: pip install -e '.[benchmark]'.
``--confusion`` prints each C2BIN fit's confusion matrix, classes by clusters (every C2BIN record
holds it since the twentieth session; with ``--report``, those recorded). ``--smoke`` (200 samples
of digits8 and moons, one small epoch, 5 refinement epochs, one seed) leaves UMAP + GMM out unless
``--baselines`` names it: importing UMAP alone takes seconds.
"""

import ast
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans, SpectralClustering
from sklearn.metrics.cluster import contingency_matrix
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import benchmark_parser, knn_accuracy, markdown_row, model_params, parse_args, scores  # noqa: E402
from _common import append_record, host, read_records, smoke_subset, table_header, versions  # noqa: E402
from _sets import CORE, DATASETS, EXTRA, VECTORS  # noqa: E402

from skc2bin import C2BINClusterer  # noqa: E402
from skc2bin.plotting import _matched_cluster_order  # noqa: E402

#: Variant name -> C2BINClusterer parameters on top of (n_clusters=k, random_state=seed).
VARIANTS = {
    "default": {},
    "old": {"refine": None},  # skc2bin 0.1: no refinement phase
    "no-graph": {"refine_graph": False},  # the refinement before its graph candidate
}

GROUPS = {"core": CORE, "extra": EXTRA, "vectors": VECTORS, "all": list(DATASETS)}

#: What a ``--smoke`` run fits (200 samples of each).
SMOKE_DATA = ["digits8", "moons"]

#: Results directory of ``--report`` (the issue-13 study's records are committed there).
RESULTS = HERE / "results"
RECORDS = "quality.jsonl"
#: What the baselines' numbers depend on beyond data and seed (:func:`_common.host`).
HOST = host()


def _flat(X):
    """Baselines' input: flattened pixels; feature vectors standardised."""
    if X.ndim == 2:
        return StandardScaler().fit_transform(X)
    return X.reshape(len(X), -1).astype(np.float64)


def kmeans(X, k, seed):
    return KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(_flat(X))


def spectral(X, k, seed):
    return SpectralClustering(
        n_clusters=k, affinity="nearest_neighbors", n_neighbors=10, random_state=seed
    ).fit_predict(_flat(X))


def umap_gmm(X, k, seed):
    import umap

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "n_jobs overridden by random_state"
        Z = umap.UMAP(n_components=10, n_neighbors=15, min_dist=0.0, random_state=seed).fit_transform(_flat(X))
    return GaussianMixture(n_components=k, n_init=5, random_state=seed).fit_predict(Z)


BASELINES = {"KMeans": kmeans, "spectral": spectral, "UMAP+GMM": umap_gmm}


def _record(data, seed, method, y, labels, fit_s, **extra):
    acc, nmi, ari = scores(y, labels)
    return {"data": data, "seed": seed, "method": method, "acc": float(acc), "nmi": float(nmi),
            "ari": float(ari), "fit_s": fit_s, **extra}


def fit_c2bin(data, X, y, seed, variant, params):
    """Fit C2BIN with ``params`` on ``X``; its record (scores, fit s, k-NN of transform, sizes).

    ``n_clusters`` is the number of classes unless ``params`` sets it (e.g. an extra finer scale).
    """
    k = len(np.unique(y))
    est = C2BINClusterer(**{"n_clusters": k, "random_state": seed, **params})
    if X.ndim == 3:
        X = X.astype(np.float32)
    t0 = time.perf_counter()
    est.fit(X)
    fit_s = time.perf_counter() - t0
    extra = {"knn": float(knn_accuracy(est.transform(X), y, seed)),
             "sizes": np.bincount(est.labels_, minlength=k).tolist(),
             "confusion": confusion(y, est.labels_, est.n_clusters_[0]).tolist()}
    last = est.history_[-1]
    for key in ("refine_changed", "refine_dur", "refine_graph"):
        if key in last:
            extra[key] = last[key]
    return _record(data, seed, variant, y, est.labels_, fit_s, **extra)


def fit_baseline(data, X, y, seed, method):
    t0 = time.perf_counter()
    labels = BASELINES[method](X, len(np.unique(y)), seed)
    return _record(data, seed, method, y, labels, time.perf_counter() - t0, host=HOST)


def reusable(records, data, method, seed):
    """Whether ``records`` holds the baseline ``method`` of ``data`` and ``seed`` fitted on this host
    (records from before hosts were recorded hold none, so they are not reused)."""
    rec = records.get((data, method, seed))
    return rec is not None and rec.get("host") == HOST


def progress(rec):
    extra = f", k-NN {rec['knn']:.3f}" if "knn" in rec else ""
    if "refine_changed" in rec:
        extra += f", refinement {rec['refine_dur']:.1f} s, refine_changed {rec['refine_changed']:.3f}"
    print(f"{rec['data']} seed {rec['seed']} {rec['method']}: ACC {rec['acc']:.3f} NMI {rec['nmi']:.3f} "
          f"ARI {rec['ari']:.3f} ({rec['fit_s']:.1f} s{extra})", flush=True)


def confusion(y, labels, n_clusters):
    """Counts of each class (rows, ``np.unique(y)`` order) in each cluster ``0 … n_clusters - 1``
    (columns; an empty cluster keeps its column)."""
    # scikit-learn's contingency matrix (as skc2bin.plotting's) has a column per cluster that holds
    # a sample; each goes to its cluster's own column here.
    counts = np.zeros((len(np.unique(y)), max(n_clusters, int(labels.max()) + 1)), dtype=int)
    counts[:, np.unique(labels)] = contingency_matrix(y, labels)
    return counts


def confusion_table(rec):
    """A C2BIN record's confusion matrix as a Markdown table: a row per class (its size first), a
    column per cluster, in the column order of :func:`skc2bin.plotting.plot_confusion_matrix` (the
    clusters of the classes they map to under ACC's one-to-one map, then the surplus clusters,
    largest first)."""
    counts = np.asarray(rec["confusion"])
    order = _matched_cluster_order(counts)
    lines = [table_header("class (size)", *(f"cluster {c}" for c in order))]
    for i, row in enumerate(counts):
        lines.append(markdown_row(f"{i} ({row.sum()})", *(row[c] if row[c] else "·" for c in order)))
    return "\n".join(lines)


COLUMNS = ("method", "ACC per seed", "ACC mean", "ACC min", "NMI mean (min)", "ARI mean (min)", "fit s mean")


def table(records, data, methods, seeds):
    """The Markdown table of ``data``: a row per method, ACC of each seed, mean and worst seed."""
    lines = [table_header(*COLUMNS)]
    for method in methods:
        rs = [records[(data, method, s)] for s in seeds if (data, method, s) in records]
        if not rs:
            continue
        label = method if method in BASELINES else f"C2BIN {method}"
        if len(rs) < len(seeds):
            label += f" ({len(rs)}/{len(seeds)} seeds)"
        acc, nmi, ari, fit = (np.array([r[key] for r in rs]) for key in ("acc", "nmi", "ari", "fit_s"))
        lines.append(markdown_row(label, " / ".join(f"{a:.3f}" for a in acc), f"{acc.mean():.3f}", f"{acc.min():.3f}",
                                  f"{nmi.mean():.3f} ({nmi.min():.3f})", f"{ari.mean():.3f} ({ari.min():.3f})",
                                  f"{fit.mean():.1f}"))
    return "\n".join(lines)


def load_records(directory):
    """``{(data, method, seed): record}`` from ``directory``'s records file; the latest line wins."""
    return read_records(Path(directory) / RECORDS, key=("data", "method", "seed"))


def report(directory, variants, names, confusions=False):
    records = load_records(directory)
    if not records:
        raise SystemExit(f"no records in {Path(directory) / RECORDS}")
    if not variants:
        found = {m for _, m, _ in records} - set(BASELINES)
        variants = [v for v in VARIANTS if v in found] + sorted(found - set(VARIANTS))
    names = names or [n for n in DATASETS if any(d == n for d, _, _ in records)]
    for name in names:
        seeds = sorted({s for d, m, s in records if d == name and m in variants})
        if seeds:
            print(f"\n**{name}** (seeds {', '.join(map(str, seeds))})\n")
            print(table(records, name, [*variants, *BASELINES], seeds))
            for seed in seeds if confusions else ():
                for variant in variants:
                    rec = records.get((name, variant, seed))
                    if rec is not None and "confusion" in rec:
                        print(f"\n{name} seed {seed}, C2BIN {variant} (ACC {rec['acc']:.3f}):\n\n{confusion_table(rec)}")


def _param(text):
    name, sep, value = text.partition("=")
    if not sep:
        raise ValueError(f"--param wants NAME=VALUE, got {text!r}")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value  # a string


def main():
    parser = benchmark_parser(__doc__, seeds=(0, 1, 2, 3, 4))
    parser.add_argument("--data", nargs="+", default=None, choices=[*GROUPS, *DATASETS],
                        help="data sets or groups (default: core; digits8 and moons with --smoke)")
    parser.add_argument("--variants", nargs="*", default=["default", "old"], choices=list(VARIANTS),
                        help="C2BIN variants (default: %(default)s; also: no-graph)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="one more variant, named after its parameters (repeat for several parameters), "
                             "e.g. --param refine_neighbors=30")
    parser.add_argument("--baselines", nargs="*", default=None, choices=list(BASELINES),
                        help="default: all (all but UMAP+GMM with --smoke)")
    parser.add_argument("--results", default=None, metavar="DIR",
                        help=f"append records to DIR/{RECORDS} and reuse the baselines fitted there on this host "
                             f"(--report: default {RESULTS.relative_to(HERE.parent)})")
    parser.add_argument("--confusion", action="store_true",
                        help="print each C2BIN fit's confusion matrix (classes × clusters), also with --report "
                             "where the records hold it")
    parser.add_argument("--report", nargs="*", default=None, metavar="VARIANT",
                        help="print the tables of the recorded runs (all variants unless named) and exit")
    args = parse_args(parser)
    names = [n for item in (args.data or []) for n in GROUPS.get(item, [item])]
    if args.report is not None:
        report(args.results or RESULTS, args.report, names, args.confusion)
        return
    names = names or (SMOKE_DATA if args.smoke else CORE)
    variants = {v: VARIANTS[v] for v in args.variants}
    if args.param:
        try:
            extra = dict(_param(p) for p in args.param)
        except ValueError as exc:
            parser.error(str(exc))
        variants[",".join(f"{k}={v}" for k, v in extra.items())] = extra
    baselines = args.baselines if args.baselines is not None else [
        m for m in BASELINES if not (args.smoke and m == "UMAP+GMM")]
    records = load_records(args.results) if args.results else {}
    out = Path(args.results) / RECORDS if args.results else None
    if out:
        out.parent.mkdir(parents=True, exist_ok=True)

    def keep(rec):
        records[(rec["data"], rec["method"], rec["seed"])] = rec
        if out:
            append_record(out, rec)

    print(versions())
    print(f"seeds {args.seeds}; variants: " + "; ".join(f"{v} {p}" for v, p in variants.items()), flush=True)
    for name in names:
        X, y = smoke_subset(*DATASETS[name](), args)
        for seed in args.seeds:
            for method in baselines:
                if not reusable(records, name, method, seed) or args.smoke:
                    keep(fit_baseline(name, X, y, seed, method))
                    progress(records[(name, method, seed)])
            for variant, params in variants.items():
                rec = fit_c2bin(name, X, y, seed, variant, model_params(args, **params))
                keep(rec)
                progress(rec)
                if args.confusion:
                    print(f"\n{confusion_table(rec)}\n", flush=True)
        print(f"\n**{name}**: X {X.shape}, class sizes {np.bincount(y).tolist()}, seeds {args.seeds}\n")
        print(table(records, name, [*variants, *baselines], args.seeds))
        print(flush=True)


if __name__ == "__main__":
    main()
