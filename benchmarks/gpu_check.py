"""The prepared GPU check: one command on a lent H100/H200 that records what C2BIN does there.

Phases, each a subprocess with its own time limit, so that one that fails or hangs still leaves the
others' results:

1. environment: GPU (``nvidia-smi``), torch/CUDA/cuDNN versions, ``skc2bin.show_versions()``;
2. unpack the CIFAR-10 archive (``--archive``) into a temporary folder (JPEG image folder);
3. throughput, about a minute: ``benchmarks/throughput.py`` with ResNet-18, bf16 and the recipe's
   batch size (``--batch-size``) — skc2bin's batched on-device augmentation, the same reading the JPEG folder
   (DataLoader workers), and the conventional per-image torchvision pipeline feeding the same
   network step;
4. training: ``benchmarks/cifar10.py`` fits the GPU recipe (:data:`GPU_RECIPE`) on the 50,000
   training images for as many epochs as the measured throughput allows in ``--budget``
   seconds, then scores the 10,000 test images (ACC/NMI/ARI, k-NN accuracy of ``transform``,
   KMeans on pixels as the baseline), both before and after the refinement phase
   (``--compare-refine``: one training run; where the refinement's gate kept the C2BIN heads, the
   refinement without its gate is scored too);
5. write ``gpu_check.json`` and ``gpu_check.md`` (one Markdown row per phase) to ``--out``
   (default: ``$OUT``, else ``gpu_check_out/``).

Prepare once on the developers' machine (downloads the skorch wheel the GPU machine lacks and
copies the archive into git-ignored folders that travel with the working tree)::

    bash benchmarks/gpu_prepare.sh

Then, with the device tool (``carry: [".whl", ".gpu"]``, timeout 600 s)::

    python3 -m pip install -q --no-index --no-deps --target /tmp/site .whl/*.whl \\
      && PYTHONPATH=/tmp/site:$PWD python3 benchmarks/gpu_check.py --budget 240

CPU smoke mode (synthetic images, one epoch, a few hundred samples; what the tests run)::

    python benchmarks/gpu_check.py --smoke --out /tmp/gpu_check_smoke

The JPEG images are slightly blurrier than CIFAR-10's original pixels (see shared/data/README):
numbers are close to, not exactly comparable with, published CIFAR-10 results.
"""

import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))
from _common import benchmark_parser, markdown_row, parse_args, table_header  # noqa: E402
from _data import CIFAR10_ARCHIVE  # noqa: E402

#: The recipe trained on the GPU (docs/user_guide/photographs.rst): ResNet-18, large batches,
#: warm-up + cosine learning rate, compiled training pass; bf16 and channels-last are the
#: estimator's defaults on CUDA.
GPU_RECIPE = ["--backbone", "resnet18", "--lr-schedule", "cosine", "--compile"]
#: The recipe's batch size and learning rate (``--batch-size`` / ``--lr`` change both phases).
#: Batch 1024 with ``lr`` scaled by the square root of the batch (2e-3 at 512) ran 66 epochs where
#: batch 512 ran 41 in the same budget on an H200 (docs/benchmarks.md, third GPU run).
GPU_BATCH, GPU_LR = 1024, 2.8e-3

#: Local archive locations, in order (``.gpu/`` is where gpu_prepare.sh puts it).
ARCHIVES = [ROOT / ".gpu" / "cifar10-jpeg.tar.gz", CIFAR10_ARCHIVE]


def _run(name, cmd, timeout, log_dir, env=None):
    """Run ``cmd``; returns ``{'ok', 'seconds', 'returncode', 'tail'}`` and writes its log."""
    t0 = time.perf_counter()
    print(f"\n=== {name}: {' '.join(map(str, cmd))} (limit {timeout:.0f} s)", flush=True)
    try:
        proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, timeout=timeout,
                              cwd=ROOT, env=env)
        out, code = proc.stdout + proc.stderr, proc.returncode
    except subprocess.TimeoutExpired as exc:
        out = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        out += f"\n[timed out after {timeout:.0f} s]"
        code = None
    secs = time.perf_counter() - t0
    (log_dir / f"{name}.log").write_text(out)
    print(out[-4000:], flush=True)
    return {"ok": code == 0, "seconds": round(secs, 1), "returncode": code, "tail": out[-2000:]}


def _environment():
    import torch

    info = {"python": sys.version.split()[0], "torch": torch.__version__, "cuda_available": torch.cuda.is_available()}
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        info.update(gpu=props.name, gpu_memory_gib=round(props.total_memory / 2**30, 1),
                    cuda=torch.version.cuda, cudnn=torch.backends.cudnn.version(),
                    bf16=torch.cuda.is_bf16_supported())
    smi = shutil.which("nvidia-smi")
    if smi:
        info["nvidia_smi"] = subprocess.run([smi, "--query-gpu=name,memory.total,driver_version",
                                             "--format=csv,noheader"], capture_output=True, text=True).stdout.strip()
    info["cpus"] = os.cpu_count()
    return info


def _unpack(archive, dest):
    t0 = time.perf_counter()
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    return time.perf_counter() - t0


def main():
    parser = benchmark_parser(__doc__, seeds=None)
    parser.add_argument("--budget", type=float, default=240.0, help="training seconds (default: %(default)s)")
    parser.add_argument("--throughput-batches", type=int, default=60, help="timed batches per throughput row")
    parser.add_argument("--batch-size", type=int, default=GPU_BATCH,
                        help="batch size of the throughput rows and the training (default: %(default)s)")
    parser.add_argument("--lr", type=float, default=GPU_LR,
                        help="the training's learning rate (default: %(default)s; scale it with the square root "
                             "of the batch size, docs/user_guide/photographs.rst)")
    parser.add_argument("--seed", type=int, default=0, help="the training's random_state (default: %(default)s)")
    parser.add_argument("--archive", default=None, help="cifar10-jpeg.tar.gz (default: .gpu/, then shared/data/)")
    parser.add_argument("--out", default=None,
                        help="result folder (default: $OUT, else gpu_check_out/; --smoke: a temporary folder)")
    args = parse_args(parser)
    default = tempfile.mkdtemp(prefix="gpu_check_smoke_") if args.smoke else ROOT / "gpu_check_out"
    out = Path(args.out or os.environ.get("OUT") or default)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    results = {"command": " ".join(sys.argv), "smoke": args.smoke, "budget_s": args.budget,
               "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed}

    results["environment"] = env_info = _environment()
    print(json.dumps(env_info, indent=2), flush=True)
    cuda = env_info["cuda_available"]
    if not cuda and not args.smoke:
        print("No CUDA GPU: this check is for a GPU machine (use --smoke on a CPU).", flush=True)
    device = "cuda" if cuda and not args.smoke else "cpu"
    py = sys.executable
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}

    with tempfile.TemporaryDirectory() as tmp:
        folder = None
        if not args.smoke:
            archive = Path(args.archive) if args.archive else next((a for a in ARCHIVES if a.exists()), ARCHIVES[0])
            try:
                results["unpack_s"] = round(_unpack(archive, tmp), 1)
                folder = Path(tmp) / "test"
                env["SKC2BIN_CIFAR10"] = str(archive)
            except (OSError, tarfile.TarError) as exc:
                results["unpack_error"] = f"{archive}: {exc}"
                print(results["unpack_error"], flush=True)

        common = ["--smoke"] if args.smoke else []
        tp_json, fit_json = out / "throughput.json", out / "cifar10.json"
        cmd = [py, HERE / "throughput.py", *common, "--device", device, "--skip-scaling", "--json", tp_json]
        if not args.smoke:
            cmd += ["--backbone", "resnet18", "--batch-size", str(args.batch_size), "--n", "10000", "--warmup", "10",
                    "--batches", str(args.throughput_batches), "--workers", str(min(16, os.cpu_count() or 1))]
            if folder is not None:
                cmd += ["--image-folder", folder]
        results["throughput"] = _run("throughput", cmd, 60 if args.smoke else 150, out, env)
        if tp_json.exists():
            results["throughput"]["rows"] = json.loads(tp_json.read_text())["rows"]

        # Epochs from the measured throughput of the recipe's step (a tenth kept for evaluation
        # passes, the compilation and the first epoch's warm-up).
        epochs = 1
        rows = results["throughput"].get("rows") or []
        if not args.smoke and rows:
            rate = rows[0]["samples_per_s"]
            epochs = max(1, int(0.85 * args.budget * rate / 50_000))
        results["planned_epochs"] = epochs
        cmd = [py, HERE / "cifar10.py", *common, "--device", device, "--split", "train", "--score-split", "test",
               "--epochs", str(epochs), "--seed", str(args.seed), "--compare-refine", "--json", fit_json]
        if not args.smoke:
            cmd += [*GPU_RECIPE, "--batch-size", str(args.batch_size), "--lr", str(args.lr)]
        results["training"] = _run("training", cmd, 120 if args.smoke else args.budget * 1.3 + 120, out, env)
        if fit_json.exists():
            results["training"]["result"] = json.loads(fit_json.read_text())

    results["total_s"] = round(time.perf_counter() - started, 1)
    (out / "gpu_check.json").write_text(json.dumps(results, indent=2, default=str))
    (out / "gpu_check.md").write_text(_markdown(results))
    print("\n" + _markdown(results), flush=True)
    ok = results["throughput"]["ok"] and results["training"]["ok"]
    sys.exit(0 if ok else 1)


def _markdown(results):
    env = results["environment"]
    card = env.get("gpu", "CPU (no CUDA)")
    lines = [f"GPU check on {card}; torch {env['torch']}, CUDA {env.get('cuda', '–')}; "
             f"total {results['total_s']} s{' (smoke mode: numbers mean nothing)' if results['smoke'] else ''}",
             "", table_header("pipeline", "two-view samples/s", "ratio to the best conventional")]
    for row in results["throughput"].get("rows") or []:
        lines.append(markdown_row(row["pipeline"], f"{row['samples_per_s']:.0f}",
                                  f"{row['ratio_to_best_conventional']:.2f}"))
    fit = results["training"].get("result")
    lines += ["", table_header("model", "epochs", "fit s", "s/epoch", "samples/s", "ACC", "NMI", "ARI", "k-NN acc.")]
    if fit:
        lines.append(markdown_row(
            f"C2BIN, {fit['params'].get('backbone')}, batch {fit['params'].get('batch_size')}", fit["epochs"],
            f"{fit['fit_s']:.0f}", f"{fit['s_per_epoch']:.2f}", f"{fit['train_samples_per_s']:.0f}",
            *(f"{fit[k]:.3f}" for k in ("acc", "nmi", "ari", "knn_acc"))))
        phase = fit.get("before_refinement")
        if phase:
            lines.append(markdown_row("C2BIN phase only (before refinement)", fit["epochs"], f"{phase['fit_s']:.0f}",
                                      "–", "–", *(f"{phase[k]:.3f}" for k in ("acc", "nmi", "ari", "knn_acc"))))
        ungated_fit = fit.get("refinement_without_gate")
        if ungated_fit:
            lines.append(markdown_row("C2BIN, the refinement without its gate", fit["epochs"], "–", "–", "–",
                                      *(f"{ungated_fit[k]:.3f}" for k in ("acc", "nmi", "ari", "knn_acc"))))
        km = fit["kmeans"]
        lines.append(markdown_row("KMeans (pixels)", "–", "–", "–", "–",
                                  *(f"{km[k]:.3f}" for k in ("acc", "nmi", "ari")), "–"))
        if fit.get("refinement"):
            lines += ["", fit["refinement"]["summary"]]
    else:
        lines.append(markdown_row("C2BIN (training failed: see training.log)", *["–"] * 8))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
