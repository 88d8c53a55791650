#!/usr/bin/env bash
# The wheel where no Rust is: builds it (scripts/wheel.sh, incremental), then
#   - the wheel is abi3 for CPython >= 3.9 and manylinux2014 (glibc >= 2.17), `auditwheel show`
#     agrees (its output is printed), and the sdist carries the engine;
#   - for python3 and, where this machine has them, CPython 3.9 and 3.13 (the oldest and newest the
#     one abi3 wheel must serve): a fresh venv, run with `env -i` and a PATH on which `cargo` and
#     `rustc` are not found (checked), `pip install --no-index` of the wheel, then a transfer
#     between two files, a copy_file and a residency, each checked byte for byte or page for page,
#     with the module loaded from the venv (not from this checkout); and copy_file_range,
#     cache="dontcache" and a buffered pipe reader, which this build calls through syscall(2).
# Prints `wheel: N passed, N failed` last and exits non-zero on any failure. A Python this machine
# lacks is printed as skipped, with why, and not counted.
#
#   bash scripts/test-wheel.sh
set -uo pipefail
cd "$(dirname "$0")/.."

target=${CARGO_TARGET_DIR:-target}
case "$target" in /*) ;; *) target=$PWD/$target ;; esac
mkdir -p "$target"

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
step() {
  local name=$1
  shift
  if "$@" > "$tmp/step.log" 2>&1; then
    cat "$tmp/step.log"
    pass "$name"
  else
    cat "$tmp/step.log"
    fail "$name"
  fi
}
finish() {
  echo "wheel: $passed passed, $failed failed"
  [ "$failed" = 0 ] && [ "$passed" -gt 0 ]
  exit
}

echo "== bash scripts/wheel.sh"
start=$SECONDS
if bash scripts/wheel.sh; then
  pass "scripts/wheel.sh builds the wheel and the sdist ($((SECONDS - start)) s)"
else
  fail "scripts/wheel.sh builds the wheel and the sdist"
  finish
fi
wheels=("$target"/wheels/zcopy-*.whl)
sdists=("$target"/wheels/zcopy-*.tar.gz)
wheel=${wheels[0]}
sdist=${sdists[0]}

one_wheel() {
  echo "${wheels[*]}"
  [ "${#wheels[@]}" = 1 ] && [ "${#sdists[@]}" = 1 ] || return 1
  case "$(basename "$wheel")" in
    zcopy-*-cp39-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64.whl) ;;
    *) return 1 ;;
  esac
}
step "one wheel, tagged cp39-abi3-manylinux2014_x86_64.manylinux_2_17_x86_64, and one sdist" one_wheel

auditwheel_show() {
  "$target/wheel-venv/bin/auditwheel" show "$wheel" | tee "$tmp/auditwheel.txt"
  tr -s ' \n' '  ' < "$tmp/auditwheel.txt" | grep -q 'is consistent with the following platform tag: "manylinux_2_17_x86_64"'
}
step "auditwheel show: consistent with manylinux_2_17_x86_64 (manylinux2014)" auditwheel_show

sdist_has_engine() {
  echo "$sdist"
  tar tzf "$sdist" > "$tmp/sdist.txt" || return 1
  grep -q '/core/src/lib.rs$' "$tmp/sdist.txt" && grep -q '/py/src/lib.rs$' "$tmp/sdist.txt" &&
    grep -q '/pyproject.toml$' "$tmp/sdist.txt"
}
step "the sdist carries the engine (core/), the extension (py/src) and pyproject.toml" sdist_has_engine

# A PATH without cargo and rustc: the system's directories, less any that holds either.
clean_path=
for d in /usr/local/bin /usr/bin /bin; do
  [ -d "$d" ] || continue
  [ -e "$d/cargo" ] || [ -e "$d/rustc" ] && continue
  clean_path=${clean_path:+$clean_path:}$d
done

# The snippet a new user runs: a transfer between two files, copy_file, residency.
cat > "$tmp/use.py" <<'PY'
import mmap, os, sys
import zcopy

here = os.path.dirname(os.path.abspath(zcopy._zcopy.__file__))
assert here.startswith(sys.prefix), f"zcopy loaded from {here}, not from the venv {sys.prefix}"
assert zcopy._zcopy.__file__.endswith("_zcopy.abi3.so"), zcopy._zcopy.__file__
print("python", sys.version.split()[0], "zcopy from", here)

data = bytes((i * 7 + i // 4099) & 0xFF for i in range(3 * 1024 * 1024 + 12345))
src, dst, copy = "src.bin", "dst.bin", "copy.bin"
with open(src, "wb") as f:
    f.write(data)

with open(src, "rb") as s, open(dst, "wb") as d:
    report = zcopy.transfer(s, d)
assert report.bytes == len(data), report
with open(dst, "rb") as f:
    assert f.read() == data, "transfer: the destination differs from the source"
print("transfer:", report.bytes, "bytes by", report.strategy)

report = zcopy.copy_file(src, copy)
assert report.bytes == len(data), report
with open(copy, "rb") as f:
    assert f.read() == data, "copy_file: the copy differs from the source"
print("copy_file:", report.bytes, "bytes by", report.strategy)

# Just written and read back: every page of it is in the page cache.
r = zcopy.residency(src)
pages = -(-len(data) // mmap.PAGESIZE)
assert r.pages == pages, (r.pages, pages)
assert r.resident == pages, (r.resident, pages)
print("residency:", r.resident, "of", r.pages, "pages")

# What this build calls through syscall(2) rather than glibc (scripts/wheel.sh says why):
# copy_file_range, preadv2/pwritev2 (cache="dontcache", or their refusal and the fallback), statx
# (every call), memfd_create (the buffered head of a pipe's reader).
with open(src, "rb") as s, open(dst, "wb") as d:
    report = zcopy.transfer(s, d, strategy="copy_file_range", fallback=False)
assert report.strategy == "copy_file_range", report
with open(dst, "rb") as f:
    assert f.read() == data, "copy_file_range: the destination differs from the source"
report = zcopy.copy_file(src, copy, strategy="read_write", cache="dontcache")
with open(copy, "rb") as f:
    assert f.read() == data, "dontcache: the copy differs from the source"
assert report.bytes == len(data), report
print("copy_file_range, dontcache:", report.bytes, "bytes")
r, w = os.pipe()
piped = data[:50000]
assert os.write(w, piped) == len(piped)
os.close(w)
with open(r, "rb") as p, open(dst, "wb") as d:
    assert p.read(5) == piped[:5]  # the reader's buffer now holds the next 8 KiB
    report = zcopy.transfer(p, d)
with open(dst, "rb") as f:
    assert f.read() == piped[5:], "a buffered pipe reader: the destination differs"
assert report.bytes == len(piped) - 5, report
print("buffered pipe reader:", report.bytes, "bytes")
PY

# try_python NAME PYTHON: a fresh venv of PYTHON, the wheel installed with no Rust on PATH, used.
try_python() {
  local py=$2 venv=$tmp/venv-$1 home=$tmp/home-$1 run
  mkdir -p "$home/work"
  "$py" -m venv "$venv" || return 1
  run=(env -i "PATH=$venv/bin:$clean_path" "HOME=$home" LANG=C.UTF-8)
  "${run[@]}" sh -c 'echo "PATH=$PATH"; ! command -v cargo && ! command -v rustc' || {
    echo "cargo or rustc is on the PATH of the clean environment"
    return 1
  }
  "${run[@]}" python -m pip install -q --no-index --no-deps --disable-pip-version-check "$wheel" || return 1
  (cd "$home/work" && "${run[@]}" python "$tmp/use.py")
}

declare -A pythons=([python3]=$(command -v python3))
pyenv_root=${PYENV_ROOT:-$HOME/.pyenv}
for v in 3.9 3.13; do
  found=
  for p in "$pyenv_root"/versions/"$v".*/bin/python"$v" /usr/bin/python"$v" /usr/local/bin/python"$v"; do
    if [ -x "$p" ] && "$p" -c 'import venv, ensurepip' 2>/dev/null; then found=$p; fi
  done
  if [ -n "$found" ]; then
    pythons[python$v]=$found
  else
    echo "skip python$v: not on this machine (no python$v with venv and ensurepip in $pyenv_root/versions, /usr/bin, /usr/local/bin)"
  fi
done
for name in $(printf '%s\n' "${!pythons[@]}" | sort -V); do
  step "$name (${pythons[$name]}): fresh venv, no cargo or rustc on PATH, pip install --no-index the wheel, transfer + copy_file + residency" \
    try_python "$name" "${pythons[$name]}"
done

finish
