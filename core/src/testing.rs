//! A test-only hook: makes the engine panic in the middle of a transfer, so each face's tests can
//! check that a panic inside the engine comes back as an error (`ZC_PANIC` in C, `ZcopyError` in
//! Python, an `error` in Go) and leaves the host alive with its fds open. Hidden from the docs;
//! not part of the API, and compiled only with the `testing` feature (which no shipped build
//! has: the C library, the wheel and the CLI carry no hook).

use std::cell::Cell;

thread_local! {
    /// Panic once a transfer on this thread has moved this many bytes (`u64::MAX`: never).
    static PANIC_AFTER: Cell<u64> = const { Cell::new(u64::MAX) };
}

/// The message of the injected panic.
pub const MESSAGE: &str = "injected panic (zcopy::testing::inject_panic)";

/// Makes the next transfer on this thread panic inside the engine once it has moved
/// `after_bytes` bytes (at the first chunk that reaches it; 0: after the first chunk). The hook
/// disarms itself when it fires; [`disarm`] cancels it.
pub fn inject_panic(after_bytes: u64) {
    PANIC_AFTER.with(|p| p.set(after_bytes.min(u64::MAX - 1)));
}

/// Cancels a pending [`inject_panic`] on this thread.
pub fn disarm() {
    PANIC_AFTER.with(|p| p.set(u64::MAX));
}

/// Called by the engine each time a transfer has moved `moved` bytes in all.
#[inline]
pub(crate) fn maybe_panic(moved: u64) {
    let fire = PANIC_AFTER
        .try_with(|p| {
            let at = p.get();
            if at != u64::MAX && moved >= at {
                p.set(u64::MAX);
                true
            } else {
                false
            }
        })
        .unwrap_or(false);
    if fire {
        panic!("{MESSAGE} after {moved} bytes");
    }
}
