//! Integration tests of the file server (`zcopy-serve`), all in one test binary.

#[path = "../../core/tests/common/mod.rs"]
mod common;

mod seccomp;
mod test_serve;
