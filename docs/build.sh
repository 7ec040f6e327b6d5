#!/usr/bin/env bash
# Build the HTML documentation with every Sphinx warning as an error.
#
#   docs/build.sh               full build: runs the examples/plot_*.py gallery
#   docs/build.sh --no-gallery  fast check: gallery pages without running the examples
#
# Further arguments go to sphinx-build (e.g. -j 2). Output: docs/_build/html.
# Needs the docs extra: pip install -e '.[docs]'
set -euo pipefail
cd "$(dirname "$0")"

args=()
for arg in "$@"; do
    if [[ "$arg" == "--no-gallery" ]]; then
        args+=(-D plot_gallery=0)
    else
        args+=("$arg")
    fi
done

export MPLBACKEND=Agg
exec python -m sphinx -b html -W --keep-going "${args[@]+"${args[@]}"}" . _build/html
