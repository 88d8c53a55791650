//! `zc_report` (what a transfer did and cost) and `zc_support` (what `zc_probe` found).

use std::ffi::c_char;

use engine::{Report, Support};

use crate::sized;
use crate::status::Failure;
use crate::strategy::{self, zc_strategy};

/// How many fallbacks a `zc_report` holds (`fallbacks_len` counts them all).
pub const ZC_MAX_FALLBACKS: usize = 8;

/// The size of a reason buffer, its NUL included. A longer reason is cut at a UTF-8 character
/// boundary.
pub const ZC_REASON_SIZE: usize = 256;

/// A technique the planner tried before the one that moved the bytes, and why it moved on.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct zc_fallback {
    /// The technique that was tried.
    pub strategy: zc_strategy,
    /// Why it could not serve the pair (NUL-terminated UTF-8).
    pub reason: [c_char; ZC_REASON_SIZE],
}

/// What one transfer did and cost: the fields of the engine's Report, under its names.
///
/// Set `struct_size` to `sizeof(zc_report)` before the call (`zc_report r = { .struct_size =
/// sizeof r };`): the library writes that many bytes. It is written whatever the status, with
/// what is known: after a failure `bytes` is the count moved before it (the destination holds
/// exactly those bytes from where the transfer began) and the counters cover the call up to
/// the failure, or are 0 when it failed before starting.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct zc_report {
    /// `sizeof(zc_report)` as the program was compiled: set by the caller, kept by the library.
    pub struct_size: usize,
    /// Bytes moved to the destination.
    pub bytes: u64,
    /// The technique that moved the bytes (the last one tried, when several moved some).
    pub strategy: zc_strategy,
    /// How many techniques were tried before `strategy`; the first `ZC_MAX_FALLBACKS` of them
    /// are in `fallbacks`.
    pub fallbacks_len: usize,
    /// The techniques tried before `strategy`, in order, each with its reason.
    pub fallbacks: [zc_fallback; ZC_MAX_FALLBACKS],
    /// Wall-clock time of the call, in nanoseconds.
    pub elapsed_ns: u64,
    /// Syscalls the engine made for the call (exact: they match `strace -c`).
    pub syscalls: u64,
    /// User↔kernel mode switches: two per syscall. Not scheduler context switches.
    pub mode_switches: u64,
    /// CPU time the calling thread spent in user space, in nanoseconds.
    pub user_cpu_ns: u64,
    /// CPU time the calling thread spent in the kernel, in nanoseconds.
    pub sys_cpu_ns: u64,
    /// Times the calling thread gave up the CPU waiting (for I/O, a full pipe).
    pub voluntary_ctx_switches: u64,
    /// Times the scheduler took the CPU from the calling thread.
    pub involuntary_ctx_switches: u64,
    /// Modelled bytes copied by a CPU.
    pub cpu_copies_bytes: u64,
    /// Modelled bytes copied by DMA (disk or NIC; none at an end on tmpfs, procfs or sysfs).
    pub dma_copies_bytes: u64,
    /// `send(MSG_ZEROCOPY)` calls made (the msg_zerocopy technique; 0 otherwise).
    pub zerocopy_sends: u64,
    /// Of those, the ones whose completion said the kernel copied the data after all (on
    /// loopback, every one).
    pub zerocopy_copied: u64,
}

/// The size of the first `zc_report` layout (up to `dma_copies_bytes`): the smallest
/// `struct_size` accepted. A caller that passes it gets every field up to there.
const REPORT_SIZE_V0: usize = 2184;

const _: () = assert!(std::mem::offset_of!(zc_report, zerocopy_sends) == REPORT_SIZE_V0);

/// Whether one technique can serve a pair, as `zc_probe` reports it.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct zc_support {
    /// The technique.
    pub strategy: zc_strategy,
    /// Whether it can serve the pair.
    pub supported: bool,
    /// Why not (NUL-terminated UTF-8); `""` when supported.
    pub reason: [c_char; ZC_REASON_SIZE],
}

/// Copies `text` into a reason buffer, cut at a character boundary, NUL-terminated.
fn reason(text: &str) -> [c_char; ZC_REASON_SIZE] {
    let mut out = [0 as c_char; ZC_REASON_SIZE];
    let mut end = text.len().min(ZC_REASON_SIZE - 1);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    for (o, &b) in out.iter_mut().zip(&text.as_bytes()[..end]) {
        *o = b as c_char;
    }
    out
}

fn empty_report(struct_size: usize) -> zc_report {
    // SAFETY: every field is an integer or an array of them, for which all-zero bytes are
    // valid; starting from zeros keeps the padding zero too.
    let mut r: zc_report = unsafe { std::mem::zeroed() };
    r.struct_size = struct_size;
    r
}

fn to_c(r: &Report, struct_size: usize) -> zc_report {
    let mut out = empty_report(struct_size);
    out.bytes = r.bytes;
    out.strategy = strategy::from_engine(r.strategy);
    out.fallbacks_len = r.fallbacks.len();
    for (slot, f) in out.fallbacks.iter_mut().zip(&r.fallbacks) {
        slot.strategy = strategy::from_engine(f.strategy);
        slot.reason = reason(&f.reason);
    }
    out.elapsed_ns = r.elapsed_ns;
    out.syscalls = r.syscalls;
    out.mode_switches = r.mode_switches;
    out.user_cpu_ns = r.user_cpu_ns;
    out.sys_cpu_ns = r.sys_cpu_ns;
    out.voluntary_ctx_switches = r.voluntary_ctx_switches;
    out.involuntary_ctx_switches = r.involuntary_ctx_switches;
    out.cpu_copies_bytes = r.cpu_copies_bytes;
    out.dma_copies_bytes = r.dma_copies_bytes;
    out.zerocopy_sends = r.zerocopy_sends;
    out.zerocopy_copied = r.zerocopy_copied;
    out
}

/// A caller's `zc_report` to fill (or none, for `NULL`), its `struct_size` checked.
pub(crate) struct ReportOut {
    ptr: *mut zc_report,
    size: usize,
}

impl ReportOut {
    /// Checks the caller's report pointer and size.
    ///
    /// # Safety
    /// `p` is `NULL` or valid for reading and writing `p->struct_size` bytes, and stays so while
    /// this `ReportOut` is used.
    pub(crate) unsafe fn new(p: *mut zc_report) -> Result<ReportOut, Failure> {
        if p.is_null() {
            return Ok(ReportOut { ptr: p, size: 0 });
        }
        // SAFETY: non-null; the caller guarantees it is readable.
        let size = unsafe { sized::struct_size(p.cast_const(), "zc_report", REPORT_SIZE_V0) }?;
        Ok(ReportOut { ptr: p, size })
    }

    fn put(&self, r: &zc_report) {
        if !self.ptr.is_null() {
            // SAFETY: `new`'s caller guarantees `size` writable bytes.
            unsafe { sized::write(self.ptr, self.size, r) };
        }
    }

    /// Writes what a transfer returned: its report, or the one its error carries, or (when it
    /// failed before having one) the bytes it moved.
    pub(crate) fn write(&self, result: &engine::Result<Report>) {
        let r = match result {
            Ok(r) => to_c(r, self.size),
            Err(e) => match e.report() {
                Some(r) => to_c(r, self.size),
                None => {
                    let mut c = empty_report(self.size);
                    c.bytes = e.bytes_moved();
                    c
                }
            },
        };
        self.put(&r);
    }

    /// Writes an empty report (a call that failed before the engine ran).
    pub(crate) fn write_empty(&self) {
        self.put(&empty_report(self.size));
    }
}

/// The `zc_support` for one engine `Support`.
pub(crate) fn support_to_c(s: &Support) -> zc_support {
    zc_support {
        strategy: strategy::from_engine(s.strategy),
        supported: s.supported,
        reason: reason(&s.reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_cut_at_a_character_boundary() {
        let long = "é".repeat(200); // 400 bytes
        let r = reason(&long);
        let bytes: Vec<u8> = r
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        assert_eq!(bytes.len(), 254);
        assert!(std::str::from_utf8(&bytes).is_ok());
        assert_eq!(r[ZC_REASON_SIZE - 1], 0);
    }

    #[test]
    fn fallbacks_past_the_array_are_counted() {
        let report = Report {
            fallbacks: (0..10)
                .map(|i| engine::Fallback {
                    strategy: engine::Strategy::Splice,
                    reason: format!("r{i}"),
                })
                .collect(),
            ..Report::default()
        };
        let c = to_c(&report, REPORT_SIZE_V0);
        assert_eq!(c.fallbacks_len, 10);
        assert_eq!(
            c.fallbacks[7].reason[..3],
            [b'r' as c_char, b'7' as c_char, 0]
        );
    }
}
