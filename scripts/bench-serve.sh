#!/usr/bin/env bash
# zcopy serve against nginx (sendfile on; tcp_nopush on; directio 4m, with aio threads for the
# large file), same workers,
# loaded by wrk on loopback; interleaved rounds, medians and ratios. With --models, the same
# load against each I/O model of zcopy serve (req/s, server CPU, context switches).
#
#   scripts/bench-serve.sh [--quick] [--models] [--workers N] [--rounds N] [--duration S]
#
# Installs nginx and wrk with apt-get when they are missing and we are root.
set -euo pipefail

QUICK=0 MODELS=0 WORKERS=2 ROUNDS=5 DUR=4 CONNS=32
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1 ;;
    --models) MODELS=1 ;;
    --workers) WORKERS=$2; shift ;;
    --rounds) ROUNDS=$2; shift ;;
    --duration) DUR=$2; shift ;;
    -h|--help) sed -n 2,8p "$0"; exit 0 ;;
    *) echo "bench-serve: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
if [ "$QUICK" = 1 ]; then ROUNDS=3; DUR=2; fi

cd "$(dirname "$0")/.."
ROOT=$PWD

if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx wrk >/dev/null
  else
    echo "bench-serve: needs nginx and wrk (apt-get install nginx wrk, as root)" >&2
    exit 1
  fi
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

cargo build --release -q -p zcopy-cli
TARGET=${CARGO_TARGET_DIR:-target}
case "$TARGET" in /*) ;; *) TARGET=$ROOT/$TARGET ;; esac
ZCOPY=$TARGET/release/zcopy

# On the disk (not tmpfs): direct I/O and the page cache are what the large case is about.
TMP=$(mktemp -d /var/tmp/bench-serve.XXXXXX)
chmod 755 "$TMP"
ZPID="" NPID=""
cleanup() {
  [ -n "$ZPID" ] && kill "$ZPID" 2>/dev/null && wait "$ZPID" 2>/dev/null
  [ -n "$NPID" ] && kill -QUIT "$NPID" 2>/dev/null && wait "$NPID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

WWW=$TMP/www
mkdir -p "$WWW"
head -c 4096 /dev/urandom >"$WWW/4k.bin"
head -c 1048576 /dev/urandom >"$WWW/1m.bin"
BIG_MB=1024
[ "$QUICK" = 1 ] && BIG_MB=256
dd if=/dev/urandom of="$WWW/big.bin" bs=1M count=$BIG_MB conv=fsync status=none
chmod -R a+rX "$WWW"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_zcopy() { # model [directio]
  rm -f "$TMP/zcopy.out" # (else the wait below may read the previous server's line)
  "$ZCOPY" serve "$WWW" --listen 127.0.0.1:0 --workers "$WORKERS" --directio "${2:-4m}" --model "$1" >"$TMP/zcopy.out" 2>"$TMP/zcopy.err" &
  ZPID=$!
  for _ in $(seq 100); do [ -s "$TMP/zcopy.out" ] && break; sleep 0.05; done
  ZPORT=$(sed -E 's|.*http://[^:]+:([0-9]+).*|\1|' "$TMP/zcopy.out" | head -1)
}
stop_zcopy() { kill "$ZPID"; wait "$ZPID" 2>/dev/null || true; ZPID=""; }

NPORT=$(free_port)
mkdir -p "$TMP/nginx"
cat >"$TMP/nginx/nginx.conf" <<CONF
worker_processes $WORKERS;
daemon off;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  directio 4m;
  client_body_temp_path $TMP/nginx/body;
  proxy_temp_path $TMP/nginx/proxy;
  fastcgi_temp_path $TMP/nginx/fastcgi;
  uwsgi_temp_path $TMP/nginx/uwsgi;
  scgi_temp_path $TMP/nginx/scgi;
  types { application/octet-stream bin; }
  server {
    listen 127.0.0.1:$NPORT reuseport;
    root $WWW;
    # The large file: direct I/O with asynchronous reads. Debian's nginx has no native file AIO
    # ("aio on" is unsupported on this platform), so a thread pool; only here, because on
    # Linux "aio threads" also moves every sendfile into the pool, which costs small files.
    location = /big.bin {
      aio threads;
      output_buffers 2 1m;
    }
  }
}
CONF
"$NGINX" -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" 2>"$TMP/nginx/stderr" &
NPID=$!
start_zcopy epoll
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$NPORT/4k.bin" && break; sleep 0.05; done

# wrk's numbers: requests/s and transfer in MB/s.
run_wrk() { # url seconds
  local out
  out=$(wrk -t1 -c"$CONNS" -d"$2"s "$1")
  local rps xfer
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  xfer=$(awk '/^Transfer\/sec:/ {v=$2; u=v; sub(/[0-9.]+/, "", u); sub(/[A-Za-z]+/, "", v);
         m = (u=="GB") ? 1024 : (u=="MB") ? 1 : (u=="KB") ? 1/1024 : 1/1048576; printf "%.1f", v*m}' <<<"$out")
  echo "$rps $xfer"
}
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else printf "%.2f\n", (a[NR/2]+a[NR/2+1])/2}'; }

CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
echo "zcopy serve vs nginx $("$NGINX" -v 2>&1 | cut -d/ -f2): $WORKERS workers each, wrk -t1 -c$CONNS, ${DUR}s x $ROUNDS interleaved rounds"
echo "machine: $CPU, $(nproc) CPUs, kernel $(uname -r), loopback; wrk and the server share the $(nproc) CPUs"
echo

declare -A R
for round in $(seq "$ROUNDS"); do
  for f in 4k.bin 1m.bin; do
    for s in zcopy nginx; do
      port=$ZPORT; [ $s = nginx ] && port=$NPORT
      read -r rps xfer < <(run_wrk "http://127.0.0.1:$port/$f" "$DUR")
      R[$s.$f.rps]+="$rps "
      R[$s.$f.xfer]+="$xfer "
    done
  done
done

printf "%-8s %-7s %12s %12s %10s\n" file server "req/s" "MB/s" "zcopy/nginx"
for f in 4k.bin 1m.bin; do
  zr=$(tr ' ' '\n' <<<"${R[zcopy.$f.rps]}" | grep . | median)
  nr=$(tr ' ' '\n' <<<"${R[nginx.$f.rps]}" | grep . | median)
  zx=$(tr ' ' '\n' <<<"${R[zcopy.$f.xfer]}" | grep . | median)
  nx=$(tr ' ' '\n' <<<"${R[nginx.$f.xfer]}" | grep . | median)
  ratio=$(awk -v a="$zr" -v b="$nr" 'BEGIN {printf "%.2f", a/b}')
  printf "%-8s %-7s %12s %12s %10s\n" "$f" zcopy "$zr" "$zx" "$ratio"
  printf "%-8s %-7s %12s %12s\n" "$f" nginx "$nr" "$nx"
  echo "  rounds zcopy: ${R[zcopy.$f.rps]}| nginx: ${R[nginx.$f.rps]}"
done

echo
echo "large file ($BIG_MB MiB, above directio 4m): evicted, downloaded once with curl, then its page-cache residency"
for s in zcopy nginx; do
  port=$ZPORT; [ $s = nginx ] && port=$NPORT
  "$ZCOPY" evict "$WWW/big.bin" >/dev/null
  speed=$(curl -sS -o /dev/null -w '%{speed_download}' "http://127.0.0.1:$port/big.bin")
  res=$("$ZCOPY" fincore "$WWW/big.bin" | tail -1)
  printf "%-6s %8.0f MB/s   fincore: %s\n" $s "$(awk -v s="$speed" 'BEGIN {print s/1048576}')" "$res"
done
# The control: the same file through the page cache (zcopy without directio) fills it.
stop_zcopy
start_zcopy epoll off
"$ZCOPY" evict "$WWW/big.bin" >/dev/null
speed=$(curl -sS -o /dev/null -w '%{speed_download}' "http://127.0.0.1:$ZPORT/big.bin")
printf "%-6s %8.0f MB/s   fincore: %s\n" "zcopy (directio off)" "$(awk -v s="$speed" 'BEGIN {print s/1048576}')" "$("$ZCOPY" fincore "$WWW/big.bin" | tail -1)"
"$ZCOPY" evict "$WWW/big.bin" >/dev/null
stop_zcopy

if [ "$MODELS" = 1 ]; then
  echo
  echo "I/O models of zcopy serve ($WORKERS workers; threads: one per connection), wrk -t1 -c$CONNS, ${DUR}s, median of $ROUNDS rounds;"
  echo "CPU and context switches of the server over the middle of each run, per request"
  # Sum of utime+stime (ticks) and of voluntary/involuntary switches over the server's threads.
  sample() {
    local pid=$1 cpu v=0 n=0
    cpu=$(awk '{print $14+$15}' "/proc/$pid/stat")
    for t in /proc/"$pid"/task/*/status; do
      v=$((v + $(awk '/^voluntary_ctxt_switches/ {print $2}' "$t" 2>/dev/null || echo 0)))
      n=$((n + $(awk '/^nonvoluntary_ctxt_switches/ {print $2}' "$t" 2>/dev/null || echo 0)))
    done
    echo "$cpu $v $n"
  }
  HZ=$(getconf CLK_TCK)
  printf "%-8s %-7s %10s %14s %14s %14s\n" model file "req/s" "CPU us/req" "vol cs/kreq" "invol cs/kreq"
  for f in 4k.bin 1m.bin; do
    declare -A M=()
    for round in $(seq "$ROUNDS"); do
      for m in threads poll epoll uring; do
        start_zcopy $m
        wrk -t1 -c"$CONNS" -d"$DUR"s "http://127.0.0.1:$ZPORT/$f" >"$TMP/wrk.out" &
        wpid=$!
        sleep 0.5
        read -r c0 v0 n0 < <(sample "$ZPID")
        t0=$(date +%s.%N)
        sleep "$(awk -v d="$DUR" 'BEGIN {print d-1}')"
        read -r c1 v1 n1 < <(sample "$ZPID")
        t1=$(date +%s.%N)
        wait $wpid
        stop_zcopy
        rps=$(awk '/^Requests\/sec:/ {print $2}' "$TMP/wrk.out")
        reqs=$(awk -v r="$rps" -v a="$t0" -v b="$t1" 'BEGIN {print r*(b-a)}')
        M[$m.rps]+="$rps "
        M[$m.cpu]+="$(awk -v c=$((c1 - c0)) -v hz="$HZ" -v q="$reqs" 'BEGIN {printf "%.2f", c/hz*1e6/q}') "
        M[$m.vcs]+="$(awk -v c=$((v1 - v0)) -v q="$reqs" 'BEGIN {printf "%.1f", c*1000/q}') "
        M[$m.ncs]+="$(awk -v c=$((n1 - n0)) -v q="$reqs" 'BEGIN {printf "%.1f", c*1000/q}') "
      done
    done
    for m in threads poll epoll uring; do
      med() { tr ' ' '\n' <<<"${M[$m.$1]}" | grep . | median; }
      printf "%-8s %-7s %10s %14s %14s %14s\n" $m "$f" "$(med rps)" "$(med cpu)" "$(med vcs)" "$(med ncs)"
    done
    unset M
  done
fi
