//! `zc_auto_choice`: what Auto would pick first for a pair of fds, and why.

use std::ffi::{c_char, c_int};
use std::mem::size_of;

use crate::options::{zc_options, Parsed};
use crate::sized;
use crate::status::{boundary, Failure};
use crate::strategy::{self, zc_strategy};
use crate::transfer::borrow_fd;
use crate::zc_status;

/// How many techniques a `zc_auto_choice_info` holds in `order` (`order_len` counts them all).
pub const ZC_MAX_ORDER: usize = 16;

/// The size of `zc_auto_choice_info.why`, its NUL included. A longer sentence is cut at a UTF-8
/// character boundary.
pub const ZC_WHY_SIZE: usize = 1024;

/// What Auto would do for a pair of fds, as `zc_auto_choice` tells it: the engine's
/// `AutoChoice`, under its names.
///
/// Set `struct_size` to `sizeof(zc_auto_choice_info)` before the call (`zc_auto_choice_info c = {
/// .struct_size = sizeof c };`): the library writes that many bytes.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct zc_auto_choice_info {
    /// `sizeof(zc_auto_choice_info)` as the program was compiled: set by the caller, kept by the
    /// library.
    pub struct_size: usize,
    /// How many techniques Auto would try, in order; the first `ZC_MAX_ORDER` of them are in
    /// `order`.
    pub order_len: usize,
    /// The techniques Auto tries, in order (it falls back along this list).
    pub order: [zc_strategy; ZC_MAX_ORDER],
    /// Whether the pair supports any technique of `order`; `first` is meaningful only then.
    pub has_first: bool,
    /// The first technique of `order` the pair supports (as `zc_probe` judges it): what Auto
    /// runs first.
    pub first: zc_strategy,
    /// Why this order, in one sentence (NUL-terminated UTF-8): the rule that chose it, with the
    /// size, kinds of file and filesystems that decided, and why Auto starts further down when
    /// the head of the order cannot serve the pair.
    pub why: [c_char; ZC_WHY_SIZE],
}

/// The first layout: the smallest `struct_size` accepted.
const CHOICE_SIZE_V0: usize = size_of::<zc_auto_choice_info>();

/// Copies `text` into a C buffer of `N` bytes, cut at a character boundary, NUL-terminated.
pub(crate) fn c_text<const N: usize>(text: &str) -> [c_char; N] {
    let mut out = [0 as c_char; N];
    let mut end = text.len().min(N.saturating_sub(1));
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    for (o, &b) in out.iter_mut().zip(&text.as_bytes()[..end]) {
        *o = b as c_char;
    }
    out
}

fn to_c(c: &engine::AutoChoice, struct_size: usize) -> zc_auto_choice_info {
    // SAFETY: every field is an integer, a bool or an array of integers, for which all-zero
    // bytes are valid; starting from zeros keeps the padding zero too.
    let mut out: zc_auto_choice_info = unsafe { std::mem::zeroed() };
    out.struct_size = struct_size;
    out.order_len = c.order.len();
    for (slot, &s) in out.order.iter_mut().zip(&c.order) {
        *slot = strategy::from_engine(s);
    }
    out.has_first = c.first.is_some();
    out.first = c.first.map_or(0, strategy::from_engine);
    out.why = c_text(&c.why);
    out
}

/// What Auto would do for `src` → `dst` with `opts` (`NULL`: the defaults; its `strategy` is
/// taken as `ZC_STRATEGY_AUTO` and fallback as allowed): writes into `*out` the techniques in
/// the order Auto tries them, the first one the pair supports (as `zc_probe` judges it), and
/// why, in a sentence. Moves nothing; the offsets, `len` and `direct_threshold` of `opts` count,
/// as they do for `zc_transfer`, whose report's `strategy` is then `first` unless that
/// technique refuses at run time (Auto then falls back along `order`).
///
/// Returns `ZC_OK`, or the errors of `zc_probe` (a bad fd, a write-only source, a read-only
/// destination), `ZC_INVALID` for bad options or a bad `out->struct_size`, and
/// `ZC_NULL_POINTER` for a `NULL` `out`. `*out` is written only on success.
///
/// # Safety
/// `opts` as for `zc_transfer` (its `progress`, `user` and `cancel` are not used); `out` is
/// `NULL` or a `zc_auto_choice_info` writable for `out->struct_size` bytes, with that field set.
#[no_mangle]
pub unsafe extern "C" fn zc_auto_choice(
    src: c_int,
    dst: c_int,
    opts: *const zc_options,
    out: *mut zc_auto_choice_info,
) -> zc_status {
    boundary(|| {
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        // SAFETY: non-null; the caller guarantees `struct_size` bytes are readable.
        let size =
            unsafe { sized::struct_size(out.cast_const(), "zc_auto_choice_info", CHOICE_SIZE_V0) }?;
        // SAFETY: the caller passes zc_transfer's `opts`.
        let parsed = unsafe { Parsed::read(opts) }?;
        let s = borrow_fd(src, "src")?;
        let d = borrow_fd(dst, "dst")?;
        let choice = parsed.with_engine(|o| engine::auto_choice(s, d, o))?;
        // SAFETY: the caller guarantees `size` writable bytes.
        unsafe { sized::write(out, size, &to_c(&choice, size)) };
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_why_is_cut_at_a_character_boundary_and_the_order_counted() {
        let c = engine::AutoChoice {
            order: vec![engine::Strategy::Sendfile; 20],
            first: None,
            why: "é".repeat(600),
        };
        let out = to_c(&c, CHOICE_SIZE_V0);
        assert_eq!(out.order_len, 20);
        assert!(!out.has_first);
        let bytes: Vec<u8> = out
            .why
            .iter()
            .take_while(|&&b| b != 0)
            .map(|&b| b as u8)
            .collect();
        assert_eq!(bytes.len(), 1022);
        assert!(std::str::from_utf8(&bytes).is_ok());
    }

    #[test]
    fn engine_order_fits() {
        // Auto's order never lists a technique twice: every one fits in `order`.
        assert!(engine::Strategy::ALL.len() <= ZC_MAX_ORDER);
    }
}
