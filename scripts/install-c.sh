#!/usr/bin/env bash
# Builds libzcopy and installs it for C (and Go, through pkg-config) into a prefix:
#
#   PREFIX/lib/libzcopy.so.0.1.0, libzcopy.so.0 -> it, libzcopy.so -> libzcopy.so.0
#   PREFIX/lib/libzcopy.a
#   PREFIX/include/zcopy.h
#   PREFIX/lib/pkgconfig/zcopy.pc          -lzcopy (the shared library)
#   PREFIX/lib/pkgconfig/zcopy-static.pc   libzcopy.a and what it needs (rustc's native-static-libs)
#
#   bash scripts/install-c.sh PREFIX [--debug]
#
# Then: cc prog.c $(pkg-config --cflags --libs zcopy)          (shared: needs libzcopy.so.0 at run time)
#       cc prog.c $(pkg-config --cflags --libs zcopy-static)   (static: nothing of zcopy at run time)
# with PKG_CONFIG_PATH=PREFIX/lib/pkgconfig when PREFIX is not a system one. --debug installs
# the debug build (faster to build; the tests use it). No root is needed for a prefix you own.
set -euo pipefail
cd "$(dirname "$0")/.."

prefix=${1:?usage: install-c.sh PREFIX [--debug]}
profile=release
[ "${2:-}" = --debug ] && profile=debug
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)

if [ "$profile" = release ]; then
  cargo build --release -q -p zcopy-ffi
else
  cargo build -q -p zcopy-ffi
fi
target=${CARGO_TARGET_DIR:-$PWD/target}/$profile

version=$(sed -n 's/^#define ZCOPY_VERSION_STRING "\(.*\)"$/\1/p' include/zcopy.h)
major=${version%%.*}
[ -n "$version" ] || { echo "install-c: no ZCOPY_VERSION_STRING in include/zcopy.h" >&2; exit 1; }

# What a static link needs besides libzcopy.a, as rustc prints it for a staticlib
# (`rustc --print native-static-libs`; the Rust standard library's system libraries).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
native=$(rustc --crate-type staticlib --crate-name probe --print native-static-libs \
           -o "$tmp/probe.a" - < /dev/null 2>&1 | sed -n 's/^note: native-static-libs: //p')
[ -n "$native" ] || native="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"

install -d "$prefix/lib/pkgconfig" "$prefix/include"
install -m 0755 "$target/libzcopy.so" "$prefix/lib/libzcopy.so.$version"
ln -sfn "libzcopy.so.$version" "$prefix/lib/libzcopy.so.$major"
ln -sfn "libzcopy.so.$major" "$prefix/lib/libzcopy.so"
install -m 0644 "$target/libzcopy.a" "$prefix/lib/libzcopy.a"
install -m 0644 include/zcopy.h "$prefix/include/zcopy.h"
cat > "$prefix/lib/pkgconfig/zcopy.pc" <<EOF
prefix=$prefix
exec_prefix=\${prefix}
libdir=\${exec_prefix}/lib
includedir=\${prefix}/include

Name: zcopy
Description: Move bytes between file descriptors by every technique Linux offers, and report what it cost
Version: $version
Libs: -L\${libdir} -lzcopy
Libs.private: $native
Cflags: -I\${includedir}
EOF
cat > "$prefix/lib/pkgconfig/zcopy-static.pc" <<EOF
prefix=$prefix
exec_prefix=\${prefix}
libdir=\${exec_prefix}/lib
includedir=\${prefix}/include

Name: zcopy-static
Description: zcopy linked statically (libzcopy.a)
Version: $version
Libs: -L\${libdir} -l:libzcopy.a $native
Cflags: -I\${includedir}
EOF
echo "installed zcopy $version ($profile) into $prefix"
