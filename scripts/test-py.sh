#!/usr/bin/env bash
# The Python package's tests: a venv, `pip install ./py` (built by maturin from this checkout, with
# the `testing` feature for the panic hook the tests use; released wheels have none),
# pytest, mypy's stubtest over the extension module's stubs, mypy --strict over the package and
# the tests, the Python examples, and the experiments notebook run headless (a failing cell fails).
#
#   bash scripts/test-py.sh            # venv in target/py-venv (kept between runs)
#   ZCOPY_VENV=/tmp/v bash scripts/test-py.sh
#
# Its files (the venv, the sdist, the executed notebook) go under CARGO_TARGET_DIR when it is set,
# as the build does, target/ otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."

target=${CARGO_TARGET_DIR:-target}
case "$target" in /*) ;; *) target=$PWD/$target ;; esac
venv=${ZCOPY_VENV:-$target/py-venv}
mkdir -p "$target"

if ! python3 -c 'import venv, ensurepip' 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing python3-venv"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  else
    echo "python3's venv module is missing: install python3-venv" >&2
    exit 1
  fi
fi

if [ ! -x "$venv/bin/python" ]; then
  echo "== python3 -m venv $venv"
  python3 -m venv "$venv"
fi
venv=$(cd "$venv" && pwd)
py="$venv/bin/python"

echo "== pip install (test and notebook tools)"
"$py" -m pip install -q --disable-pip-version-check \
  maturin pytest hypothesis mypy nbclient ipykernel nbformat tqdm pandas matplotlib \
  uvloop aiohttp

echo "== pip install ./py (with the testing feature: the panic hook the tests use)"
# maturin's build backend passes MATURIN_PEP517_ARGS to cargo. A wheel built without it, as
# every released one is, has no _inject_panic.
MATURIN_PEP517_ARGS="--features=testing" \
  "$py" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps ./py
"$py" -c 'from zcopy import _zcopy; assert hasattr(_zcopy, "_inject_panic"), "built without the testing feature"'
# One wheel for every CPython >= 3.9: the abi3 tag.
wheel_tag=$("$py" - <<'EOF'
from importlib.metadata import distribution
print(" ".join(l.split(":", 1)[1].strip() for l in distribution("zcopy").read_text("WHEEL").splitlines() if l.startswith("Tag:")))
EOF
)
case "$wheel_tag" in
  cp39-abi3-*) echo "wheel tag $wheel_tag" ;;
  *) echo "the wheel is not abi3 for Python >= 3.9: $wheel_tag" >&2; exit 1 ;;
esac

echo "== maturin sdist (must carry the engine, ../core)"
rm -rf "$target/py-sdist"
"$venv/bin/maturin" sdist -m py/Cargo.toml -o "$target/py-sdist" >/dev/null 2>&1
sdist=$(ls "$target"/py-sdist/zcopy-*.tar.gz)
tar tzf "$sdist" >"$target/py-sdist/contents.txt"
grep -q '/core/src/lib.rs$' "$target/py-sdist/contents.txt" || { echo "$sdist lacks core/src/lib.rs" >&2; exit 1; }
echo "$sdist"

echo "== pytest"
(cd py && "$py" -m pytest -q -p no:cacheprovider tests)

echo "== mypy.stubtest zcopy"
"$py" -m mypy.stubtest zcopy --mypy-config-file py/pyproject.toml
echo "== mypy --strict"
"$py" -m mypy --config-file py/pyproject.toml --no-incremental py/python/zcopy py/tests

echo "== examples/python"
for example in examples/python/*.py; do
  echo "-- $example"
  MPLBACKEND=Agg "$py" "$example" >/dev/null
done

echo "== the notebook, headless"
mkdir -p "$target/notebooks"
ZCOPY_NOTEBOOK_OUT=$target/notebooks/zero_copy_experiments.executed.ipynb "$py" - <<'EOF'
import os, sys, time
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

src = "examples/notebooks/zero_copy_experiments.ipynb"
out = os.environ["ZCOPY_NOTEBOOK_OUT"]
nb = nbformat.read(src, as_version=4)
start = time.monotonic()
try:
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": "."}}).execute()
except CellExecutionError as e:
    nbformat.write(nb, out)
    print(f"a cell failed (executed copy in {out}):\n{e}", file=sys.stderr)
    sys.exit(1)
nbformat.write(nb, out)
print(f"{src}: {sum(c.cell_type == 'code' for c in nb.cells)} code cells ran in {time.monotonic() - start:.0f} s; executed copy in {out}")
EOF
