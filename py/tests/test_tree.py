"""``zcopy.copytree``: a tree with every kind of entry, copied by ``cp -a`` and by copytree,
compared entry by entry and attribute by attribute; and the errors it raises."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import threading
from pathlib import Path

import pytest

import zcopy


def make_tree(root: Path) -> bool:
    """Files (empty, 100 KiB, sparse), nested dirs, symlinks (relative, absolute, dangling), a
    hard link, a FIFO, odd modes, ns times, a user xattr (where the filesystem takes one)."""
    (root / "a" / "b").mkdir(parents=True)
    (root / "empty").write_bytes(b"")
    (root / "a" / "b" / "f").write_bytes(os.urandom(100_000))
    with open(root / "sparse", "wb") as f:
        f.truncate(4 << 20)
        f.seek(4 << 20)
        f.write(b"tail")
    os.link(root / "a" / "b" / "f", root / "a" / "hard")
    os.symlink("b/f", root / "a" / "rel")
    os.symlink(root / "empty", root / "abs")
    os.symlink("nowhere", root / "dangling")
    os.mkfifo(root / "fifo", 0o640)
    os.chmod(root / "a" / "b" / "f", 0o600)
    os.chmod(root / "a", 0o2755)
    try:
        os.setxattr(root / "empty", "user.zcopy", b"attr")
        xattrs = True
    except OSError:
        xattrs = False
    for i, p in enumerate(["a/b/f", "a/rel", "fifo", "empty", "a/b", "a"]):
        ns = 1_600_000_000_123_456_789 + i * 1_000_000_007
        os.utime(root / p, ns=(ns, ns), follow_symlinks=False)
    return xattrs


def listing(root: Path) -> list[tuple[object, ...]]:
    out: list[tuple[object, ...]] = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in ["", *dirnames, *filenames]:
            p = Path(dirpath) / name
            if name == "" and Path(dirpath) != root:
                continue
            st = os.lstat(p)
            rel = str(p.relative_to(root))
            link = os.readlink(p) if stat.S_ISLNK(st.st_mode) else None
            data = p.read_bytes() if stat.S_ISREG(st.st_mode) else None
            attrs = (
                sorted((a, os.getxattr(p, a)) for a in os.listxattr(p))
                if not stat.S_ISLNK(st.st_mode)
                else []
            )
            size = 0 if stat.S_ISDIR(st.st_mode) else st.st_size
            out.append((rel, st.st_mode, size, st.st_mtime_ns, link, st.st_nlink, st.st_uid, st.st_gid, attrs, data))
    return sorted(out, key=lambda t: str(t[0]))


def test_copytree_matches_cp_a(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src)
    subprocess.run(["cp", "-a", src, tmp_path / "cp"], check=True)
    seen: list[tuple[int, int]] = []
    report = zcopy.copytree(src, tmp_path / "ours", progress=lambda b, f: seen.append((b, f)))
    assert (report.files, report.directories, report.symlinks, report.specials, report.hard_links) == (3, 3, 3, 1, 1)
    assert report.bytes == 100_000 + (4 << 20) + 4
    assert report.errors == []
    assert seen[-1] == (report.bytes, report.files)
    assert listing(tmp_path / "cp") == listing(tmp_path / "ours")
    # Every worker count gives the same tree.
    zcopy.copytree(src, tmp_path / "one", workers=1, strategy="read_write")
    assert listing(tmp_path / "cp") == listing(tmp_path / "one")


def test_copytree_like_shutil_for_a_plain_tree(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "x").write_bytes(b"x" * 5000)
    os.symlink("d/x", src / "l")
    shutil.copytree(src, tmp_path / "shutil", symlinks=True)
    zcopy.copytree(src, tmp_path / "ours")
    for rel in ["d/x", "l"]:
        assert (tmp_path / "ours" / rel).read_bytes() == (tmp_path / "shutil" / rel).read_bytes()
    assert os.readlink(tmp_path / "ours" / "l") == "d/x"


def test_existing_destination_and_dirs_exist_ok(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"new")
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "f").write_bytes(b"old, longer")
    with pytest.raises(FileExistsError) as e:
        zcopy.copytree(src, dst)
    assert isinstance(e.value, zcopy.ZcopyError)
    assert str(dst) in str(e.value) and "dirs_exist_ok" in str(e.value)
    assert e.value.tree_report.files == 0  # type: ignore[attr-defined]
    zcopy.copytree(src, dst, dirs_exist_ok=True)
    assert (dst / "f").read_bytes() == b"new"


def test_collected_errors_name_every_path(tmp_path: Path) -> None:
    src = tmp_path / "src"
    make_tree(src)
    with pytest.raises(zcopy.ZcopyError) as e:
        zcopy.copytree(src, tmp_path / "dst", symlinks=False, specials="error", errors="collect")
    msg = str(e.value)
    assert "2 entries failed" in msg
    assert str(src / "fifo") in msg and str(src / "dangling") in msg
    report = e.value.tree_report  # type: ignore[attr-defined]
    assert sorted(p for p, _ in report.errors) == [str(src / "dangling"), str(src / "fifo")]
    assert report.files == 4  # abs, followed, is a copy of empty
    # raise: the first only.
    with pytest.raises(zcopy.ZcopyError) as e:
        zcopy.copytree(src, tmp_path / "dst2", symlinks=False, specials="error")
    assert len(e.value.tree_report.errors) == 1  # type: ignore[attr-defined]


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="errors"):
        zcopy.copytree(tmp_path, tmp_path / "x", errors="ignore")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="specials"):
        zcopy.copytree(tmp_path, tmp_path / "x", specials="skip")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="len"):
        zcopy.copytree(tmp_path, tmp_path / "x", length=1)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="unexpected keyword"):
        zcopy.copytree(tmp_path, tmp_path / "x", follow=True)  # type: ignore[call-arg]


def big_tree(root: Path) -> None:
    root.mkdir()
    for i in range(4):
        with open(root / f"big{i}", "wb") as f:
            f.truncate(64 << 20)


def no_half_written_file(src: Path, dst: Path) -> None:
    for p in dst.iterdir():
        assert not p.name.startswith(".zcopy-"), p
        assert p.stat().st_size == (src / p.name).stat().st_size, p


def test_a_stop_from_progress_leaves_no_half_written_file(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    big_tree(src)
    calls = []

    def progress(b: int, f: int) -> bool:
        calls.append(b)
        return len(calls) < 2

    with pytest.raises(zcopy.CancelledError) as e:
        zcopy.copytree(src, dst, progress=progress, workers=2, strategy="read_write", chunk_size=4096, sparse=False)
    assert e.value.tree_report.files < 4  # type: ignore[attr-defined]
    no_half_written_file(src, dst)


def test_cancel_event_and_callback_exception(tmp_path: Path) -> None:
    src = tmp_path / "src"
    big_tree(src)
    ev = threading.Event()
    ev.set()
    with pytest.raises(zcopy.CancelledError):
        zcopy.copytree(src, tmp_path / "a", cancel=ev)

    def boom(b: int, f: int) -> bool:
        raise RuntimeError("from the callback")

    with pytest.raises(RuntimeError, match="from the callback") as e:
        zcopy.copytree(src, tmp_path / "b", progress=boom, strategy="read_write", chunk_size=4096, sparse=False)
    assert hasattr(e.value, "bytes_moved")
    no_half_written_file(src, tmp_path / "b")
