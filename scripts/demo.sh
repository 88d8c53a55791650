#!/usr/bin/env bash
# The main job: build zcopy, make a file, ask `zcopy probe` what can serve file → file, copy it
# with every technique, and print the Reports side by side (plus file → pipe with Auto).
#
#   bash scripts/demo.sh [SIZE]      SIZE as head -c takes it, default 64M
set -euo pipefail
cd "$(dirname "$0")/.."
size=${1:-64M}

command -v cargo >/dev/null || { echo "demo: cargo is needed (https://rustup.rs)" >&2; exit 1; }
cargo build --release -q -p zcopy-cli
z=$PWD/target/release/zcopy

work=$(mktemp -d "${TMPDIR:-/tmp}/zcopy-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
head -c "$size" /dev/urandom > "$work/src"
echo "== zcopy probe: $(stat -c %s "$work/src") bytes, $(stat -f -c %T "$work") filesystem"
"$z" probe "$work/src" "$work/dst"
echo

techniques=(auto read_write mmap_write sendfile splice copy_file_range reflink)
for t in "${techniques[@]}"; do
  if "$z" copy "$work/src" "$work/dst" --strategy "$t" --no-fallback --json > "$work/$t.json" 2> "$work/$t.err"; then
    cmp -s "$work/src" "$work/dst" || { echo "demo: $t produced different bytes" >&2; exit 1; }
  else
    printf '{"error": %s}\n' "$(python3 -c 'import json,sys; print(json.dumps(sys.stdin.read().strip()))' < "$work/$t.err")" > "$work/$t.json"
  fi
done
"$z" copy "$work/src" - --json 2> "$work/pipe.json" | cat > /dev/null

echo "== zcopy copy, one technique per column (source hot in the page cache)"
python3 - "$work" "${techniques[@]}" <<'PY'
import json, sys, os
work, names = sys.argv[1], sys.argv[2:]
cols = [(n, json.load(open(os.path.join(work, n + ".json")))) for n in names]
cols.append(("auto → pipe", json.load(open(os.path.join(work, "pipe.json")))))
rows = [
    ("strategy used", lambda r: r["strategy"]),
    ("bytes", lambda r: f'{r["bytes"]:,}'),
    ("GB/s", lambda r: f'{r["bytes"] / max(r["elapsed_ns"], 1):.2f}'),
    ("elapsed ms", lambda r: f'{r["elapsed_ns"] / 1e6:.2f}'),
    ("syscalls", lambda r: f'{r["syscalls"]:,}'),
    ("mode switches", lambda r: f'{r["mode_switches"]:,}'),
    ("user cpu ms", lambda r: f'{r["user_cpu_ns"] / 1e6:.2f}'),
    ("sys cpu ms", lambda r: f'{r["sys_cpu_ns"] / 1e6:.2f}'),
    ("ctx switches", lambda r: f'{r["voluntary_ctx_switches"]}+{r["involuntary_ctx_switches"]}'),
    ("cpu copies MB", lambda r: f'{r["cpu_copies_bytes"] / 1e6:.0f}'),
    ("dma copies MB", lambda r: f'{r["dma_copies_bytes"] / 1e6:.0f}'),
]
w = max(len(n) for n, _ in cols) + 2
print(" " * 15 + "".join(n.rjust(w) for n, _ in cols))
for label, f in rows:
    cells = [("-" if "error" in r else f(r)) for _, r in cols]
    print(label.ljust(15) + "".join(c.rjust(w) for c in cells))
for n, r in cols:
    if "error" in r:
        print(f"\n{n}: {r['error']}")
PY
