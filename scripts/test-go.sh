#!/usr/bin/env bash
# The Go face: installs Go (Debian's golang-go) only if no `go` is found, builds libzcopy
# (debug) and installs it into a temporary prefix with scripts/install-c.sh, then runs gofmt,
# go vet and go test -v on go/ (the package zcopy.dev/zcopy, linked through pkg-config) and
# builds and runs examples/go. Prints `go: N passed, N failed` last and exits non-zero on any
# failure. Nothing is fetched from the network (GOPROXY=off: the module has no dependencies).
#
#   bash scripts/test-go.sh
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD

if ! command -v go >/dev/null; then
  if [ -x /usr/local/go/bin/go ]; then
    export PATH=/usr/local/go/bin:$PATH
  elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "== installing golang-go"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go >/dev/null
  fi
fi
need=()
command -v gcc >/dev/null || need+=(gcc)
command -v pkg-config >/dev/null || need+=(pkg-config)
if ((${#need[@]})) && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "== installing ${need[*]}"
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
for tool in go gcc pkg-config; do
  command -v "$tool" >/dev/null || { echo "test-go: $tool is needed"; echo "go: 0 passed, 1 failed"; exit 1; }
done
echo "== $(go version)"

work=$root/target/go-test
rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix
echo "== building and installing libzcopy (debug) into $prefix"
if ! bash scripts/install-c.sh "$prefix" --debug; then
  echo "go: 0 passed, 1 failed"
  exit 1
fi

export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
export LD_LIBRARY_PATH=$prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export CGO_ENABLED=1 GOPROXY=off GOTOOLCHAIN=local GOFLAGS=-mod=mod
if [ -z "${HOME:-}" ] && [ -z "${XDG_CACHE_HOME:-}" ] && [ -z "${GOCACHE:-}" ]; then
  export GOCACHE=$root/target/go-cache GOPATH=$root/target/go-path
fi
export TMPDIR=$work

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; }
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

step "gofmt (go/, examples/go/)" bash -c 'test -z "$(gofmt -l go examples/go)" || { gofmt -l go examples/go; false; }'
step "go vet ./... (go/)" bash -c 'cd go && go vet ./...'
step "go vet ./... (examples/go/)" bash -c 'cd examples/go && go vet ./...'

echo "== go test -v (go/)"
(cd go && go test -count=1 -timeout 180s -v ./...) 2>&1 | tee "$work/test.log"
rc=${PIPESTATUS[0]}
p=$(grep -cE '^\s*--- PASS' "$work/test.log")
f=$(grep -cE '^\s*--- FAIL' "$work/test.log")
passed=$((passed + p))
failed=$((failed + f))
if [ "$rc" != 0 ] && [ "$f" = 0 ]; then fail "go test exited with status $rc"; fi

echo "== examples/go"
step "build examples/go/zcp" bash -c "cd examples/go && go build -o '$work/zcp' ./zcp"
head -c 3000001 /dev/urandom > "$work/data.bin"
step "zcp copies a file" bash -c "'$work/zcp' '$work/data.bin' '$work/copy.bin' && cmp '$work/data.bin' '$work/copy.bin'"
step "zcp -serve sends a file over loopback TCP" bash -c "'$work/zcp' -serve '$work/data.bin'"
step "zcp names a bad strategy" \
  bash -c "! '$work/zcp' -strategy teleport '$work/data.bin' '$work/x' 2> '$work/zcp.err' && grep -q 'unknown strategy' '$work/zcp.err'"

echo "go: $passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
