#!/usr/bin/env bash
# The main job: build zcopy, then `zcopy bench --quick`: every technique and the tools people use
# today (std::io::copy, std::fs::copy, cp, Python's shutil.copyfile and socket.sendfile) moving
# the same bytes file → file, → pipe and → loopback TCP, hot and cold. It prints one screen: the
# summary (auto against the others, each ratio the median of per-round ratios with its spread)
# and the targets it meets; the samples go as JSON and a chart (SVG) to target/bench/ (under
# CARGO_TARGET_DIR when it is set, as the build).
#
#   bash scripts/demo.sh                 # under a minute on 2 cores (22 s here)
#   bash scripts/demo.sh --rounds 7      # any `zcopy bench` flags replace --quick's defaults
#   bash scripts/demo.sh --rounds 7 --full   # ... and every cell's table, under a legend
#   bash scripts/demo.sh --full          # first: the whole default matrix (4K to 256M, 7 rounds)
#                                        # with every cell's table
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null || { echo "demo: cargo is needed (https://rustup.rs)" >&2; exit 1; }
cargo build --release -q -p zcopy-cli
target=${CARGO_TARGET_DIR:-target}
case "$target" in /*) ;; *) target=$PWD/$target ;; esac
z=$target/release/zcopy

# The Python peers run in python3; the venv scripts/test-py.sh makes also has zcopy installed,
# which adds zcopy.copy_file from Python to the table.
py=python3
[ -x "$target/py-venv/bin/python" ] && py=$target/py-venv/bin/python

mkdir -p "$target/bench"
args=(--quick)
if [ "${1:-}" = --full ]; then
  args=()
  shift
fi
"$z" bench "${args[@]}" --python "$py" --json "$target/bench/bench.json" --plot "$target/bench/bench.svg" "$@"
echo
echo "samples: $target/bench/bench.json; chart: $target/bench/bench.svg"
