#!/usr/bin/env bash
# examples/python/async_static.py (aiohttp, the body sent by zcopy.atransfer) against aiohttp's
# own web.FileResponse, under the default asyncio loop and uvloop, loaded by wrk on loopback for
# a 4 KiB and a 1 MiB file: interleaved rounds, medians of requests/s and of server CPU per
# request (utime + stime of the server process from /proc/PID/stat, before and after each wrk
# run), and the ratios zcopy / FileResponse (each round's, their median and spread).
# Targets: >= 1.0x requests/s, <= 0.7x CPU/request.
#
#   scripts/bench-async.sh [--quick] [--rounds N] [--duration S] [--connections N] [--loops "asyncio uvloop"]
#
# wrk comes from apt-get (installed when missing and we are root); aiohttp, uvloop and zcopy
# (built from ./py, again whenever core/ or py/ changed) go into a venv under target/
# (ZCOPY_BENCH_VENV to use another).
set -euo pipefail

ROUNDS=5 DUR=3 CONNS=16 LOOPS="asyncio uvloop"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) ROUNDS=3; DUR=2 ;;
    --rounds) ROUNDS=$2; shift ;;
    --duration) DUR=$2; shift ;;
    --connections) CONNS=$2; shift ;;
    --loops) LOOPS=$2; shift ;;
    -h|--help) sed -n 2,14p "$0"; exit 0 ;;
    *) echo "bench-async: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
case "$target" in /*) ;; *) target=$PWD/$target ;; esac

if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
  else
    echo "bench-async: needs wrk (apt-get install wrk, as root)" >&2
    exit 1
  fi
fi

venv=${ZCOPY_BENCH_VENV:-$target/bench-async-venv}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
py="$venv/bin/python"
"$py" -m pip install -q --disable-pip-version-check aiohttp uvloop
# The engine and the package as they are in this checkout, committed or not.
stamp=$( (git rev-parse HEAD:core HEAD:py && git diff HEAD -- core py && git ls-files -o --exclude-standard core py) 2>/dev/null | sha1sum)
if [ "$(cat "$venv/zcopy-source" 2>/dev/null)" != "$stamp" ] || ! "$py" -c 'import zcopy, zcopy._aio' 2>/dev/null; then
  echo "== pip install ./py (release build of the engine)"
  "$py" -m pip install -q --disable-pip-version-check --force-reinstall --no-deps ./py
  echo "$stamp" >"$venv/zcopy-source"
fi

files=$target/bench-async-files
mkdir -p "$files"
head -c 4096 /dev/urandom >"$files/4k.bin"
head -c $((1 << 20)) /dev/urandom >"$files/1m.bin"

ROUNDS=$ROUNDS DUR=$DUR CONNS=$CONNS LOOPS=$LOOPS FILES=$files "$py" - <<'EOF'
import os, re, statistics, subprocess, sys, time

rounds, dur, conns = int(os.environ["ROUNDS"]), int(os.environ["DUR"]), int(os.environ["CONNS"])
loops, files = os.environ["LOOPS"].split(), os.environ["FILES"]
tick = os.sysconf("SC_CLK_TCK")
example = "examples/python/async_static.py"


def cpu_s(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / tick  # utime + stime


def start(loop, handler):
    p = subprocess.Popen([sys.executable, example, "--root", files, "--port", "0", "--loop", loop,
                          "--handler", handler], stdout=subprocess.PIPE, text=True)
    url = p.stdout.readline().split(" on ")[1].split()[0]
    return p, url


def wrk(url):
    out = subprocess.run(["wrk", "-t1", f"-c{conns}", f"-d{dur}s", url], capture_output=True, text=True,
                         check=True).stdout
    n = int(re.search(r"(\d+) requests in", out).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)|Socket errors: (.*)", out)
    if errors:
        raise SystemExit(f"wrk saw errors against {url}:\n{out}")
    return n


print(f"wrk -t1 -c{conns} -d{dur}s, {rounds} interleaved rounds; server CPU = utime+stime of the server process")
print(f"{'loop':8} {'file':5} {'handler':22} {'req/s':>9} {'CPU us/req':>11}")
summary = []
for loop in loops:
    servers = {h: start(loop, h) for h in ("zcopy", "aiohttp")}
    try:
        for name in ("4k.bin", "1m.bin"):
            res = {h: ([], []) for h in servers}
            for h, (p, url) in servers.items():
                wrk(url + name)  # warm-up: the page cache, the connections, the allocator
            for _ in range(rounds):
                for h, (p, url) in servers.items():
                    c0, t0 = cpu_s(p.pid), time.monotonic()
                    n = wrk(url + name)
                    c1, t1 = cpu_s(p.pid), time.monotonic()
                    res[h][0].append(n / (t1 - t0))
                    res[h][1].append((c1 - c0) / n * 1e6)
            med = {h: (statistics.median(r), statistics.median(c)) for h, (r, c) in res.items()}
            for h, label in (("zcopy", "zcopy.atransfer"), ("aiohttp", "web.FileResponse")):
                print(f"{loop:8} {name[:-4]:5} {label:22} {med[h][0]:9.0f} {med[h][1]:11.1f}")
            # The ratios of each round (the two servers loaded one after the other), their median
            # and spread: steadier on a shared machine than a ratio of medians.
            rps = sorted(z / a for z, a in zip(res["zcopy"][0], res["aiohttp"][0]))
            cpu = sorted(z / a for z, a in zip(res["zcopy"][1], res["aiohttp"][1]))
            summary.append((loop, name[:-4], rps, cpu))
    finally:
        for p, _ in servers.values():
            p.terminate()
            p.wait()
print()
print("zcopy.atransfer / web.FileResponse, median of the rounds' ratios [lowest-highest]")
print("(target: requests/s >= 1.0x, CPU per request <= 0.7x)")
for loop, size, rps, cpu in summary:
    r, c = statistics.median(rps), statistics.median(cpu)
    ok = "meets" if r >= 1.0 and c <= 0.7 else "misses"
    print(f"{loop:8} {size:5} requests/s {r:5.2f}x [{rps[0]:.2f}-{rps[-1]:.2f}]  "
          f"CPU/request {c:5.2f}x [{cpu[0]:.2f}-{cpu[-1]:.2f}]  ({ok} the target)")
EOF
