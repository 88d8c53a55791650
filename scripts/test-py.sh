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

echo "== the notebook, headless (the stored notebook keeps its reference outputs; the executed copy goes to $target/notebooks)"
mkdir -p "$target/notebooks"
"$py" scripts/notebook.py run examples/notebooks/zero_copy_experiments.ipynb \
  "$target/notebooks/zero_copy_experiments.executed.ipynb"
