//! # zcopy-ffi: the C ABI of zcopy
//!
//! Builds `libzcopy.so` (SONAME `libzcopy.so.1`) and `libzcopy.a`; `include/zcopy.h` is generated
//! from this crate's doc comments by cbindgen (`ZCOPY_BLESS=1 cargo test -p zcopy-ffi --test
//! header` regenerates it; the same test fails when it is stale).
//!
//! This crate only translates: C integers and structs into the engine's types, the engine's
//! results and errors into `zc_status`, a per-thread message and errno, and `zc_report`. Every
//! behaviour comes from the `zcopy` crate.
//!
//! The rules every exported function keeps (rustls-ffi's and libgit2's):
//! - its body runs inside one panic boundary ([`status::boundary`]): a panic becomes `ZC_PANIC`,
//!   never an unwind into C;
//! - it checks every pointer before use (`NULL` → `ZC_NULL_POINTER`) and every integer that
//!   stands for an enum (an unknown value → `ZC_INVALID`); it never reads a C `bool` or enum
//!   field as a Rust `bool` or enum, so no bit pattern a caller can pass is undefined behaviour;
//! - structs that may grow begin with `size_t struct_size`: the library reads and writes only
//!   that many bytes (see [`sized`]);
//! - a call that succeeds leaves `errno` as it found it; one that fails sets it to
//!   `zc_last_errno()` when that is not 0.

#![warn(missing_docs)]
#![allow(non_camel_case_types)]

// The header lists the functions in this order (cbindgen follows the source): errors first,
// then names, options, transfers, whole trees, the page cache, the log, the file server.
mod status;

mod strategy;

mod options;

mod report;

mod transfer;

mod tree;

mod prepared;

mod choice;

mod cache;

#[cfg(feature = "log")]
mod log;

#[cfg(feature = "serve")]
mod serve;

mod names;
mod sized;
#[cfg(feature = "testing")]
#[doc(hidden)]
pub mod testing;

pub use cache::{
    zc_advice, zc_advise, zc_evict, zc_files, zc_files_fn, zc_files_summary, zc_lock,
    zc_lock_limit, zc_locked, zc_locked_bytes, zc_locked_pages, zc_method, zc_readahead,
    zc_residency, zc_residency_info, zc_unlock, zc_warm, ZC_ADVICE_DONTNEED, ZC_ADVICE_NOREUSE,
    ZC_ADVICE_NORMAL, ZC_ADVICE_RANDOM, ZC_ADVICE_SEQUENTIAL, ZC_ADVICE_WILLNEED,
    ZC_METHOD_CACHESTAT, ZC_METHOD_MINCORE, ZC_METHOD_NONE,
};
pub use choice::{zc_auto_choice, zc_auto_choice_info, ZC_MAX_ORDER, ZC_WHY_SIZE};
#[cfg(feature = "log")]
pub use log::{
    zc_log, zc_log_append, zc_log_background_flushes, zc_log_close, zc_log_flush,
    zc_log_flush_policy, zc_log_frame, zc_log_get_options, zc_log_next_offset, zc_log_open,
    zc_log_options, zc_log_options_default, zc_log_read, zc_log_segments, zc_log_send,
    zc_log_send_prepared, zc_log_send_rest, ZC_LOG_FLUSH_ASYNC, ZC_LOG_FLUSH_MANUAL,
    ZC_LOG_FLUSH_SYNC, ZC_LOG_FRAME_HEADER,
};
pub use options::{
    zc_cache, zc_options, zc_options_default, zc_progress_fn, zc_sparse, zc_sync,
    ZC_CACHE_DONTCACHE, ZC_CACHE_DROP_AFTER, ZC_CACHE_KEEP, ZC_CACHE_NOREUSE, ZC_SPARSE_KEEP_HOLES,
    ZC_SPARSE_WRITE_ZEROS, ZC_SYNC_DATA, ZC_SYNC_FULL, ZC_SYNC_NONE,
};
pub use prepared::{zc_prepared, zc_prepared_free, zc_prepared_new, zc_prepared_run};
pub use report::{zc_fallback, zc_report, zc_support, ZC_MAX_FALLBACKS, ZC_REASON_SIZE};
#[cfg(feature = "serve")]
pub use serve::{
    zc_serve_model, zc_server, zc_server_address, zc_server_options, zc_server_options_default,
    zc_server_port, zc_server_running, zc_server_start, zc_server_stop, ZC_SERVER_ADDRESS_SIZE,
    ZC_SERVE_MODEL_EPOLL, ZC_SERVE_MODEL_POLL, ZC_SERVE_MODEL_THREADS, ZC_SERVE_MODEL_URING,
};
pub use status::{zc_last_errno, zc_last_error, zc_status};
pub use strategy::{
    zc_strategy, zc_strategy_from_name, zc_strategy_name, ZC_STRATEGY_AUTO,
    ZC_STRATEGY_COPY_FILE_RANGE, ZC_STRATEGY_DIRECT, ZC_STRATEGY_IO_URING, ZC_STRATEGY_MMAP_WRITE,
    ZC_STRATEGY_MSG_ZEROCOPY, ZC_STRATEGY_READ_WRITE, ZC_STRATEGY_REFLINK, ZC_STRATEGY_SENDFILE,
    ZC_STRATEGY_SPLICE,
};
pub use transfer::{zc_copy_file, zc_probe, zc_transfer};
pub use tree::{
    zc_copy_tree, zc_specials, zc_tree_errors, zc_tree_options, zc_tree_options_default,
    zc_tree_progress_fn, zc_tree_report, ZC_SPECIALS_ERROR, ZC_SPECIALS_RECREATE,
    ZC_TREE_ERRORS_COLLECT, ZC_TREE_ERRORS_RAISE,
};

use std::ffi::c_char;

/// The library's version, `"MAJOR.MINOR.PATCH"` (the same as `ZCOPY_VERSION_STRING` in the header
/// the program was compiled with, unless a newer compatible library was installed since).
///
/// Returns a static NUL-terminated string; never `NULL`. Does not touch `errno` or the last
/// error.
#[no_mangle]
pub extern "C" fn zc_version() -> *const c_char {
    const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");
    status::guard(c"".as_ptr(), || VERSION.as_ptr().cast())
}
