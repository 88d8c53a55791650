#!/usr/bin/env bash
# The Python wheel that installs where no Rust is, and the sdist beside it:
#
#   bash scripts/wheel.sh
#   pip install target/wheels/zcopy-*.whl
#
# writes target/wheels/zcopy-VERSION-cp39-abi3-manylinux_2_28_x86_64.whl (one wheel for every
# CPython >= 3.9: pyo3's abi3-py39 feature, set in the workspace Cargo.toml) and
# target/wheels/zcopy-VERSION.tar.gz (the sdist, carrying the engine, ../core), under
# CARGO_TARGET_DIR when it is set. Earlier zcopy wheels and sdists there are removed first, so the
# glob above names one file. The tools (maturin, ziglang, auditwheel) go into a venv of their own,
# target/wheel-venv, installed once from the Python registry; the build is cargo's, incremental
# (about 50 s for a cold release build with LTO on 2 cores, a few seconds when nothing changed).
#
# How the tag is reached: `maturin build --zig`. zig links the extension against the stubs of an
# old glibc instead of this machine's (glibc 2.36), so the symbol versions it references are those
# of the tag. `auditwheel repair` cannot do that: it copies external libraries into the wheel and
# retags it, but never relinks, and a plain link here references pthread_create@GLIBC_2.34,
# fstat@GLIBC_2.33 and more (`auditwheel show` on such a wheel says manylinux_2_34).
#
# Why manylinux_2_28 (glibc >= 2.28: RHEL/Alma/Rocky 8+, Debian 10+, Ubuntu 20.04+, Amazon Linux
# 2023, Fedora 29+) and not manylinux2014 (glibc 2.17): the engine calls glibc's statx (2.28),
# copy_file_range and memfd_create (2.27), preadv2 and pwritev2 (2.26), which glibc 2.17 lacks.
# Linked against 2.17 those stay references without a version: neither maturin's check nor
# `auditwheel show` sees them (both pass a manylinux2014 wheel built so), and on a glibc older than
# 2.28 the import fails with `undefined symbol: preadv2`. This script refuses such a wheel: every
# symbol the extension takes from outside must carry a version, except the Python C API's (Py*,
# which the interpreter provides). The systems that only manylinux2014 adds (CentOS 7, Ubuntu 18.04,
# Amazon Linux 2) are past their end of life, manylinux2014 itself is end-of-life, and their
# kernels lack much of what zcopy uses (io_uring, copy_file_range across filesystems). Going lower
# means calling those five through syscall(2) in core/src/sys and py/src/args.rs. ZCOPY_WHEEL_TAG
# picks another tag (ZCOPY_WHEEL_TAG=manylinux2014 shows the refusal).
set -euo pipefail
cd "$(dirname "$0")/.."

target=${CARGO_TARGET_DIR:-target}
case "$target" in /*) ;; *) target=$PWD/$target ;; esac
venv=$target/wheel-venv
out=$target/wheels
tag=${ZCOPY_WHEEL_TAG:-manylinux_2_28}
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

mkdir -p "$out"
rm -f "$out"/zcopy-*.whl "$out"/zcopy-*.tar.gz

echo "== maturin build --release --zig --compatibility $tag"
maturin build --release --zig --compatibility "$tag" -i "$venv/bin/python" -m py/Cargo.toml -o "$out"
echo "== maturin sdist"
maturin sdist -m py/Cargo.toml -o "$out"

# The symbols the extension takes without a version, beyond Python's: none, or the wheel lies
# about its tag. Allowed: the weak ones Rust's std looks up and checks before it calls them
# (gettid, getrandom, __cxa_thread_atexit_impl) and the toolchain's usual weak hooks.
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
  $1 == "w" && $NF ~ /^(gettid|getrandom|__cxa_thread_atexit_impl|__gmon_start__|_ITM_.*)$/ { next }
  { print $NF }' | sort -u)
if [ -n "$unversioned" ]; then
  echo "$wheel is tagged $tag, but its extension takes these symbols without a version: on a glibc" >&2
  echo "older than the one that added them it fails to load, or calls null (use a newer ZCOPY_WHEEL_TAG):" >&2
  echo "$unversioned" | sed 's/^/  /' >&2
  rm -f "$wheel"
  exit 1
fi

ls -1 "$out"/zcopy-*.whl "$out"/zcopy-*.tar.gz
