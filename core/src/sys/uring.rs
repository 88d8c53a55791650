//! io_uring, through the `io-uring` crate, with its syscalls counted: `io_uring_setup` and the
//! ring mappings when a ring is made, one `io_uring_enter` per submit, the unmappings and
//! `close` when it is dropped.

use std::io;
use std::time::Duration;

use io_uring::{cqueue, squeue, types, IoUring};

use super::bump;

/// An io_uring instance whose syscalls the Report counts.
pub(crate) struct Ring {
    ring: IoUring,
    /// Mappings the crate made (2 with IORING_FEAT_SINGLE_MMAP, else 3).
    maps: u64,
}

impl Ring {
    /// `io_uring_setup(entries, &params)` and the `mmap`s of its rings.
    ///
    /// # References
    /// [man7 io_uring_setup(2)](https://man7.org/linux/man-pages/man2/io_uring_setup.2.html)
    pub(crate) fn new(entries: u32) -> io::Result<Ring> {
        bump();
        let ring = IoUring::new(entries)?;
        let maps = if ring.params().is_feature_single_mmap() {
            2
        } else {
            3
        };
        for _ in 0..maps {
            bump();
        }
        Ok(Ring { ring, maps })
    }

    /// Queues one submission.
    ///
    /// # Safety
    /// Every buffer and fd the entry names must stay valid until its completion is reaped.
    pub(crate) unsafe fn push(&mut self, entry: &squeue::Entry) -> io::Result<()> {
        // SAFETY: the caller keeps the entry's buffers alive until its completion.
        unsafe { self.ring.submission().push(entry) }
            .map_err(|_| io::Error::from_raw_os_error(libc::EBUSY))
    }

    /// `io_uring_enter(fd, to_submit, want, GETEVENTS | EXT_ARG, {timeout})` — submits what is
    /// queued and waits for `want` completions, at most `timeout` when one is given (and the
    /// kernel has `IORING_FEAT_EXT_ARG`, Linux 5.11+; before it the wait is unbounded).
    /// Returns `false` when the wait ended without any completion: the timeout passed, or a
    /// signal came (`EINTR` is not retried here, so the caller can ask its stop hook first).
    ///
    /// # References
    /// [man7 io_uring_enter(2)](https://man7.org/linux/man-pages/man2/io_uring_enter.2.html)
    pub(crate) fn wait(&mut self, want: usize, timeout: Option<Duration>) -> io::Result<bool> {
        bump();
        let r = match timeout {
            Some(t) if self.ring.params().is_feature_ext_arg() => {
                let ts = types::Timespec::from(t);
                let args = types::SubmitArgs::new().timespec(&ts);
                self.ring.submitter().submit_with_args(want, &args)
            }
            _ => self.ring.submit_and_wait(want),
        };
        match r {
            // With submissions, io_uring_enter returns how many it took even when a signal (or
            // the timeout) cut the wait short: what came is what the completion queue holds.
            Ok(_) => Ok(!self.ring.completion().is_empty()),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME | libc::EINTR)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The completions available now (no syscall).
    pub(crate) fn completions(&mut self) -> Vec<cqueue::Entry> {
        self.ring.completion().collect()
    }
}

impl Drop for Ring {
    fn drop(&mut self) {
        // The crate unmaps the rings and closes the fd after this.
        for _ in 0..self.maps + 1 {
            bump();
        }
    }
}
