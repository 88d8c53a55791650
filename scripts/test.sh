#!/usr/bin/env bash
# Every test: installs what the tests need (as root, from Debian's packages), then formatting,
# lints, docs, the Rust tests of every crate, and the main job once.
#
#   bash scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v strace >/dev/null || need+=(strace)
command -v mkfs.xfs >/dev/null || need+=(xfsprogs)
command -v python3 >/dev/null || need+=(python3)
if ((${#need[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing ${need[*]}"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "== missing ${need[*]}: the tests that need them will say they are skipped and why"
  fi
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -q -- -D warnings
echo "== cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps -q
echo "== cargo test"
cargo test --workspace 2>&1 | tee target/test.log
echo "== the main job, small"
bash scripts/demo.sh 8M

passed=$(grep -Eo '[0-9]+ passed' target/test.log | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' target/test.log | awk '{s+=$1} END {print s+0}')
echo "rust: $passed passed, $failed failed"
