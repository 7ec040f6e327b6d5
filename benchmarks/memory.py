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

Run:  python benchmarks/memory.py [--threads N] [--smoke]
``--smoke`` measures fits on 300 and 2,000 rows, and ``predict_proba`` alone on 1,000 rows of a
model fitted on 300 (three subprocesses: each costs about 3 s of imports, most of a smoke run), with
5 refinement epochs instead of 50.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import SMOKE_PARAMS, benchmark_parser, markdown_row, parse_args, table_header  # noqa: E402

#: Rows of the two fits, rows of the model fitted for inference, rows of the inference calls.
SIZES = dict(fit=(1_000, 100_000), infer_model=2_000, infer=(10_000, 200_000),
             methods=("predict", "transform", "predict_proba"))
SMOKE_SIZES = dict(fit=(300, 2_000), infer_model=300, infer=(1_000,), methods=("predict_proba",))

CHILD = r"""
import json, resource, sys
import numpy as np
from skc2bin import C2BINClusterer
n = int(sys.argv[1])
X = np.random.RandomState(0).standard_normal((n, 100)).astype(np.float32)
params = dict(n_clusters=10, max_epochs=1, device="cpu", random_state=0, **json.loads(sys.argv[2]))
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
n, method, n_model = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
X = np.random.RandomState(0).standard_normal((n, 100)).astype(np.float32)
params = dict(n_clusters=10, max_epochs=1, device="cpu", random_state=0, **json.loads(sys.argv[4]))
est = C2BINClusterer(**params).fit(X[:n_model])
getattr(est, method)(X[:500])  # warm-up: one-off allocations of this method
peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # MiB
before = peak()
out = getattr(est, method)(X)
print(json.dumps(dict(n=n, method=method, rise=peak() - before, output_mib=out.nbytes / 2**20)))
"""


def _child(code, *argv, threads=None):
    """Run ``code`` in a fresh interpreter; returns the JSON it prints last."""
    env = None if threads is None else {**os.environ, "OMP_NUM_THREADS": str(threads)}
    out = subprocess.run([sys.executable, "-c", code, *map(str, argv)], capture_output=True, text=True, env=env)
    if out.returncode:
        raise RuntimeError(f"measurement subprocess {argv} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    args = parse_args(benchmark_parser(__doc__, seeds=None))
    sizes = SMOKE_SIZES if args.smoke else SIZES
    # The smoke run's fits keep their full size and model, but refine briefly, like other smoke runs.
    extra_params = json.dumps({"refine_epochs": SMOKE_PARAMS["refine_epochs"]} if args.smoke else {})
    small, large = (_child(CHILD, n, extra_params, threads=args.threads) for n in sizes["fit"])
    print(table_header("rows", "data MiB", "peak before fit MiB", "peak rise in fit MiB",
                       "peak rise incl. predict+transform MiB"))
    for r in (small, large):
        print(markdown_row(f"{r['n']:,}", f"{r['data_mib']:.1f}", f"{r['before']:.0f}", f"{r['fit']:.1f}",
                           f"{r['predict']:.1f}"))
    extra = large["fit"] - small["fit"]
    print(f"\nfit at {large['n']:,} rows rose {extra:.1f} MiB more than at {small['n']:,} rows: "
          f"{extra / large['data_mib']:.2f} copies of the data.")

    print()
    print(table_header("method", "rows", "output MiB", "peak rise MiB", "rise beyond the output MiB"))
    for method in sizes["methods"]:
        for n in sizes["infer"]:
            r = _child(INFER_CHILD, n, method, sizes["infer_model"], extra_params, threads=args.threads)
            print(markdown_row(method, f"{n:,}", f"{r['output_mib']:.1f}", f"{r['rise']:.1f}",
                               f"{r['rise'] - r['output_mib']:.1f}"), flush=True)


if __name__ == "__main__":
    main()
