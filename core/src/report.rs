//! What a transfer cost: [`Report`], its counters, and the copy model.

use std::time::Instant;

use crate::options::Strategy;
use crate::sys;

/// A technique the planner tried before the one that moved the bytes, and why it moved on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Fallback {
    /// The technique that was tried.
    pub strategy: Strategy,
    /// Why it could not serve the pair (or stopped part way, after which the next resumed at the
    /// exact offset reached).
    pub reason: String,
}

/// What one transfer did and cost.
///
/// `syscalls` is exact: every syscall the engine made for the call (including its own
/// bookkeeping: classifying the fds, reading the CPU counters, opening files for
/// [`copy_file`](crate::copy_file)) goes through one counted wrapper, so it matches `strace -c`
/// of the calling thread over the call. CPU time and context switches are `getrusage
/// (RUSAGE_THREAD)` deltas of the calling thread. A transfer split by
/// [`parallelism`](crate::Options::parallelism) adds each worker thread's syscalls, CPU time
/// and context switches to the calling thread's (the syscalls that start and join the threads
/// are not counted). The copy counts are a model (DESIGN.md's table), not a measurement: each
/// technique's doc states its assumption.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Report {
    /// Bytes moved to the destination.
    pub bytes: u64,
    /// The technique that moved the bytes (the last one tried, when several moved some).
    pub strategy: Strategy,
    /// Techniques tried before `strategy`, each with its reason, in order.
    pub fallbacks: Vec<Fallback>,
    /// Wall-clock time of the call, in nanoseconds.
    pub elapsed_ns: u64,
    /// Syscalls the engine made for this call.
    pub syscalls: u64,
    /// User↔kernel mode switches: two per syscall (entry and return). Not scheduler context
    /// switches, which are `voluntary_ctx_switches` and `involuntary_ctx_switches`.
    pub mode_switches: u64,
    /// CPU time spent in user space by the calling thread, in nanoseconds.
    pub user_cpu_ns: u64,
    /// CPU time spent in the kernel for the calling thread, in nanoseconds.
    pub sys_cpu_ns: u64,
    /// Times the calling thread gave up the CPU waiting (for I/O, a lock, a full pipe).
    pub voluntary_ctx_switches: u64,
    /// Times the scheduler took the CPU from the calling thread.
    pub involuntary_ctx_switches: u64,
    /// Modelled bytes copied by a CPU (memcpy in the kernel or between kernel and user space).
    pub cpu_copies_bytes: u64,
    /// Modelled bytes copied by DMA (device ↔ memory: disk or NIC). A file on a filesystem that
    /// lives in memory (tmpfs, ramfs, procfs, sysfs) has no device behind it.
    pub dma_copies_bytes: u64,
    /// `send(MSG_ZEROCOPY)` calls made (the `msg_zerocopy` technique; 0 otherwise).
    pub zerocopy_sends: u64,
    /// Of those, the ones whose completion said the kernel copied the data after all (on
    /// loopback, every one).
    pub zerocopy_copied: u64,
}

/// Modelled copies per byte moved: (CPU copies, DMA copies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CopyModel {
    pub cpu: u64,
    pub dma: u64,
}

/// A snapshot of the calling thread's counters, taken at the start of a call.
pub(crate) struct Meter {
    start: Instant,
    syscalls: u64,
    usage: Option<libc::rusage>,
}

impl Meter {
    pub(crate) fn start() -> Meter {
        let syscalls = sys::count();
        let usage = sys::process::thread_usage().ok();
        Meter {
            start: Instant::now(),
            syscalls,
            usage,
        }
    }

    /// Fills the counters of the report a transfer returned, or of the one its error carries.
    pub(crate) fn finish_result(&self, result: crate::Result<Report>) -> crate::Result<Report> {
        match result {
            Ok(mut report) => {
                self.finish(&mut report);
                Ok(report)
            }
            Err(mut e) => {
                if let Some(report) = e.report_mut() {
                    self.finish(report);
                }
                Err(e)
            }
        }
    }

    /// Adds this thread's counter deltas since [`Meter::start`] to the counter fields of
    /// `report` (which hold zeros, or what worker threads of a parallel transfer spent), and
    /// sets its wall-clock time.
    pub(crate) fn finish(&self, report: &mut Report) {
        let end = sys::process::thread_usage().ok();
        report.elapsed_ns = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        report.syscalls += sys::count() - self.syscalls;
        report.mode_switches = 2 * report.syscalls;
        if let (Some(a), Some(b)) = (&self.usage, &end) {
            report.user_cpu_ns += tv_ns(&b.ru_utime).saturating_sub(tv_ns(&a.ru_utime));
            report.sys_cpu_ns += tv_ns(&b.ru_stime).saturating_sub(tv_ns(&a.ru_stime));
            report.voluntary_ctx_switches += (b.ru_nvcsw - a.ru_nvcsw).max(0) as u64;
            report.involuntary_ctx_switches += (b.ru_nivcsw - a.ru_nivcsw).max(0) as u64;
        }
    }
}

fn tv_ns(tv: &libc::timeval) -> u64 {
    (tv.tv_sec.max(0) as u64) * 1_000_000_000 + (tv.tv_usec.max(0) as u64) * 1_000
}
