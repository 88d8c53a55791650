//! Integration tests of `zcopy-log`, in one test binary, with the engine's test fixtures.

#[path = "../../core/tests/common/mod.rs"]
mod common;

mod test_log;
