//! The `parallelism` option: file → file transfers split into ranges moved by worker threads,
//! byte-exact with every file technique, positions, offsets and `len` as with one thread; stops
//! that leave an exact prefix; the pairs that silently stay on one thread; bad values.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::common::{self, End};
use zcopy::{ErrorKind, Options, Strategy};

const MIB: usize = 1 << 20;
/// Large enough to be split 2, 3 and 4 ways (ranges of at least 8 MiB), and not a multiple of
/// anything.
const SIZE: usize = 40 * MIB + 12345;

/// Auto and the named techniques the ranges are checked with.
const TECHNIQUES: [Strategy; 4] = [
    Strategy::Auto,
    Strategy::ReadWrite,
    Strategy::CopyFileRange,
    Strategy::Splice,
];

fn parallel(s: Strategy, n: u32) -> Options<'static> {
    Options {
        strategy: s,
        fallback: s == Strategy::Auto,
        parallelism: Some(n),
        ..Options::default()
    }
}

/// Modelled CPU copies per byte, file → file.
fn cpu_copies(s: Strategy) -> Option<u64> {
    match s {
        Strategy::ReadWrite => Some(2),
        Strategy::CopyFileRange | Strategy::Splice => Some(1),
        _ => None,
    }
}

#[test]
fn ranges_are_byte_exact_and_positions_advance() {
    let data = common::data(SIZE, 71);
    for n in [2, 3, 4] {
        for s in TECHNIQUES {
            let what = format!("{s} x{n}");
            let mut src = common::file_with(&data);
            src.seek(SeekFrom::Start(1000)).expect("seek");
            let mut dst = common::empty_file();
            dst.write_all(b"head").expect("write");
            let r = zcopy::transfer(&src, &dst, &parallel(s, n))
                .unwrap_or_else(|e| panic!("{what}: {e}"));
            let moved = (SIZE - 1000) as u64;
            assert_eq!(r.bytes, moved, "{what}");
            assert_eq!(common::pos(&src), SIZE as u64, "{what}: src position");
            assert_eq!(common::pos(&dst), 4 + moved, "{what}: dst position");
            if s != Strategy::Auto {
                assert_eq!(r.strategy, s, "{what}");
                assert!(r.fallbacks.is_empty(), "{what}: {:?}", r.fallbacks);
            }
            if let Some(c) = cpu_copies(r.strategy) {
                assert_eq!(
                    r.cpu_copies_bytes,
                    c * moved,
                    "{what}: every range's copies"
                );
            }
            assert_eq!(r.dma_copies_bytes, 2 * moved, "{what}");
            assert_eq!(r.mode_switches, 2 * r.syscalls, "{what}");
            let mut want = b"head".to_vec();
            want.extend_from_slice(&data[1000..]);
            common::assert_bytes(&common::content(&dst), &want, &what);
        }
    }
}

#[test]
fn offsets_and_len_are_kept_and_positions_left_alone() {
    let data = common::data(SIZE, 72);
    for s in TECHNIQUES {
        let what = format!("{s} x3");
        let mut src = common::file_with(&data);
        src.seek(SeekFrom::Start(17)).expect("seek");
        let mut dst = common::empty_file();
        dst.write_all(&[1u8; 10]).expect("write");
        let (so, dof, len) = (4096 + 7, 100, 30 * MIB + 5);
        let opts = Options {
            src_offset: Some(so as u64),
            dst_offset: Some(dof as u64),
            len: Some(len as u64),
            ..parallel(s, 3)
        };
        let r = zcopy::transfer(&src, &dst, &opts).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(r.bytes, len as u64, "{what}");
        assert_eq!(common::pos(&src), 17, "{what}: src position");
        assert_eq!(common::pos(&dst), 10, "{what}: dst position");
        let got = common::content(&dst);
        assert_eq!(got.len(), dof + len, "{what}");
        assert_eq!(
            &got[..10],
            &[1u8; 10],
            "{what}: bytes before dst_offset kept"
        );
        common::assert_bytes(&got[dof..], &data[so..so + len], &what);

        // A len past end of file moves what there is, as with one thread.
        let dst = common::empty_file();
        let opts = Options {
            src_offset: Some(so as u64),
            len: Some(1 << 40),
            ..parallel(s, 4)
        };
        let r = zcopy::transfer(&src, &dst, &opts).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(r.bytes, (SIZE - so) as u64, "{what}: len past eof");
        common::assert_bytes(&common::content(&dst), &data[so..], &what);
    }
}

#[test]
fn a_stop_from_progress_leaves_an_exact_prefix() {
    let data = common::data(SIZE, 73);
    let src = common::file_with(&data);
    let dst = common::empty_file();
    let caller = std::thread::current().id();
    let seen = Mutex::new(Vec::new());
    let progress = |moved: u64| {
        assert_eq!(
            std::thread::current().id(),
            caller,
            "progress off the calling thread"
        );
        let mut seen = seen.lock().expect("lock");
        seen.push(moved);
        moved < MIB as u64
    };
    let opts = Options {
        chunk_size: Some(64 * 1024),
        progress: Some(&progress),
        ..parallel(Strategy::ReadWrite, 4)
    };
    let e = zcopy::transfer(&src, &dst, &opts).expect_err("stopped part way");
    assert_eq!(e.kind(), ErrorKind::Cancelled, "{e}");
    assert_eq!(e.errno(), Some(libc::ECANCELED));
    assert!(e.message().contains("progress callback"), "{e}");
    let prefix = e.bytes_moved();
    assert!(prefix < SIZE as u64, "{e}");
    assert_eq!(e.report().map(|r| r.bytes), Some(prefix));
    let got = common::content(&dst);
    common::assert_bytes(&got[..prefix as usize], &data[..prefix as usize], "prefix");
    assert_eq!(common::pos(&src), prefix, "src position");
    assert_eq!(common::pos(&dst), prefix, "dst position");
    let seen = seen.into_inner().expect("lock");
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
    assert!(seen.last().is_some_and(|&m| m >= MIB as u64), "{seen:?}");
}

#[test]
fn the_cancel_flag_stops_every_range() {
    let data = common::data(SIZE, 74);
    let src = common::file_with(&data);
    let dst = common::empty_file();
    let cancel = AtomicBool::new(false);
    let progress = |moved: u64| {
        if moved >= MIB as u64 {
            cancel.store(true, Ordering::Relaxed);
        }
        true
    };
    let opts = Options {
        chunk_size: Some(64 * 1024),
        progress: Some(&progress),
        cancel: Some(&cancel),
        ..parallel(Strategy::ReadWrite, 3)
    };
    let e = zcopy::transfer(&src, &dst, &opts).expect_err("cancelled part way");
    assert_eq!(e.kind(), ErrorKind::Cancelled, "{e}");
    assert!(e.message().contains("cancel flag"), "{e}");
    let prefix = e.bytes_moved() as usize;
    assert!(prefix < SIZE, "{e}");
    common::assert_bytes(&common::content(&dst)[..prefix], &data[..prefix], "prefix");
    assert_eq!(common::pos(&src), prefix as u64);

    // Set before the call: nothing moves.
    let dst = common::empty_file();
    let e = zcopy::transfer(
        &src,
        &dst,
        &Options {
            src_offset: Some(0),
            ..opts.clone()
        },
    )
    .expect_err("cancelled from the start");
    assert_eq!(e.kind(), ErrorKind::Cancelled);
    assert_eq!(e.bytes_moved(), 0);
    assert_eq!(common::content(&dst), b"");
}

#[test]
fn other_pairs_run_on_one_thread_and_stay_exact() {
    let data = common::data(20 * MIB + 3, 75);
    // To a pipe.
    let src = common::file_with(&data);
    let sink = common::Sink::new(End::Pipe);
    let r = zcopy::transfer(&src, sink.fd(), &parallel(Strategy::Auto, 4)).expect("to a pipe");
    assert_eq!(r.bytes, data.len() as u64);
    common::assert_bytes(&sink.finish(), &data, "file -> pipe x4");

    // To an O_APPEND file: as with one thread, read_write after the refusals.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("log");
    std::fs::write(&path, b"existing\n").expect("write");
    let dst = OpenOptions::new().append(true).open(&path).expect("open");
    let src = common::file_with(&data);
    let r = zcopy::transfer(&src, &dst, &parallel(Strategy::Auto, 4)).expect("to O_APPEND");
    assert_eq!(r.strategy, Strategy::ReadWrite);
    let mut want = b"existing\n".to_vec();
    want.extend_from_slice(&data);
    common::assert_bytes(&std::fs::read(&path).expect("read"), &want, "O_APPEND x4");

    // A sparse source keeps its holes.
    let size = 24 * MIB as u64;
    let sparse = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(dir.path().join("sparse"))
        .expect("create");
    sparse.set_len(size).expect("set_len");
    sparse.write_all_at(&data[..MIB], 0).expect("write");
    sparse
        .write_all_at(&data[MIB..2 * MIB], 20 * MIB as u64)
        .expect("write");
    sparse.sync_all().expect("sync");
    let dst = common::empty_file();
    let r = zcopy::transfer(&sparse, &dst, &parallel(Strategy::Auto, 4)).expect("sparse");
    assert_eq!(r.bytes, size);
    let mut want = vec![0u8; size as usize];
    want[..MIB].copy_from_slice(&data[..MIB]);
    want[20 * MIB..21 * MIB].copy_from_slice(&data[MIB..2 * MIB]);
    common::assert_bytes(&common::content(&dst), &want, "sparse x4");
    let blocks = |f: &File| f.metadata().expect("stat").blocks() * 512;
    if blocks(&sparse) < size {
        assert!(blocks(&dst) < size, "holes kept");
    }
}

#[test]
fn zero_and_one_are_the_default_as_is_a_small_copy() {
    let data = common::data(20 * MIB, 76);
    let src = common::file_with(&data);
    // The first transfer on a thread asks the filesystem type of each mount (remembered after).
    zcopy::transfer(&src, common::empty_file(), &Options::default()).expect("warm");
    let mut syscalls = Vec::new();
    for p in [None, Some(0), Some(1)] {
        let dst = common::empty_file();
        let opts = Options {
            parallelism: p,
            src_offset: Some(0),
            ..Options::default()
        };
        let r = zcopy::transfer(&src, &dst, &opts).unwrap_or_else(|e| panic!("{p:?}: {e}"));
        assert_eq!(r.bytes, data.len() as u64);
        common::assert_bytes(&common::content(&dst), &data, &format!("{p:?}"));
        syscalls.push((r.strategy, r.syscalls));
    }
    assert!(syscalls.windows(2).all(|w| w[0] == w[1]), "{syscalls:?}");
    // Under 16 MiB nothing is split: the same syscalls as one thread.
    let small = common::file_with(&data[..16 * MIB - 1]);
    let one = zcopy::transfer(&small, common::empty_file(), &Options::default()).expect("x1");
    let small = common::file_with(&data[..16 * MIB - 1]);
    let r =
        zcopy::transfer(&small, common::empty_file(), &parallel(Strategy::Auto, 64)).expect("x64");
    assert_eq!((r.strategy, r.syscalls), (one.strategy, one.syscalls));
}

#[test]
fn too_many_threads_are_refused() {
    let src = common::file_with(b"data");
    let dst = common::empty_file();
    let e = zcopy::transfer(&src, &dst, &parallel(Strategy::Auto, 65)).expect_err("65");
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert_eq!(e.errno(), Some(libc::EINVAL));
    assert!(e.message().contains("parallelism 65"), "{e}");
    assert_eq!(common::content(&dst), b"");
    zcopy::transfer(&src, &dst, &parallel(Strategy::Auto, 64)).expect("64 is the most");
    assert_eq!(common::content(&dst), b"data");
}

#[test]
fn copy_file_splits_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = common::data(SIZE, 77);
    std::fs::write(dir.path().join("src"), &data).expect("write");
    let r = zcopy::copy_file(
        dir.path().join("src"),
        dir.path().join("dst"),
        &parallel(Strategy::Auto, 2),
    )
    .expect("copy_file x2");
    assert_eq!(r.bytes, SIZE as u64);
    common::assert_bytes(
        &std::fs::read(dir.path().join("dst")).expect("read"),
        &data,
        "x2",
    );
}

/// A CPU clock of this process in nanoseconds (`CLOCK_THREAD_CPUTIME_ID` or
/// `CLOCK_PROCESS_CPUTIME_ID`).
fn cpu_clock(id: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is valid for writes of one timespec.
    let r = unsafe { libc::clock_gettime(id, &mut ts) };
    assert_eq!(r, 0, "clock_gettime");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The Report of a split transfer counts the CPU time of its worker threads, each read by the
/// worker from its own thread's clock: more than the calling thread spent (it only relays while
/// the workers copy), and no more than the whole process spent over the call.
#[test]
fn cpu_time_is_summed_over_the_workers() {
    let data = common::data(SIZE, 79);
    let src = common::file_with(&data);
    let dst = common::empty_file();
    let (thread0, process0) = (
        cpu_clock(libc::CLOCK_THREAD_CPUTIME_ID),
        cpu_clock(libc::CLOCK_PROCESS_CPUTIME_ID),
    );
    let r = zcopy::transfer(&src, &dst, &parallel(Strategy::ReadWrite, 2)).expect("x2");
    let (thread1, process1) = (
        cpu_clock(libc::CLOCK_THREAD_CPUTIME_ID),
        cpu_clock(libc::CLOCK_PROCESS_CPUTIME_ID),
    );
    common::assert_bytes(&common::content(&dst), &data, "x2");
    let cpu = r.user_cpu_ns + r.sys_cpu_ns;
    let caller = thread1 - thread0;
    // Each worker copied 20 MiB through a buffer (40 MiB of memcpy in the kernel): milliseconds.
    assert!(
        cpu > caller + 1_000_000,
        "report CPU {cpu} ns, the calling thread's alone {caller} ns: {r:?}"
    );
    assert!(
        cpu <= process1 - process0,
        "report CPU {cpu} ns, the whole process {} ns: {r:?}",
        process1 - process0
    );
}

/// Worker threads named `zcopy-range-*` in this process.
fn workers() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("/proc/self/task")
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.starts_with("zcopy-range-"))
        .count()
}

#[test]
fn the_ranges_run_on_worker_threads() {
    // Alone in a child process: other tests' workers would be counted too.
    common::run_child("test_parallel::child_ranges_run_on_worker_threads");
}

#[test]
#[ignore = "run by the_ranges_run_on_worker_threads in a child process"]
fn child_ranges_run_on_worker_threads() {
    const TEST: &str = "test_parallel::child_ranges_run_on_worker_threads";
    if !common::in_child(TEST) {
        return;
    }
    let data = common::data(SIZE, 78);
    let src = common::file_with(&data);
    let most = AtomicU64::new(0);
    let progress = |_: u64| {
        most.fetch_max(workers() as u64, Ordering::Relaxed);
        true
    };
    let opts = Options {
        src_offset: Some(0),
        chunk_size: Some(256 * 1024),
        progress: Some(&progress),
        ..parallel(Strategy::ReadWrite, 4)
    };
    // Up to 4 at once. How many the calling thread sees alive together depends on the
    // scheduler (a busy machine may run it only once some have finished): a few tries.
    for _ in 0..5 {
        let dst = common::empty_file();
        let r = zcopy::transfer(&src, &dst, &opts).expect("x4");
        assert_eq!(r.bytes, SIZE as u64);
        common::assert_bytes(&common::content(&dst), &data, "x4");
        if most.load(Ordering::Relaxed) >= 2 {
            break;
        }
    }
    let most_seen = most.load(Ordering::Relaxed);
    assert!(
        (2..=4).contains(&most_seen),
        "{most_seen} workers seen at once"
    );
    // Joined: gone from /proc once the kernel has reaped them (just after the join returns).
    let gone = (0..100).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(10));
        workers() == 0
    });
    assert!(gone, "{} workers left", workers());
    // A small copy starts none.
    let small = common::file_with(&data[..MIB]);
    let progress = |_: u64| {
        most.store(workers() as u64, Ordering::Relaxed);
        true
    };
    let opts = Options {
        progress: Some(&progress),
        ..parallel(Strategy::ReadWrite, 4)
    };
    zcopy::transfer(&small, common::empty_file(), &opts).expect("small");
    assert_eq!(most.load(Ordering::Relaxed), 0);
    common::child_done(TEST);
}
