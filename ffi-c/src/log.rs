//! `zc_log`: the `zcopy-log` crate, a Kafka-style append-only segment log, for C (the cargo
//! feature `log`, on by default).

use std::ffi::{c_char, c_int, c_void, CStr, OsStr};
use std::mem::{offset_of, size_of};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::Duration;

use zcopy_log::{FlushPolicy, Log, LogOptions};

use crate::prepared::zc_prepared;
use crate::report::{zc_report, ReportOut};
use crate::sized::{self, read_field};
use crate::status::{boundary, Failure};
use crate::transfer::borrow_fd;
use crate::zc_status;

/// An open log, for appending (one writer per directory) and sending records to consumers.
/// Made by `zc_log_open`, freed by `zc_log_close`. Calls on one `zc_log` must not overlap: use
/// it from one thread at a time (or under a mutex).
pub struct zc_log {
    log: Log,
}

/// When appended records are made durable: one of the `ZC_LOG_FLUSH_*` values.
pub type zc_log_flush_policy = u32;
/// `msync` before `zc_log_append` returns (Kafka's producer "sync"; the default): an
/// acknowledged record survives a crash of the process and a power loss.
pub const ZC_LOG_FLUSH_SYNC: zc_log_flush_policy = 0;
/// A background thread syncs every `flush_interval_ms` or once `flush_bytes` are pending
/// (at least one of them non-zero); `zc_log_flush` and `zc_log_close` sync the rest.
pub const ZC_LOG_FLUSH_ASYNC: zc_log_flush_policy = 1;
/// Only `zc_log_flush`, segment rolls and `zc_log_close` sync; otherwise the kernel's
/// writeback does.
pub const ZC_LOG_FLUSH_MANUAL: zc_log_flush_policy = 2;

/// Bytes of a record frame's header, before its payload. A frame, as `zc_log_send` writes it,
/// is little-endian: `uint32_t frame_len` (header + payload), `uint32_t crc` (CRC-32C of bytes
/// 0..4 and 8..frame_len), `uint64_t offset`, then the payload; frames follow each other.
pub const ZC_LOG_FRAME_HEADER: usize = 16;

/// How to open a log. Fill it with `zc_log_options_default(&o, sizeof o)`, then change the
/// fields you need; `NULL` instead of options means the defaults. Grows like `zc_options`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct zc_log_options {
    /// `sizeof(zc_log_options)` as the program was compiled: set by `zc_log_options_default`.
    pub struct_size: usize,
    /// The size a segment file is preallocated to (default 64 MiB; 4096 to 4294967295): the
    /// next segment starts when a record does not fit. A record's frame (its length + 16) must
    /// fit in one.
    pub segment_bytes: u64,
    /// `ZC_LOG_FLUSH_SYNC` (the default), `ZC_LOG_FLUSH_ASYNC` or `ZC_LOG_FLUSH_MANUAL`.
    pub flush: zc_log_flush_policy,
    /// For `ZC_LOG_FLUSH_ASYNC`: sync once this many bytes are pending; 0 (the default): no
    /// byte threshold.
    pub flush_bytes: u64,
    /// For `ZC_LOG_FLUSH_ASYNC`: sync at least this often, in milliseconds; 0: no timer.
    /// Default 1000.
    pub flush_interval_ms: u64,
    /// Bytes of log between offset index entries (default 4096, Kafka's); 0 indexes every
    /// record.
    pub index_interval_bytes: u64,
}

/// The size of the first `zc_log_options` layout: the smallest `struct_size` accepted.
const LOG_OPTIONS_SIZE_V0: usize = 48;
const _: () = assert!(size_of::<zc_log_options>() == LOG_OPTIONS_SIZE_V0);
const _: () = assert!(offset_of!(zc_log_options, index_interval_bytes) + 8 == LOG_OPTIONS_SIZE_V0);

impl zc_log_options {
    /// The C form of `o`: what `zc_log_open` turns back into `o` (the async fields keep their
    /// defaults under the other policies; an interval is rounded up to whole milliseconds).
    fn from_options(o: &LogOptions, struct_size: usize) -> zc_log_options {
        let d = zc_log_options::defaults(struct_size);
        let (flush, flush_bytes, flush_interval_ms) = match o.flush {
            FlushPolicy::Sync => (ZC_LOG_FLUSH_SYNC, 0, d.flush_interval_ms),
            FlushPolicy::Manual => (ZC_LOG_FLUSH_MANUAL, 0, d.flush_interval_ms),
            FlushPolicy::Async { bytes, interval } => (
                ZC_LOG_FLUSH_ASYNC,
                bytes.unwrap_or(0),
                interval.map_or(0, |i| i.as_nanos().div_ceil(1_000_000) as u64),
            ),
        };
        zc_log_options {
            segment_bytes: o.segment_bytes,
            flush,
            flush_bytes,
            flush_interval_ms,
            index_interval_bytes: o.index_interval_bytes,
            ..d
        }
    }

    fn defaults(struct_size: usize) -> zc_log_options {
        let d = LogOptions::default();
        zc_log_options {
            struct_size,
            segment_bytes: d.segment_bytes,
            flush: ZC_LOG_FLUSH_SYNC,
            flush_bytes: 0,
            flush_interval_ms: FlushPolicy::DEFAULT_INTERVAL.as_millis() as u64,
            index_interval_bytes: d.index_interval_bytes,
        }
    }

    /// Reads and checks a caller's options; `NULL` means the defaults.
    ///
    /// # Safety
    /// `p` is `NULL` or valid for reading `p->struct_size` bytes.
    unsafe fn read(p: *const zc_log_options) -> Result<LogOptions, Failure> {
        let own;
        let p = if p.is_null() {
            own = zc_log_options::defaults(size_of::<zc_log_options>());
            &own as *const zc_log_options
        } else {
            p
        };
        // SAFETY: non-null; the caller guarantees the struct is readable.
        let size = unsafe { sized::struct_size(p, "zc_log_options", LOG_OPTIONS_SIZE_V0) }?;
        // SAFETY: `size` bytes are readable.
        unsafe {
            sized::check_unknown_tail(p, "zc_log_options", size_of::<zc_log_options>(), size)
        }?;
        let d = zc_log_options::defaults(size);
        let u64_field = |v: Option<u64>, default: u64| v.unwrap_or(default);
        let flush_bytes = u64_field(read_field!(p, size, zc_log_options, flush_bytes: u64), 0);
        let interval_ms = u64_field(
            read_field!(p, size, zc_log_options, flush_interval_ms: u64),
            d.flush_interval_ms,
        );
        let flush = match read_field!(p, size, zc_log_options, flush: u32).unwrap_or(d.flush) {
            ZC_LOG_FLUSH_SYNC => FlushPolicy::Sync,
            ZC_LOG_FLUSH_ASYNC => FlushPolicy::Async {
                bytes: (flush_bytes > 0).then_some(flush_bytes),
                interval: (interval_ms > 0).then(|| Duration::from_millis(interval_ms)),
            },
            ZC_LOG_FLUSH_MANUAL => FlushPolicy::Manual,
            other => {
                return Err(Failure::invalid(format!(
                    "zc_log_options.flush is {other}, which is no zc_log_flush_policy; valid: sync (0), \
                     async (1), manual (2)"
                )))
            }
        };
        Ok(LogOptions {
            segment_bytes: u64_field(
                read_field!(p, size, zc_log_options, segment_bytes: u64),
                d.segment_bytes,
            ),
            flush,
            index_interval_bytes: u64_field(
                read_field!(p, size, zc_log_options, index_interval_bytes: u64),
                d.index_interval_bytes,
            ),
        })
    }
}

/// Fills `*opts` with the defaults (64 MiB segments, `ZC_LOG_FLUSH_SYNC`, a 1000 ms async
/// interval, an index entry every 4096 bytes) and sets `opts->struct_size` to `struct_size`
/// (pass `sizeof *opts`).
///
/// `ZC_NULL_POINTER` when `opts` is `NULL`; `ZC_INVALID` when `struct_size` is smaller than the
/// first `zc_log_options` layout (48 bytes) or implausibly large.
///
/// # Safety
/// `opts` is `NULL` or valid for writing `struct_size` bytes.
#[no_mangle]
pub unsafe extern "C" fn zc_log_options_default(
    opts: *mut zc_log_options,
    struct_size: usize,
) -> zc_status {
    boundary(|| {
        if opts.is_null() {
            return Err(Failure::null("opts"));
        }
        let size_ptr: *const usize = &struct_size;
        // SAFETY: reads the local `struct_size` through a pointer, only to share the check.
        let size = unsafe { sized::struct_size(size_ptr, "zc_log_options", LOG_OPTIONS_SIZE_V0) }?;
        // SAFETY: the caller guarantees `size` writable bytes at `opts`.
        unsafe { sized::write(opts, size, &zc_log_options::defaults(size)) };
        Ok(())
    })
}

/// Opens the log in directory `dir` (created when missing) for appending, as `opts` says
/// (`NULL`: the defaults), recovering it after a crash of its last writer: every record
/// acknowledged under `ZC_LOG_FLUSH_SYNC` is there, a torn tail is dropped. Writes the log into
/// `*out` (`NULL` first, so a failure leaves `NULL` there); `zc_log_close` frees it.
///
/// Returns `ZC_OK`; `ZC_NULL_POINTER` for a `NULL` `dir` or `out`; `ZC_INVALID` for options out
/// of range (the message names the field) or a bad `struct_size`; `ZC_IO` with `EWOULDBLOCK`
/// when another writer holds the directory, `ENOSPC` when the active segment cannot be
/// preallocated (the message names it), `EBADMSG` for a corrupt closed segment, or the errno of
/// a directory that cannot be created or opened; `ZC_PANIC` for a bug in zcopy.
///
/// # Safety
/// `dir` is `NULL` or a NUL-terminated path; `opts` is `NULL` or a `zc_log_options` readable
/// for `opts->struct_size` bytes; `out` is `NULL` or writable for one pointer.
#[no_mangle]
pub unsafe extern "C" fn zc_log_open(
    dir: *const c_char,
    opts: *const zc_log_options,
    out: *mut *mut zc_log,
) -> zc_status {
    boundary(|| {
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        // SAFETY: non-null and writable (the caller's contract): cleared first, so a failure
        // leaves NULL.
        unsafe { out.write(std::ptr::null_mut()) };
        if dir.is_null() {
            return Err(Failure::null("dir"));
        }
        // SAFETY: non-null; the caller guarantees a NUL-terminated string.
        let dir = Path::new(OsStr::from_bytes(unsafe { CStr::from_ptr(dir) }.to_bytes()));
        // SAFETY: zc_log_open's contract for `opts`.
        let opts = unsafe { zc_log_options::read(opts) }?;
        let log = Log::open(dir, &opts)?;
        // SAFETY: checked non-null above; the handle is written last, once nothing can fail.
        unsafe { out.write(Box::into_raw(Box::new(zc_log { log }))) };
        Ok(())
    })
}

/// The log behind a caller's pointer.
///
/// # Safety
/// `log` is `NULL` or a pointer from `zc_log_open` not yet closed, used by no other call now.
unsafe fn log_mut<'a>(log: *mut zc_log) -> Result<&'a mut zc_log, Failure> {
    // SAFETY: the caller's contract.
    unsafe { log.as_mut() }.ok_or_else(|| Failure::null("log"))
}

/// Appends the `len` bytes at `data` as one record and writes its offset into `*offset`
/// (`NULL`: not wanted). Under `ZC_LOG_FLUSH_SYNC` the record is durable when this returns.
///
/// Returns `ZC_OK`; `ZC_NULL_POINTER` for a `NULL` `log`, or `NULL` `data` with `len` > 0;
/// `ZC_INVALID` when the record's frame (`len` + 16) is larger than `segment_bytes`; `ZC_IO`
/// with `ENOSPC` when the next segment cannot be preallocated (nothing is appended), or for a
/// failed `msync` (of this call or of the background flush since the last call).
///
/// # Safety
/// `log` as for `zc_log_flush`; `data` is `NULL` or readable for `len` bytes; `offset` is
/// `NULL` or writable.
#[no_mangle]
pub unsafe extern "C" fn zc_log_append(
    log: *mut zc_log,
    data: *const c_void,
    len: usize,
    offset: *mut u64,
) -> zc_status {
    boundary(|| {
        // SAFETY: zc_log_append's contract.
        let log = unsafe { log_mut(log) }?;
        let bytes: &[u8] = if len == 0 {
            &[]
        } else if data.is_null() {
            return Err(Failure::null("data (with len > 0)"));
        } else {
            // SAFETY: non-null; the caller guarantees `len` readable bytes.
            unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) }
        };
        let off = log.log.append(bytes)?;
        if !offset.is_null() {
            // SAFETY: non-null; the caller guarantees it is writable.
            unsafe { offset.write_unaligned(off) };
        }
        Ok(())
    })
}

/// Makes every record appended so far durable (`msync`), whatever the flush policy.
///
/// Returns `ZC_OK`, `ZC_NULL_POINTER` for a `NULL` `log`, or `ZC_IO` for a failed `msync`.
///
/// # Safety
/// `log` is `NULL` or a pointer from `zc_log_open` not yet closed, and no other call on it
/// runs meanwhile.
#[no_mangle]
pub unsafe extern "C" fn zc_log_flush(log: *mut zc_log) -> zc_status {
    boundary(|| {
        // SAFETY: zc_log_flush's contract.
        let log = unsafe { log_mut(log) }?;
        log.log.flush().map_err(Failure::from)
    })
}

/// Writes the offset the next append will get (the number of records) into `*out`.
///
/// Returns `ZC_OK`, or `ZC_NULL_POINTER` for a `NULL` `log` or `out`.
///
/// # Safety
/// `log` as for `zc_log_flush`; `out` is `NULL` or writable.
#[no_mangle]
pub unsafe extern "C" fn zc_log_next_offset(log: *const zc_log, out: *mut u64) -> zc_status {
    boundary(|| {
        // SAFETY: zc_log_next_offset's contract.
        let log = unsafe { log.as_ref() }.ok_or_else(|| Failure::null("log"))?;
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        // SAFETY: non-null; the caller guarantees it is writable.
        unsafe { out.write_unaligned(log.log.next_offset()) };
        Ok(())
    })
}

/// Moves whole records from offset `from` to fd `fd` (a pipe, a socket, a file) with
/// `sendfile`, as frames (see `ZC_LOG_FRAME_HEADER`): as many as fit in `max_bytes`, but at
/// least one, within one segment. Writes the offset after the last record sent into `*next`
/// (`NULL`: not wanted; call again from it to go on) and what the transfer did and cost into
/// `*report` (`NULL`: not wanted), as `zc_transfer` does. `from` equal to the next offset
/// sends nothing.
///
/// The fd is borrowed, never closed. On a blocking fd every byte is moved; on a non-blocking
/// one that fills up, `ZC_IO` with `EAGAIN` comes back and `report->bytes` says how much of the
/// frames went (the last one perhaps cut): once the fd is writable, `zc_log_send_rest` sends
/// the rest.
///
/// Returns `ZC_OK`; `ZC_NULL_POINTER` for a `NULL` `log`; `ZC_INVALID` for `from` past the end
/// of the log or a bad `report->struct_size`; `ZC_IO` for the fd's failures (`EPIPE`, `EBADF`,
/// `EAGAIN`, ...) or a corrupt segment (`EBADMSG`).
///
/// # Safety
/// `log` as for `zc_log_flush` (calls that only send may not overlap either); `next` is `NULL`
/// or writable; `report` is `NULL` or a `zc_report` writable for `report->struct_size` bytes,
/// with that field set.
#[no_mangle]
pub unsafe extern "C" fn zc_log_send(
    log: *const zc_log,
    fd: c_int,
    from: u64,
    max_bytes: u64,
    next: *mut u64,
    report: *mut zc_report,
) -> zc_status {
    // SAFETY: zc_log_send's contract is send's.
    boundary(|| unsafe { send(log, fd, from, 0, max_bytes, next, report) })
}

/// Finishes a `zc_log_send` that a non-blocking fd cut (`ZC_IO` with `EAGAIN` after
/// `report->bytes` bytes): called with the same `from` and `max_bytes` once `fd` is writable,
/// and `skip` = the bytes moved so far (summed over the calls), it sends the rest of the same
/// frames, so the consumer receives whole frames. `*next` and `*report` (this call's bytes) as
/// for `zc_log_send`; it may return `EAGAIN` again.
///
/// Returns as `zc_log_send`, and `ZC_INVALID` for a `skip` past the frames' end.
///
/// # Safety
/// As `zc_log_send`.
#[no_mangle]
pub unsafe extern "C" fn zc_log_send_rest(
    log: *const zc_log,
    fd: c_int,
    from: u64,
    skip: u64,
    max_bytes: u64,
    next: *mut u64,
    report: *mut zc_report,
) -> zc_status {
    // SAFETY: zc_log_send_rest's contract is send's.
    boundary(|| unsafe { send(log, fd, from, skip, max_bytes, next, report) })
}

/// Sends the frames `zc_log_send_rest(log, fd, from, skip, max_bytes, ...)` would send, through
/// `p`, a transfer prepared once to the consumer's fd (`zc_prepared_to_dst`), for a consumer that
/// sends many times to one socket or pipe: a send then classifies only the segment (a `statx`
/// and an `fcntl`), not the destination, and blocks no signal where SIGPIPE was ignored when
/// `p` was prepared (two `pthread_sigmask` otherwise). With `zc_prepared_set_cpu_meter(p,
/// false)` and SIGPIPE ignored, a small send makes 3 syscalls (5 with SIGPIPE at its default)
/// where `zc_log_send` makes 12 to a socket. A `zc_prepared` from `zc_prepared_new` works too:
/// only its destination is used (its source is left alone).
///
/// The options are `p`'s, as prepared (`zc_log_send` takes `ZC_STRATEGY_SENDFILE`: prepare with
/// it for the same choice); the destination is written at its fd's position. `skip`, `*next` and
/// `*report` (this call's bytes) as for `zc_log_send_rest`: on a non-blocking fd that fills up,
/// `ZC_IO` with `EAGAIN` comes back after `report->bytes`, and a call with `skip` increased by
/// them sends the rest. Messages name the segment by its path and the destination by the
/// number `p` was prepared with.
///
/// Returns as `zc_log_send_rest`: `ZC_OK`; `ZC_NULL_POINTER` for a `NULL` `log` or `p`;
/// `ZC_INVALID` for `from` past the end of the log, a `skip` past the frames' end or a bad
/// `report->struct_size`; `ZC_IO` for the destination's failures (`EPIPE`, `EAGAIN`, ...) or a
/// corrupt segment (`EBADMSG`).
///
/// # Safety
/// `log`, `next` and `report` as for `zc_log_send`; `p` is `NULL` or a pointer from
/// `zc_prepared_to_dst` or `zc_prepared_new` not freed yet, and no other call on it runs
/// meanwhile.
#[no_mangle]
pub unsafe extern "C" fn zc_log_send_prepared(
    log: *const zc_log,
    p: *mut zc_prepared,
    from: u64,
    skip: u64,
    max_bytes: u64,
    next: *mut u64,
    report: *mut zc_report,
) -> zc_status {
    boundary(|| {
        // SAFETY: zc_log_send_prepared's contract for `report`.
        let out = unsafe { ReportOut::new(report) }?;
        // SAFETY: zc_log_send_prepared's contract for `log`.
        let Some(log) = (unsafe { log.as_ref() }) else {
            out.write_empty();
            return Err(Failure::null("log"));
        };
        // SAFETY: from zc_prepared_to_dst or zc_prepared_new, not freed, used by this call
        // alone (the caller's contract).
        let Some(prepared) = (unsafe { p.as_mut() }) else {
            out.write_empty();
            return Err(Failure::null("p"));
        };
        let result = log
            .log
            .send_prepared(prepared.engine_mut(), from, skip, max_bytes);
        // SAFETY: the caller's contract for `next`.
        unsafe { write_sent(result, &out, next) }
    })
}

/// Writes a send's report into `out` and its next offset into `*next` (`NULL`: not wanted; not
/// written on failure), and gives its status.
///
/// # Safety
/// `next` is `NULL` or writable.
unsafe fn write_sent(
    result: engine::Result<(engine::Report, u64)>,
    out: &ReportOut,
    next: *mut u64,
) -> Result<(), Failure> {
    let (report_result, n) = match result {
        Ok((r, n)) => (Ok(r), Some(n)),
        Err(e) => (Err(e), None),
    };
    out.write(&report_result);
    if let (Some(n), false) = (n, next.is_null()) {
        // SAFETY: non-null; the caller guarantees it is writable.
        unsafe { next.write_unaligned(n) };
    }
    report_result.map(drop).map_err(Failure::from)
}

/// The body of `zc_log_send` and `zc_log_send_rest`.
///
/// # Safety
/// As `zc_log_send`.
unsafe fn send(
    log: *const zc_log,
    fd: c_int,
    from: u64,
    skip: u64,
    max_bytes: u64,
    next: *mut u64,
    report: *mut zc_report,
) -> Result<(), Failure> {
    // SAFETY: the caller's contract for `report`.
    let out = unsafe { ReportOut::new(report) }?;
    // SAFETY: the caller's contract for `log`.
    let Some(log) = (unsafe { log.as_ref() }) else {
        out.write_empty();
        return Err(Failure::null("log"));
    };
    let dst = match borrow_fd(fd, "dst") {
        Ok(d) => d,
        Err(e) => {
            out.write_empty();
            return Err(e);
        }
    };
    let opts = zcopy_log::send_options();
    let result = log.log.send_rest(dst, from, skip, max_bytes, &opts);
    // SAFETY: the caller's contract for `next`.
    unsafe { write_sent(result, &out, next) }
}

/// Parses the first frame of the `len` bytes at `buf` (what `zc_log_send` wrote, as a
/// consumer received it), checking its CRC-32C: writes the record's offset into `*offset`, its
/// payload's length into `*payload_len` (the payload starts `ZC_LOG_FRAME_HEADER` bytes into
/// `buf`) and the frame's length into `*frame_len` (the next frame starts there). When `buf`
/// does not hold a whole frame yet, returns `ZC_OK` with `*frame_len` = 0: read more.
///
/// Returns `ZC_OK`; `ZC_INVALID` with errno `EBADMSG` for a damaged frame (an impossible
/// length, a CRC mismatch); `ZC_NULL_POINTER` for a `NULL` output, or `NULL` `buf` with `len`
/// > 0.
///
/// # Safety
/// `buf` is `NULL` or readable for `len` bytes; the outputs are `NULL` or writable.
#[no_mangle]
pub unsafe extern "C" fn zc_log_frame(
    buf: *const c_void,
    len: usize,
    offset: *mut u64,
    payload_len: *mut usize,
    frame_len: *mut usize,
) -> zc_status {
    boundary(|| {
        if offset.is_null() || payload_len.is_null() || frame_len.is_null() {
            return Err(Failure::null(if offset.is_null() {
                "offset"
            } else if payload_len.is_null() {
                "payload_len"
            } else {
                "frame_len"
            }));
        }
        let bytes: &[u8] = if len == 0 {
            &[]
        } else if buf.is_null() {
            return Err(Failure::null("buf (with len > 0)"));
        } else {
            // SAFETY: non-null; the caller guarantees `len` readable bytes.
            unsafe { std::slice::from_raw_parts(buf.cast::<u8>(), len) }
        };
        let (off, plen, flen) = match zcopy_log::decode_first(bytes)? {
            Some(((off, payload), n)) => (off, payload.len(), n),
            None => (0, 0, 0),
        };
        // SAFETY: all three non-null; the caller guarantees they are writable.
        unsafe {
            offset.write_unaligned(off);
            payload_len.write_unaligned(plen);
            frame_len.write_unaligned(flen);
        }
        Ok(())
    })
}

/// The log behind a caller's `const` pointer.
///
/// # Safety
/// `log` is `NULL` or a pointer from `zc_log_open` not yet closed.
unsafe fn log_ref<'a>(log: *const zc_log) -> Result<&'a zc_log, Failure> {
    // SAFETY: the caller's contract.
    unsafe { log.as_ref() }.ok_or_else(|| Failure::null("log"))
}

/// Records `zc_log_read` reads from the log per step (it stops at the first that does not fit,
/// so at most this many are read and not copied).
const READ_BATCH: usize = 256;

/// Copies up to `max_records` records from offset `from` on into the caller's memory, each
/// checked against its CRC-32C: their payloads back to back into `buf` (`buf_len` bytes), the
/// length of the i-th into `lens[i]` (`lens` holds `max_records` entries), and how many were
/// copied into `*count`. It stops early at the end of the log, or before the first record that
/// would overflow `buf`: the next one to read is then `from + *count`. For moving many records
/// to a socket or pipe, `zc_log_send` is the zero-copy way.
///
/// When `buf` cannot hold even the first record, returns `ZC_INVALID` with errno `ENOBUFS`,
/// `*count` = 0 and the bytes that record needs in `lens[0]`: call again with a larger buffer.
/// `from` equal to the next offset, or `max_records` = 0, copies nothing and returns `ZC_OK`.
///
/// Returns `ZC_OK`; `ZC_NULL_POINTER` for a `NULL` `log` or `count`, a `NULL` `lens` with
/// `max_records` > 0, or a `NULL` `buf` with `buf_len` > 0; `ZC_INVALID` for `from` past the end
/// of the log or a `buf` too small for the first record; `ZC_IO` with `EBADMSG` for a damaged
/// record, or the errno of a failed read. On failure `*count` (when `count` is not `NULL`) says
/// how many records were copied before it.
///
/// # Safety
/// `log` as for `zc_log_flush`; `buf` is `NULL` or writable for `buf_len` bytes; `lens` is
/// `NULL` or writable for `max_records` `size_t`s; `count` is `NULL` or writable.
#[no_mangle]
pub unsafe extern "C" fn zc_log_read(
    log: *const zc_log,
    from: u64,
    max_records: usize,
    buf: *mut c_void,
    buf_len: usize,
    lens: *mut usize,
    count: *mut usize,
) -> zc_status {
    boundary(|| {
        if count.is_null() {
            return Err(Failure::null("count"));
        }
        // SAFETY: non-null and writable (the caller's contract): 0 until records are copied.
        unsafe { count.write_unaligned(0) };
        // SAFETY: zc_log_read's contract.
        let log = unsafe { log_ref(log) }?;
        if lens.is_null() && max_records > 0 {
            return Err(Failure::null("lens (with max_records > 0)"));
        }
        if buf.is_null() && buf_len > 0 {
            return Err(Failure::null("buf (with buf_len > 0)"));
        }
        if max_records == 0 {
            // Nothing to copy, but `from` is checked as for a read.
            log.log.read(from, 0)?;
        }
        let (mut n, mut used, mut at) = (0usize, 0usize, from);
        while n < max_records {
            let batch = log.log.read(at, (max_records - n).min(READ_BATCH))?;
            if batch.is_empty() {
                break;
            }
            for r in &batch {
                if r.len() > buf_len - used {
                    if n == 0 {
                        // SAFETY: max_records > 0 here, so lens is non-null with room for one.
                        unsafe { lens.write_unaligned(r.len()) };
                        return Err(Failure::new(
                            zc_status::ZC_INVALID,
                            libc::ENOBUFS,
                            format!(
                                "record {from} has {} bytes, more than buf_len {buf_len}",
                                r.len()
                            ),
                        ));
                    }
                    return Ok(());
                }
                // SAFETY: used + r.len() <= buf_len, so the bytes lie in the caller's buffer
                // (non-null when buf_len > 0, and r.len() > 0 implies buf_len > 0); n <
                // max_records entries of lens; count is writable. A record is our own memory,
                // so the copy cannot overlap.
                unsafe {
                    if !r.is_empty() {
                        std::ptr::copy_nonoverlapping(
                            r.as_ptr(),
                            buf.cast::<u8>().add(used),
                            r.len(),
                        );
                    }
                    lens.add(n).write_unaligned(r.len());
                    used += r.len();
                    n += 1;
                    count.write_unaligned(n);
                }
            }
            at += batch.len() as u64;
        }
        Ok(())
    })
}

/// The base offsets of the log's segments, oldest first (the last one is being appended to):
/// writes how many there are into `*count` and the first `min(bases_len, *count)` of them into
/// `bases`. Call with `bases` `NULL` and `bases_len` 0 to learn the count.
///
/// Returns `ZC_OK`, or `ZC_NULL_POINTER` for a `NULL` `log` or `count`, or a `NULL` `bases` with
/// `bases_len` > 0.
///
/// # Safety
/// `log` as for `zc_log_flush`; `bases` is `NULL` or writable for `bases_len` `uint64_t`s;
/// `count` is `NULL` or writable.
#[no_mangle]
pub unsafe extern "C" fn zc_log_segments(
    log: *const zc_log,
    bases: *mut u64,
    bases_len: usize,
    count: *mut usize,
) -> zc_status {
    boundary(|| {
        // SAFETY: zc_log_segments's contract.
        let log = unsafe { log_ref(log) }?;
        if count.is_null() {
            return Err(Failure::null("count"));
        }
        if bases.is_null() && bases_len > 0 {
            return Err(Failure::null("bases (with bases_len > 0)"));
        }
        let all = log.log.segments();
        for (i, &b) in all.iter().take(bases_len).enumerate() {
            // SAFETY: i < bases_len entries, writable (the caller's contract).
            unsafe { bases.add(i).write_unaligned(b) };
        }
        // SAFETY: non-null; the caller guarantees it is writable.
        unsafe { count.write_unaligned(all.len()) };
        Ok(())
    })
}

/// Writes the options the log was opened with into `*out` (set `out->struct_size` first, as
/// `zc_log_options_default` does): what `zc_log_open` was given, the defaults for a `NULL`
/// there, so passing `*out` to `zc_log_open` opens it alike. Under sync and manual flushing,
/// `flush_bytes` is 0 and `flush_interval_ms` the default; an async interval is given in
/// whole milliseconds, rounded up.
///
/// Returns `ZC_OK`; `ZC_NULL_POINTER` for a `NULL` `log` or `out`; `ZC_INVALID` for an
/// `out->struct_size` smaller than the first layout (48 bytes) or implausibly large.
///
/// # Safety
/// `log` as for `zc_log_flush`; `out` is `NULL` or a `zc_log_options` writable for
/// `out->struct_size` bytes, with that field set.
#[no_mangle]
pub unsafe extern "C" fn zc_log_get_options(
    log: *const zc_log,
    out: *mut zc_log_options,
) -> zc_status {
    boundary(|| {
        // SAFETY: zc_log_get_options's contract.
        let log = unsafe { log_ref(log) }?;
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        // SAFETY: non-null; the caller set its struct_size, readable.
        let size = unsafe { sized::struct_size(out, "zc_log_options", LOG_OPTIONS_SIZE_V0) }?;
        let value = zc_log_options::from_options(log.log.options(), size);
        // SAFETY: the caller guarantees `size` writable bytes at `out`.
        unsafe { sized::write(out, size, &value) };
        Ok(())
    })
}

/// Writes into `*out` how many times the background thread of `ZC_LOG_FLUSH_ASYNC` has synced
/// something since `zc_log_open` (0 under the other policies).
///
/// Returns `ZC_OK`, or `ZC_NULL_POINTER` for a `NULL` `log` or `out`.
///
/// # Safety
/// `log` as for `zc_log_flush`; `out` is `NULL` or writable.
#[no_mangle]
pub unsafe extern "C" fn zc_log_background_flushes(log: *const zc_log, out: *mut u64) -> zc_status {
    boundary(|| {
        // SAFETY: zc_log_background_flushes's contract.
        let log = unsafe { log_ref(log) }?;
        if out.is_null() {
            return Err(Failure::null("out"));
        }
        // SAFETY: non-null; the caller guarantees it is writable.
        unsafe { out.write_unaligned(log.log.background_flushes()) };
        Ok(())
    })
}

/// Closes the log: syncs everything (whatever the policy), joins the background flush thread,
/// truncates the active segment to its used length, releases the directory, and frees `log`,
/// even when it returns an error. `zc_log_close(NULL)` does nothing and returns `ZC_OK`.
///
/// Returns `ZC_OK`, or `ZC_IO` for a failed `msync` or truncation (the log is freed anyway).
///
/// # Safety
/// `log` is `NULL` or a pointer from `zc_log_open` not closed yet; it is invalid afterwards.
#[no_mangle]
pub unsafe extern "C" fn zc_log_close(log: *mut zc_log) -> zc_status {
    boundary(|| {
        if log.is_null() {
            return Ok(());
        }
        // SAFETY: from Box::into_raw in zc_log_open, and not closed yet (the caller's contract).
        let log = unsafe { Box::from_raw(log) };
        log.log.close().map_err(Failure::from)
    })
}
