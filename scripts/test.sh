#!/usr/bin/env bash
# Every test: installs what the tests need (as root, from Debian's packages), then formatting,
# lints, docs, the Rust tests of every crate, and the main job once. Logs go to target/ (to
# CARGO_TARGET_DIR when it is set, as everything the scripts build and write).
#
#   bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
case "$target" in /*) ;; *) target=$PWD/$target ;; esac
mkdir -p "$target"

need=()
command -v strace >/dev/null || need+=(strace)
command -v mkfs.xfs >/dev/null || need+=(xfsprogs)
command -v python3 >/dev/null || need+=(python3)
command -v wrk >/dev/null || need+=(wrk)   # the load of the notebook's I/O-model section
command -v curl >/dev/null || need+=(curl) # the zcopy serve tests
if ((${#need[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing ${need[*]}"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "== missing ${need[*]}: the tests that need them will say they are skipped and why"
  fi
fi

echo "== the scripts: every one honours CARGO_TARGET_DIR"
bash scripts/test-scripts.sh 2>&1 | tee "$target"/test-scripts.log
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -q -- -D warnings
echo "== no function outside tests over 80 lines"
bash scripts/long-functions.sh
echo "== cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps -q
echo "== cargo test"
cargo test --workspace 2>&1 | tee "$target"/test.log
echo "== cargo test --release: bad arguments, offsets that overflow, 4 GiB+ (no overflow checks there)"
cargo test --release -p zcopy --test integration -- overflow bad_arguments past_4_gib largest_file 2>&1 | tee -a "$target"/test.log
echo "== C: header, tests/c (shared, static, ASan+UBSan, valgrind), examples"
bash scripts/test-c.sh 2>&1 | tee "$target"/test-c.log
echo "== Go: go vet, go test, examples/go"
bash scripts/test-go.sh 2>&1 | tee "$target"/test-go.log
echo "== Python: pip install ./py, pytest, stubtest, mypy, examples, the notebook"
bash scripts/test-py.sh 2>&1 | tee "$target"/test-py.log
echo "== the wheel: scripts/wheel.sh, then installed with no cargo or rustc on PATH and used"
bash scripts/test-wheel.sh 2>&1 | tee "$target"/test-wheel.log
echo "== fuzz: every target replays its kept corpus and regression inputs, exploring nothing new"
echo "   (exploring is scripts/fuzz.sh SECONDS, by hand)"
bash scripts/fuzz.sh replay 2>&1 | tee "$target"/test-fuzz.log
echo "== the main job, small (the README's is scripts/demo.sh: zcopy bench --quick)"
bash scripts/demo.sh --sizes 64K,1M --rounds 1
test -s "$target/bench/bench.json" && test -s "$target/bench/bench.svg"

count() { { grep -Eo "[0-9]+ $1" "${@:2}" || true; } | awk '{s+=$1} END {print s+0}'; }
rust_p=$(count passed "$target"/test.log); rust_f=$(count failed "$target"/test.log)
echo "rust: $rust_p passed, $rust_f failed"
passed=$rust_p failed=$rust_f
for log in "$target/test-scripts.log" "$target/test-c.log" "$target/test-go.log" "$target/test-wheel.log"; do
  line=$({ grep -E '^(scripts|c|go|wheel): [0-9]+ passed, [0-9]+ failed$' "$log" || true; } | tail -1)
  [ -n "$line" ] || line="${log#"$target"/test-}: 0 passed, 1 failed"
  echo "$line"
  passed=$((passed + $(echo "$line" | awk '{print $2}')))
  failed=$((failed + $(echo "$line" | awk '{print $4}')))
done
py_p=$({ grep -E '^[0-9]+ passed' "$target"/test-py.log || true; } | tail -1 | awk '{print $1}')
py_f=$({ grep -Eo '[0-9]+ failed' "$target"/test-py.log || true; } | tail -1 | awk '{print $1}')
echo "python: ${py_p:-0} passed, ${py_f:-0} failed"
passed=$((passed + ${py_p:-0})); failed=$((failed + ${py_f:-0}))
echo "all: $passed passed, $failed failed"
