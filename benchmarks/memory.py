"""Peak memory of fitting C2BIN on 100,000 x 100 float32 vectors (CPU).

Each measurement runs in a fresh subprocess: it builds the data, runs a tiny
warm-up fit (so torch's one-off allocations are counted before), records the
process's peak resident memory (``ru_maxrss``), then fits one epoch and
predicts, and reports how far the peak rose. The same is done with 1,000
rows: the difference between the two is what the data size costs, to be
compared with the size of the data itself (one copy = 40 MB at 100,000 rows).

A second part checks that inference streams: a model fitted on 2,000 rows runs ``predict``,
``transform`` and ``predict_proba`` (each in its own fresh process) on 10,000 and 200,000 rows;
the peak rise minus the size of the returned array is what the call needs beyond its output, and
should not grow with the number of rows.

Run:  python benchmarks/memory.py
"""

import json
import subprocess
import sys

CHILD = r"""
import json, resource, sys
import numpy as np
from skc2bin import C2BINClusterer
n = int(sys.argv[1])
X = np.random.RandomState(0).standard_normal((n, 100)).astype(np.float32)
params = dict(n_clusters=10, max_epochs=1, device="cpu", random_state=0)
C2BINClusterer(**params).fit(X[:300])
peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB
before = peak()
est = C2BINClusterer(**params).fit(X)
after_fit = peak()
est.predict(X); est.transform(X)
after_predict = peak()
print(json.dumps(dict(n=n, data_mib=X.nbytes / 2**20, before=before, fit=after_fit - before,
                      predict=after_predict - before)))
"""


INFER_CHILD = r"""
import json, resource, sys
import numpy as np
from skc2bin import C2BINClusterer
n, method = int(sys.argv[1]), sys.argv[2]
X = np.random.RandomState(0).standard_normal((n, 100)).astype(np.float32)
est = C2BINClusterer(n_clusters=10, max_epochs=1, device="cpu", random_state=0).fit(X[:2000])
getattr(est, method)(X[:500])  # warm-up: one-off allocations of this method
peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB
before = peak()
out = getattr(est, method)(X)
print(json.dumps(dict(n=n, method=method, rise=peak() - before, output_mib=out.nbytes / 2**20)))
"""


def measure_inference(n, method):
    out = subprocess.run([sys.executable, "-c", INFER_CHILD, str(n), method], check=True,
                         capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure(n):
    out = subprocess.run([sys.executable, "-c", CHILD, str(n)], check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    small, large = measure(1_000), measure(100_000)
    print("| rows | data MiB | peak before fit MiB | peak rise in fit MiB | peak rise incl. predict+transform MiB |")
    print("|---|---|---|---|---|")
    for r in (small, large):
        print(f"| {r['n']:,} | {r['data_mib']:.1f} | {r['before']:.0f} | {r['fit']:.1f} | {r['predict']:.1f} |")
    extra = large["fit"] - small["fit"]
    print(f"\nfit at 100,000 rows rose {extra:.1f} MiB more than at 1,000 rows: "
          f"{extra / large['data_mib']:.2f} copies of the data.")

    print("\n| method | rows | output MiB | peak rise MiB | rise beyond the output MiB |")
    print("|---|---|---|---|---|")
    for method in ("predict", "transform", "predict_proba"):
        for n in (10_000, 200_000):
            r = measure_inference(n, method)
            print(f"| {method} | {n:,} | {r['output_mib']:.1f} | {r['rise']:.1f} | "
                  f"{r['rise'] - r['output_mib']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
