//! Gives libzcopy.so its SONAME, `libzcopy.so.SOVERSION`, so programs record it and a later
//! compatible library can replace it.

/// The ABI's version: bumped whenever a release changes the C ABI incompatibly (a signature, a
/// struct layout without a `struct_size` to tell them apart, a removed function), and only
/// then; CHANGELOG.md says which release did. scripts/install-c.sh reads the SONAME back from
/// the built library. 1 since 0.2.0 (`zc_log_open` and `zc_server_start` return a `zc_status`).
const SOVERSION: u32 = 1;

fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libzcopy.so.{SOVERSION}");
    println!("cargo:rerun-if-changed=build.rs");
}
