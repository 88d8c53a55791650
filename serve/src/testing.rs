//! A test-only hook: makes a server worker thread panic as it starts, so each face's tests can
//! check that a panic in the server comes back as a panic error (`ZC_PANIC` in C, `ZcopyError`
//! in Python, an `error` in Go) and leaves the host alive. Hidden from the docs; not part of
//! the API, and compiled only with the `testing` feature (which no shipped build has).

use std::sync::atomic::{AtomicBool, Ordering};

/// Whether the next file server's first worker thread to start panics (any thread's server).
static WORKER_PANIC: AtomicBool = AtomicBool::new(false);

/// The message of the injected worker panic.
pub const WORKER_MESSAGE: &str = "injected panic in a server worker (zcopy_serve::testing)";

/// Makes the first worker thread of the next file server that starts (in this process, on any
/// thread) panic as it starts, so a test can check that [`crate::Server::run`] hands the
/// panic to its caller's panic boundary. Disarms itself when it fires.
pub fn inject_worker_panic() {
    WORKER_PANIC.store(true, Ordering::SeqCst);
}

/// Called by each server worker thread as it starts.
pub(crate) fn maybe_panic_worker() {
    if WORKER_PANIC.swap(false, Ordering::SeqCst) {
        panic!("{WORKER_MESSAGE}");
    }
}
