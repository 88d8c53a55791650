//! `zc_strategy`: C numbers for the engine's strategy names.

use std::ffi::{c_char, CStr};

use engine::Strategy;

use crate::names::{Names, UNKNOWN};
use crate::status::{boundary, guard, Failure};
use crate::zc_status;

/// A technique for moving bytes, or `ZC_STRATEGY_AUTO` to let the planner choose: one of the
/// `ZC_STRATEGY_*` values. Their names (`zc_strategy_name`) are the ones every face of zcopy
/// uses.
///
/// A plain integer rather than a C enum, so that any value a caller passes is defined behaviour:
/// an unknown one is answered with `ZC_INVALID`. The values never change once released; a new
/// technique gets the next number, and values run from 0 without gaps.
pub type zc_strategy = u32;

/// Let the planner pick the best technique for the pair, falling back when one can't serve it.
pub const ZC_STRATEGY_AUTO: zc_strategy = 0;
/// `read` into a user buffer, `write` it out.
pub const ZC_STRATEGY_READ_WRITE: zc_strategy = 1;
/// `mmap` the source in windows, `write` from the mapping.
pub const ZC_STRATEGY_MMAP_WRITE: zc_strategy = 2;
/// `sendfile(2)`: the kernel moves the bytes.
pub const ZC_STRATEGY_SENDFILE: zc_strategy = 3;
/// `splice(2)` through a pipe: pages move by reference.
pub const ZC_STRATEGY_SPLICE: zc_strategy = 4;
/// `copy_file_range(2)`: an in-kernel file-to-file copy (a clone where the filesystem can).
pub const ZC_STRATEGY_COPY_FILE_RANGE: zc_strategy = 5;
/// `FICLONERANGE`: the destination shares the source's extents; no data is copied.
pub const ZC_STRATEGY_REFLINK: zc_strategy = 6;
/// `O_DIRECT` reads (and writes where possible) through an aligned buffer, bypassing the page
/// cache.
pub const ZC_STRATEGY_DIRECT: zc_strategy = 7;
/// Reads and writes kept in flight through an io_uring (O_DIRECT at the direct threshold).
pub const ZC_STRATEGY_IO_URING: zc_strategy = 8;
/// `send(MSG_ZEROCOPY)` to an IP socket from pinned user buffers.
pub const ZC_STRATEGY_MSG_ZEROCOPY: zc_strategy = 9;

/// Every C value with its name, in value order. A strategy the engine gains is one line here,
/// one constant above (a unit test fails until both exist).
pub(crate) const STRATEGIES: Names = Names {
    c_type: "zc_strategy",
    table: &[
        (ZC_STRATEGY_AUTO, c"auto"),
        (ZC_STRATEGY_READ_WRITE, c"read_write"),
        (ZC_STRATEGY_MMAP_WRITE, c"mmap_write"),
        (ZC_STRATEGY_SENDFILE, c"sendfile"),
        (ZC_STRATEGY_SPLICE, c"splice"),
        (ZC_STRATEGY_COPY_FILE_RANGE, c"copy_file_range"),
        (ZC_STRATEGY_REFLINK, c"reflink"),
        (ZC_STRATEGY_DIRECT, c"direct"),
        (ZC_STRATEGY_IO_URING, c"io_uring"),
        (ZC_STRATEGY_MSG_ZEROCOPY, c"msg_zerocopy"),
    ],
};

/// The engine's strategy for a C value; `what` names the argument in the error.
pub(crate) fn to_engine(value: zc_strategy, what: &str) -> Result<Strategy, Failure> {
    STRATEGIES.to_engine(value, what)
}

/// The C value for an engine strategy.
pub(crate) fn from_engine(s: Strategy) -> zc_strategy {
    STRATEGIES.value(s.name())
}

/// The name of a strategy (`"auto"`, `"read_write"`, `"sendfile"`, ...), or `NULL` for a value
/// that names none (so a loop from 0 until `NULL` lists every strategy).
///
/// Returns a static NUL-terminated string. Does not touch `errno` or the last error.
#[no_mangle]
pub extern "C" fn zc_strategy_name(strategy: zc_strategy) -> *const c_char {
    guard(std::ptr::null(), || {
        STRATEGIES
            .name(strategy)
            .map_or(std::ptr::null(), CStr::as_ptr)
    })
}

/// Parses a strategy name (as `zc_strategy_name` gives it) into `*out`.
///
/// `ZC_INVALID` for an unknown name (the message lists the valid ones; `*out` is left alone),
/// `ZC_NULL_POINTER` when `name` or `out` is `NULL`.
///
/// # Safety
/// `name` is `NULL` or a NUL-terminated string; `out` is `NULL` or valid for writing one
/// `zc_strategy`.
#[no_mangle]
pub unsafe extern "C" fn zc_strategy_from_name(
    name: *const c_char,
    out: *mut zc_strategy,
) -> zc_status {
    boundary(|| {
        if name.is_null() {
            return Err(Failure::null("name"));
        }
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        // SAFETY: non-null, and the caller guarantees a NUL-terminated string.
        let name = unsafe { CStr::from_ptr(name) };
        let text = name.to_str().map_err(|_| {
            Failure::invalid(format!(
                "strategy name {:?} is not UTF-8; valid: {}",
                name,
                STRATEGIES.valid()
            ))
        })?;
        let strategy = text.parse::<Strategy>().map_err(Failure::from)?;
        let value = from_engine(strategy);
        if value == UNKNOWN {
            return Err(Failure::invalid(format!(
                "strategy {text:?} has no zc_strategy value in this library"
            )));
        }
        // SAFETY: non-null, and the caller guarantees it is writable.
        unsafe { out.write_unaligned(value) };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_engine_strategy_has_a_c_value_and_back() {
        let names: Vec<&str> = Strategy::ALL.iter().map(|s| s.name()).collect();
        STRATEGIES.check(&names);
        for &s in Strategy::ALL {
            assert_eq!(to_engine(from_engine(s), "x").unwrap(), s);
        }
        assert!(zc_strategy_name(STRATEGIES.table.len() as u32).is_null());
    }

    #[test]
    fn unknown_values_are_invalid() {
        let e = to_engine(99, "opts.strategy").unwrap_err();
        assert_eq!(e.status, zc_status::ZC_INVALID);
        assert!(e.message.starts_with(
            "opts.strategy is 99, which is no zc_strategy; valid: auto (0), read_write (1)"
        ));
    }
}
