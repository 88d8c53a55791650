//! `zcopy_log`: appends and reads across segment rolls, `send` to pipes and sockets, reopening
//! after a clean close, after `kill -9` of a writer and after torn frames, ENOSPC at open and
//! roll, the single-writer lock, option checks, and the flush policies.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use zcopy::{ErrorKind, Strategy};
use zcopy_log::{decode, decode_prefix, FlushPolicy, Log, LogOptions, FRAME_HEADER};

use crate::common;

/// The payload of record `offset` in these tests: 0 to 2999 bytes, different for each offset.
fn payload(offset: u64) -> Vec<u8> {
    let len = (offset * 7919 % 3000) as usize;
    common::data(len, offset + 1)
}

fn opts(segment_bytes: u64, flush: FlushPolicy) -> LogOptions {
    LogOptions {
        segment_bytes,
        flush,
        ..LogOptions::default()
    }
}

fn seg_path(dir: &Path, base: u64) -> PathBuf {
    dir.join(format!("{base:020}.log"))
}

fn file_size(p: &Path) -> u64 {
    std::fs::metadata(p).expect("stat").len()
}

/// Asserts the log holds exactly records 0..n of [`payload`], read back one by one and in
/// batches.
#[track_caller]
fn assert_holds(log: &Log, n: u64) {
    assert_eq!(log.next_offset(), n);
    let all = log.read(0, usize::MAX).expect("read all");
    assert_eq!(all.len() as u64, n);
    for (i, r) in all.iter().enumerate() {
        common::assert_bytes(r, &payload(i as u64), &format!("record {i}"));
    }
    for from in [0, n / 3, n.saturating_sub(1)] {
        let some = log.read(from, 5).expect("read some");
        assert_eq!(some.len() as u64, 5.min(n - from.min(n)));
        for (k, r) in some.iter().enumerate() {
            common::assert_bytes(r, &payload(from + k as u64), "batch");
        }
    }
}

#[test]
fn append_and_read_across_segment_rolls() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), &opts(16 << 10, FlushPolicy::Manual)).unwrap();
    for i in 0..400u64 {
        assert_eq!(
            log.append(&payload(i)).unwrap(),
            i,
            "offsets are consecutive"
        );
    }
    let bases = log.segments();
    assert!(bases.len() > 10, "16 KiB segments rolled: {bases:?}");
    assert_eq!(bases[0], 0);
    assert!(bases.windows(2).all(|w| w[0] < w[1]));
    assert_holds(&log, 400);
    // Closed segments were truncated to exactly their frames.
    for w in bases.windows(2) {
        let frames: u64 = (w[0]..w[1])
            .map(|o| payload(o).len() as u64 + FRAME_HEADER as u64)
            .sum();
        assert_eq!(
            file_size(&seg_path(dir.path(), w[0])),
            frames,
            "segment {}",
            w[0]
        );
    }
    // The active one is preallocated.
    let last = *bases.last().unwrap();
    assert_eq!(file_size(&seg_path(dir.path(), last)), 16 << 10);
    // Reading past the end is refused, at the end gives nothing.
    assert!(log.read(400, 10).unwrap().is_empty());
    let e = log.read(401, 1).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(e.message().contains("offset 401 is past the end"), "{e}");
    log.close().unwrap();
}

/// Sends the whole log to `w` in `max_bytes` pieces; returns the reports' total bytes.
fn send_all(log: &Log, w: &impl std::os::fd::AsFd, max_bytes: u64) -> u64 {
    let mut from = 0;
    let mut total = 0;
    let mut calls = 0;
    while from < log.next_offset() {
        let (report, next) = log.send(w, from, max_bytes).unwrap();
        assert!(next > from, "send always moves at least one record");
        assert_eq!(report.strategy, Strategy::Sendfile);
        total += report.bytes;
        from = next;
        calls += 1;
    }
    assert!(calls > 1);
    total
}

#[track_caller]
fn assert_decodes(bytes: &[u8], n: u64) {
    let records = decode(bytes).unwrap();
    assert_eq!(records.len() as u64, n);
    for (i, (off, p)) in records.iter().enumerate() {
        assert_eq!(*off, i as u64);
        common::assert_bytes(p, &payload(i as u64), &format!("sent record {i}"));
    }
}

#[test]
fn send_to_a_pipe_is_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), &opts(64 << 10, FlushPolicy::Manual)).unwrap();
    for i in 0..300 {
        log.append(&payload(i)).unwrap();
    }
    let sink = common::Sink::new(common::End::Pipe);
    let total = send_all(&log, &sink.fd(), 10_000);
    let got = sink.finish();
    assert_eq!(got.len() as u64, total);
    assert_decodes(&got, 300);
}

#[test]
fn send_to_a_tcp_socket_is_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), &opts(64 << 10, FlushPolicy::Manual)).unwrap();
    for i in 0..300 {
        log.append(&payload(i)).unwrap();
    }
    let sink = common::Sink::new(common::End::Tcp);
    let total = send_all(&log, &sink.fd(), 1 << 20);
    let got = sink.finish();
    assert_eq!(got.len() as u64, total);
    assert_decodes(&got, 300);
}

#[test]
fn send_moves_whole_frames_within_the_budget() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), &LogOptions::default()).unwrap();
    for i in 0..50 {
        log.append(&[i as u8; 100]).unwrap();
    }
    let frame = 100 + FRAME_HEADER as u64;
    let file = tempfile::tempfile().unwrap();
    // A budget below one frame still moves one; 3.5 frames move 3.
    let (r, next) = log.send(&file, 0, 1).unwrap();
    assert_eq!((r.bytes, next), (frame, 1));
    let (r, next) = log.send(&file, 1, frame * 7 / 2).unwrap();
    assert_eq!((r.bytes, next), (3 * frame, 4));
    // Budget 0 and from == end move nothing; past the end is refused.
    assert_eq!(log.send(&file, 4, 0).unwrap().1, 4);
    let (r, next) = log.send(&file, 50, 1 << 20).unwrap();
    assert_eq!((r.bytes, next), (0, 50));
    assert_eq!(
        log.send(&file, 51, 1).unwrap_err().kind(),
        ErrorKind::Invalid
    );
    let got = common::content(&file);
    let recs = decode(&got).unwrap();
    assert_eq!(
        recs.iter().map(|r| r.0).collect::<Vec<_>>(),
        vec![0, 1, 2, 3]
    );
    assert!(recs.iter().all(|(o, p)| *p == [*o as u8; 100]));
    // A stream cut mid-frame: decode refuses it, decode_prefix keeps the whole frames.
    let cut = &got[..got.len() - 5];
    let e = decode(cut).unwrap_err();
    assert!(e.message().contains("cut short"), "{e}");
    let (whole, used) = decode_prefix(cut).unwrap();
    assert_eq!((whole.len(), used as u64), (3, 3 * frame));
    let mut bad = got.clone();
    bad[FRAME_HEADER + 3] ^= 1;
    let e = decode(&bad).unwrap_err();
    assert!(e.message().contains("CRC-32C"), "{e}");
    // A damaged second frame is named by its position; decode_first parses frame by frame.
    let mut bad = got.clone();
    bad[frame as usize + FRAME_HEADER] ^= 1;
    let e = decode(&bad).unwrap_err();
    assert_eq!(e.errno(), Some(libc::EBADMSG));
    assert!(
        e.message()
            .contains(&format!("frame at byte {frame} (offset 1)")),
        "{e}"
    );
    let (first, n) = zcopy_log::decode_first(&got).unwrap().unwrap();
    assert_eq!((first.0, first.1, n as u64), (0, &[0u8; 100][..], frame));
    assert!(zcopy_log::decode_first(&got[..frame as usize - 1])
        .unwrap()
        .is_none());
    assert!(zcopy_log::decode_first(&got[..3]).unwrap().is_none());
}

#[test]
fn reopen_after_clean_close() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(16 << 10, FlushPolicy::Sync);
    let mut log = Log::open(dir.path(), &o).unwrap();
    for i in 0..100 {
        log.append(&payload(i)).unwrap();
    }
    let bases = log.segments();
    log.close().unwrap();
    // Every segment, the last one too, has its exact size after close.
    let sizes: u64 = bases
        .iter()
        .map(|&b| file_size(&seg_path(dir.path(), b)))
        .sum();
    let frames: u64 = (0..100).map(|o| payload(o).len() as u64 + 16).sum();
    assert_eq!(sizes, frames);

    let mut log = Log::open(dir.path(), &o).unwrap();
    assert_eq!(log.segments(), bases);
    assert_holds(&log, 100);
    for i in 100..150 {
        assert_eq!(log.append(&payload(i)).unwrap(), i);
    }
    assert_holds(&log, 150);
    drop(log); // Drop closes too.
    let log = Log::open(dir.path(), &o).unwrap();
    assert_holds(&log, 150);
}

#[test]
fn missing_index_files_are_rebuilt() {
    let dir = tempfile::tempdir().unwrap();
    let o = LogOptions {
        segment_bytes: 64 << 10,
        index_interval_bytes: 512,
        flush: FlushPolicy::Manual,
    };
    let mut log = Log::open(dir.path(), &o).unwrap();
    for i in 0..200 {
        log.append(&payload(i)).unwrap();
    }
    log.close().unwrap();
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "index") {
            std::fs::remove_file(p).unwrap();
        }
    }
    let log = Log::open(dir.path(), &o).unwrap();
    assert_holds(&log, 200);
    let sink = common::Sink::new(common::End::Pipe);
    send_all(&log, &sink.fd(), 20_000);
    assert_decodes(&sink.finish(), 200);
}

/// The child of [`kill9_of_a_sync_writer_loses_no_acknowledged_record`]: appends under Sync to
/// the directory in `ZCOPY_LOG_TEST_DIR` and prints `ACK <offset>` after each append returns,
/// until it is killed.
#[test]
#[ignore = "runs as the child of kill9_of_a_sync_writer_loses_no_acknowledged_record"]
fn child_sync_writer() {
    if !common::in_child("test_log::child_sync_writer") {
        return;
    }
    let dir = std::env::var("ZCOPY_LOG_TEST_DIR").unwrap();
    let mut log = Log::open(&dir, &opts(64 << 10, FlushPolicy::Sync)).unwrap();
    let start = log.next_offset();
    for i in start..start + 1_000_000 {
        let off = log.append(&payload(i)).unwrap();
        println!("ACK {off}");
    }
    common::child_done("test_log::child_sync_writer");
}

/// Starts [`child_sync_writer`] on `dir`, kills it with SIGKILL after `acks` acknowledgements,
/// and returns every offset it acknowledged (read from its stdout, a pipe, to the end).
fn run_and_kill_writer(dir: &Path, acks: usize) -> Vec<u64> {
    let test = "test_log::child_sync_writer";
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            test,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(common::CHILD_ENV, test)
        .env("ZCOPY_LOG_TEST_DIR", dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = BufReader::new(child.stdout.take().unwrap());
    let mut acked = Vec::new();
    let mut killed = false;
    for line in out.lines() {
        let line = line.unwrap();
        // The harness's "test ... " has no newline before the child's first line.
        if let Some(i) = line.find("ACK ") {
            acked.push(line[i + 4..].parse::<u64>().unwrap());
            if acked.len() == acks && !killed {
                child.kill().unwrap(); // SIGKILL
                killed = true;
            }
        }
    }
    let status = child.wait().unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(
        status.signal(),
        Some(libc::SIGKILL),
        "the writer died of SIGKILL, not of {status}:\n{err}"
    );
    acked
}

#[test]
fn kill9_of_a_sync_writer_loses_no_acknowledged_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut total = 0;
    // Twice: the second run appends to the log the first one recovered.
    for round in 0..2 {
        let acked = run_and_kill_writer(dir.path(), 300);
        assert!(acked.len() >= 300, "round {round}");
        let first = acked[0];
        assert_eq!(
            first, total,
            "round {round} started after the recovered records"
        );
        assert!(
            acked.windows(2).all(|w| w[1] == w[0] + 1),
            "acks in sequence"
        );
        let last = *acked.last().unwrap();

        let mut log = Log::open(dir.path(), &opts(64 << 10, FlushPolicy::Sync)).unwrap();
        let next = log.next_offset();
        // Every acknowledged record is there; at most the one being appended when the kill
        // came (appended, not yet acknowledged) is there too.
        assert!(
            next == last + 1 || next == last + 2,
            "round {round}: next {next}, last ack {last}"
        );
        assert_holds(&log, next);
        assert!(log.segments().len() > 2, "the writer rolled segments");
        assert_eq!(
            log.append(&payload(next)).unwrap(),
            next,
            "the next append gets the next offset"
        );
        log.close().unwrap();
        total = next + 1;
        assert!(
            std::fs::read_dir(dir.path()).unwrap().all(|e| !e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".tmp")),
            "no half-made segment is left"
        );
    }
}

/// Writes `bytes` at the end of the last segment of a closed log, as a crash would leave them.
fn scribble_after_end(dir: &Path, bytes: &[u8]) {
    let mut last = None;
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "log") && last.as_ref().is_none_or(|l| &p > l) {
            last = Some(p);
        }
    }
    let p = last.unwrap();
    let f = OpenOptions::new().write(true).open(&p).unwrap();
    let end = f.metadata().unwrap().len();
    f.write_all_at(bytes, end).unwrap();
}

/// A frame header: length, crc, offset.
fn frame(offset: u64, payload: &[u8], crc: u32) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&((16 + payload.len()) as u32).to_le_bytes());
    v.extend_from_slice(&crc.to_le_bytes());
    v.extend_from_slice(&offset.to_le_bytes());
    v.extend_from_slice(payload);
    v
}

#[test]
fn torn_frames_are_discarded_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(64 << 10, FlushPolicy::Sync);
    let mut log = Log::open(dir.path(), &o).unwrap();
    for i in 0..10 {
        log.append(&payload(i)).unwrap();
    }
    log.close().unwrap();
    // A good record's bytes, to build a correct frame with a different offset below.
    let good = {
        let file = tempfile::tempfile().unwrap();
        let log = Log::open(dir.path(), &o).unwrap();
        log.send(&file, 3, 1).unwrap();
        common::content(&file)
    };
    let good_crc = u32::from_le_bytes(good[4..8].try_into().unwrap());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        (
            "bad checksum",
            frame(10, b"garbage past the end", 0xdead_beef),
        ),
        ("offset out of sequence", {
            let mut f = good.clone();
            f[8..16].copy_from_slice(&12u64.to_le_bytes());
            f
        }),
        (
            "a frame cut short",
            frame(10, &[7; 100], good_crc)[..60].to_vec(),
        ),
        ("half a header", vec![0x55; 9]),
        ("a length past the segment", {
            let mut f = frame(10, b"x", 0);
            f[0..4].copy_from_slice(&u32::MAX.to_le_bytes());
            f
        }),
    ];
    let mut n = 10;
    for (what, bytes) in cases {
        scribble_after_end(dir.path(), &bytes);
        let mut log = Log::open(dir.path(), &o).unwrap();
        assert_eq!(log.next_offset(), n, "{what}: the torn frame was dropped");
        assert_holds(&log, n);
        // The next append overwrites the torn bytes and reads back whole.
        assert_eq!(log.append(&payload(n)).unwrap(), n, "{what}");
        n += 1;
        assert_holds(&log, n);
        log.close().unwrap();
        let log = Log::open(dir.path(), &o).unwrap();
        assert_holds(&log, n);
    }
}

/// A tmpfs of `bytes` on a fresh directory, unmounted on drop; `None` (with the reason
/// printed) where this process may not mount.
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(test: &str, bytes: u64) -> Option<Tmpfs> {
        if !common::is_root() {
            common::skip(test, "not root: cannot mount a small tmpfs for ENOSPC");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let target = std::ffi::CString::new(dir.path().to_str().unwrap()).unwrap();
        let data = std::ffi::CString::new(format!("size={bytes}")).unwrap();
        // SAFETY: every pointer is a NUL-terminated string alive for the call.
        let r = unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                target.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                data.as_ptr().cast(),
            )
        };
        if r != 0 {
            let why = format!("mount tmpfs: {}", std::io::Error::last_os_error());
            common::skip(test, &why);
            return None;
        }
        Some(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let target = std::ffi::CString::new(self.0.path().to_str().unwrap()).unwrap();
        // SAFETY: a NUL-terminated path alive for the call.
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    }
}

#[test]
fn enospc_at_open_and_at_roll_is_an_error_naming_the_segment() {
    let test = "test_log::enospc_at_open_and_at_roll_is_an_error_naming_the_segment";
    let Some(fs) = Tmpfs::mount(test, 256 << 10) else {
        return;
    };
    // Open: a 1 MiB segment cannot be preallocated in 256 KiB.
    let dir = fs.0.path().join("big");
    let e = Log::open(&dir, &opts(1 << 20, FlushPolicy::Sync)).unwrap_err();
    assert_eq!(
        (e.kind(), e.errno()),
        (ErrorKind::Io, Some(libc::ENOSPC)),
        "{e}"
    );
    assert!(e.message().contains("00000000000000000000.log"), "{e}");
    assert!(
        std::fs::read_dir(&dir)
            .unwrap()
            .all(|e| e.unwrap().file_name() == ".lock"),
        "nothing left behind"
    );

    // Roll: 100 KiB segments, two fit, the third does not.
    let dir = fs.0.path().join("small");
    let o = opts(100 << 10, FlushPolicy::Sync);
    let mut log = Log::open(&dir, &o).unwrap();
    let rec = |i: u64| common::data(4000, i);
    let mut n = 0;
    let err = loop {
        match log.append(&rec(n)) {
            Ok(off) => {
                assert_eq!(off, n);
                n += 1;
            }
            Err(e) => break e,
        }
        assert!(n < 1000, "the tmpfs never filled");
    };
    assert_eq!(
        (err.kind(), err.errno()),
        (ErrorKind::Io, Some(libc::ENOSPC)),
        "{err}"
    );
    assert!(
        err.message().contains(&format!("{n:020}.log")),
        "names the new segment: {err}"
    );
    assert_eq!(log.segments().len(), 2);
    assert_eq!(log.next_offset(), n, "nothing was appended");
    let all = log.read(0, usize::MAX).unwrap();
    assert_eq!(all.len() as u64, n);
    for (i, r) in all.iter().enumerate() {
        common::assert_bytes(r, &rec(i as u64), "record before ENOSPC");
    }
    // Still ENOSPC on a retry, and a record that fits the active segment still goes in.
    assert_eq!(log.append(&rec(n)).unwrap_err().errno(), Some(libc::ENOSPC));
    assert_eq!(log.append(b"small").unwrap(), n);
    log.close().unwrap();
    let log = Log::open(&dir, &o).unwrap();
    assert_eq!(log.next_offset(), n + 1);
    assert_eq!(log.read(n, 1).unwrap(), vec![b"small".to_vec()]);
}

#[test]
fn a_second_writer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), &LogOptions::default()).unwrap();
    let e = Log::open(dir.path(), &LogOptions::default()).unwrap_err();
    assert_eq!(
        (e.kind(), e.errno()),
        (ErrorKind::Io, Some(libc::EWOULDBLOCK)),
        "{e}"
    );
    assert!(
        e.message().contains(&dir.path().display().to_string()),
        "names the dir: {e}"
    );
    assert!(e.message().contains("already open for writing"), "{e}");
    drop(log);
    Log::open(dir.path(), &LogOptions::default()).unwrap();
}

#[test]
fn invalid_options_and_records_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    for bytes in [0, 100, 4095, 1 << 33] {
        let e = Log::open(dir.path(), &opts(bytes, FlushPolicy::Sync)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Invalid);
        assert!(
            e.message().contains(&format!("segment_bytes {bytes}")),
            "{e}"
        );
    }
    let bad_async = [
        (
            FlushPolicy::Async {
                bytes: None,
                interval: None,
            },
            "manual",
        ),
        (
            FlushPolicy::Async {
                bytes: Some(0),
                interval: None,
            },
            "bytes must be positive",
        ),
        (
            FlushPolicy::Async {
                bytes: None,
                interval: Some(Duration::ZERO),
            },
            "interval must be positive",
        ),
    ];
    for (flush, says) in bad_async {
        let e = Log::open(dir.path(), &opts(1 << 20, flush)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Invalid);
        assert!(e.message().contains(says), "{e}");
    }
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "refused before creating anything"
    );
    let mut log = Log::open(dir.path(), &opts(4096, FlushPolicy::Sync)).unwrap();
    assert_eq!(
        log.append(&[1; 4096 - 16]).unwrap(),
        0,
        "a record filling a segment fits"
    );
    let e = log.append(&[1; 4096 - 15]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(
        e.message().contains("4081 bytes") && e.message().contains("segment_bytes 4096"),
        "{e}"
    );
    assert_eq!(log.append(b"").unwrap(), 1, "an empty record is a record");
    assert_eq!(log.read(0, 9).unwrap(), vec![vec![1; 4080], vec![]]);
}

/// `cachestat(2)` of a whole file: (cached, dirty) pages; `None` where the kernel lacks it.
fn dirty_pages(path: &Path) -> Option<(u64, u64)> {
    #[repr(C)]
    struct Range {
        off: u64,
        len: u64,
    }
    let f = File::open(path).unwrap();
    let range = Range { off: 0, len: 0 };
    let mut cs = [0u64; 5];
    // SAFETY: the kernel reads `range` and writes five u64s into `cs` during the call.
    let r = unsafe {
        libc::syscall(
            451,
            f.as_raw_fd(),
            &range as *const Range,
            cs.as_mut_ptr(),
            0u32,
        )
    };
    (r == 0).then_some((cs[0], cs[1]))
}

/// Whether dirty pages of files in `dir` can be seen (and are ever written back): not on tmpfs.
fn writeback_visible(test: &str, dir: &Path) -> bool {
    let f = File::open(dir).unwrap();
    // SAFETY: statfs into a zeroed struct the kernel fills.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is valid for writes of one statfs.
    assert_eq!(unsafe { libc::fstatfs(f.as_raw_fd(), &mut st) }, 0);
    if st.f_type == libc::TMPFS_MAGIC {
        common::skip(
            test,
            "the temp dir is on tmpfs: its pages are never written back",
        );
        return false;
    }
    if dirty_pages(dir).is_none() && dirty_pages(&dir.join(".lock")).is_none() {
        common::skip(test, "no cachestat(2) on this kernel");
        return false;
    }
    true
}

#[test]
fn sync_appends_leave_no_dirty_page() {
    let test = "test_log::sync_appends_leave_no_dirty_page";
    let dir = tempfile::tempdir().unwrap();
    if !writeback_visible(test, dir.path()) {
        return;
    }
    let mut log = Log::open(dir.path(), &opts(1 << 20, FlushPolicy::Sync)).unwrap();
    let seg = seg_path(dir.path(), 0);
    let index = dir.path().join(format!("{:020}.index", 0));
    for i in 0..50 {
        log.append(&payload(i)).unwrap();
        let (cached, dirty) = dirty_pages(&seg).unwrap();
        assert!(cached > 0);
        assert_eq!(dirty, 0, "after sync append {i}");
    }
    // The index is synced by flush (recovery rebuilds it from the log otherwise).
    log.flush().unwrap();
    assert_eq!(dirty_pages(&index).unwrap().1, 0, "index after flush");
    // Manual leaves them dirty until flush.
    drop(log);
    let mut log = Log::open(dir.path(), &opts(1 << 20, FlushPolicy::Manual)).unwrap();
    log.append(&payload(50)).unwrap();
    log.flush().unwrap();
    assert_eq!(dirty_pages(&seg).unwrap().1, 0, "after flush");
}

/// The child of [`async_flush_runs_in_the_background_and_drop_joins_its_thread`] (alone in its
/// process, so its thread count is its own).
#[test]
#[ignore = "runs as the child of async_flush_runs_in_the_background_and_drop_joins_its_thread"]
fn child_async_flusher() {
    let test = "test_log::child_async_flusher";
    if !common::in_child(test) {
        return;
    }
    let threads = || std::fs::read_dir("/proc/self/task").unwrap().count();
    let before = threads();
    let dir = tempfile::tempdir().unwrap();
    let flush = FlushPolicy::Async {
        bytes: None,
        interval: Some(Duration::from_millis(20)),
    };
    let mut log = Log::open(dir.path(), &opts(1 << 20, flush)).unwrap();
    assert_eq!(threads(), before + 1, "one flusher thread");
    let visible = writeback_visible(test, dir.path());
    for i in 0..100 {
        log.append(&payload(i)).unwrap();
    }
    // Without flush(), the thread syncs within its interval. (Waiting for it: the kernel's own
    // writeback would take ~30 s, dirty_expire_centisecs.)
    let seg = seg_path(dir.path(), 0);
    let mut waited = 0;
    while log.background_flushes() == 0 || (visible && dirty_pages(&seg).unwrap().1 > 0) {
        std::thread::sleep(Duration::from_millis(10));
        waited += 1;
        assert!(waited < 1000, "no background flush in 10 s");
    }
    drop(log);
    assert_eq!(threads(), before, "drop joined the flusher");

    // The byte threshold alone wakes it too.
    let flush = FlushPolicy::Async {
        bytes: Some(64 << 10),
        interval: None,
    };
    let mut log = Log::open(dir.path(), &opts(1 << 20, flush)).unwrap();
    while log.background_flushes() == 0 {
        log.append(&[9; 1000]).unwrap();
        std::thread::yield_now();
        assert!(log.next_offset() < 100_000, "no flush after 100 MB");
    }
    log.close().unwrap();
    assert_eq!(threads(), before, "close joined the flusher");
    let log = Log::open(dir.path(), &opts(1 << 20, FlushPolicy::Sync)).unwrap();
    assert_eq!(log.read(0, 100).unwrap().len(), 100);
    common::child_done(test);
}

#[test]
fn async_flush_runs_in_the_background_and_drop_joins_its_thread() {
    common::run_child("test_log::child_async_flusher");
}

#[test]
fn stale_index_entries_of_the_last_segment_are_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let o = LogOptions {
        segment_bytes: 1 << 20,
        index_interval_bytes: 256,
        flush: FlushPolicy::Sync,
    };
    let mut log = Log::open(dir.path(), &o).unwrap();
    for i in 0..50 {
        log.append(&payload(i)).unwrap();
    }
    log.close().unwrap();
    // Entries that point into the middle of frames, or at offsets the log does not hold.
    let index = dir.path().join(format!("{:020}.index", 0));
    let mut bytes = std::fs::read(&index).unwrap();
    assert!(bytes.len() >= 16, "the index has entries");
    let n = bytes.len();
    let last_pos = u32::from_le_bytes(bytes[n - 4..].try_into().unwrap());
    bytes[n - 4..].copy_from_slice(&(last_pos + 3).to_le_bytes());
    for (rel, pos) in [(60u32, 200_000u32), (61, 200_100)] {
        bytes.extend_from_slice(&rel.to_le_bytes());
        bytes.extend_from_slice(&pos.to_le_bytes());
    }
    std::fs::write(&index, &bytes).unwrap();
    let mut log = Log::open(dir.path(), &o).unwrap();
    assert_holds(&log, 50);
    assert_eq!(log.append(&payload(50)).unwrap(), 50);
    assert_holds(&log, 51);
    let sink = common::Sink::new(common::End::Pipe);
    send_all(&log, &sink.fd(), 5000);
    assert_decodes(&sink.finish(), 51);
}

#[test]
fn an_index_entry_for_every_record_works() {
    let dir = tempfile::tempdir().unwrap();
    let o = LogOptions {
        segment_bytes: 32 << 10,
        index_interval_bytes: 0,
        flush: FlushPolicy::Manual,
    };
    let mut log = Log::open(dir.path(), &o).unwrap();
    for i in 0..120 {
        log.append(&payload(i)).unwrap();
    }
    assert_holds(&log, 120);
    log.close().unwrap();
    // One entry per record but each segment's first.
    let bases = Log::open(dir.path(), &o).unwrap().segments();
    let index0 = std::fs::metadata(dir.path().join(format!("{:020}.index", 0))).unwrap();
    assert_eq!(index0.len(), (bases[1] - 1) * 8);
    let log = Log::open(dir.path(), &o).unwrap();
    assert_holds(&log, 120);
}

#[test]
fn what_a_crash_mid_roll_leaves_is_cleaned_up() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(16 << 10, FlushPolicy::Sync);
    let mut log = Log::open(dir.path(), &o).unwrap();
    for i in 0..40 {
        log.append(&payload(i)).unwrap();
    }
    let next = log.next_offset();
    log.close().unwrap();
    // A new segment preallocated under its temporary name and its index, never renamed.
    let tmp = dir.path().join(format!("{next:020}.log.tmp"));
    let orphan = dir.path().join(format!("{next:020}.index"));
    std::fs::write(&tmp, vec![0u8; 16 << 10]).unwrap();
    std::fs::write(&orphan, [0u8; 64]).unwrap();
    let mut log = Log::open(dir.path(), &o).unwrap();
    assert!(!tmp.exists() && !orphan.exists(), "removed on open");
    assert_holds(&log, 40);
    assert_eq!(log.append(&payload(40)).unwrap(), 40);
}

#[test]
fn a_damaged_closed_segment_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let o = opts(16 << 10, FlushPolicy::Sync);
    let mut log = Log::open(dir.path(), &o).unwrap();
    for i in 0..60 {
        log.append(&payload(i)).unwrap();
    }
    let bases = log.segments();
    log.close().unwrap();
    assert!(bases.len() > 2);
    // Cut the first segment's last frame short.
    let first = seg_path(dir.path(), 0);
    let f = OpenOptions::new().write(true).open(&first).unwrap();
    f.set_len(file_size(&first) - 5).unwrap();
    let e = Log::open(dir.path(), &o).unwrap_err();
    assert_eq!(
        (e.kind(), e.errno()),
        (ErrorKind::Io, Some(libc::EBADMSG)),
        "{e}"
    );
    assert!(e.message().contains(&first.display().to_string()), "{e}");
    assert!(
        e.message()
            .contains(&format!("begins at offset {}", bases[1])),
        "{e}"
    );
}

/// Waits until `fd` is writable.
fn wait_writable(fd: &impl AsRawFd) {
    let mut p = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: `p` is one valid pollfd for the call.
    assert_eq!(unsafe { libc::poll(&mut p, 1, -1) }, 1);
}

#[test]
fn a_non_blocking_consumer_resumes_with_send_rest() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), &opts(1 << 20, FlushPolicy::Manual)).unwrap();
    for i in 0..300 {
        log.append(&payload(i)).unwrap();
    }
    let (r, w) = common::pipe();
    common::set_nonblocking(&w);
    // Nobody reads yet: the pipe fills, the frames are cut somewhere.
    let e = log.send(&w, 0, u64::MAX).unwrap_err();
    assert!(e.is_would_block(), "{e}");
    let total: u64 = (0..300).map(|o| payload(o).len() as u64 + 16).sum();
    assert!(
        e.bytes_moved() > 0 && e.bytes_moved() < total,
        "{}",
        e.bytes_moved()
    );
    let drain = std::thread::spawn(move || {
        let mut r = r;
        let mut v = Vec::new();
        r.read_to_end(&mut v).unwrap();
        v
    });
    let mut skip = e.bytes_moved();
    let next = loop {
        wait_writable(&w);
        match log.send_rest(&w, 0, skip, u64::MAX, &zcopy::Options::default()) {
            Ok((report, next)) => {
                assert_eq!(skip + report.bytes, total);
                break next;
            }
            Err(e) if e.is_would_block() => skip += e.bytes_moved(),
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(next, 300);
    let e = log
        .send_rest(&w, 0, total + 1, u64::MAX, &zcopy::Options::default())
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(e.message().contains("skip"), "{e}");
    drop(w);
    assert_decodes(&drain.join().unwrap(), 300);
}

#[test]
fn reopen_right_after_close_while_a_forked_child_holds_the_lock_fd() {
    // Found as a rare failure of reopen_after_clean_close in a full run: another test's thread
    // forked (to exec a child) while the log was open; the child's copy of the lock's fd kept
    // the flock held after close, and the reopen got EWOULDBLOCK. close now unlocks explicitly.
    let dir = tempfile::tempdir().unwrap();
    let o = opts(16 << 10, FlushPolicy::Sync);
    let mut log = Log::open(dir.path(), &o).unwrap();
    log.append(b"before the fork").unwrap();
    // SAFETY: the child only sleeps and exits (async-signal-safe calls), as a forked child of a
    // threaded process must; it holds copies of every fd, the lock's among them.
    let child = unsafe { libc::fork() };
    assert!(child >= 0, "fork");
    if child == 0 {
        // SAFETY: as above.
        unsafe {
            libc::sleep(30);
            libc::_exit(0);
        }
    }
    log.close().unwrap();
    let reopened = Log::open(dir.path(), &o);
    // SAFETY: kill and waitpid of our own child touch no memory of ours but the status.
    unsafe {
        libc::kill(child, libc::SIGKILL);
        libc::waitpid(child, std::ptr::null_mut(), 0);
    }
    let log = reopened.expect("reopen while a forked child holds a copy of the lock's fd");
    assert_eq!(log.next_offset(), 1);
}

#[test]
fn send_rest_named_names_the_ends_as_given() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), &opts(1 << 20, FlushPolicy::Manual)).unwrap();
    for i in 0..3 {
        log.append(&payload(i)).unwrap();
    }
    let defaults = zcopy::Options::default();
    // A read-only destination: refused before a byte moves, the message naming it as told.
    let read_only = File::open(seg_path(dir.path(), 0)).unwrap();
    let fd = read_only.as_raw_fd();
    let e = log
        .send_rest_named(&read_only, Path::new("fd 4242"), 0, 0, u64::MAX, &defaults)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert_eq!(e.errno(), Some(libc::EBADF));
    assert_eq!(e.message(), "dst fd 4242 is opened read-only");
    // Unnamed, the engine names the fd the call was given.
    let e = log
        .send_rest(&read_only, 0, 0, u64::MAX, &defaults)
        .unwrap_err();
    assert_eq!(e.message(), format!("dst fd {fd} is opened read-only"));

    // A technique that cannot serve the pair: the reasons name the ends too (the source by
    // its segment's path), and the bytes still arrive whole.
    let out = dir.path().join("out");
    let file = File::create(&out).unwrap();
    let zerocopy = zcopy::Options {
        strategy: Strategy::MsgZerocopy,
        ..zcopy::Options::default()
    };
    let (report, next) = log
        .send_rest_named(&file, Path::new("consumer.bin"), 0, 0, u64::MAX, &zerocopy)
        .unwrap();
    assert_eq!(next, 3);
    assert!(!report.fallbacks.is_empty(), "{report:?}");
    let reasons: Vec<&str> = report.fallbacks.iter().map(|f| f.reason.as_str()).collect();
    assert!(
        reasons.iter().any(|r| r.contains("consumer.bin")),
        "{reasons:?}"
    );
    let fd_name = format!("fd {}", file.as_raw_fd());
    assert!(reasons.iter().all(|r| !r.contains(&fd_name)), "{reasons:?}");
    assert_decodes(&std::fs::read(&out).unwrap(), 3);

    // A skip past the frames is refused as by send_rest.
    let e = log
        .send_rest_named(&file, Path::new("fd 4242"), 0, 1 << 30, u64::MAX, &defaults)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(e.message().contains("skip"), "{e}");
}

#[test]
fn send_prepared_moves_the_same_frames_with_the_destination_classified_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = Log::open(dir.path(), &opts(64 << 10, FlushPolicy::Manual)).unwrap();
    for i in 0..300 {
        log.append(&payload(i)).unwrap();
    }
    let sink = common::Sink::new(common::End::Tcp);
    let mut p = zcopy::Prepared::to_dst(sink.fd(), &zcopy_log::send_options()).unwrap();
    // Across segment rolls (64 KiB segments), in pieces of at most 10,000 bytes.
    let (mut from, mut total, mut calls) = (0, 0, 0);
    while from < log.next_offset() {
        let (report, next) = log.send_prepared(&mut p, from, 0, 10_000).unwrap();
        assert!(next > from, "a send moves at least one record");
        assert_eq!(report.strategy, Strategy::Sendfile);
        total += report.bytes;
        (from, calls) = (next, calls + 1);
    }
    assert!(calls > 10, "{calls} sends");
    // Its CPU meter off, a small send classifies the segment (statx, F_GETFL) and sends: 3
    // syscalls, where send makes the destination's classification and SIGPIPE's mask too.
    p.set_cpu_meter(false);
    let (small, next) = log.send_prepared(&mut p, 0, 0, 1).unwrap();
    assert_eq!((small.syscalls, next), (3, 1), "{small:?}");
    let (plain, _) = log.send(sink.fd(), 0, 1).unwrap();
    assert!(plain.syscalls >= small.syscalls + 6, "send: {plain:?}");
    drop(p);
    let got = sink.finish();
    assert_eq!(got.len() as u64, total + small.bytes + plain.bytes);
    let whole = got.len() - (small.bytes + plain.bytes) as usize;
    assert_decodes(&got[..whole], 300);
    let tail = decode(&got[whole..]).unwrap();
    assert_eq!(tail.len(), 2);
    for (off, p) in &tail {
        assert_eq!(*off, 0);
        common::assert_bytes(p, &payload(0), "record 0 again");
    }

    // Errors are send_rest's, the source named by its segment's path.
    let read_only = File::open(seg_path(dir.path(), 0)).unwrap();
    let mut p = zcopy::Prepared::to_dst(
        std::os::fd::AsFd::as_fd(&read_only),
        &zcopy_log::send_options(),
    )
    .unwrap();
    let e = log.send_prepared(&mut p, 0, 0, 1).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid, "{e}");
    assert_eq!(
        e.message(),
        format!("dst fd {} is opened read-only", read_only.as_raw_fd())
    );
    drop(p);
    let out = dir.path().join("out");
    let file = File::create(&out).unwrap();
    let reflink = zcopy::Options {
        strategy: Strategy::Reflink,
        ..zcopy::Options::default()
    };
    let mut p = zcopy::Prepared::to_dst(std::os::fd::AsFd::as_fd(&file), &reflink).unwrap();
    let (report, next) = log.send_prepared(&mut p, 0, 0, u64::MAX).unwrap();
    // Where reflink is refused (ext4), the reason names the segment by its path.
    let seg = seg_path(dir.path(), 0).display().to_string();
    if report.strategy == Strategy::Reflink {
        common::skip(
            "send_prepared's source name",
            "this filesystem clones ranges: no fallback reason to read",
        );
    } else {
        let reasons: Vec<&str> = report.fallbacks.iter().map(|f| f.reason.as_str()).collect();
        assert!(reasons.iter().any(|r| r.contains(&seg)), "{reasons:?}");
    }
    let e = log.send_prepared(&mut p, 0, u64::MAX, 1).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(
        e.message()
            .starts_with("skip 18446744073709551615 is past the end"),
        "{e}"
    );
    // send_prepared_with: the options given, not the Prepared's: a raised cancel flag stops
    // the send before a byte moves.
    let stop = std::sync::atomic::AtomicBool::new(true);
    let cancelled = zcopy::Options {
        cancel: Some(&stop),
        ..zcopy::Options::default()
    };
    let e = log
        .send_prepared_with(&mut p, 0, 0, 1, &cancelled)
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.bytes_moved()),
        (ErrorKind::Cancelled, 0),
        "{e}"
    );
    drop(p);
    let sent = std::fs::read(&out).unwrap();
    let records = decode(&sent).unwrap();
    assert_eq!(records.len() as u64, next);
    for (i, (off, p)) in records.iter().enumerate() {
        assert_eq!(*off, i as u64);
        common::assert_bytes(p, &payload(i as u64), &format!("record {i} to the file"));
    }
}
