#!/usr/bin/env bash
# The Python wheel that installs where no Rust is, and the sdist beside it:
#
#   bash scripts/wheel.sh
#   pip install target/wheels/zcopy-*.whl
#
# writes target/wheels/zcopy-VERSION-cp39-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl (one
# wheel for every CPython >= 3.9, pyo3's abi3-py39 feature, set in the workspace Cargo.toml; for
# every x86-64 Linux with glibc >= 2.17) and target/wheels/zcopy-VERSION.tar.gz (the sdist,
# carrying the engine, ../core), under CARGO_TARGET_DIR when it is set. Earlier zcopy wheels and
# sdists there are removed first, so the glob above names one file. The tools (maturin, ziglang,
# auditwheel) go into a venv of their own, target/wheel-venv, installed once from the Python
# registry; the build is cargo's, incremental (50-90 s for a cold release build with LTO on 2
# cores, a few seconds when nothing changed).
#
# How the tag is reached: `maturin build --zig`. zig links the extension against the stubs of an
# old glibc instead of this machine's (glibc 2.36), so the symbol versions it references are those
# of the tag. `auditwheel repair` cannot do that: it copies external libraries into the wheel and
# retags it, but never relinks, and a plain link here references pthread_create@GLIBC_2.34,
# fstat@GLIBC_2.33 and more (`auditwheel show` on such a wheel says manylinux_2_34).
#
# manylinux2014 (glibc 2.17) needs the engine to call what glibc 2.17 lacks through syscall(2):
# statx (glibc 2.28), copy_file_range and memfd_create (2.27), preadv2 and pwritev2 (2.26)
# (core/src/sys/fs.rs, py/src/args.rs). Called through glibc and linked against 2.17, those stay
# references without a version: neither maturin's check nor `auditwheel show` sees them (both pass
# such a wheel), and on an older glibc the import fails with `undefined symbol: preadv2`, or a weak
# one is null and called. So this script refuses a wheel whose extension takes any symbol without
# a version, except the Python C API's (the interpreter provides it) and the weak ones Rust's std
# checks before calling. ZCOPY_WHEEL_TAG picks another tag (e.g. manylinux_2_28).
set -euo pipefail
cd "$(dirname "$0")/.."

target=${CARGO_TARGET_DIR:-target}
case "$target" in /*) ;; *) target=$PWD/$target ;; esac
venv=$target/wheel-venv
out=$target/wheels
tag=${ZCOPY_WHEEL_TAG:-manylinux2014}
mkdir -p "$target"

if [ ! -x "$venv/bin/python" ]; then
  echo "== python3 -m venv $venv"
  python3 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import maturin, ziglang, auditwheel' 2>/dev/null; then
  echo "== pip install maturin ziglang auditwheel (into $venv)"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check 'maturin>=1.16,<2' ziglang auditwheel
fi
# maturin finds zig as `python3 -m ziglang`: the venv's python first on PATH.
export PATH=$venv/bin:$PATH

# What the extension may take from libc without a version: the weak ones Rust's std looks up and
# checks before it calls them (statx, gettid, getrandom, __cxa_thread_atexit_impl) and the
# toolchain's usual weak hooks. With LTO a plain call of ours to one of those (`libc::statx(...)`)
# merges into std's weak reference, unchecked: a null call on an older glibc. So our Rust source
# must not call them through libc.
std_weak='statx|gettid|getrandom|__cxa_thread_atexit_impl'
if calls=$(grep -rnE "libc::($std_weak)\(" core/src serve/src py/src); then
  echo "these call through glibc what glibc 2.17 lacks; call them through libc::syscall:" >&2
  echo "$calls" >&2
  exit 1
fi

mkdir -p "$out"
rm -f "$out"/zcopy-*.whl "$out"/zcopy-*.tar.gz

echo "== maturin build --release --zig --compatibility $tag"
maturin build --release --zig --compatibility "$tag" -i "$venv/bin/python" -m py/Cargo.toml -o "$out"
echo "== maturin sdist"
maturin sdist -m py/Cargo.toml -o "$out"

# The symbols the extension takes without a version, beyond Python's and those std checks
# (above): none, or the wheel lies about its tag.
wheel=$(ls "$out"/zcopy-*.whl)
so=$target/wheel-check/_zcopy.abi3.so
mkdir -p "$(dirname "$so")"
"$venv/bin/python" - "$wheel" "$so" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as z, z.open("zcopy/_zcopy.abi3.so") as f, open(sys.argv[2], "wb") as o:
    shutil.copyfileobj(f, o)
PY
unversioned=$(nm -D --undefined-only "$so" | awk '
  $NF ~ /@/ || $NF ~ /^_?Py/ { next }
  $1 == "w" && $NF ~ /^('"$std_weak"'|__gmon_start__|_ITM_.*)$/ { next }
  { print $NF }' | sort -u)
if [ -n "$unversioned" ]; then
  echo "$wheel is tagged $tag, but its extension takes these symbols without a version: on a glibc" >&2
  echo "older than the one that added them it fails to load, or calls null (use a newer ZCOPY_WHEEL_TAG):" >&2
  echo "$unversioned" | sed 's/^/  /' >&2
  rm -f "$wheel"
  exit 1
fi

ls -1 "$out"/zcopy-*.whl "$out"/zcopy-*.tar.gz
