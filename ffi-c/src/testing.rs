//! The test-only panic hook, for the C and Go tests: not in the header (cbindgen.toml excludes
//! it); tests declare it themselves.

/// Makes the next transfer on the calling thread panic inside the engine once it has moved
/// `after_bytes` bytes, so a test can check that the panic comes back as `ZC_PANIC` and leaves
/// the host alive with its fds open. Not part of the API.
#[no_mangle]
pub extern "C" fn zc_test_inject_panic(after_bytes: u64) {
    crate::status::guard((), || engine::testing::inject_panic(after_bytes));
}
