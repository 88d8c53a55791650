#!/usr/bin/env bash
# The scripts themselves, in a few seconds (nothing is built but an empty stand-in library):
#   - every scripts/*.sh parses (bash -n);
#   - none names the target directory other than as ${CARGO_TARGET_DIR:-target}: a line that is
#     not a comment and has `target/` (or `$PWD/target`, `"target"`, `mkdir -p target`) fails, so
#     everything the scripts build, run and write follows CARGO_TARGET_DIR as cargo does; a line
#     that means another `target` says so with a trailing `# not the target directory`;
#   - scripts/demo.sh, run with CARGO_TARGET_DIR set, runs the zcopy binary under it and writes its
#     samples there (with stand-ins for cargo and zcopy, which record how they were called);
#   - scripts/install-c.sh --no-build, with CARGO_TARGET_DIR set, installs the library found under it,
#     linked by the SONAME it records.
# Prints `scripts: N passed, N failed` last and exits non-zero on any failure.
#
#   bash scripts/test-scripts.sh
set -uo pipefail
cd "$(dirname "$0")/.."

passed=0
failed=0
pass() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); echo "FAIL $1"; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
step() {
  local name=$1
  shift
  if "$@" > "$tmp/step.log" 2>&1; then
    pass "$name"
  else
    cat "$tmp/step.log"
    fail "$name"
  fi
}

for f in scripts/*.sh; do
  step "$f parses" bash -n "$f"
done

# hard_coded FILE: the lines of FILE that name the target directory by itself (comments aside).
hard_coded() {
  sed -e 's/\${CARGO_TARGET_DIR:-target}//g' "$1" |
    grep -nE '(^|[^A-Za-z0-9_${-])target($|[/"'"'"'])' |
    grep -vE '^[0-9]+:[[:space:]]*#' | grep -v '# not the target directory$' | sed "s|^|$1:|"
}
for f in scripts/*.sh; do
  step "$f names the target directory only as \${CARGO_TARGET_DIR:-target}" \
    bash -c "$(declare -f hard_coded); out=\$(hard_coded '$f'); [ -z \"\$out\" ] || { echo \"\$out\"; false; }"
done
# The check itself: it catches what scripts/demo.sh had before it honoured CARGO_TARGET_DIR.
printf '%s\n' 'z=$PWD/target/release/zcopy' 'mkdir -p target' '# a comment on target/' 'd=${CARGO_TARGET_DIR:-target}/x' 'echo "every target replays"' > "$tmp/bad.sh" # not the target directory
step "the check finds a hard-coded target directory (and passes comments, prose and \${CARGO_TARGET_DIR:-target})" \
  bash -c "$(declare -f hard_coded); [ \"\$(hard_coded '$tmp/bad.sh' | cut -d: -f2 | tr '\n' ' ')\" = '1 2 ' ]"

# demo.sh with CARGO_TARGET_DIR set: a `cargo` that does nothing and a `zcopy` that records its
# arguments stand in for the real ones.
demo() {
  local t=$tmp/demo-target bin=$tmp/bin
  mkdir -p "$t/release" "$bin"
  printf '#!/bin/sh\nexit 0\n' > "$bin/cargo"
  printf '#!/bin/sh\nprintf "%%s\\n" "$@" > "%s"\n' "$tmp/zcopy-args" > "$t/release/zcopy"
  chmod +x "$bin/cargo" "$t/release/zcopy"
  PATH=$bin:$PATH CARGO_TARGET_DIR=$t bash scripts/demo.sh || return 1
  echo "zcopy ran with:"
  cat "$tmp/zcopy-args" || return 1
  # The files it was told to write are under CARGO_TARGET_DIR, none under target/.
  grep -q "^$t/bench/" "$tmp/zcopy-args" && ! grep -Eq '(^|/)target/' "$tmp/zcopy-args" # not the target directory
}
step "scripts/demo.sh with CARGO_TARGET_DIR set runs \$CARGO_TARGET_DIR/release/zcopy and writes there" demo

# install-c.sh --no-build with CARGO_TARGET_DIR set installs the files found there (stand-ins:
# a debug install copies them as they are), under the SONAME the .so records: the stand-in .so
# is an empty shared object (gcc) whose SONAME is libzcopy.so.7, which install-c.sh must link.
install_c() {
  local t=$tmp/install-target
  mkdir -p "$t/debug"
  gcc -shared -fPIC -nostdlib -Wl,-soname,libzcopy.so.7 -x c /dev/null -o "$t/debug/libzcopy.so" || return 1
  echo "the .a under CARGO_TARGET_DIR" > "$t/debug/libzcopy.a"
  CARGO_TARGET_DIR=$t bash scripts/install-c.sh "$tmp/prefix" --debug --no-build || return 1
  cmp "$t/debug/libzcopy.so" "$tmp/prefix/lib/libzcopy.so" && cmp "$t/debug/libzcopy.a" "$tmp/prefix/lib/libzcopy.a" &&
    [ "$(readlink "$tmp/prefix/lib/libzcopy.so")" = libzcopy.so.7 ]
}
if command -v gcc >/dev/null; then
  step "scripts/install-c.sh --no-build with CARGO_TARGET_DIR set installs what is there, by its SONAME" install_c
else
  echo "SKIP scripts/install-c.sh --no-build: gcc is not installed (it makes the stand-in library)"
fi

echo "scripts: $passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
