//! Page-cache control: residency, hints, warm and evict, and the transfer's cache and sync
//! options.

use std::io::Write;
use std::os::unix::fs::FileExt;

use crate::common::{self, End, Sink};
use zcopy::cache::{self, Advice, Hint, Method};
use zcopy::{CachePolicy, ErrorKind, Options, Strategy, SyncPolicy};

const MIB: u64 = 1 << 20;

fn pages(bytes: u64) -> u64 {
    bytes.div_ceil(4096)
}

/// A 64 MiB file written and synced, then evicted: nothing of it cached.
fn cold_file(n: u64, seed: u64) -> std::fs::File {
    let f = common::file_with(&common::data(n as usize, seed));
    let r = cache::evict(&f, 0, None).expect("evict");
    assert_eq!(
        r.resident,
        0,
        "fresh file not evicted: {:?}",
        (r.pages, r.resident)
    );
    f
}

#[test]
fn warm_evict_and_half_read() {
    let f = cold_file(64 * MIB, 1);
    let r = cache::residency(&f, 0, None).expect("residency");
    assert_eq!(r.pages, pages(64 * MIB));
    assert_eq!(r.method, Method::Cachestat);
    assert_eq!(r.bitmap.len() as u64, r.pages);
    assert!(r.bitmap.iter().all(|&b| b == 0));

    let r = cache::warm(&f, 0, None).expect("warm");
    assert_eq!(r.resident, r.pages, "after warm");
    assert!(r.bitmap.iter().all(|&b| b == 1));
    assert!((r.ratio - 1.0).abs() < 1e-9);

    let r = cache::evict(&f, 0, None).expect("evict");
    assert_eq!(r.resident, 0, "after evict");

    // Random access advice turns readahead off, so reading the first half caches exactly it.
    // The kernel may still move a page (compaction) at the wrong moment: one retry.
    assert_eq!(
        cache::advise(&f, 0, None, Advice::Random).expect("advise"),
        Hint::Applied
    );
    let half = pages(32 * MIB) as usize;
    let mut buf = vec![0u8; MIB as usize];
    let mut attempt = 0;
    loop {
        cache::evict(&f, 0, None).expect("evict");
        for i in 0..32 {
            f.read_exact_at(&mut buf, i * MIB).expect("read");
        }
        let r = cache::residency(&f, 0, None).expect("residency");
        let wrong: Vec<usize> = (0..r.bitmap.len())
            .filter(|&i| r.bitmap[i] != u8::from(i < half))
            .collect();
        if wrong.is_empty() && r.resident == half as u64 {
            break;
        }
        attempt += 1;
        assert!(
            attempt < 2,
            "pages off after reading the first half: {} of them, first {:?}; resident {}",
            wrong.len(),
            &wrong[..wrong.len().min(10)],
            r.resident
        );
    }
    // A sub-range: the second half alone.
    let r = cache::residency(&f, 32 * MIB, Some(32 * MIB)).expect("range");
    assert_eq!((r.pages, r.resident), (pages(32 * MIB), 0));
}

#[test]
fn evict_writes_dirty_pages_back_first() {
    let mut f = common::empty_file();
    f.write_all(&common::data(8 << 20, 2)).expect("write");
    // Dirty pages: DONTNEED alone would keep them.
    let r = cache::evict(&f, 0, None).expect("evict");
    assert_eq!(r.resident, 0, "dirty pages left behind");
    assert_eq!(
        common::content(&f),
        common::data(8 << 20, 2),
        "nothing lost"
    );
}

#[test]
fn hints_on_fds_without_a_page_cache_say_so() {
    let (r, _w) = common::pipe();
    match cache::advise(&r, 0, None, Advice::WillNeed).expect("advise pipe") {
        Hint::Skipped(why) => assert!(
            why.contains("pipe") && why.contains("no page cache"),
            "{why}"
        ),
        Hint::Applied => panic!("a hint on a pipe applied"),
    }
    let res = cache::residency(&r, 0, None).expect("residency pipe");
    assert_eq!((res.method, res.pages), (Method::None, 0));
    assert_eq!(
        cache::evict(&r, 0, None).expect("evict pipe").method,
        Method::None
    );
    let proc = std::fs::File::open("/proc/version").expect("procfs");
    assert!(
        matches!(cache::advise(&proc, 0, None, Advice::DontNeed), Ok(Hint::Skipped(w)) if w.contains("procfs"))
    );
    let (a, _b) = common::tcp_pair();
    assert!(matches!(
        cache::readahead(&a, 0, None),
        Ok(Hint::Skipped(_))
    ));
    // Every advice applies to a file.
    let f = common::file_with(b"abc");
    for &adv in Advice::ALL {
        assert_eq!(
            cache::advise(&f, 0, Some(3), adv).expect("advise"),
            Hint::Applied,
            "{adv}"
        );
        assert_eq!(adv.name().parse::<Advice>().expect("parse"), adv);
    }
    let e = "maybe".parse::<Advice>().expect_err("unknown");
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(e.message().contains("willneed"), "{e}");
}

#[test]
fn drop_after_evicts_what_the_transfer_brought_in_and_keeps_what_was_there() {
    for s in [
        Strategy::Auto,
        Strategy::ReadWrite,
        Strategy::Sendfile,
        Strategy::Splice,
        Strategy::MmapWrite,
    ] {
        let n = 16 * MIB;
        let src = cold_file(n, 3);
        // The first quarter was hot before the transfer: exactly that must stay.
        cache::warm(&src, 0, Some(n / 4)).expect("warm quarter");
        // The warm's readahead may still be reading past the quarter when it returns, and a
        // page it adds during the transfer counts as the transfer's (this test failed 1 run in
        // 10 under load that way). Out with that part until none is left: a folio still being
        // read is locked, and stays until its read is done.
        for attempt in 0.. {
            let r = cache::evict(&src, n / 4, None).expect("evict past the quarter");
            if r.resident == 0 {
                break;
            }
            assert!(
                attempt < 200,
                "readahead past the quarter: {} pages stay",
                r.resident
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let before = cache::residency(&src, 0, None).expect("residency before");
        assert_eq!(before.resident, pages(n / 4), "the quarter alone is cached");
        assert!(before.bitmap[..pages(n / 4) as usize]
            .iter()
            .all(|&b| b == 1));
        let dst = common::empty_file();
        let opts = Options {
            strategy: s,
            fallback: false,
            cache: CachePolicy::DropAfter,
            ..Options::default()
        };
        let r = zcopy::transfer(&src, &dst, &opts).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(r.bytes, n);
        let after = cache::residency(&src, 0, None).expect("residency");
        for (i, (a, b)) in after.bitmap.iter().zip(&before.bitmap).enumerate() {
            assert_eq!(
                a, b,
                "{s}: page {i} was {b} before and is {a} after ({} resident before, {} after)",
                before.resident, after.resident
            );
        }
        let d = cache::residency(&dst, 0, None).expect("dst residency");
        assert_eq!(d.resident, 0, "{s}: destination pages left behind");
        // Last: reading the destination back caches it again.
        common::assert_bytes(
            &common::content(&dst),
            &common::data(n as usize, 3),
            &format!("{s}"),
        );
    }
    // To a pipe: the source's new pages go too.
    let src = cold_file(4 * MIB, 4);
    let sink = Sink::new(End::Pipe);
    zcopy::transfer(
        &src,
        sink.fd(),
        &Options {
            cache: CachePolicy::DropAfter,
            ..Options::default()
        },
    )
    .expect("to pipe");
    assert_eq!(sink.finish().len() as u64, 4 * MIB);
    assert_eq!(
        cache::residency(&src, 0, None).expect("residency").resident,
        0
    );
}

#[test]
fn noreuse_and_sync_policies_copy_exact_bytes() {
    let data = common::data(3_000_001, 5);
    for cache in CachePolicy::ALL.iter().copied() {
        for sync in SyncPolicy::ALL.iter().copied() {
            let src = common::file_with(&data);
            let dst = common::empty_file();
            let opts = Options {
                cache,
                sync,
                len: Some(data.len() as u64),
                ..Options::default()
            };
            let r = zcopy::transfer(&src, &dst, &opts)
                .unwrap_or_else(|e| panic!("{cache} {sync}: {e}"));
            assert_eq!(r.bytes, data.len() as u64);
            common::assert_bytes(&common::content(&dst), &data, &format!("{cache} {sync}"));
        }
        assert_eq!(cache.name().parse::<CachePolicy>().expect("parse"), cache);
    }
    // A sync is one more syscall (fdatasync or fsync) than none.
    let count = |sync: SyncPolicy| {
        let src = common::file_with(&data);
        let dst = common::empty_file();
        zcopy::transfer(
            &src,
            &dst,
            &Options {
                sync,
                len: Some(data.len() as u64),
                ..Options::default()
            },
        )
        .expect("copy")
        .syscalls
    };
    assert_eq!(count(SyncPolicy::Data), count(SyncPolicy::None) + 1);
    assert_eq!(count(SyncPolicy::Full), count(SyncPolicy::None) + 1);
    assert!("always".parse::<SyncPolicy>().is_err());
}

#[test]
fn mincore_answers_when_cachestat_is_missing() {
    common::run_child("test_cache::child_no_cachestat");
}

#[test]
#[ignore = "run by mincore_answers_when_cachestat_is_missing in a child process"]
fn child_no_cachestat() {
    let name = "test_cache::child_no_cachestat";
    if !common::in_child(name) {
        return;
    }
    if let Err(why) = crate::test_seccomp::block(&[451], libc::ENOSYS) {
        common::skip(name, &why);
        common::child_done(name);
        return;
    }
    let f = cold_file(8 * MIB, 6);
    cache::warm(&f, 0, Some(2 * MIB)).expect("warm");
    let r = cache::residency(&f, 0, None).expect("residency");
    assert_eq!(r.method, Method::Mincore);
    // The kernel's readahead may take a little more than the range.
    assert!(
        r.bitmap[..pages(2 * MIB) as usize].iter().all(|&b| b == 1),
        "{}",
        r.resident
    );
    assert!(
        r.resident >= pages(2 * MIB) && r.resident < pages(8 * MIB),
        "{}",
        r.resident
    );
    common::child_done(name);
}

#[test]
fn residency_never_lies_about_files_mincore_cannot_see() {
    common::run_child("test_cache::child_not_owner");
}

/// As an unprivileged user reading a root-owned file, mincore would report every page resident
/// (and recent kernels refuse cachestat): residency says it cannot see, never a false answer.
#[test]
#[ignore = "run by residency_never_lies_about_files_mincore_cannot_see in a child process"]
fn child_not_owner() {
    let name = "test_cache::child_not_owner";
    if !common::in_child(name) {
        return;
    }
    if !common::is_root() {
        common::skip(
            name,
            "not root: cannot make a file this process does not own",
        );
        common::child_done(name);
        return;
    }
    let f = cold_file(4 * MIB, 7);
    let warmed = cache::warm(&f, 0, Some(MIB)).expect("warm");
    let whole = cache::residency(&f, 0, None).expect("residency as root");
    assert!(warmed.resident == pages(MIB) && whole.resident >= pages(MIB));
    let ro = std::fs::File::open(format!(
        "/proc/self/fd/{}",
        std::os::fd::AsRawFd::as_raw_fd(&f)
    ))
    .expect("reopen");
    // SAFETY: dropping privileges in this child process only.
    assert_eq!(unsafe { libc::setuid(65534) }, 0, "setuid nobody");
    match cache::residency(&ro, 0, None) {
        // A kernel whose cachestat still answers anyone: the bitmap is built page by page.
        Ok(r) => {
            assert_eq!(r.method, Method::Cachestat);
            assert_eq!(r.resident, pages(MIB));
            assert!(r.bitmap[..pages(MIB) as usize].iter().all(|&b| b == 1));
            assert_eq!(
                r.bitmap.iter().filter(|&&b| b == 1).count() as u64,
                pages(MIB)
            );
        }
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
            assert!(e.message().contains("cannot see"), "{e}");
        }
    }
    crate::test_seccomp::block(&[451], libc::ENOSYS).expect("seccomp");
    let e = cache::residency(&ro, 0, None).expect_err("cannot see");
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(e.message().contains("mincore"), "{e}");
    common::child_done(name);
}

#[test]
fn evict_and_warm_work_on_files_whose_cache_cannot_be_seen() {
    common::run_child("test_cache::child_evict_warm_not_owner");
}

/// As an unprivileged user with a read-only fd of a root-owned file (cachestat refused by the
/// kernel or by a filter, mincore blind): evict and warm do their work and report the residency
/// as unknown instead of failing. An O_RDWR fd of the same file, opened before dropping
/// privileges, sees the truth through cachestat (which trusts an fd open for writing; mincore
/// does not: it asks whether the user may write the file).
#[test]
#[ignore = "run by evict_and_warm_work_on_files_whose_cache_cannot_be_seen in a child process"]
fn child_evict_warm_not_owner() {
    let name = "test_cache::child_evict_warm_not_owner";
    if !common::in_child(name) {
        return;
    }
    if !common::is_root() {
        common::skip(
            name,
            "not root: cannot make a file this process does not own",
        );
        common::child_done(name);
        return;
    }
    let f = cold_file(4 * MIB, 8);
    let path = format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(&f));
    let ro = std::fs::File::open(&path).expect("reopen read-only");
    let rw = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .expect("reopen read-write");
    cache::warm(&rw, 0, None).expect("warm as root");
    // SAFETY: dropping privileges in this child process only.
    assert_eq!(unsafe { libc::setuid(65534) }, 0, "setuid nobody");
    // Where the kernel's cachestat still answers anyone, block it (mincore alone is blind
    // here); the truth can then not be checked.
    let truth_seen = match cache::residency(&ro, 0, None) {
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
            true
        }
        Ok(_) => {
            common::skip(
                name,
                "this kernel's cachestat answers anyone: blocked, and the residency after is not checked",
            );
            crate::test_seccomp::block(&[451], libc::ENOSYS).expect("seccomp");
            false
        }
    };
    let after = cache::evict(&ro, 0, None).expect("evict succeeds");
    assert_eq!(after.method, Method::Unknown);
    assert_eq!(after.method.name(), "unknown");
    assert_eq!((after.pages, after.resident), (pages(4 * MIB), 0));
    assert!(after.bitmap.is_empty());
    if truth_seen {
        let truth = cache::residency(&rw, 0, None).expect("the writer's fd sees");
        assert_eq!(truth.method, Method::Cachestat);
        assert_eq!(truth.resident, 0, "dropped");
    }
    let after = cache::warm(&ro, 0, Some(MIB)).expect("warm succeeds");
    assert_eq!(after.method, Method::Unknown);
    assert_eq!(after.pages, pages(MIB));
    if truth_seen {
        let truth = cache::residency(&rw, 0, Some(MIB)).expect("the writer's fd sees");
        assert_eq!(truth.resident, pages(MIB), "read in");
    }
    common::child_done(name);
}

/// `lock` maps and locks a file's pages: they are resident and stay so while it is held (an
/// eviction cannot drop them); dropped, they can go again.
#[test]
fn lock_keeps_pages_resident_until_dropped() {
    let f = cold_file(MIB, 41);
    let locked = cache::lock(&f, 0, None).expect("lock 1 MiB");
    assert_eq!(locked.pages(), pages(MIB));
    assert_eq!(locked.bytes(), MIB);
    assert_eq!(
        cache::residency(&f, 0, None).expect("residency").resident,
        pages(MIB)
    );
    let r = cache::evict(&f, 0, None).expect("evict");
    assert_eq!(r.resident, pages(MIB), "locked pages were evicted");
    drop(locked);
    assert_eq!(cache::evict(&f, 0, None).expect("evict").resident, 0);
    // A range: from a page boundary below the offset, cut at end of file.
    let locked = cache::lock(&f, 5000, Some(10 * MIB)).expect("lock a range");
    assert_eq!(locked.pages(), pages(MIB) - 1);
    drop(locked);
    // Empty: nothing locked; a pipe has no page cache to lock.
    let empty = common::empty_file();
    assert_eq!(cache::lock(&empty, 0, None).expect("empty").pages(), 0);
    let (r, _w) = common::pipe();
    let e = cache::lock(&r, 0, None).expect_err("a pipe");
    assert_eq!(e.kind(), ErrorKind::Invalid);
    assert!(e.message().contains("has no page cache"), "{e}");
}

/// `lock_limit` is `RLIMIT_MEMLOCK`'s soft limit, or `None` where it does not bind (unlimited,
/// or `CAP_IPC_LOCK`, which root has).
#[test]
fn lock_limit_is_rlimit_memlock_unless_the_process_may_lock_any_amount() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is valid for writes of one rlimit.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut lim) };
    assert_eq!(rc, 0, "getrlimit");
    let status = std::fs::read_to_string("/proc/self/status").expect("status");
    let caps = status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .expect("CapEff");
    let want =
        (lim.rlim_cur != libc::RLIM_INFINITY && caps & (1 << 14) == 0).then_some(lim.rlim_cur);
    assert_eq!(cache::lock_limit(), want);
    // SAFETY: sysconf touches no memory.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    assert_eq!(
        cache::page_size(),
        u64::try_from(page).expect("a page size")
    );
}

/// `files` walks as vmtouch: directories recursively in name order, symlinks, pipes and
/// devices inside skipped, a hard-linked file taken once, a missing path reported (with its
/// errno) and the rest walked.
#[test]
fn files_walks_directories_as_vmtouch() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path().join("d");
    std::fs::create_dir_all(d.join("b/c")).expect("mkdir");
    for (p, n) in [("a", 10), ("b/x", 20), ("b/c/y", 30)] {
        std::fs::write(d.join(p), vec![1u8; n]).expect("write");
    }
    std::os::unix::fs::symlink(d.join("a"), d.join("link")).expect("symlink");
    std::fs::hard_link(d.join("a"), d.join("b/z")).expect("hard link");
    let fifo = std::ffi::CString::new(d.join("fifo").to_str().expect("utf-8")).expect("path");
    // SAFETY: mkfifo reads a NUL-terminated path that outlives the call.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let missing = dir.path().join("missing");
    let w = cache::files(&[d.clone(), missing.clone(), d.join("b/x")]);
    // a, then b/c/y, b/x, b/z (the hard link to a, met again: skipped); b/x named again: kept
    // once more as a path given.
    assert_eq!(
        w.files,
        [d.join("a"), d.join("b/c/y"), d.join("b/x"), d.join("b/x")]
    );
    assert_eq!(w.directories, 3);
    assert!(w.any_directory);
    assert_eq!(w.errors.len(), 1, "{:?}", w.errors);
    assert_eq!(w.errors[0].0, missing);
    assert_eq!(w.errors[0].1.errno(), Some(libc::ENOENT));
    assert_eq!(
        w.errors[0].1.message(),
        format!(
            "cannot open {}: No such file or directory",
            missing.display()
        )
    );
    // A file alone: no directory.
    let w = cache::files(&[d.join("a")]);
    assert_eq!(
        (w.files.len(), w.directories, w.any_directory),
        (1, 0, false)
    );
}

/// Whether a file in the temporary directory takes RWF_DONTCACHE (Linux 6.14+, ext4 or XFS).
fn dontcache_works(f: &std::fs::File) -> bool {
    let mut b = [0u8; 1];
    let iov = libc::iovec {
        iov_base: b.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: `iov` describes `b`, valid for one byte; the fd is open.
    let r = unsafe {
        libc::preadv2(
            std::os::fd::AsRawFd::as_raw_fd(f),
            &iov,
            1,
            0,
            libc::RWF_DONTCACHE,
        )
    };
    r >= 0
}

/// cache=dontcache: a cold copy leaves neither file's pages in the cache when it returns (the
/// destination's last chunks are waited for, no `sync` needed), at the fds' positions and at
/// explicit offsets alike, over several chunks; the bytes exact; pages resident before stay
/// resident.
#[test]
fn dontcache_copies_leave_the_cache_as_they_found_it() {
    let bytes = common::data(20 << 20, 91);
    let src = common::file_with(&bytes);
    if !dontcache_works(&src) {
        common::skip(
            "dontcache_copies_leave_the_cache_as_they_found_it",
            "this kernel or the temporary directory's filesystem refuses RWF_DONTCACHE (Linux 6.14+, ext4 or XFS); the fallback is tested by dontcache_falls_back_to_drop_after_where_refused",
        );
        return;
    }
    let left = |f: &std::fs::File| zcopy::cache::residency(f, 0, None).expect("residency");
    zcopy::cache::evict(&src, 0, None).expect("evict src");
    let dst = common::empty_file();
    let opts = Options {
        cache: zcopy::CachePolicy::DontCache,
        ..Options::default()
    };
    let r = zcopy::transfer(&src, &dst, &opts).expect("copy");
    assert_eq!((r.bytes, r.strategy), (20 << 20, Strategy::ReadWrite));
    assert!(r.fallbacks.is_empty(), "{:?}", r.fallbacks);
    // The source is read through a file of its own; the caller's positions still advance.
    use std::io::Seek;
    for (f, what) in [(&src, "src"), (&dst, "dst")] {
        let pos = (&mut &*f).stream_position().expect("position");
        assert_eq!(pos, 20 << 20, "{what}'s position");
    }
    let (s, d) = (left(&src), left(&dst));
    assert!(
        s.resident == 0 && d.resident == 0,
        "pages left: src {} of {}, dst {} of {}",
        s.resident,
        s.pages,
        d.resident,
        d.pages
    );
    common::assert_bytes(&common::content(&dst), &bytes, "dst");
    // At explicit offsets (the range waited for is the one written, not the fd's position),
    // the destination's not on a page boundary (chunks then end on one), after bytes it holds.
    zcopy::cache::evict(&src, 0, None).expect("evict src");
    let dst3 = common::file_with(&vec![7u8; (3 << 20) + 100]);
    zcopy::cache::evict(&dst3, 0, None).expect("evict dst");
    let at = Options {
        src_offset: Some(4096),
        dst_offset: Some((3 << 20) + 100),
        len: Some(17 << 20),
        ..opts.clone()
    };
    let r = zcopy::transfer(&src, &dst3, &at).expect("copy at offsets");
    assert_eq!(r.bytes, 17 << 20);
    let (s, d) = (left(&src), left(&dst3));
    assert!(
        s.resident == 0 && d.resident == 0,
        "pages left at offsets: src {} of {}, dst {} of {} (from page {:?})",
        s.resident,
        s.pages,
        d.resident,
        d.pages,
        d.bitmap.iter().position(|&b| b == 1)
    );
    let got = common::content(&dst3);
    common::assert_bytes(
        &got[(3 << 20) + 100..],
        &bytes[4096..4096 + (17 << 20)],
        "dst at offsets",
    );
    // A source resident before stays resident.
    zcopy::cache::warm(&src, 0, None).expect("warm");
    let dst2 = common::empty_file();
    zcopy::transfer(&src, &dst2, &opts).expect("copy hot");
    let s = left(&src);
    assert_eq!(s.resident, s.pages, "a hot source lost pages");
}

/// cache=dontcache where the filesystem refuses RWF_DONTCACHE (tmpfs): Auto copies with
/// drop_after and says so; a strict read_write is Unsupported; a technique that cannot pass
/// the flag is Unsupported by name.
#[test]
fn dontcache_falls_back_to_drop_after_where_refused() {
    let dir = std::path::Path::new("/dev/shm");
    if !dir.is_dir() {
        common::skip(
            "dontcache_falls_back_to_drop_after_where_refused",
            "no /dev/shm (tmpfs) here",
        );
        return;
    }
    let tmp = tempfile::tempdir_in(dir).expect("tempdir in /dev/shm");
    let bytes = common::data(1 << 20, 92);
    std::fs::write(tmp.path().join("src"), &bytes).expect("write");
    let src = std::fs::File::open(tmp.path().join("src")).expect("open");
    if dontcache_works(&src) {
        common::skip(
            "dontcache_falls_back_to_drop_after_where_refused",
            "tmpfs here takes RWF_DONTCACHE, so nothing falls back",
        );
        return;
    }
    let dst = std::fs::File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(tmp.path().join("dst"))
        .expect("create");
    let opts = Options {
        cache: zcopy::CachePolicy::DontCache,
        ..Options::default()
    };
    let r = zcopy::transfer(&src, &dst, &opts).expect("copy");
    assert_eq!(r.bytes, 1 << 20);
    common::assert_bytes(&common::content(&dst), &bytes, "dst");
    let reason = &r.fallbacks.first().expect("a fallback is reported").reason;
    assert!(
        reason.contains("RWF_DONTCACHE") && reason.contains("drop_after"),
        "{reason}"
    );
    let strict = Options {
        strategy: Strategy::ReadWrite,
        fallback: false,
        ..opts.clone()
    };
    let e = zcopy::transfer(
        &src,
        &dst,
        &Options {
            src_offset: Some(0),
            dst_offset: Some(0),
            ..strict
        },
    )
    .expect_err("strict");
    assert_eq!(e.kind(), zcopy::ErrorKind::Unsupported);
    assert!(e.message().contains("refuses RWF_DONTCACHE"), "{e}");
    let named = Options {
        strategy: Strategy::Sendfile,
        fallback: false,
        src_offset: Some(0),
        dst_offset: Some(0),
        ..opts
    };
    let e = zcopy::transfer(&src, &dst, &named).expect_err("sendfile");
    assert_eq!(e.kind(), zcopy::ErrorKind::Unsupported);
    assert!(
        e.message().contains("sendfile: cannot pass RWF_DONTCACHE"),
        "{e}"
    );
}

/// The `_named` variants name the file as the caller says, never by the fd number it passed.
#[test]
fn named_variants_name_the_file_as_given() {
    let (r, _w) = common::pipe();
    let e = zcopy::cache::lock_named(&r, std::path::Path::new("fd 5"), 0, None)
        .expect_err("a pipe has no page cache");
    assert_eq!(
        e.message(),
        "cannot lock: fd 5 is a pipe, which has no page cache"
    );
    let path = std::path::Path::new("/data/big.iso");
    match zcopy::cache::advise_named(&r, path, 0, None, zcopy::cache::Advice::WillNeed) {
        Ok(zcopy::cache::Hint::Skipped(why)) => {
            assert_eq!(why, "/data/big.iso is a pipe, which has no page cache")
        }
        other => panic!("advise on a pipe: {other:?}"),
    }
}
