//! The test-only panic hooks, for the C and Go tests: built only with the `testing` feature (so
//! the shipped libzcopy.so exports no `zc_test_` symbol), and not in the header (cbindgen.toml
//! excludes them); tests declare them themselves.

/// Makes the next transfer on the calling thread panic inside the engine once it has moved
/// `after_bytes` bytes, so a test can check that the panic comes back as `ZC_PANIC` and leaves
/// the host alive with its fds open. Not part of the API.
#[no_mangle]
pub extern "C" fn zc_test_inject_panic(after_bytes: u64) {
    crate::status::guard((), || engine::testing::inject_panic(after_bytes));
}

/// Makes the first worker thread of the next server started (by any thread) panic as it
/// starts, so a test can check that `zc_server_stop` returns `ZC_PANIC`. Not part of the API.
#[cfg(feature = "serve")]
#[no_mangle]
pub extern "C" fn zc_test_inject_worker_panic() {
    crate::status::guard((), zcopy_serve::testing::inject_worker_panic);
}
