#!/usr/bin/env bash
# Prepare the GPU check (benchmarks/gpu_check.py) on the developers' machine: the lent GPU
# machine has torch, torchvision, scikit-learn and safetensors but no skorch and no network, and
# only the working tree travels to it. This puts a skorch wheel for its Python (3.12) into .whl/
# and the CIFAR-10 archive into .gpu/ (both git-ignored); name them in the device tool's carry.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .whl .gpu
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 --platform any \
  -d .whl "skorch==$(python3 -c 'import skorch; print(skorch.__version__)' 2>/dev/null || echo 1.4.0)"
archive="${SKC2BIN_CIFAR10:-../shared/data/cifar10-jpeg.tar.gz}"
cp -u "$archive" .gpu/cifar10-jpeg.tar.gz
ls -la .whl .gpu
du -sh .whl .gpu
