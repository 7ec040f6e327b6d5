"""What the benchmark scripts share: scores, Markdown tables, versions, the k-NN probe, arguments.

Every script builds its command line with :func:`benchmark_parser` (``--smoke``, ``--threads``
and, where it loops over seeds, ``--seeds``) and reads it back with :func:`parse_args`. A
``--smoke`` run is a tiny one (a few hundred samples, one epoch, small widths, one seed) that
goes through the script's real code path and prints its usual output in seconds;
``tests/test_benchmarks.py`` runs each script that way so that none stops running unnoticed.
Its numbers mean nothing.
"""

import argparse
import contextlib
import copy
import hashlib
import importlib.metadata
import json
import math
import os
import platform
import tempfile
import time
from pathlib import Path

import joblib
import numpy as np
import sklearn
import skorch
import torch
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.model_selection import StratifiedKFold, cross_val_score, train_test_split
from sklearn.neighbors import KNeighborsClassifier

import skc2bin
from skc2bin.augment import resolve_augmentation
from skc2bin.metrics import clustering_accuracy

#: Samples a ``--smoke`` run keeps of each data set.
SMOKE_SAMPLES = 200

#: C2BINClusterer parameters of a ``--smoke`` run: one epoch of a small model, and 5 refinement
#: epochs (the default 50 made the refinement most of a smoke run's time: tests/test_benchmarks.py).
SMOKE_PARAMS = dict(max_epochs=1, hidden_size=16, representation_size=8, projection_size=8, refine_epochs=5)


def scores(y, labels):
    """``(ACC, NMI, ARI)`` of cluster ``labels`` against classes ``y`` (ACC: Hungarian map)."""
    return (clustering_accuracy(y, labels), normalized_mutual_info_score(y, labels),
            adjusted_rand_score(y, labels))


def knn_accuracy(embedding, y, seed):
    """Mean 5-fold (stratified) accuracy of a 10-nearest-neighbour classifier on ``embedding``."""
    cv = StratifiedKFold(5, shuffle=True, random_state=seed)
    return cross_val_score(KNeighborsClassifier(n_neighbors=10), embedding, y, cv=cv).mean()


def fit_scored(est, X, y, seed, label):
    """Fit the clusterer ``est`` on ``X`` and print a progress line headed ``label``.

    Returns its ``(ACC, NMI, ARI, k-NN accuracy of transform)`` on ``X`` and the fit seconds.
    """
    t0 = time.perf_counter()
    est.fit(X)
    secs = time.perf_counter() - t0
    result = (*scores(y, est.labels_), knn_accuracy(est.transform(X), y, seed))
    print(f"{label}, seed {seed}: ACC {result[0]:.3f} k-NN {result[3]:.3f} ({secs:.0f} s)", flush=True)
    return result, secs


def versions():
    """One line: machine, torch threads and the versions that shape the numbers."""
    from skc2bin._threads import default_n_threads

    return (f"machine: {platform.machine()}, {default_n_threads()} torch threads, "
            f"python {platform.python_version()}, torch {torch.__version__}, "
            f"scikit-learn {sklearn.__version__}, skorch {skorch.__version__}, skc2bin {skc2bin.__version__}")


def host():
    """One line naming what a baseline's numbers depend on beyond its data and seed: the CPU model, a
    digest of its instruction-set flags, the number of CPUs and the versions of the numerical
    libraries. UMAP + GMM, for one, gives other labels on another
    machine with the same versions (docs/benchmarks.md, "Twice the epochs, rechecked with today's
    refinement"), so a recorded baseline is reused only where this line is the same."""
    cpu = platform.processor() or platform.machine()
    try:  # Linux: the model, and a digest of the instruction sets that numerical kernels dispatch on
        fields = {}
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, sep, value = line.partition(":")
            if sep:
                fields.setdefault(key.strip(), value.strip())
        digest = hashlib.sha1(fields.get("flags", "").encode()).hexdigest()[:8]
        cpu = (f"{fields.get('model name', cpu)} (family {fields.get('cpu family', '?')}, model "
               f"{fields.get('model', '?')}, flags {digest})")
    except OSError:
        pass
    libs = []
    for dist in ("numpy", "scipy", "scikit-learn", "umap-learn", "numba"):
        try:
            libs.append(f"{dist} {importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            libs.append(f"{dist} -")
    return f"{cpu}, {os.cpu_count()} CPUs; " + ", ".join(libs)


def markdown_row(*cells):
    """``| a | b | … |``."""
    return "| " + " | ".join(str(c) for c in cells) + " |"


def table_header(*columns):
    """A Markdown table's header line and separator line."""
    return markdown_row(*columns) + "\n" + "|---" * len(columns) + "|"


def mean_std(values):
    """``'m ± s'`` per column of ``values`` (one row per repetition), 3 decimals."""
    arr = np.asarray(values, dtype=float).reshape(len(values), -1)
    return [f"{m:.3f} ± {s:.3f}" for m, s in zip(arr.mean(0), arr.std(0))]


def table_row(name, results):
    """A Markdown row: ``name``, then mean ± std over the rows of ``results``, column by column."""
    return markdown_row(name, *mean_std(results))


def benchmark_parser(doc, *, seeds=(0, 1, 2)):
    """The argument parser of a script documented by ``doc`` (its module docstring).

    Every script gets ``--smoke`` and ``--threads``; ``--seeds`` (default ``seeds``) is added
    unless ``seeds`` is None.
    """
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    if seeds is not None:
        parser.add_argument("--seeds", type=int, nargs="+", default=list(seeds),
                            help="random_state of each repetition (default: %(default)s)")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny run (few samples, one epoch, small model, one seed) that checks the "
                             "script works end to end in seconds; its numbers mean nothing")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch CPU threads (default: the estimator's n_threads='auto': OMP_NUM_THREADS, else all CPUs)")
    return parser


def parse_args(parser, argv=None):
    """Parse the command line, apply ``--threads``; a ``--smoke`` run keeps only the first seed
    unless ``--seeds`` was given."""
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
        # C2BINClusterer(n_threads='auto') reads OMP_NUM_THREADS in each call.
        os.environ["OMP_NUM_THREADS"] = str(args.threads)
    if args.smoke and "seeds" in vars(args) and args.seeds == parser.get_default("seeds"):
        args.seeds = args.seeds[:1]
    return args


def model_params(args, **params):
    """``params`` for C2BINClusterer, with :data:`SMOKE_PARAMS` on top in a ``--smoke`` run."""
    return {**params, **SMOKE_PARAMS} if args.smoke else params


def smoke_subset(X, y, args, n=SMOKE_SAMPLES):
    """``X, y`` as they are, or a stratified random ``n`` of them in a ``--smoke`` run."""
    if not args.smoke or len(X) <= n:
        return X, y
    X, _, y, _ = train_test_split(X, y, train_size=n, stratify=y, random_state=0)
    return X, y


def c2bin_phase(load, seed, args, name=None, **params):
    """``(X, y, est, fit_s)``: the data ``load()`` returns (a stratified subset in a ``--smoke`` run;
    images as float32) and a C2BIN fit of it with ``refine=None`` (and ``params``), the C2BIN phase
    alone, that :func:`refined_copy` can refine as ``fit`` would; ``fit_s`` its seconds. ``n_clusters``
    is the number of classes unless ``params`` sets it.

    With ``name`` (the data set's) and ``args.phases`` (a folder: ``--phases`` of ``refine_variants.py``,
    one per variant in ``phase_variants.py``), the phase is read from ``phase_<name>_<seed>.joblib``
    there where that file exists (``fit_s`` NaN where it does not hold one), and saved there after
    a fit: a fit is deterministic, so studies of the refinement can share one C2BIN phase per data
    set and seed. The file does not record ``params`` or the code that fitted it: use one folder
    per setting."""
    path = None
    if name is not None and getattr(args, "phases", None):
        path = Path(args.phases) / f"phase_{name}_{seed}.joblib"
        if path.exists():
            saved = joblib.load(path)
            return (*saved, math.nan) if len(saved) == 3 else saved
    X, y = smoke_subset(*load(), args)
    if X.ndim == 3:
        X = X.astype(np.float32)
    t0 = time.perf_counter()
    params = {"n_clusters": len(np.unique(y)), **params}
    est = skc2bin.C2BINClusterer(**model_params(args, random_state=seed, refine=None, **params)).fit(X)
    fit_s = time.perf_counter() - t0
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        joblib.dump((X, y, est, fit_s), path)
    return X, y, est, fit_s


def refined_copy(est, X, prepare=None, **params):
    """A copy of ``est`` (fitted with ``refine=None``) with ``params`` set, after the refinement phase
    that ``fit`` would run; ``prepare(copy)``, if given, runs first.

    Benchmark-only: it calls the estimator's private ``_checked_data``/``_refine``/``_infer``, the
    steps ``fit`` runs after training, so that one training run gives several refined models. The
    refinement is seeded from the training stream's saved state, so with the default parameters the
    copy is what the default fit returns.
    """
    refined = copy.deepcopy(est).set_params(**params)
    if prepare is not None:
        prepare(refined)
    Xt, _ = refined._checked_data(X, reset=False)
    refined._refine(refined.net_, Xt, True, fit_augmentation(refined))
    labels = refined._infer(refined.net_, Xt)[1]
    refined._set_fitted_state({**refined._get_fitted_state(), "labels_per_scale": labels})
    return refined


@contextlib.contextmanager
def refine_constants(values):
    """Inside the block the constants of :mod:`skc2bin.training.refine` named in ``values`` (name ->
    value) take those values; restored after. For studies of a constant's choice in one process."""
    from skc2bin.training import refine

    saved = {name: getattr(refine, name) for name in values}
    try:
        for name, value in values.items():
            setattr(refine, name, value)
        yield
    finally:
        for name, value in saved.items():
            setattr(refine, name, value)


@contextlib.contextmanager
def re_pairing_step():
    """Inside the block, the yielded ``state["on"]`` is True while the refinement's re-pairing step
    (``refine._take_crossed_pairs``) runs. For the studies that wrap ``refine._refine_into`` or the
    helpers of its rule to study that step: since the layout step (``refine_layouts``, thirteenth
    session) it is no longer the only step judged with a control, and on feature vectors the
    layout step's judgement comes first."""
    from skc2bin.training import refine

    state = {"on": False}
    original = refine._take_crossed_pairs

    def wrapped(*args, **kwargs):
        state["on"] = True
        try:
            return original(*args, **kwargs)
        finally:
            state["on"] = False

    refine._take_crossed_pairs = wrapped
    try:
        yield state
    finally:
        refine._take_crossed_pairs = original


@contextlib.contextmanager
def ungated():
    """Inside the block the refinement runs without its gate (``refine.MIN_NEIGHBOR_AGREEMENT`` 0):
    for studies of what the refinement's steps do on every fit, weak ones included."""
    with refine_constants({"MIN_NEIGHBOR_AGREEMENT": 0.0}):
        yield


def fit_augmentation(est):
    """The augmentation callable a fit of ``est`` (fitted) trains with, on its net's device."""
    return resolve_augmentation(est.augmentation, est.input_spec_.sample_shape, est.net_.device)


def refined_variants(est, X, y, variants):
    """Per variant name, the scores of :func:`refined_copy` ``(est, X, refine='neighbors', **params)``
    (``variants``: name -> params): ACC, NMI, ARI, what the refinement did to the primary head
    (``outcome``, ``layout``, ``paired``, ``merged``), the share of mined neighbour pairs its head put in one
    cluster before and after (``agreement``), the share the refinement's gate read (``gate_agreement``: the same
    before, or the head merged down to ``refine.GATE_CLUSTERS`` clusters where it has more) and its
    seconds."""
    out = {}
    for variant, params in variants.items():
        refined = refined_copy(est, X, refine="neighbors", **params)
        last = refined.history_[-1]
        acc, nmi, ari = scores(y, refined.labels_)
        out[variant] = {"acc": acc, "nmi": nmi, "ari": ari, "outcome": last["refine_per_scale"][0]["outcome"],
                        "paired": bool(last.get("refine_paired")), "layout": bool(last.get("refine_layout")),
                        "merged": int(last.get("refine_merged") or 0),
                        "agreement": last.get("refine_agreement"),
                        "gate_agreement": last.get("refine_gate_agreement"),
                        "refine_s": last["refine_dur"]}
    return out


def refined_mark(scored):
    """ACC of one refined variant (:func:`refined_variants`), marked L where a layout's copy replaced
    the primary head, P where a re-paired copy did and M for each round of the merge-and-split step
    that replaced it."""
    return (f"{scored['acc']:.3f}{' L' if scored.get('layout') else ''}{' P' if scored['paired'] else ''}"
            f"{' M' * int(scored.get('merged') or 0)}")


def variants_summary(record, variants):
    """One progress line of a study record holding a C2BIN phase refined once per name in ``variants``."""
    return (f"{record['data']} seed {record['seed']}: C2BIN phase {record['phase']:.3f} ({record['fit_s']:.0f} s), "
            + ", ".join(f"{v} {refined_mark(record[v])} ({record[v]['refine_s']:.1f} s)" for v in variants))


def variants_table(recs, variants):
    """Print, per data set of ``recs`` (:func:`read_records` of such records): ACC mean (worst) per
    variant, NMI / ARI means, per seed the ACC of each variant (:func:`refined_mark`), the
    refinement's seconds per variant and the C2BIN phase's."""
    print("| data | seeds | " + " | ".join(f"{v}: ACC mean (worst)" for v in variants)
          + " | NMI / ARI mean, " + " → ".join(variants) + " | ACC per seed, " + " → ".join(variants)
          + " | refinement s, " + " → ".join(variants) + " | fit s (C2BIN phase) |")
    print("|---|---|" + "---|" * (len(variants) + 4))
    for name in dict.fromkeys(n for n, _ in sorted(recs)):
        rows = [r for (n, _), r in sorted(recs.items()) if n == name]
        mean = lambda v, m: np.mean([r[v][m] for r in rows])  # noqa: E731
        print(markdown_row(
            name, len(rows),
            *(f"{mean(v, 'acc'):.3f} ({min(r[v]['acc'] for r in rows):.3f})" for v in variants),
            " → ".join(f"{mean(v, 'nmi'):.3f} / {mean(v, 'ari'):.3f}" for v in variants),
            " / ".join(" → ".join(refined_mark(r[v]) for v in variants) for r in rows),
            " → ".join(f"{mean(v, 'refine_s'):.1f}" for v in variants),
            f"{np.mean([r['fit_s'] for r in rows]):.0f}"))


# ------------------------------------------------------------ records (one JSON line per fit)
def append_record(path, record):
    """Append ``record`` to the JSON-lines file ``path``."""
    with open(path, "a") as fh:
        fh.write(json.dumps(record) + "\n")


def read_records(path, key=("data", "seed")):
    """``{(record.get(k) for k in key): record}`` from the JSON-lines file ``path`` (empty if it does
    not exist; a field a record lacks keys as None). A fit is deterministic, so a key recorded twice
    keeps its latest line, the one with the most fields."""
    records = {}
    if Path(path).exists():
        for line in Path(path).read_text().splitlines():
            if line.strip():
                record = json.loads(line)
                records[tuple(record.get(k) for k in key)] = record
    return records


def study_main(doc, study, summary, report, *, datasets, groups, default_out, smoke_data, seeds=(0, 1, 2),
               add_arguments=None):
    """The command line of a study script (documented by ``doc``): ``study`` fitted per data set
    and seed, one JSON line each appended to ``--out`` (:func:`record_fits`), then ``report(out)``
    printed. ``--report`` only prints it; ``--data`` takes names of ``datasets`` or of ``groups``
    (name -> list of data sets; the first group is the default); ``--smoke`` runs ``smoke_data``
    into a temporary file. ``add_arguments(parser)`` adds a script's own options."""
    parser = benchmark_parser(doc, seeds=seeds)
    parser.add_argument("--data", nargs="+", default=[next(iter(groups))], choices=[*groups, *datasets])
    parser.add_argument("--out", default=default_out)
    if add_arguments is not None:
        add_arguments(parser)
    parser.add_argument("--report", action="store_true", help="print the table of --out; fit nothing")
    args = parse_args(parser)
    if args.report:
        return report(args.out)
    args.data = [d for name in args.data for d in groups.get(name, [name])]
    if args.smoke:
        args.data, args.out = [smoke_data], tempfile.mkstemp(suffix=".jsonl")[1]
    record_fits(args, study, summary)
    print()
    report(args.out)


def variant_options(variant_sets, default, what, phases_help):
    """``add_arguments`` for :func:`study_main` of a study of named variant sets: ``--variants`` (a
    key of ``variant_sets``; ``what`` says what varies) and ``--phases DIR`` (where
    :func:`c2bin_phase` saves and reads the C2BIN phases; ``phases_help`` says how)."""
    def add(parser):
        parser.add_argument("--variants", choices=list(variant_sets), default=default,
                            help=f"the set of variants {what} (default: {default})")
        parser.add_argument("--phases", metavar="DIR", default=None, help=phases_help)
    return add


def record_fits(args, study, summary):
    """Each data set of ``args.data`` × each seed of ``args.seeds``: ``study(name, seed, args)``,
    appended to ``args.out`` and printed as ``summary(record)``, as it finishes."""
    for name in args.data:
        for seed in args.seeds:
            record = study(name, seed, args)
            append_record(args.out, record)
            print(summary(record), flush=True)
