//! Gives libzcopy.so its SONAME, so programs record `libzcopy.so.0` and a later compatible
//! library can replace it.

fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libzcopy.so.0");
    println!("cargo:rerun-if-changed=build.rs");
}
