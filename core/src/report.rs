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
/// of the calling thread over the call. CPU time is the delta of the calling thread's CPU clock
/// (`CLOCK_THREAD_CPUTIME_ID`), exact to the nanosecond however short the call (a `getrusage`
/// delta would advance only at scheduler ticks); context switches, and the user share of the
/// CPU time, are `getrusage(RUSAGE_THREAD)` deltas (see `user_cpu_ns`). A transfer split by
/// [`parallelism`](crate::Options::parallelism) adds each worker thread's syscalls, CPU time
/// and context switches, each read by the worker on its own thread, to the calling thread's
/// (the syscalls that start and join the threads are not counted). The copy counts are a model (DESIGN.md's table), not a measurement: each
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
    /// CPU time spent in user space by the calling thread (and the worker threads of a
    /// parallel transfer), in nanoseconds. The kernel splits CPU time between user and system
    /// only by sampling at scheduler ticks, so this is `getrusage`'s user delta (capped at the
    /// total): a call shorter than a tick (4 ms at 250 Hz) usually shows 0 here. The total,
    /// `user_cpu_ns + sys_cpu_ns`, is exact (the thread CPU clock). 0, with `sys_cpu_ns` and the
    /// context switches, for a run of a [`Prepared`](crate::Prepared) whose CPU meter is off
    /// ([`Prepared::set_cpu_meter`](crate::Prepared::set_cpu_meter)): not measured.
    pub user_cpu_ns: u64,
    /// CPU time spent in the kernel for the calling thread (and the worker threads of a
    /// parallel transfer), in nanoseconds: the thread CPU clock's delta less `user_cpu_ns`.
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
///
/// What a call costs to meter: two `clock_gettime(CLOCK_THREAD_CPUTIME_ID)` and two `getrusage
/// (RUSAGE_THREAD)` (all counted in the Report's `syscalls`), and two reads of the monotonic
/// clock (vDSO, no syscall).
pub(crate) struct Meter {
    start: Instant,
    syscalls: u64,
    cpu_ns: Option<u64>,
    usage: Option<libc::rusage>,
    /// Whether the CPU time and the context switches are measured (4 syscalls a call).
    cpu: bool,
}

impl Meter {
    /// Starts measuring a call: wall time, syscalls, and, when `cpu`, the thread's CPU time and
    /// context switches (a `getrusage` and a `clock_gettime` here, the same at the end).
    /// Without `cpu` the Report's CPU and context-switch fields stay as they are (zeros).
    pub(crate) fn start_with(cpu: bool) -> Meter {
        if cpu {
            return Meter::start();
        }
        Meter {
            start: Instant::now(),
            syscalls: sys::count(),
            cpu_ns: None,
            usage: None,
            cpu: false,
        }
    }

    pub(crate) fn start() -> Meter {
        // Wall time first and last: the CPU readings fall inside it, so one thread's CPU time
        // never exceeds the call's wall time.
        let start = Instant::now();
        let syscalls = sys::count();
        let usage = sys::process::thread_usage().ok();
        let cpu_ns = sys::process::thread_cpu_ns().ok();
        Meter {
            start,
            syscalls,
            cpu_ns,
            usage,
            cpu: true,
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
    ///
    /// CPU: the thread's CPU clock gives the total (user + system), exact; `getrusage` gives
    /// the context switches and the user share, which the kernel samples at scheduler ticks:
    /// `user_cpu_ns` is getrusage's user delta (at most the clock's total), `sys_cpu_ns` the rest
    /// of the total. A call shorter than a tick usually shows all its CPU as system time (the
    /// engine's own user-space work is its bookkeeping between syscalls).
    pub(crate) fn finish(&self, report: &mut Report) {
        if !self.cpu {
            report.syscalls += sys::count() - self.syscalls;
            report.mode_switches = 2 * report.syscalls;
            report.elapsed_ns = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
            return;
        }
        let cpu_end = sys::process::thread_cpu_ns().ok();
        let end = sys::process::thread_usage().ok();
        report.syscalls += sys::count() - self.syscalls;
        report.mode_switches = 2 * report.syscalls;
        let cpu = match (self.cpu_ns, cpu_end) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => 0,
        };
        let mut user = 0;
        if let (Some(a), Some(b)) = (&self.usage, &end) {
            user = tv_ns(&b.ru_utime).saturating_sub(tv_ns(&a.ru_utime));
            report.voluntary_ctx_switches += (b.ru_nvcsw - a.ru_nvcsw).max(0) as u64;
            report.involuntary_ctx_switches += (b.ru_nivcsw - a.ru_nivcsw).max(0) as u64;
        }
        let user = user.min(cpu);
        report.user_cpu_ns += user;
        report.sys_cpu_ns += cpu - user;
        report.elapsed_ns = u64::try_from(self.start.elapsed().as_nanos()).unwrap_or(u64::MAX);
    }
}

fn tv_ns(tv: &libc::timeval) -> u64 {
    (tv.tv_sec.max(0) as u64) * 1_000_000_000 + (tv.tv_usec.max(0) as u64) * 1_000
}
