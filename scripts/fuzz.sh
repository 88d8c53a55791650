#!/usr/bin/env bash
# Fuzzes zcopy::transfer (fuzz/fuzz_targets/transfer.rs) with cargo-fuzz (libFuzzer + ASan) for
# SECONDS, starting from the kept corpus in fuzz/corpus/transfer. Any panic, abort, signal, or a
# result that is not exact bytes or a clean error stops it with the input saved in
# fuzz/artifacts/transfer/.
#
#   bash scripts/fuzz.sh [SECONDS]      default 30; new inputs found are added to the corpus
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}

# cargo-fuzz needs nightly features; RUSTC_BOOTSTRAP lets the stable toolchain use them.
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== cargo install cargo-fuzz (once; about 2 minutes)"
  cargo install -q --locked cargo-fuzz --version '^0.13'
fi
cd fuzz
mkdir -p corpus/transfer
echo "== cargo fuzz run transfer for ${seconds} s ($(ls corpus/transfer | wc -l) inputs in the corpus)"
cargo fuzz run transfer corpus/transfer -- -max_total_time="$seconds" -timeout=20 2>&1 |
  grep -vE "^#[0-9]+\s+(NEW|REDUCE|pulse)" | tail -40
echo "fuzz: $(ls corpus/transfer | wc -l) inputs in the corpus, no crash"
