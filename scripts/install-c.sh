#!/usr/bin/env bash
# Builds libzcopy and installs it for C (and Go, through pkg-config) into a prefix, /usr/local by
# default:
#
#   PREFIX/lib/libzcopy.so.0.2.0, libzcopy.so.1 -> it (the SONAME), libzcopy.so -> libzcopy.so.1
#   PREFIX/lib/libzcopy.a
#   PREFIX/include/zcopy.h
#   PREFIX/lib/pkgconfig/zcopy.pc          -lzcopy (the shared library)
#   PREFIX/lib/pkgconfig/zcopy-static.pc   libzcopy.a and what it needs (rustc's native-static-libs)
#
#   bash scripts/install-c.sh [PREFIX] [--debug | --debug-info] [--testing] [--no-build]
#
#   (no flag)     the release build, stripped: libzcopy.so.0.2.0 under 1 MB, libzcopy.a under 10 MB
#   --debug-info  the release build with debug info (profile release-debuginfo), installed stripped
#                 with the .so's debug info beside it in libzcopy.so.0.2.0.debug, which gdb and
#                 perf find through the library's .gnu_debuglink (libzcopy.a is installed
#                 stripped all the same: a static library's debug info would go into every
#                 program linked with it)
#   --debug       the debug build, unoptimised and not stripped (faster to build; the tests use it)
#   --testing     with the cargo feature `testing`: the test-only panic hooks (zc_test_*) the C and
#                 Go tests call (scripts/test-c.sh and test-go.sh install `--debug --testing`); never
#                 for a library you ship
#   --no-build    install what an earlier build left in the target directory (CARGO_TARGET_DIR or
#                 target/) without running cargo: build as yourself, then install as root with
#                 `sudo bash scripts/install-c.sh --no-build` (root often has no cargo; sudo drops
#                 CARGO_TARGET_DIR: give it again if the build used one)
#
# Then: cc prog.c $(pkg-config --cflags --libs zcopy)          (shared: needs libzcopy.so.1 at run time)
#       cc prog.c $(pkg-config --cflags --libs zcopy-static)   (static: nothing of zcopy at run time)
#
# Run as root with a prefix the dynamic linker searches (/usr/local/lib on Debian, Ubuntu, Arch),
# it runs ldconfig, so programs find libzcopy.so.1 with no LD_LIBRARY_PATH; pkg-config searches
# /usr/local/lib/pkgconfig already. Any other prefix (one you own needs no root): zcopy.pc links
# with -Wl,-rpath,PREFIX/lib so programs still run without LD_LIBRARY_PATH, and pkg-config needs
# PKG_CONFIG_PATH=PREFIX/lib/pkgconfig, as the script says at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

usage="usage: install-c.sh [PREFIX] [--debug | --debug-info] [--testing] [--no-build]"
prefix=/usr/local
profile=release
build=1
features=()
for arg in "$@"; do
  case "$arg" in
    --debug) profile=debug ;;
    --debug-info) profile=release-debuginfo ;;
    --no-build) build=0 ;;
    --testing) features=(--features testing) ;;
    -h | --help) echo "$usage"; exit 0 ;;
    -*) echo "install-c: unknown option $arg; $usage" >&2; exit 2 ;;
    *) prefix=$arg ;;
  esac
done

target=${CARGO_TARGET_DIR:-target}
case "$target" in /*) ;; *) target=$PWD/$target ;; esac
out=$target/$profile
# What a static link needs besides libzcopy.a, as rustc prints it for this staticlib
# (`--print native-static-libs`: the Rust standard library's system libraries). The build writes
# it beside the library, for --no-build.
native_file=$out/libzcopy.native-static-libs

if ! mkdir -p "$prefix" 2>/dev/null || ! [ -w "$prefix" ]; then
  echo "install-c: cannot write to $prefix: install as root (sudo bash scripts/install-c.sh" \
    "--no-build, after building as yourself) or give a prefix you own (install-c.sh ~/.local)" >&2
  exit 1
fi
prefix=$(cd "$prefix" && pwd)
lib=$prefix/lib

if [ "$build" = 1 ]; then
  command -v cargo >/dev/null || {
    if [ "$(id -u)" = 0 ]; then
      echo "install-c: root has no cargo in PATH: build as yourself" \
        "(cargo build --release -p zcopy-ffi), then run \`sudo bash scripts/install-c.sh --no-build\`" >&2
    else
      echo "install-c: cargo is not in PATH: install Rust (https://rustup.rs)" >&2
    fi
    exit 1
  }
  case "$profile" in
    debug) pflag=() ;;
    release) pflag=(--release) ;;
    *) pflag=(--profile "$profile") ;;
  esac
  # `cargo rustc` is `cargo build` plus the note; cargo replays the note when nothing changed.
  log=$(mktemp)
  trap 'rm -f "$log"' EXIT
  if ! cargo rustc -q -p zcopy-ffi --lib "${pflag[@]}" "${features[@]}" -- --print native-static-libs 2>"$log"; then
    cat "$log" >&2
    exit 1
  fi
  native=$(sed -n 's/^note: native-static-libs: //p' "$log" | tail -1)
  [ -n "$native" ] || { cat "$log" >&2; echo "install-c: rustc printed no native-static-libs" >&2; exit 1; }
  printf '%s\n' "$native" > "$native_file"
fi
for f in libzcopy.so libzcopy.a; do
  [ -f "$out/$f" ] || {
    echo "install-c: $out/$f is missing: build it (run this script without --no-build," \
      "as a user with cargo)" >&2
    exit 1
  }
done
if [ -s "$native_file" ]; then
  native=$(cat "$native_file")
else
  # Built by hand (cargo build) rather than by this script: the list rustc gives for
  # x86_64/aarch64 Linux with glibc.
  native="-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc"
fi

version=$(sed -n 's/^#define ZCOPY_VERSION_STRING "\(.*\)"$/\1/p' include/zcopy.h)
[ -n "$version" ] || { echo "install-c: no ZCOPY_VERSION_STRING in include/zcopy.h" >&2; exit 1; }
# The SONAME (libzcopy.so.N: ffi-c/build.rs sets N, the ABI's version, which changes only with
# an incompatible ABI) as the library records it: programs look for that name.
soname=$(readelf -d "$out/libzcopy.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]$/\1/p')
case "$soname" in
  libzcopy.so.[0-9]*) ;;
  *) echo "install-c: $out/libzcopy.so has no SONAME libzcopy.so.N (readelf -d: '$soname')" >&2; exit 1 ;;
esac


# Whether the dynamic linker searches DIR without being told (ld.so.conf and the built-in
# directories): then ldconfig makes libzcopy.so.1 found, and no rpath is needed.
searched() {
  local want d
  want=$(realpath -m "$1")
  for d in /lib /usr/lib /lib64 /usr/lib64 \
    $(ldconfig -v -N -X 2>/dev/null | sed -n 's|^\(/[^:]*\):.*|\1|p'); do
    [ "$(realpath -m "$d")" = "$want" ] && return 0
  done
  return 1
}
rpath=""
searched "$lib" || rpath=" -Wl,-rpath,\${libdir}"

install -d "$lib/pkgconfig" "$prefix/include"
so=$lib/libzcopy.so.$version
# Through a temporary name in the same directory, then a rename: a running program that has the
# old library mapped keeps it intact.
install -m 0755 "$out/libzcopy.so" "$so.tmp"
install -m 0644 "$out/libzcopy.a" "$lib/libzcopy.a.tmp"
case "$profile" in
  release)
    strip --strip-unneeded "$so.tmp"
    strip --strip-debug "$lib/libzcopy.a.tmp"
    rm -f "$so.debug"
    ;;
  release-debuginfo)
    objcopy --only-keep-debug "$so.tmp" "$so.debug"
    chmod 0644 "$so.debug"
    strip --strip-unneeded "$so.tmp"
    # The link names the file (its base name, with a CRC of its contents) that gdb and perf look
    # for beside the library, in its .debug/ and in /usr/lib/debug/PREFIX/lib.
    objcopy --add-gnu-debuglink="$so.debug" "$so.tmp"
    strip --strip-debug "$lib/libzcopy.a.tmp"
    ;;
  debug)
    rm -f "$so.debug"
    ;;
esac
mv -f "$so.tmp" "$so"
mv -f "$lib/libzcopy.a.tmp" "$lib/libzcopy.a"
ln -sfn "libzcopy.so.$version" "$lib/$soname"
ln -sfn "$soname" "$lib/libzcopy.so"
install -m 0644 include/zcopy.h "$prefix/include/zcopy.h"
cat > "$lib/pkgconfig/zcopy.pc" <<EOF
prefix=$prefix
exec_prefix=\${prefix}
libdir=\${exec_prefix}/lib
includedir=\${prefix}/include

Name: zcopy
Description: Move bytes between file descriptors by every technique Linux offers, and report what it cost
Version: $version
Libs: -L\${libdir}$rpath -lzcopy
Libs.private: $native
Cflags: -I\${includedir}
EOF
# For static linking only, so what libzcopy.a needs is in Libs itself (pkg-config --libs
# zcopy-static, with or without --static, gives all of it).
cat > "$lib/pkgconfig/zcopy-static.pc" <<EOF
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

echo "installed zcopy $version ($profile${features[*]:+, ${features[*]}}) into $prefix:" \
  "libzcopy.so.$version (SONAME $soname) $(stat -c %s "$so") bytes, libzcopy.a $(stat -c %s "$lib/libzcopy.a") bytes"
if [ -n "$rpath" ]; then
  echo "  $lib is not searched by the dynamic linker: programs linked through zcopy.pc carry an rpath to it"
elif [ "$(id -u)" = 0 ]; then
  ldconfig
  echo "  ldconfig: $soname is found without LD_LIBRARY_PATH"
else
  echo "  run ldconfig as root so that programs find $soname"
fi
case ":$(pkg-config --variable pc_path pkg-config 2>/dev/null):" in
  *":$lib/pkgconfig:"*) ;;
  *) echo "  pkg-config: export PKG_CONFIG_PATH=$lib/pkgconfig" ;;
esac
