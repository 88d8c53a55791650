#!/usr/bin/env bash
# The Go face: installs Go (Debian's golang-go) only if no `go` is found, builds libzcopy
# (debug, with the test hooks: --testing) and installs it into a temporary prefix with
# scripts/install-c.sh, then runs gofmt, go vet (with and without the tag zcopy_testing, which
# declares the hooks the panic tests call) and go test -v -tags zcopy_testing on go/ (the package
# zcopy.dev/zcopy, linked through pkg-config; the programs find libzcopy.so.1 through the rpath
# zcopy.pc gives, with no LD_LIBRARY_PATH), builds and runs examples/go, and checks what a Go user meets: CGO_ENABLED=0 fails with a message
# saying cgo and libzcopy are required, `-tags zcopy_static` links libzcopy.a (no libzcopy.so
# needed), and a module outside this tree uses the package through the README's
# `go mod edit -replace` line. Prints `go: N passed, N failed` last and exits non-zero on any
# failure. Nothing is fetched from the network (GOPROXY=off: the module has no dependencies).
# Its files go under CARGO_TARGET_DIR (default target/): go-test/.
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

target=${CARGO_TARGET_DIR:-target}
case "$target" in /*) ;; *) target=$root/$target ;; esac
work=$target/go-test
rm -rf "$work"
mkdir -p "$work"
prefix=$work/prefix
echo "== building and installing libzcopy (debug, with the test hooks) into $prefix"
if ! bash scripts/install-c.sh "$prefix" --debug --testing; then
  echo "go: 0 passed, 1 failed"
  exit 1
fi

# No LD_LIBRARY_PATH: zcopy.pc links with -Wl,-rpath to the prefix (it is not a system one).
export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
# Go's build cache keys a cgo package on its sources, flags and environment, but neither on what
# pkg-config prints nor on the library's bytes (golang/go#24544): a test binary linked with
# another prefix's rpath, or a zcopy_static program with an older libzcopy.a inside, would come
# from the cache. The prefix and the library's hash in CGO_CPPFLAGS (part of the key) make a new
# library rebuild what links it.
lib_id=$( (echo "$prefix"; cat "$prefix/lib/libzcopy.a" "$prefix/lib/libzcopy.so") | sha256sum | cut -c1-16)
export CGO_CPPFLAGS="${CGO_CPPFLAGS:-} -DZCOPY_TEST_LIBRARY=0x$lib_id"
export CGO_ENABLED=1 GOPROXY=off GOTOOLCHAIN=local GOFLAGS=-mod=mod
if [ -z "${HOME:-}" ] && [ -z "${XDG_CACHE_HOME:-}" ] && [ -z "${GOCACHE:-}" ]; then
  export GOCACHE=$target/go-cache GOPATH=$target/go-path
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
step "go vet -tags zcopy_testing ./... (go/)" bash -c 'cd go && go vet -tags zcopy_testing ./...'
step "go vet ./... (examples/go/)" bash -c 'cd examples/go && go vet ./...'

echo "== go test -v -tags zcopy_testing (go/)"
(cd go && go test -count=1 -timeout 180s -v -tags zcopy_testing ./...) 2>&1 | tee "$work/test.log"
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
step "zcp finds libzcopy.so.1 with no LD_LIBRARY_PATH (zcopy.pc's rpath)" \
  bash -c "ldd '$work/zcp' | grep -q 'libzcopy.so.1 => $prefix/lib/libzcopy.so.1'"

echo "== as Go users build"
# cgo off: the build fails with the message of go/nocgo.go, and with no other error.
nocgo() {
  if (cd "$1" && CGO_ENABLED=0 go build -o /dev/null ./...) > "$work/nocgo.log" 2>&1; then
    echo "CGO_ENABLED=0 go build succeeded in $1"
    return 1
  fi
  cat "$work/nocgo.log"
  grep -q 'zcopy requires cgo and libzcopy: build with CGO_ENABLED=1' "$work/nocgo.log" &&
    [ "$(grep -c '\.go:[0-9]*:[0-9]*: ' "$work/nocgo.log")" = 1 ]
}
step "CGO_ENABLED=0 go build ./... (go/) fails saying cgo and libzcopy are required" nocgo go
step "CGO_ENABLED=0 go build ./... (examples/go/) fails saying cgo and libzcopy are required" nocgo examples/go
step "go vet -tags zcopy_static ./... (go/)" bash -c 'cd go && go vet -tags zcopy_static ./...'
step "go build -tags zcopy_static examples/go/zcp" \
  bash -c "cd examples/go && go build -tags zcopy_static -o '$work/zcp-static' ./zcp"
step "the zcopy_static build needs no libzcopy.so (ldd)" \
  bash -c "ldd '$work/zcp-static' && ! ldd '$work/zcp-static' | grep -q libzcopy"
step "the zcopy_static zcp copies a file" \
  bash -c "'$work/zcp-static' '$work/data.bin' '$work/copy-static.bin' && cmp '$work/data.bin' '$work/copy-static.bin'"
# A module of its own that uses a clone, by the README's line, with the go command's defaults
# (no -mod=mod).
clone_user() {
  local app=$work/app
  mkdir -p "$app"
  cat > "$app/main.go" <<'GO'
package main

import (
	"fmt"
	"os"

	"zcopy.dev/zcopy"
)

func main() {
	r, err := zcopy.CopyFile(os.Args[2], os.Args[1], zcopy.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("zcopy", zcopy.Version(), r.Bytes)
}
GO
  (cd "$app" && GOFLAGS= go mod init example.com/app &&
    GOFLAGS= go mod edit -replace=zcopy.dev/zcopy="$root/go" -require=zcopy.dev/zcopy@v0.0.0 &&
    cat go.mod && GOFLAGS= go build -o app . && ./app "$work/data.bin" "$work/copy-app.bin") &&
    cmp "$work/data.bin" "$work/copy-app.bin"
}
step "a module outside the tree builds against a clone with go mod edit -replace" clone_user

echo "go: $passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
