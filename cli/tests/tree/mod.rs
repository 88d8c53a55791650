//! `zcopy copy -r` / `-a` (whole trees through the engine's copy_tree, compared with `cp -a`'s
//! copy) and `zcopy bench --tree` on a small tree.

use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Output};

fn zcopy(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zcopy"))
        .args(args)
        .output()
        .expect("run zcopy")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A small tree: nested files, a symlink, a hard link, an odd mode.
fn tree(root: &Path) {
    std::fs::create_dir_all(root.join("a/b")).expect("mkdir");
    std::fs::write(root.join("a/b/f"), vec![7u8; 70_000]).expect("write");
    std::fs::write(root.join("top"), b"top").expect("write");
    std::fs::hard_link(root.join("top"), root.join("a/top2")).expect("link");
    symlink("a/b/f", root.join("link")).expect("symlink");
    std::fs::set_permissions(root.join("top"), std::fs::Permissions::from_mode(0o640))
        .expect("chmod");
}

/// (relative path, mode, size, mtime ns, link target, bytes) of every entry, sorted.
fn listing(root: &Path) -> Vec<(String, u32, u64, i64, String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let m = std::fs::symlink_metadata(&p).expect("lstat");
        let rel = p
            .strip_prefix(root)
            .expect("under root")
            .display()
            .to_string();
        let link = if m.file_type().is_symlink() {
            std::fs::read_link(&p)
                .expect("readlink")
                .display()
                .to_string()
        } else {
            String::new()
        };
        let bytes = if m.is_file() {
            std::fs::read(&p).expect("read")
        } else {
            Vec::new()
        };
        let size = if m.is_dir() { 0 } else { m.size() };
        out.push((
            rel,
            m.mode(),
            size,
            m.mtime() * 1_000_000_000 + m.mtime_nsec(),
            link,
            bytes,
        ));
        if m.is_dir() {
            for e in std::fs::read_dir(&p).expect("read_dir") {
                stack.push(e.expect("entry").path());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn copy_r_and_a_match_cp_a() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    tree(&src);
    let by_cp = dir.path().join("by_cp");
    assert!(Command::new("cp")
        .arg("-a")
        .arg(&src)
        .arg(&by_cp)
        .status()
        .expect("cp")
        .success());
    for flag in ["-r", "-a"] {
        let dst = dir.path().join(format!("ours{flag}"));
        let out = zcopy(&["copy", flag, "--json", s(&src), s(&dst)]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert_eq!(v["files"], 2, "{v}");
        assert_eq!(v["directories"], 3, "{v}");
        assert_eq!(v["symlinks"], 1, "{v}");
        assert_eq!(v["hard_links"], 1, "{v}");
        assert_eq!(v["bytes"], 70_003, "{v}");
        assert_eq!(
            listing(&by_cp),
            listing(&dst),
            "zcopy copy {flag} against cp -a"
        );
        let (a, b) = (
            std::fs::metadata(dst.join("top")).expect("stat"),
            std::fs::metadata(dst.join("a/top2")).expect("stat"),
        );
        assert_eq!(a.ino(), b.ino(), "hard link kept");
    }
    // Into an existing directory: DIR/SRC's name, as cp.
    let into = dir.path().join("into");
    std::fs::create_dir(&into).expect("mkdir");
    let out = zcopy(&["copy", "-r", "-q", s(&src), s(&into)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "-q prints no report");
    assert_eq!(listing(&by_cp), listing(&into.join("src")));
    // A table without --json.
    let out = zcopy(&["copy", "-r", s(&src), s(&dir.path().join("table"))]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("files") && text.contains("hard links"),
        "{text}"
    );
}

#[test]
fn copy_r_failure_names_the_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("sub")).expect("mkdir");
    symlink("missing", src.join("sub/dangling")).expect("symlink");
    let dst = dir.path().join("dst");
    // cp -a keeps a dangling link; the copy succeeds.
    let out = zcopy(&["copy", "-a", "-q", s(&src), s(&dst)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_link(dst.join("sub/dangling")).expect("link"),
        Path::new("missing")
    );
    // A destination file where a directory goes: one line naming it, status 1.
    let clash = dir.path().join("clash");
    std::fs::create_dir(&clash).expect("mkdir");
    std::fs::write(clash.join("sub"), b"file").expect("write");
    let out = zcopy(&["copy", "-r", "-T", s(&src), s(&clash)]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&clash.join("sub").display().to_string()),
        "{err}"
    );
    assert!(err.contains("File exists"), "{err}");
}

#[test]
fn bench_tree_compares_with_cp_a_and_prints_targets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = zcopy(&[
        "bench",
        "--tree",
        "--tree-files",
        "60",
        "--rounds",
        "1",
        "--python",
        "none",
        "--dir",
        s(dir.path()),
    ]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("tree: 60 files, 3 directories"), "{text}");
    for line in [
        "hot: 60 files",
        "cold: 60 files",
        "zcopy ",
        "cp_a ",
        "target (hot): zcopy ≥ 1.3× cp -a",
        "target (cold): zcopy ≥ the best of the others",
    ] {
        assert!(text.contains(line), "{line:?} in:\n{text}");
    }
    assert!(
        text.contains("shutil_copytree: skipped (--python none)"),
        "{text}"
    );
    // The scratch tree is gone.
    assert_eq!(std::fs::read_dir(dir.path()).expect("read_dir").count(), 0);
}
