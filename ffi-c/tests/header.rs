//! include/zcopy.h is what cbindgen generates from this crate, byte for byte.

use std::path::Path;

/// The version macros cbindgen cannot derive from the source.
fn version_macros() -> String {
    format!(
        "\n#define ZCOPY_VERSION_MAJOR {}\n#define ZCOPY_VERSION_MINOR {}\n#define ZCOPY_VERSION_PATCH {}\n#define ZCOPY_VERSION_STRING \"{}\"",
        env!("CARGO_PKG_VERSION_MAJOR"),
        env!("CARGO_PKG_VERSION_MINOR"),
        env!("CARGO_PKG_VERSION_PATCH"),
        env!("CARGO_PKG_VERSION"),
    )
}

fn generate() -> Vec<u8> {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("ffi-c/cbindgen.toml parses");
    config.after_includes = Some(version_macros());
    let bindings = cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen generates the header");
    let mut out = Vec::new();
    bindings.write(&mut out);
    out
}

#[test]
fn header_is_current() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../include/zcopy.h");
    let fresh = generate();
    if std::env::var_os("ZCOPY_BLESS").is_some_and(|v| v == "1") {
        std::fs::write(&path, &fresh).expect("write include/zcopy.h");
        return;
    }
    let committed = std::fs::read(&path).unwrap_or_default();
    if committed != fresh {
        let line = committed
            .split(|&b| b == b'\n')
            .zip(fresh.split(|&b| b == b'\n'))
            .position(|(a, b)| a != b)
            .map_or_else(|| "the end".to_string(), |i| format!("line {}", i + 1));
        panic!(
            "include/zcopy.h is stale (first difference at {line}): regenerate it with\n    \
             ZCOPY_BLESS=1 cargo test -p zcopy-ffi --test header\nand commit the result"
        );
    }
}
