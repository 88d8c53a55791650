#!/usr/bin/env bash
# Re-runs the experiments notebook and stores it with its outputs, the reference run a reader sees
# without running it: executes examples/notebooks/zero_copy_experiments.ipynb headless (as
# scripts/test-py.sh does), replaces the machine's paths in its outputs (this checkout, the venv,
# the home and temporary directories, the host name), checks the result (every code cell has an
# output, no error, no path left: scripts/notebook.py check, which py/tests/test_notebook_clean.py
# runs in CI) and only then overwrites the stored notebook. Commit it with the machine it ran on
# (its first code cell prints it) in the message.
#
#   bash scripts/notebook-reference.sh               # venv in target/py-venv, as scripts/test-py.sh
#   bash scripts/notebook-reference.sh --no-install  # the venv's zcopy as it is (no rebuild)
#
# Run it on a quiet machine, as root where the memory-pressure run of section 7 should run (it
# needs a memory cgroup). A failing cell leaves the stored notebook unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

target=${CARGO_TARGET_DIR:-target}
case "$target" in /*) ;; *) target=$PWD/$target ;; esac
venv=${ZCOPY_VENV:-$target/py-venv}
mkdir -p "$target"

if [ ! -x "$venv/bin/python" ]; then
  echo "== python3 -m venv $venv"
  python3 -m venv "$venv"
fi
py="$venv/bin/python"

if [ "${1:-}" != "--no-install" ]; then
  echo "== pip install (notebook tools) and ./py"
  "$py" -m pip install -q --disable-pip-version-check maturin nbclient ipykernel nbformat pandas matplotlib
  # The same build as scripts/test-py.sh's (the testing feature only adds a test hook), so the
  # venv stays ready for it.
  MATURIN_PEP517_ARGS="--features=testing" \
    "$py" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps ./py
fi

echo "== the notebook, headless: executed, scrubbed, checked, stored"
"$py" scripts/notebook.py reference examples/notebooks/zero_copy_experiments.ipynb
