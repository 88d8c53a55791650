#!/usr/bin/env bash
# The C face: builds libzcopy (debug), installs it into a temporary prefix with
# scripts/install-c.sh, and checks
#   - include/zcopy.h compiles on its own as C99 and as C++11 (-Wall -Wextra -Wpedantic -Werror);
#   - tests/c/test_zcopy.c, test_hostile.c and test_serve.c linked through `pkg-config zcopy` (the .so, by its SONAME) passes,
#     and again linked statically (`pkg-config zcopy-static`: libzcopy.a + native-static-libs),
#     under AddressSanitizer + UBSan, and under valgrind (no errors, no leaks);
#   - the examples (examples/c/zcp.c, examples/c/zc-serve.c) build and do their job;
#   - the release build as install-c.sh installs it: stripped, libzcopy.so.0.2.0 under 1.5 MiB and
#     libzcopy.a under 10 MiB (sizes printed), the .a as cargo builds it under 10 MiB too, a test
#     program linked with each; and with --debug-info, the debug info in a separate file that
#     gdb finds through the library's .gnu_debuglink.
#     The release libzcopy.so exports exactly the zc_ functions of zcopy.h: no test hook
#     (zc_test_*); the tests above run against a debug build with the `testing` feature, which
#     has them.
# Prints `c: N passed, N failed` last and exits non-zero on any failure. Its files go under
# CARGO_TARGET_DIR (default target/): c-test/.
#
#   bash scripts/test-c.sh
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD

need=()
command -v gcc >/dev/null || need+=(gcc)
command -v pkg-config >/dev/null || need+=(pkg-config)
command -v valgrind >/dev/null || need+=(valgrind)
command -v curl >/dev/null || need+=(curl)
if ((${#need[@]})); then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing ${need[*]}"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
fi
for tool in gcc pkg-config; do
  command -v "$tool" >/dev/null || { echo "test-c: $tool is needed"; echo "c: 0 passed, 1 failed"; exit 1; }
done

target=${CARGO_TARGET_DIR:-target}
case "$target" in /*) ;; *) target=$root/$target ;; esac
work=$target/c-test
rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix

echo "== building and installing libzcopy (debug, with the test hooks) into $prefix"
if ! bash scripts/install-c.sh "$prefix" --debug --testing; then
  echo "c: 0 passed, 1 failed"
  exit 1
fi
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
CFLAGS=(-std=c11 -Wall -Wextra -Wpedantic -Werror -g -O1)

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; }
# step NAME CMD...: one check, passed when CMD exits 0 (its output shown on failure).
step() {
  local name=$1
  shift
  if "$@" > "$work/step.log" 2>&1; then
    pass "$name"
  else
    cat "$work/step.log"
    fail "$name"
  fi
}
# run NAME CMD...: a test program; its own `N passed, N failed` line is added to the totals,
# and a non-zero exit with no failed test counts as one failure.
run() {
  local name=$1
  shift
  echo "== $name"
  "$@" 2>&1 | tee "$work/run.log"
  local rc=${PIPESTATUS[0]}
  local line p f
  line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$work/run.log" | tail -1)
  p=$(echo "$line" | awk '{print $1+0}')
  f=$(echo "$line" | awk '{print $3+0}')
  passed=$((passed + p))
  failed=$((failed + f))
  if [ "$rc" != 0 ] && [ "$f" = 0 ]; then fail "$name exited with status $rc"; fi
}

echo "== the header"
step "zcopy.h compiles alone as C99" \
  gcc -std=c99 -Wall -Wextra -Wpedantic -Werror -fsyntax-only -x c include/zcopy.h
if command -v g++ >/dev/null; then
  step "zcopy.h compiles alone as C++11" \
    g++ -std=c++11 -Wall -Wextra -Wpedantic -Werror -fsyntax-only -x c++ include/zcopy.h
fi
step "the installed zcopy.h is include/zcopy.h" cmp include/zcopy.h "$prefix/include/zcopy.h"
step "pkg-config knows zcopy $(sed -n 's/^#define ZCOPY_VERSION_STRING "\(.*\)"$/\1/p' include/zcopy.h)" \
  bash -c 'test "$(pkg-config --modversion zcopy)" = "$(pkg-config --modversion zcopy-static)"'
step "libzcopy.so has SONAME libzcopy.so.1" \
  bash -c "readelf -d '$prefix/lib/libzcopy.so' | grep -q 'SONAME.*\[libzcopy.so.1\]'"
step "libzcopy.so.1 is installed, and no libzcopy.so.0" \
  bash -c "test -e '$prefix/lib/libzcopy.so.1' && ! test -e '$prefix/lib/libzcopy.so.0'"
step "the --testing build exports the test hooks the tests call" \
  bash -c "nm -D --defined-only '$prefix/lib/libzcopy.so' | grep -qw zc_test_inject_panic"

echo "== building the tests"
# Three programs: test_zcopy.c (every function), test_hostile.c (panics, ENOSPC, 4 GiB+) and
# test_serve.c (the file server, zc_server_*, over a plain socket client).
for t in test_zcopy test_hostile test_serve; do
  c=tests/c/$t.c
  # shellcheck disable=SC2046
  step "build $t: shared, via pkg-config zcopy" \
    gcc "${CFLAGS[@]}" $c -o "$work/${t}_shared" $(pkg-config --cflags --libs zcopy) \
      -Wl,-rpath,"$prefix/lib" -lpthread
  step "$t: the shared build needs libzcopy.so.1" \
    bash -c "readelf -d '$work/${t}_shared' | grep -q 'NEEDED.*\[libzcopy.so.1\]'"
  # shellcheck disable=SC2046
  step "build $t: static, via pkg-config zcopy-static (native-static-libs)" \
    gcc "${CFLAGS[@]}" $c -o "$work/${t}_static" $(pkg-config --cflags --libs zcopy-static)
  step "$t: the static build needs no libzcopy.so" \
    bash -c "! readelf -d '$work/${t}_static' | grep -q 'NEEDED.*libzcopy'"
  # shellcheck disable=SC2046
  step "build $t: AddressSanitizer + UBSan" \
    gcc "${CFLAGS[@]}" -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
      $c -o "$work/${t}_asan" $(pkg-config --cflags --libs zcopy) -Wl,-rpath,"$prefix/lib" -lpthread
done

export TMPDIR=$work
# The injected panics print their message; with RUST_BACKTRACE=1 std would also symbolize a
# backtrace and keep its debug-info cache for the life of the process, which valgrind's
# --errors-for-leak-kinds=all counts as leaks.
export RUST_BACKTRACE=0
for t in test_zcopy test_hostile test_serve; do
  [ -x "$work/${t}_shared" ] && run "$t, shared library" "$work/${t}_shared"
  [ -x "$work/${t}_static" ] && run "$t, static library" "$work/${t}_static"
  [ -x "$work/${t}_asan" ] && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
    run "$t, ASan + UBSan" "$work/${t}_asan"
  if command -v valgrind >/dev/null && [ -x "$work/${t}_shared" ]; then
    # Forked children (the SIGPIPE tests) are checked by their exit status; valgrind follows the
    # parent only, which holds every other test.
    ZCOPY_TEST_UNDER_VALGRIND=1 run "$t, valgrind" valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=all \
      --child-silent-after-fork=yes "$work/${t}_shared"
  else
    fail "valgrind is not installed"
  fi
done

echo "== examples"
# shellcheck disable=SC2046
step "build examples/c/zcp.c" \
  gcc "${CFLAGS[@]}" examples/c/zcp.c -o "$work/zcp" $(pkg-config --cflags --libs zcopy) -Wl,-rpath,"$prefix/lib"
# shellcheck disable=SC2046
step "build examples/c/zc-serve.c" \
  gcc "${CFLAGS[@]}" examples/c/zc-serve.c -o "$work/zc-serve" $(pkg-config --cflags --libs zcopy-static)
head -c 5000001 /dev/urandom > "$work/data.bin"
step "zcp copies a file" bash -c "'$work/zcp' '$work/data.bin' '$work/copy.bin' && cmp '$work/data.bin' '$work/copy.bin'"
step "zcp -s splice -n copies a file" \
  bash -c "'$work/zcp' -s splice -n '$work/data.bin' '$work/copy2.bin' && cmp '$work/data.bin' '$work/copy2.bin'"
step "zcp reads a pipe and writes a pipe" \
  bash -c "cat '$work/data.bin' | '$work/zcp' - - 2>/dev/null | cmp - '$work/data.bin'"
step "zcp names a bad strategy" \
  bash -c "! '$work/zcp' -s teleport a b 2>'$work/zcp.err' && grep -q 'unknown strategy' '$work/zcp.err'"
step "zcp fails cleanly on a missing file" \
  bash -c "! '$work/zcp' '$work/missing' '$work/x' 2>'$work/zcp.err' && grep -q 'cannot open src' '$work/zcp.err'"

serve_check() {
  mkdir -p "$work/www"
  cp "$work/data.bin" "$work/www/data.bin"
  printf 'hello\n' > "$work/www/small.txt"
  "$work/zc-serve" "$work/www" 0 4 > "$work/serve.log" 2>&1 &
  local pid=$! port="" i
  for i in $(seq 1 50); do
    port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$work/serve.log")
    [ -n "$port" ] && break
    sleep 0.1
  done
  [ -n "$port" ] || { kill "$pid"; return 1; }
  local ok=0
  curl -sf --max-time 10 "http://127.0.0.1:$port/data.bin" -o "$work/got.bin" && cmp "$work/got.bin" "$work/data.bin" || ok=1
  [ "$(curl -sf --max-time 10 "http://127.0.0.1:$port/small.txt")" = hello ] || ok=1
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$port/nope")" = 404 ] || ok=1
  # A client that hangs up after the first 64 KiB: the server gets EPIPE/ECONNRESET, no signal.
  curl -s --max-time 10 -r 0-1 "http://127.0.0.1:$port/data.bin" 2>/dev/null | head -c 65536 > /dev/null
  wait "$pid" || ok=1
  cat "$work/serve.log"
  # Auto's pick for a file to a loopback peer: mmap_write when it is all in the page cache (it
  # was just copied), sendfile otherwise.
  grep -Eq 'GET /data.bin: 5000001 bytes by (mmap_write|sendfile)' "$work/serve.log" || ok=1
  return $ok
}
if command -v curl >/dev/null; then
  step "zc-serve serves files over loopback with Auto's pick and survives a client hanging up" serve_check
else
  fail "curl is not installed"
fi

echo "== the release build, as installed"
# Limits, in bytes; the sizes measured when they were set are in Cargo.toml ([profile.release]).
# The .so was 0.93 MB then; with copy_tree, the log and server crates over nix and memmap2, and
# the prepared transfer's new calls it is 1.05 MB (0.2.x): 1.5 MiB still catches debug info (7 MB)
# or the standard library's unused parts coming back.
so_limit=$((3 * 512 * 1024))
a_limit=$((10 * 1024 * 1024))
size() { stat -c %s "$1"; }
# An ELF file, or every member of an archive, with no DWARF (no_debug) or no symbol table.
no_debug() { ! readelf -S -W "$1" | grep -Eq ' \.debug_(info|line) '; }
no_symtab() { ! readelf -S -W "$1" | grep -q ' \.symtab '; }
stripped() { no_debug "$1" && no_symtab "$1"; }
small_no_debug() { no_debug "$1" && under "$1" "$2"; }
stripped_small() { stripped "$1" && under "$1" "$2"; }
under() { echo "$1: $(size "$1") bytes, limit $2"; [ "$(size "$1")" -lt "$2" ]; }
# The zc_ functions zcopy.h declares are the ones the library exports, and no other (no test
# hook: zc_test_* exist only with the `testing` feature).
exports_header() {
  diff <(grep -Eo '^[a-z].*[ *](zc_[a-z_]+)\(' include/zcopy.h | grep -Eo 'zc_[a-z_]+\($' | tr -d '(' | sort -u) \
    <(nm -D --defined-only "$1" | awk '$3 ~ /^zc_/ {print $3}' | sort -u)
}
# No test symbol at all (zc_test_*, or the engine's testing module) among the defined dynamic
# symbols; what nm finds is printed.
no_test_symbol() {
  echo "nm -D --defined-only $1 | grep -E 'zc_test_|testing': $(nm -D --defined-only "$1" | grep -cE 'zc_test_|testing') symbols"
  nm -D --defined-only "$1" | grep -E 'zc_test_|testing' && return 1
  return 0
}
# link_and_run NAME PKG PREFIX: tests/c/test_zcopy.c linked through pkg-config PKG of PREFIX, run
# with no LD_LIBRARY_PATH.
link_and_run() {
  # shellcheck disable=SC2046
  gcc "${CFLAGS[@]}" tests/c/test_zcopy.c -o "$work/$1" \
    $(PKG_CONFIG_PATH=$3/lib/pkgconfig pkg-config --cflags --libs "$2") &&
    env -u LD_LIBRARY_PATH "$work/$1"
}
gdb_line() { gdb -nx -batch -ex 'info line zc_transfer' "$1" 2>&1 | tee /dev/stderr | grep -q 'Line [0-9]* of "ffi-c/src/'; }
debuglink() { readelf --string-dump=.gnu_debuglink "$1" | grep -qF "$(basename "$1").debug"; }

rel=$work/release
version=$(pkg-config --modversion zcopy)
if bash scripts/install-c.sh "$rel" > "$work/install.log" 2>&1; then
  cat "$work/install.log"
  so=$rel/lib/libzcopy.so.$version
  echo "sizes: installed libzcopy.so.$version $(size "$so") bytes (limit $so_limit)," \
    "libzcopy.a $(size "$rel/lib/libzcopy.a") bytes (limit $a_limit);" \
    "cargo build --release's libzcopy.a $(size "$target/release/libzcopy.a") bytes (limit $a_limit)"
  step "installed libzcopy.so: no debug info, no symbol table" stripped "$so"
  step "installed libzcopy.a: no debug info" no_debug "$rel/lib/libzcopy.a"
  step "installed libzcopy.so under 1.5 MiB" under "$so" "$so_limit"
  step "installed libzcopy.a under 10 MiB" under "$rel/lib/libzcopy.a" "$a_limit"
  step "cargo build --release's libzcopy.a under 10 MiB" under "$target/release/libzcopy.a" "$a_limit"
  step "the installed libzcopy.so exports every zc_ function of zcopy.h, and no other" exports_header "$so"
  step "the installed libzcopy.so exports no test symbol (no zc_test_)" no_test_symbol "$so"
  step "the installed libzcopy.a defines no test symbol (no zc_test_)" \
    bash -c "! nm --defined-only '$rel/lib/libzcopy.a' 2>/dev/null | grep -q ' T zc_test_'"
  step "test_zcopy linked with the release libzcopy.a passes" link_and_run test_zcopy_release zcopy-static "$rel"
  step "test_zcopy linked with the release libzcopy.so passes, with no LD_LIBRARY_PATH (zcopy.pc's rpath)" \
    link_and_run test_zcopy_release_so zcopy "$rel"
else
  cat "$work/install.log"
  fail "install-c.sh (release) failed"
fi
dbg=$work/release-debuginfo
if bash scripts/install-c.sh "$dbg" --debug-info > "$work/install.log" 2>&1; then
  cat "$work/install.log"
  so=$dbg/lib/libzcopy.so.$version
  echo "sizes (--debug-info): libzcopy.so.$version $(size "$so") bytes, libzcopy.so.$version.debug" \
    "$(size "$so.debug") bytes, libzcopy.a $(size "$dbg/lib/libzcopy.a") bytes"
  step "--debug-info: libzcopy.so stripped, under 1.5 MiB" stripped_small "$so" "$so_limit"
  step "--debug-info: libzcopy.a without debug info, under 10 MiB" small_no_debug "$dbg/lib/libzcopy.a" "$a_limit"
  step "--debug-info: libzcopy.so's .gnu_debuglink names libzcopy.so.$version.debug" debuglink "$so"
  step "--debug-info: libzcopy.so.$version.debug has the debug info" bash -c "readelf -S -W '$so.debug' | grep -q ' \.debug_info '"
  if command -v gdb >/dev/null; then
    step "--debug-info: gdb finds zc_transfer's source line through the link" gdb_line "$so"
  else
    echo "SKIP --debug-info: gdb finds the source lines: gdb is not installed"
  fi
else
  cat "$work/install.log"
  fail "install-c.sh --debug-info failed"
fi

echo "c: $passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
