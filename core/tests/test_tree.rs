//! `copy_tree` against `cp -a`: one tree with every kind of entry, copied by both, compared file
//! by file and attribute by attribute; and the errors it reports (destination exists, collected
//! errors naming each path, a stop that leaves no half-written file).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::common;
use zcopy::{ErrorKind, OnError, Options, Specials, Strategy, TreeOptions};

const MIB: u64 = 1 << 20;

fn c(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).expect("no NUL in test paths")
}

/// Sets `p`'s own times (a symlink's too) to `sec`.`nsec` (atime one second earlier).
fn set_times(p: &Path, sec: i64, nsec: i64) {
    let t = [
        libc::timespec {
            tv_sec: sec - 1,
            tv_nsec: nsec,
        },
        libc::timespec {
            tv_sec: sec,
            tv_nsec: nsec,
        },
    ];
    let cp = c(p);
    // SAFETY: `cp` is NUL-terminated and `t` holds two timespecs, for the whole call.
    let r = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            cp.as_ptr(),
            t.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    assert_eq!(r, 0, "utimensat {}", p.display());
}

/// Sets the extended attribute `name` on `p`; false where the filesystem has none.
fn set_xattr(p: &Path, name: &str, value: &[u8]) -> bool {
    let (cp, cn) = (c(p), CString::new(name).expect("name"));
    // SAFETY: both strings are NUL-terminated, `value` valid for reads of its length.
    let r = unsafe {
        libc::lsetxattr(
            cp.as_ptr(),
            cn.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    r == 0
}

/// Every extended attribute of `p` (not following a symlink), name → value.
fn xattrs(p: &Path) -> BTreeMap<String, Vec<u8>> {
    let cp = c(p);
    let mut names = vec![0u8; 4096];
    // SAFETY: `names` is valid for writes of its length.
    let n = unsafe { libc::llistxattr(cp.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    let mut out = BTreeMap::new();
    if n <= 0 {
        return out;
    }
    for name in names[..n as usize]
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
    {
        let cn = CString::new(name).expect("name");
        let mut v = vec![0u8; 65536];
        // SAFETY: `cn` is NUL-terminated, `v` valid for writes of its length.
        let m =
            unsafe { libc::lgetxattr(cp.as_ptr(), cn.as_ptr(), v.as_mut_ptr().cast(), v.len()) };
        assert!(m >= 0, "lgetxattr {}", p.display());
        v.truncate(m as usize);
        out.insert(String::from_utf8_lossy(name).into_owned(), v);
    }
    out
}

/// What is compared of each entry.
#[derive(Debug, PartialEq, Eq)]
struct Attr {
    kind: &'static str,
    mode: u32,
    size: u64,
    bytes: Option<Vec<u8>>,
    link: Option<PathBuf>,
    mtime_ns: i128,
    xattrs: BTreeMap<String, Vec<u8>>,
    owner: (u32, u32),
    rdev: u64,
}

/// Every entry under `root` (relative path → attributes; the root itself as ""), and the
/// hard-link groups (sets of relative paths sharing an inode, for inodes with several names).
fn scan(root: &Path) -> (BTreeMap<PathBuf, Attr>, BTreeSet<BTreeSet<PathBuf>>) {
    let mut out = BTreeMap::new();
    let mut inodes: BTreeMap<(u64, u64), BTreeSet<PathBuf>> = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let p = root.join(&rel);
        let m = fs::symlink_metadata(&p).expect("lstat");
        let ft = m.file_type();
        let kind = if ft.is_dir() {
            "dir"
        } else if ft.is_file() {
            "file"
        } else if ft.is_symlink() {
            "symlink"
        } else {
            "special"
        };
        if ft.is_dir() {
            for e in fs::read_dir(&p).expect("read_dir") {
                stack.push(rel.join(e.expect("entry").file_name()));
            }
        } else if m.nlink() > 1 {
            inodes
                .entry((m.dev(), m.ino()))
                .or_default()
                .insert(rel.clone());
        }
        out.insert(
            rel.clone(),
            Attr {
                kind,
                mode: m.mode(),
                size: if ft.is_dir() { 0 } else { m.size() },
                bytes: ft.is_file().then(|| fs::read(&p).expect("read")),
                link: ft
                    .is_symlink()
                    .then(|| fs::read_link(&p).expect("readlink")),
                mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
                xattrs: if ft.is_symlink() {
                    BTreeMap::new()
                } else {
                    xattrs(&p)
                },
                owner: (m.uid(), m.gid()),
                rdev: m.rdev(),
            },
        );
    }
    let groups = inodes.into_values().filter(|g| g.len() > 1).collect();
    (out, groups)
}

/// Asserts the trees at `a` and `b` are the same, entry by entry, attribute by attribute.
#[track_caller]
fn assert_same_tree(a: &Path, b: &Path) {
    let (ta, ga) = scan(a);
    let (tb, gb) = scan(b);
    let names_a: Vec<_> = ta.keys().collect();
    let names_b: Vec<_> = tb.keys().collect();
    assert_eq!(names_a, names_b, "the same entries");
    for (rel, attr) in &ta {
        let other = &tb[rel];
        if attr != other {
            // Name the first differing field rather than dumping both.
            assert_eq!(attr.kind, other.kind, "{}: type", rel.display());
            assert_eq!(
                attr.mode,
                other.mode,
                "{}: mode {:o} vs {:o}",
                rel.display(),
                attr.mode,
                other.mode
            );
            assert_eq!(attr.size, other.size, "{}: size", rel.display());
            if let (Some(x), Some(y)) = (&attr.bytes, &other.bytes) {
                common::assert_bytes(y, x, &format!("{}: bytes", rel.display()));
            }
            assert_eq!(attr.link, other.link, "{}: link target", rel.display());
            assert_eq!(attr.mtime_ns, other.mtime_ns, "{}: mtime ns", rel.display());
            assert_eq!(attr.xattrs, other.xattrs, "{}: xattrs", rel.display());
            assert_eq!(attr.owner, other.owner, "{}: owner", rel.display());
            assert_eq!(attr.rdev, other.rdev, "{}: rdev", rel.display());
        }
    }
    assert_eq!(ga, gb, "the same hard-link groups");
}

/// Builds the tree every kind of entry is in; returns whether user xattrs were set.
fn build_tree(root: &Path) -> bool {
    fs::create_dir_all(root.join("a/b/c")).expect("mkdir");
    fs::create_dir(root.join("setgid")).expect("mkdir");
    fs::create_dir(root.join("locked")).expect("mkdir");
    fs::write(root.join("empty"), b"").expect("write");
    fs::write(root.join("one"), b"1").expect("write");
    fs::write(root.join("a/4k"), common::data(4096, 1)).expect("write");
    fs::write(root.join("a/b/100k"), common::data(100_000, 2)).expect("write");
    fs::write(
        root.join("a/b/c/3m"),
        common::data(3 * MIB as usize + 17, 3),
    )
    .expect("write");
    fs::write(root.join("locked/inside"), common::data(10, 4)).expect("write");
    // Sparse: 8 MiB with 64 KiB of data at 4 MiB, holes around it.
    let sparse = fs::File::create(root.join("sparse")).expect("create");
    sparse.set_len(8 * MIB).expect("set_len");
    std::os::unix::fs::FileExt::write_all_at(&sparse, &common::data(65536, 5), 4 * MIB)
        .expect("write");
    drop(sparse);
    // Hard links: a pair and a triple.
    fs::write(root.join("linked"), common::data(5000, 6)).expect("write");
    fs::hard_link(root.join("linked"), root.join("a/linked2")).expect("link");
    fs::write(root.join("a/b/tri"), common::data(300, 7)).expect("write");
    fs::hard_link(root.join("a/b/tri"), root.join("tri2")).expect("link");
    fs::hard_link(root.join("a/b/tri"), root.join("a/b/c/tri3")).expect("link");
    // Symlinks: relative, absolute, dangling, to a directory.
    symlink("../one", root.join("a/rel")).expect("symlink");
    symlink(root.join("a/4k"), root.join("abs")).expect("symlink");
    symlink("nowhere", root.join("dangling")).expect("symlink");
    symlink("a/b", root.join("dirlink")).expect("symlink");
    // A FIFO.
    let fifo = c(&root.join("fifo"));
    // SAFETY: `fifo` is NUL-terminated.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o640) }, 0, "mkfifo");
    // Odd modes.
    let mode = |p: &str, m: u32| {
        fs::set_permissions(root.join(p), fs::Permissions::from_mode(m)).expect("chmod")
    };
    mode("one", 0o600);
    mode("a/4k", 0o755);
    mode("a/b/100k", 0o444);
    mode("setgid", 0o2775);
    mode("fifo", 0o640);
    // Owners and a device node (root only: chown to ids nobody has; /dev/null's numbers).
    if common::is_root() {
        let dev = c(&root.join("a/null"));
        // SAFETY: `dev` is NUL-terminated.
        let r = unsafe { libc::mknod(dev.as_ptr(), libc::S_IFCHR | 0o620, libc::makedev(1, 3)) };
        assert_eq!(r, 0, "mknod");
        std::os::unix::fs::lchown(root.join("one"), Some(1234), Some(5678)).expect("chown");
        std::os::unix::fs::lchown(root.join("setgid"), Some(4321), Some(8765)).expect("chown");
        std::os::unix::fs::lchown(root.join("a/rel"), Some(1111), Some(2222)).expect("chown");
    }
    let xattrs = set_xattr(&root.join("a/4k"), "user.zcopy", b"file attr")
        && set_xattr(&root.join("a/b"), "user.zcopy.dir", b"dir attr")
        && set_xattr(&root.join("empty"), "user.empty", b"");
    // Nanosecond times on everything, deepest first so a parent's stays.
    let mut ns = 123_456_789;
    for p in [
        "a/b/c/3m",
        "a/b/c/tri3",
        "a/b/c",
        "a/b/100k",
        "a/b/tri",
        "a/rel",
        "a/linked2",
        "a/4k",
        "a/b",
        "locked/inside",
        "a",
        "empty",
        "one",
        "sparse",
        "linked",
        "tri2",
        "abs",
        "dangling",
        "dirlink",
        "fifo",
        "setgid",
    ] {
        ns += 1111;
        set_times(&root.join(p), 1_600_000_000 + (ns % 1000), ns);
    }
    mode("locked", 0o500);
    set_times(&root.join("locked"), 1_500_000_000, 999_999_999);
    set_times(root, 1_400_000_000, 1);
    xattrs
}

fn cp_a(src: &Path, dst: &Path) {
    let st = Command::new("cp")
        .arg("-a")
        .arg(src)
        .arg(dst)
        .status()
        .expect("run cp -a");
    assert!(st.success(), "cp -a failed");
}

/// No `.zcopy-*.part` file anywhere under `root`.
fn assert_no_temp(root: &Path) {
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).expect("read_dir") {
            let e = e.expect("entry");
            let name = e.file_name().to_string_lossy().into_owned();
            assert!(
                !name.starts_with(".zcopy-"),
                "a temporary file is left: {}",
                e.path().display()
            );
            if e.file_type().expect("type").is_dir() {
                stack.push(e.path());
            }
        }
    }
}

#[test]
fn copy_matches_cp_a_entry_by_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    fs::create_dir(&src).expect("mkdir");
    let have_xattrs = build_tree(&src);
    if !have_xattrs {
        common::skip(
            "copy_matches_cp_a_entry_by_entry",
            "the temp filesystem refuses user.* xattrs: they are not compared",
        );
    }
    let by_cp = dir.path().join("by_cp");
    cp_a(&src, &by_cp);
    let ours = dir.path().join("ours");
    let report = zcopy::copy_tree(&src, &ours, &TreeOptions::default()).expect("copy_tree");

    assert_same_tree(&src, &by_cp);
    assert_same_tree(&by_cp, &ours);
    assert_no_temp(&ours);
    // 9 regular files (the hard-linked ones once each), 6 directories (the root too),
    // 4 symlinks, 1 FIFO (and a device as root), 3 second names.
    assert_eq!(report.files, 9, "{report:?}");
    assert_eq!(report.directories, 6, "{report:?}");
    assert_eq!(report.symlinks, 4, "{report:?}");
    let devices = u64::from(common::is_root());
    assert_eq!(report.specials, 1 + devices, "{report:?}");
    assert_eq!(report.hard_links, 3, "{report:?}");
    assert!(report.errors.is_empty());
    let lengths: u64 = 1 + 4096 + 100_000 + 3 * MIB + 17 + 10 + 8 * MIB + 5000 + 300;
    assert_eq!(
        report.bytes, lengths,
        "each file's length once (holes included)"
    );
    assert!(report.syscalls > 0);
    // Holes kept: the sparse copy holds no more blocks than the source.
    let blocks = |p: &Path| fs::metadata(p).expect("stat").blocks();
    assert!(blocks(&ours.join("sparse")) <= blocks(&src.join("sparse")));
    if have_xattrs {
        assert_eq!(xattrs(&ours.join("a/4k"))["user.zcopy"], b"file attr");
    }
}

#[test]
fn every_worker_count_gives_the_same_tree() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    fs::create_dir(&src).expect("mkdir");
    build_tree(&src);
    let by_cp = dir.path().join("by_cp");
    cp_a(&src, &by_cp);
    for workers in [1, 2, 16] {
        let ours = dir.path().join(format!("w{workers}"));
        let opts = TreeOptions {
            workers: Some(workers),
            transfer: Options::default().with_strategy(Strategy::ReadWrite),
            ..Default::default()
        };
        zcopy::copy_tree(&src, &ours, &opts).expect("copy_tree");
        assert_same_tree(&by_cp, &ours);
    }
}

#[test]
fn following_symlinks_copies_what_they_point_to() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    fs::create_dir_all(src.join("d")).expect("mkdir");
    fs::write(src.join("d/f"), b"target").expect("write");
    symlink("d/f", src.join("to_file")).expect("symlink");
    symlink("d", src.join("to_dir")).expect("symlink");
    let ours = dir.path().join("ours");
    let opts = TreeOptions {
        symlinks: false,
        ..Default::default()
    };
    let report = zcopy::copy_tree(&src, &ours, &opts).expect("copy_tree");
    assert_eq!(report.symlinks, 0);
    assert!(fs::symlink_metadata(ours.join("to_file"))
        .expect("lstat")
        .is_file());
    assert_eq!(fs::read(ours.join("to_file")).expect("read"), b"target");
    assert!(fs::symlink_metadata(ours.join("to_dir"))
        .expect("lstat")
        .is_dir());
    assert_eq!(fs::read(ours.join("to_dir/f")).expect("read"), b"target");
}

#[test]
fn a_followed_symlink_loop_is_an_error_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    fs::create_dir_all(src.join("d")).expect("mkdir");
    symlink("..", src.join("d/up")).expect("symlink");
    let opts = TreeOptions {
        symlinks: false,
        ..Default::default()
    };
    let e = zcopy::copy_tree(&src, dir.path().join("dst"), &opts).expect_err("a loop");
    assert_eq!(e.errno(), Some(libc::ELOOP), "{e}");
    assert!(e.message().contains("d/up"), "{e}");
    assert!(e.message().contains("loop"), "{e}");
}

#[test]
fn existing_destination_needs_dirs_exist_ok() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    fs::create_dir_all(src.join("sub")).expect("mkdir");
    fs::write(src.join("sub/f"), b"new").expect("write");
    symlink("f", src.join("sub/l")).expect("symlink");
    let dst = dir.path().join("dst");
    fs::create_dir_all(dst.join("sub")).expect("mkdir");
    fs::write(dst.join("sub/f"), b"old, longer").expect("write");
    fs::write(dst.join("sub/l"), b"a file where the link goes").expect("write");
    fs::write(dst.join("keep"), b"kept").expect("write");

    let e = zcopy::copy_tree(&src, &dst, &TreeOptions::default()).expect_err("dst exists");
    assert_eq!(e.kind(), ErrorKind::Io);
    assert_eq!(e.errno(), Some(libc::EEXIST));
    assert!(e.message().contains(&dst.display().to_string()), "{e}");
    assert!(e.message().contains("dirs_exist_ok"), "{e}");
    assert_eq!(fs::read(dst.join("sub/f")).expect("read"), b"old, longer");

    let opts = TreeOptions {
        dirs_exist_ok: true,
        ..Default::default()
    };
    zcopy::copy_tree(&src, &dst, &opts).expect("copy into it");
    assert_eq!(fs::read(dst.join("sub/f")).expect("read"), b"new");
    assert_eq!(
        fs::read_link(dst.join("sub/l")).expect("link"),
        Path::new("f")
    );
    assert_eq!(fs::read(dst.join("keep")).expect("read"), b"kept");
    assert_no_temp(&dst);
}

/// A tree with three entries that fail: a FIFO refused by `specials: Error`, a dangling symlink
/// followed, and a directory whose destination name is a file.
fn failing_tree(root: &Path, dst: &Path) {
    fs::create_dir_all(root.join("ok/deep")).expect("mkdir");
    fs::create_dir(root.join("clash")).expect("mkdir");
    fs::write(root.join("ok/deep/f"), b"fine").expect("write");
    fs::write(root.join("clash/g"), b"never").expect("write");
    let fifo = c(&root.join("ok/fifo"));
    // SAFETY: `fifo` is NUL-terminated.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0, "mkfifo");
    symlink("missing", root.join("ok/dangling")).expect("symlink");
    fs::create_dir(dst).expect("mkdir");
    fs::write(dst.join("clash"), b"a file").expect("write");
}

#[test]
fn collected_errors_name_every_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    let dst = dir.path().join("dst");
    failing_tree(&src, &dst);
    let opts = TreeOptions {
        symlinks: false,
        specials: Specials::Error,
        dirs_exist_ok: true,
        errors: OnError::Collect,
        ..Default::default()
    };
    let e = zcopy::copy_tree(&src, &dst, &opts).expect_err("three failures");
    let msg = e.message();
    for p in ["ok/fifo", "ok/dangling", "clash"] {
        assert!(
            msg.contains(&src.join(p).display().to_string())
                || msg.contains(&dst.join(p).display().to_string()),
            "{p} in: {msg}"
        );
    }
    assert!(msg.starts_with("3 entries failed"), "{msg}");
    assert!(msg.contains("named pipe"), "{msg}");
    let report = e.tree_report().expect("a tree report");
    assert_eq!(report.errors.len(), 3, "{:?}", report.errors);
    let paths: BTreeSet<_> = report.errors.iter().map(|e| e.path.clone()).collect();
    let want: BTreeSet<_> = ["ok/fifo", "ok/dangling", "clash"]
        .iter()
        .map(|p| src.join(p))
        .collect();
    assert_eq!(paths, want);
    let by_errno = |n| report.errors.iter().find(|e| e.errno == Some(n)).is_some();
    assert!(by_errno(libc::ENOENT) && by_errno(libc::EEXIST) && by_errno(libc::EINVAL));
    // The rest was copied.
    assert_eq!(fs::read(dst.join("ok/deep/f")).expect("read"), b"fine");
    assert_eq!(report.files, 1);

    // Raise (the default): the first error alone.
    let dst2 = dir.path().join("dst2");
    let opts = TreeOptions {
        errors: OnError::Raise,
        ..opts
    };
    fs::create_dir(&dst2).expect("mkdir");
    fs::write(dst2.join("clash"), b"a file").expect("write");
    let e = zcopy::copy_tree(&src, &dst2, &opts).expect_err("first failure");
    assert_eq!(e.tree_report().expect("report").errors.len(), 1);
    assert!(!e.message().contains("entries failed"), "{e}");
}

#[test]
fn unreadable_file_is_an_error_naming_it() {
    if common::is_root() {
        common::skip(
            "unreadable_file_is_an_error_naming_it",
            "root reads a mode-000 file; the failures of collected_errors_name_every_path \
             (a dangling symlink followed, a refused FIFO) are provoked instead",
        );
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    fs::create_dir(&src).expect("mkdir");
    fs::write(src.join("secret"), b"x").expect("write");
    fs::set_permissions(src.join("secret"), fs::Permissions::from_mode(0o000)).expect("chmod");
    let dst = dir.path().join("dst");
    let e = zcopy::copy_tree(&src, &dst, &TreeOptions::default()).expect_err("EACCES");
    assert_eq!(e.errno(), Some(libc::EACCES));
    assert!(e.message().contains("secret"), "{e}");
    assert!(!dst.join("secret").exists());
    assert_no_temp(&dst);
}

#[test]
fn a_stop_leaves_no_half_written_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    fs::create_dir(&src).expect("mkdir");
    // Holes read as zeros: 4 × 64 MiB that take no disk, copied 4 KiB at a time with holes
    // written out, so the copy is still running when the second progress call stops it.
    for i in 0..4 {
        let f = fs::File::create(src.join(format!("big{i}"))).expect("create");
        f.set_len(64 * MIB).expect("set_len");
        std::os::unix::fs::FileExt::write_all_at(&f, b"tail", 64 * MIB - 4).expect("write");
    }
    let calls = AtomicU64::new(0);
    let seen = AtomicU64::new(0);
    let progress = |bytes: u64, _files: u64| {
        seen.store(bytes, Ordering::Relaxed);
        calls.fetch_add(1, Ordering::Relaxed) < 1
    };
    let mut transfer = Options::default().with_strategy(Strategy::ReadWrite);
    transfer.chunk_size = Some(4096);
    transfer.sparse = false;
    let opts = TreeOptions {
        transfer,
        workers: Some(2),
        progress: Some(&progress),
        ..Default::default()
    };
    let dst = dir.path().join("dst");
    let e = zcopy::copy_tree(&src, &dst, &opts).expect_err("stopped");
    assert_eq!(e.kind(), ErrorKind::Cancelled, "{e}");
    assert_eq!(e.errno(), Some(libc::ECANCELED));
    let report = e.tree_report().expect("report");
    assert!(report.errors.is_empty(), "a stop is not an entry's failure");
    assert!(report.files < 4, "{report:?}");
    assert_no_temp(&dst);
    // Whatever is there is whole.
    for entry in fs::read_dir(&dst).expect("read_dir") {
        let p = entry.expect("entry").path();
        let name = p.file_name().expect("name");
        assert_eq!(
            fs::read(&p).expect("read"),
            fs::read(src.join(name)).expect("read"),
            "{} is complete",
            p.display()
        );
    }
}

#[test]
fn progress_ends_with_the_totals() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    fs::create_dir(&src).expect("mkdir");
    for i in 0..20 {
        fs::write(src.join(format!("f{i}")), common::data(1000 * i, i as u64)).expect("write");
    }
    let last = std::sync::Mutex::new((0, 0));
    let progress = |bytes: u64, files: u64| {
        *last.lock().expect("lock") = (bytes, files);
        true
    };
    let opts = TreeOptions {
        progress: Some(&progress),
        ..Default::default()
    };
    let report = zcopy::copy_tree(&src, dir.path().join("dst"), &opts).expect("copy_tree");
    assert_eq!(report.files, 20);
    assert_eq!(report.bytes, (0..20).map(|i| 1000 * i as u64).sum::<u64>());
    assert_eq!(*last.lock().expect("lock"), (report.bytes, report.files));
}

#[test]
fn bad_options_are_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut opts = TreeOptions::default();
    opts.transfer.len = Some(1);
    let e = zcopy::copy_tree(dir.path(), dir.path().join("x"), &opts).expect_err("len");
    assert_eq!(e.kind(), ErrorKind::Invalid);
    let opts = TreeOptions {
        workers: Some(zcopy::MAX_WORKERS + 1),
        ..Default::default()
    };
    let e = zcopy::copy_tree(dir.path(), dir.path().join("x"), &opts).expect_err("workers");
    assert_eq!(e.kind(), ErrorKind::Invalid);
    // Into itself.
    let e = zcopy::copy_tree(
        dir.path(),
        dir.path().join("inside"),
        &TreeOptions::default(),
    )
    .expect_err("into itself");
    assert_eq!(e.kind(), ErrorKind::Invalid, "{e}");
    assert!(e.message().contains("into itself"), "{e}");
    assert_eq!(
        "collect".parse::<OnError>().expect("parse"),
        OnError::Collect
    );
    assert!("ignore".parse::<Specials>().is_err());
}
