"""Classic clusterers on C2BIN's learned representation, beside C2BIN's own heads (issue 13).

On the imbalanced digit sets the representation is excellent (10-NN accuracy of ``transform``
0.97-0.98) while the heads, and the refinement that starts from them, keep near-equal cluster
sizes (docs/benchmarks.md, "The selection's weight and the refinement's length"). This asks
whether the partition the representation holds is reachable by a clusterer without a size prior:
per data set and seed it fits ``C2BINClusterer(n_clusters=k, random_state=seed)`` with defaults,
then clusters the L2-normalised ``transform`` of the training samples with spectral clustering on
the 10- and 30-nearest-neighbour graph (10-NN also with QR instead of k-means on the spectral
embedding), KMeans (n_init=10), Ward agglomeration and a diagonal Gaussian mixture. Labels are
used only for scoring (ACC). For C2BIN and spectral 10-NN the report also gives what a selection
without labels could see: the share of 10-NN pairs inside one cluster, the normalised entropy of
the cluster sizes, and the smallest cluster's share times k; and the same of the true classes,
which bounds what a criterion of neighbour agreement can find in this representation.

Run (one torch thread; one JSON line per fit appended to ``--out``):
    OMP_NUM_THREADS=1 python benchmarks/embedding_clusterers.py --data digits-one3x digits-geo --seeds 0 1 2
    python benchmarks/embedding_clusterers.py --report
``--smoke`` fits 200 digits (8x8) for one small epoch into a temporary file.
"""

import json
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.cluster import AgglomerativeClustering, KMeans, SpectralClustering
from sklearn.mixture import GaussianMixture
from sklearn.neighbors import NearestNeighbors
from sklearn.preprocessing import normalize

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from _common import benchmark_parser, markdown_row, model_params, parse_args, scores, smoke_subset  # noqa: E402
from _common import read_records, record_fits, table_header  # noqa: E402
from _sets import DATASETS  # noqa: E402

from skc2bin import C2BINClusterer  # noqa: E402
from skc2bin.training.partitions import neighbor_agreement, smallest_cluster_share  # noqa: E402

#: Clusterer name -> function of (normalised embedding, k, seed) returning labels.
CLUSTERERS = {
    "spectral 10-NN": lambda Z, k, s: SpectralClustering(k, affinity="nearest_neighbors", n_neighbors=10,
                                                         random_state=s).fit_predict(Z),
    "spectral 30-NN": lambda Z, k, s: SpectralClustering(k, affinity="nearest_neighbors", n_neighbors=30,
                                                         random_state=s).fit_predict(Z),
    "spectral 10-NN, QR": lambda Z, k, s: SpectralClustering(
        k, affinity="nearest_neighbors", n_neighbors=10, assign_labels="cluster_qr", random_state=s).fit_predict(Z),
    "KMeans": lambda Z, k, s: KMeans(k, n_init=10, random_state=s).fit_predict(Z),
    "Ward": lambda Z, k, s: AgglomerativeClustering(k).fit_predict(Z),
    "GMM (diag)": lambda Z, k, s: GaussianMixture(k, covariance_type="diag", n_init=3, random_state=s).fit(Z).predict(Z),
}


#: The label-free statistics of the true classes (a bound: a partition that agrees with more
#: neighbour pairs than the classes do cannot be told apart from them by agreement alone).
CLASSES = "the classes (labels)"


def study(name, seed, args):
    X, y = DATASETS[name]()
    X = X.astype(np.float32) if X.ndim == 3 else X
    X, y = smoke_subset(X, y, args)
    k = len(np.unique(y))
    t0 = time.perf_counter()
    est = C2BINClusterer(**model_params(args, n_clusters=k, random_state=seed)).fit(X)
    record = {"data": name, "seed": seed, "fit_s": time.perf_counter() - t0,
              "C2BIN (default)": scores(y, est.labels_)[0]}
    Z = normalize(est.transform(X))
    neighbors = NearestNeighbors(n_neighbors=11).fit(Z).kneighbors(Z, return_distance=False)[:, 1:]
    record["label-free"] = {"C2BIN (default)": label_free(est.labels_, neighbors, k),
                            CLASSES: label_free(y, neighbors, k)}
    for method, fn in CLUSTERERS.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "Graph is not fully connected"
            labels = fn(Z, k, seed)
        record[method] = scores(y, labels)[0]
        record["label-free"][method] = label_free(labels, neighbors, k)
    return record


def label_free(labels, neighbors, k):
    """What a selection without labels could see of a partition: the share of 10-NN pairs in one
    cluster, the normalised entropy of the cluster sizes (1 = equal sizes), the smallest cluster's
    share of the samples times k (1 = equal sizes, 0 = an empty cluster)."""
    sizes = np.bincount(labels, minlength=k) / len(labels)
    nz = sizes[sizes > 0]
    return {"agree": neighbor_agreement(labels, neighbors),
            "size_entropy": float(-(nz * np.log(nz)).sum() / np.log(k)),
            "min_share_k": smallest_cluster_share(labels, k)}


def report(path):
    recs = read_records(path)
    methods = ["C2BIN (default)", *CLUSTERERS]
    methods = [m for m in methods if any(m in r for r in recs.values())]
    print(table_header("data", "seeds", *methods))
    for data in sorted({d for d, _ in recs}):
        rows = [r for (d, _), r in sorted(recs.items()) if d == data]
        cells = [" / ".join(f"{r[m]:.3f}" if m in r else "–" for r in rows) for m in methods]
        print(markdown_row(data, ", ".join(str(r["seed"]) for r in rows), *cells))
    with_stats = [r for r in recs.values() if "label-free" in r]
    if with_stats:
        print()
        print(table_header("data", "seed", "clusterer", "ACC", "10-NN agreement", "size entropy",
                           "smallest cluster × k"))
        for r in sorted(with_stats, key=lambda r: (r["data"], r["seed"])):
            for method in ("C2BIN (default)", "spectral 10-NN", CLASSES):
                if method not in r["label-free"]:
                    continue  # records made before the classes' statistics were added
                st = r["label-free"][method]
                acc = "1.000" if method == CLASSES else f"{r[method]:.3f}"
                print(markdown_row(r["data"], r["seed"], method, acc, f"{st['agree']:.3f}",
                                   f"{st['size_entropy']:.3f}", f"{st['min_share_k']:.2f}"))


def main():
    parser = benchmark_parser(__doc__, seeds=[0])
    parser.add_argument("--data", nargs="+", default=["digits-one3x"])
    parser.add_argument("--out", default=str(HERE / "results" / "embedding_clusterers.jsonl"))
    parser.add_argument("--report", action="store_true", help="print the table of --out; fit nothing")
    args = parse_args(parser)
    if args.smoke:
        args.data, args.out = ["digits8"], tempfile.mkstemp(suffix=".jsonl")[1]
    if args.report:
        return report(args.out)
    record_fits(args, study, lambda rec: json.dumps({k: round(v, 3) if isinstance(v, float) else v
                                                    for k, v in rec.items()}))
    print()
    report(args.out)


if __name__ == "__main__":
    main()
