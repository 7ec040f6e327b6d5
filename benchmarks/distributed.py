"""Data-parallel training (torchrun, DDP) beside one process, on the same data.

The same fit — digits as 8x8 images, ``n_clusters=10``, global batch 128, ``--epochs`` epochs, one
seed per repetition — runs in fresh subprocesses as

* **1 process**: the usual fit (``distributed=False``), with every thread, and with one thread;
* **1 process, DDP path**: ``torchrun --nproc_per_node 1`` with ``distributed=True``: the
  data-parallel machinery (DDP wrapper, gather, per-epoch exchanges) with nothing to exchange, i.e.
  its overhead alone;
* **N processes (DDP)**: ``torchrun --nproc_per_node N`` (gloo on CPUs, one thread each; NCCL on
  GPUs, one GPU each): each process steps on ``128 / N`` samples of every batch.

Reported per run: fit seconds (``fit`` in the slowest process, including the process-group set-up
and the labelling of the training data), the mean epoch time from ``history_``, ACC/NMI/ARI of
``labels_`` against the digit classes, the last epoch's ``train_loss``, and whether all processes
ended with the same labels, weights and history (they must). On a 2-core CPU expect no speed-up:
two one-thread processes share the cores one two-thread process uses, and pay the exchanges.

CPU:    python benchmarks/distributed.py                      (1 vs 2 processes, seeds 0 1 2)
GPU:    python benchmarks/distributed.py --device cuda --nproc 1 --data synthetic-cifar10 \\
            --backbone resnet18 --batch-size 512 --epochs 2   (one GPU with and without the DDP path)
        python benchmarks/distributed.py --device cuda --nproc 8 --data synthetic-cifar10 \\
            --backbone resnet18 --batch-size 1024 --epochs 2  (8 GPUs; scores of random images mean nothing)
Smoke:  python benchmarks/distributed.py --smoke   (200 digits, one epoch, a small model, 2 processes)
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    SMOKE_PARAMS,
    SMOKE_SAMPLES,
    benchmark_parser,
    markdown_row,
    parse_args,
    scores,
    table_header,
    versions,
)

SCRIPT = Path(__file__).resolve()
ROOT = SCRIPT.parents[1]
COLUMNS = ("run", "processes × threads", "fit s", "s per epoch", "ACC", "NMI", "ARI", "train_loss",
           "processes agree")


# ------------------------------------------------------------------ one process of a run
def worker(config, out):
    """Fit as ``config`` says and write what this process ended with to ``out/rank<r>.json``."""
    import hashlib

    import numpy as np
    import torch

    from skc2bin import C2BINClusterer

    sys.path.insert(0, str(SCRIPT.parent))
    from _data import digits_images, synthetic_cifar10

    if config["data"] == "digits":
        X, y = digits_images(8)
        X = X.astype(np.float32)
    else:
        X, y = synthetic_cifar10("train", config["n_samples"] or 2000)
    if config["n_samples"]:
        X, y = X[: config["n_samples"]], y[: config["n_samples"]]
    params = dict(n_clusters=10, max_epochs=config["epochs"], batch_size=config["batch_size"],
                  device=config["device"], random_state=config["seed"], distributed=config["distributed"],
                  **({"backbone": config["backbone"]} if config["backbone"] else {}), **config["model"])
    est = C2BINClusterer(**params)
    t0 = time.perf_counter()
    est.fit(X)
    fit_s = time.perf_counter() - t0
    weights = hashlib.sha256()
    for name, value in est.net_.module_.state_dict().items():
        weights.update(name.encode() + value.detach().cpu().numpy().tobytes())
    history = [{k: v for k, v in epoch.items() if k != "batches"} for epoch in est.history_]
    rank = int(os.environ.get("RANK", 0))
    result = dict(
        rank=rank, world=int(os.environ.get("WORLD_SIZE", 1)), threads=torch.get_num_threads(), fit_s=fit_s,
        epoch_s=float(np.mean([e["dur"] for e in history])), scores=scores(y, est.labels_),
        train_loss=history[-1]["train_loss"], labels=hashlib.sha256(est.labels_.tobytes()).hexdigest(),
        weights=weights.hexdigest(), history=hashlib.sha256(json.dumps(history).encode()).hexdigest(),
        local_batch=est.history_[-1]["batches"][0]["train_batch_size"],
    )
    with open(os.path.join(out, f"rank{rank}.json"), "w") as f:
        json.dump(result, f)


# ------------------------------------------------------------------ the driver
def run(name, config, nproc, threads, torchrun):
    """One run in fresh processes; returns its table row and the per-process results."""
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["OMP_NUM_THREADS"] = str(threads)
    with tempfile.TemporaryDirectory() as out:
        args = ["--worker", json.dumps(config), out]
        if torchrun:
            cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
                   str(SCRIPT), *args]
        else:
            cmd = [sys.executable, str(SCRIPT), *args]
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        if proc.returncode:
            raise RuntimeError(f"{name} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
        results = [json.load(open(os.path.join(out, f"rank{r}.json"))) for r in range(nproc)]
    agree = all(r[k] == results[0][k] for r in results for k in ("labels", "weights", "history"))
    first = results[0]
    row = markdown_row(name, f"{nproc} × {first['threads']}", f"{max(r['fit_s'] for r in results):.1f}",
                       f"{first['epoch_s']:.2f}", *(f"{s:.3f}" for s in first["scores"]),
                       f"{first['train_loss']:.4f}", "yes" if agree else "NO")
    print(f"{name}, seed {config['seed']}: {row}", flush=True)
    return row, results


def main():
    parser = benchmark_parser(__doc__)
    parser.add_argument("--nproc", type=int, default=2, help="processes of the data-parallel run (default: 2)")
    parser.add_argument("--epochs", type=int, default=30, help="max_epochs (default: 30)")
    parser.add_argument("--batch-size", type=int, default=128, help="global batch (default: 128)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--data", default="digits", choices=["digits", "synthetic-cifar10"],
                        help="digits 8x8 (scores mean something) or random CIFAR-10-shaped images (speed only)")
    parser.add_argument("--backbone", default=None, help="backbone (default: the estimator's 'auto')")
    parser.add_argument("--no-refine", action="store_true",
                        help="refine=None: the C2BIN heads without the refinement phase")
    parser.add_argument("--worker", nargs=2, metavar=("CONFIG", "OUT"), help=argparse.SUPPRESS)
    args = parse_args(parser)
    if args.worker:
        return worker(json.loads(args.worker[0]), args.worker[1])

    from skc2bin._threads import default_n_threads

    threads = default_n_threads()
    cuda = args.device == "cuda"
    base = dict(epochs=1 if args.smoke else args.epochs, batch_size=args.batch_size, device=args.device,
                data=args.data, backbone=args.backbone, n_samples=SMOKE_SAMPLES if args.smoke else None,
                model={**(SMOKE_PARAMS if args.smoke else {}), **({"refine": None} if args.no_refine else {})})
    base["model"] = {k: v for k, v in base["model"].items() if k != "max_epochs"}
    runs = [("1 process", 1, threads, False, False)]
    if not cuda and threads > 1:
        runs.append(("1 process", 1, 1, False, False))
    if not args.smoke:  # the smoke run launches torchrun once, for the data-parallel row
        runs.append(("1 process, DDP path", 1, threads, True, True))
    if args.nproc > 1:
        runs.append((f"{args.nproc} processes (DDP)", args.nproc, 1 if not cuda else threads, True, True))

    print(versions())
    print(f"command: python benchmarks/distributed.py {' '.join(sys.argv[1:])}")
    rows = []
    for seed in args.seeds:
        for name, nproc, n_threads, distributed, torchrun in runs:
            t0 = time.perf_counter()
            row, _ = run(name, {**base, "seed": seed, "distributed": distributed}, nproc, n_threads, torchrun)
            rows.append((seed, row, time.perf_counter() - t0))
    print()
    print(table_header(*COLUMNS[:1], "seed", *COLUMNS[1:]))
    for seed, row, _ in rows:
        cells = row.split(" | ")
        print(" | ".join([cells[0], str(seed), *cells[1:]]))
    if any(row.endswith("| NO |") for _, row, _ in rows):
        sys.exit("The processes of a data-parallel run ended with different models.")


if __name__ == "__main__":
    main()
