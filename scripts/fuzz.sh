#!/usr/bin/env bash
# The fuzz targets (fuzz/fuzz_targets/*.rs) with cargo-fuzz (libFuzzer + ASan), in two modes:
#
#   bash scripts/fuzz.sh replay                the gate: runs every target once over its kept
#                                              corpus (fuzz/corpus/TARGET) and its regression
#                                              inputs (fuzz/regressions/TARGET), explores nothing
#                                              new: the same commit gives the same answer
#   bash scripts/fuzz.sh SECONDS [TARGET...]   explores for SECONDS per target (all by default),
#                                              adding the new inputs it finds to the corpus, and
#                                              prints executions, corpus size and findings
#
# Any panic, abort, signal, input that runs past 30 s, or result that is not exact bytes or a
# clean error stops a target with the input saved in fuzz/artifacts/TARGET/. Keep an input that
# broke zcopy in fuzz/regressions/TARGET/ (with a named test in the engine) so every replay
# runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-replay}
shift || true

# cargo-fuzz needs nightly features; RUSTC_BOOTSTRAP lets the stable toolchain use them.
export RUSTC_BOOTSTRAP=1
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== cargo install cargo-fuzz (once; about 2 minutes)"
  cargo install -q --locked cargo-fuzz --version '^0.13'
fi
cd fuzz
targets=("$@")
if ((${#targets[@]} == 0)); then
  for f in fuzz_targets/*.rs; do targets+=("$(basename "$f" .rs)"); done
fi
echo "== cargo fuzz build (${targets[*]})"
if ! cargo fuzz build >/tmp/zcopy-fuzz-build.log 2>&1; then
  tail -40 /tmp/zcopy-fuzz-build.log
  echo "fuzz: the targets do not build"
  exit 1
fi

status=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t"
  dirs=("corpus/$t")
  [ -d "regressions/$t" ] && dirs+=("regressions/$t")
  inputs=$(cat <(find "${dirs[@]}" -type f) | wc -l)
  log=$(mktemp)
  if [ "$mode" = replay ]; then
    echo "== fuzz replay $t: $inputs inputs (${dirs[*]})"
    # -runs=0: run the inputs given, then stop; nothing new is tried or written.
    if cargo fuzz run "$t" "${dirs[@]}" -- -runs=0 -timeout=30 >"$log" 2>&1; then
      echo "fuzz replay $t: $inputs inputs, no crash"
    else
      tail -60 "$log"
      echo "fuzz replay $t: FAILED (the input is in fuzz/artifacts/$t/)"
      status=1
    fi
  else
    echo "== fuzz $t for $mode s ($inputs inputs to start from)"
    if cargo fuzz run "$t" "${dirs[@]}" -- -max_total_time="$mode" -timeout=30 \
      -print_final_stats=1 >"$log" 2>&1; then
      found="no crash"
    else
      tail -60 "$log"
      found="a finding in fuzz/artifacts/$t/"
      status=1
    fi
    execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo '?')
    echo "fuzz $t: $mode s, $execs executions, $(ls "corpus/$t" | wc -l) inputs in the corpus, $found"
  fi
  rm -f "$log"
done
exit $status
