"""auto_choice (what auto runs first for a pair, and why), files (vmtouch's walk), lock and
lock_limit (mlock'd pages)."""

from __future__ import annotations

import errno
import os
import resource
import warnings
from pathlib import Path

import pytest

import zcopy

from conftest import data

PAGE = os.sysconf("SC_PAGE_SIZE")


def test_auto_choice_first_is_what_transfer_runs(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.write_bytes(data(4096, 3))
    with open(src, "rb") as s, open(tmp_path / "dst", "wb") as d:
        c = zcopy.auto_choice(s, d)
        assert isinstance(c, zcopy.AutoChoice)
        assert c.first is not None and c.order[0] == c.first, c
        assert all(name in zcopy.strategies() for name in c.order)
        assert c.why
        assert c.to_dict() == {"order": c.order, "first": c.first, "why": c.why}
        assert repr(c).startswith(f"AutoChoice(order=['{c.order[0]}'")
        # Asking moved nothing: the position is where it was.
        assert s.tell() == 0
        r = zcopy.transfer(s, d)
        assert (r.bytes, r.strategy) == (4096, c.first)
    assert (tmp_path / "dst").read_bytes() == data(4096, 3)


def test_auto_choice_file_to_pipe(tmp_path: Path, pipe: tuple[int, int]) -> None:
    src = tmp_path / "src"
    src.write_bytes(data(4096, 4))
    r, w = pipe
    with open(src, "rb") as s:
        c = zcopy.auto_choice(s, w, src_offset=0)
        assert c.first is not None and c.first != "copy_file_range", c
        rep = zcopy.transfer(s, w, src_offset=0)
        assert (rep.bytes, rep.strategy) == (4096, c.first)
    assert os.read(r, 8192) == data(4096, 4)


def test_auto_choice_errors(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.write_bytes(b"x")
    with open(src, "rb") as s, open(tmp_path / "dst", "wb") as d:
        with pytest.raises(TypeError, match="unexpected keyword argument 'nope'"):
            zcopy.auto_choice(s, d, nope=1)  # type: ignore[call-arg]
        with pytest.raises(ValueError, match="teleport"):
            zcopy.auto_choice(s, d, strategy="teleport")
        # A write-only source, named by the caller's fd, not zcopy's duplicate.
        with pytest.raises(zcopy.ZcopyError, match=f"^\\[Errno 9\\] src fd {d.fileno()} is opened write-only$") as e:
            zcopy.auto_choice(d, s)
        assert e.value.errno == errno.EBADF
        with pytest.raises(TypeError):
            zcopy.auto_choice(str(src), d)  # type: ignore[arg-type]


def test_files_lists_exactly_the_files_of_a_tree(tmp_path: Path) -> None:
    d = tmp_path / "d"
    (d / "b" / "c").mkdir(parents=True)
    for p, n in (("a", 10), ("b/x", 20), ("b/c/y", 30)):
        (d / p).write_bytes(b"1" * n)
    (d / "link").symlink_to(d / "a")
    missing = tmp_path / "missing"
    w = zcopy.files(d, missing, str(d / "b" / "x").encode())
    assert isinstance(w, zcopy.Files)
    assert w.files == [str(d / "a"), str(d / "b/c/y"), str(d / "b/x"), str(d / "b/x")]
    assert (w.directories, w.any_directory) == (3, True)
    assert len(w.errors) == 1
    path, err = w.errors[0]
    assert path == str(missing)
    assert isinstance(err, zcopy.ZcopyError) and isinstance(err, FileNotFoundError)
    assert err.errno == errno.ENOENT
    assert str(err) == f"[Errno 2] cannot open {missing}: No such file or directory"
    assert repr(w) == "Files(files=4, directories=3, errors=1)"
    one = zcopy.files(d / "a")
    assert (one.files, one.directories, one.any_directory, one.errors) == ([str(d / "a")], 0, False, [])
    assert zcopy.files().files == []
    with pytest.raises(TypeError, match="takes paths"):
        zcopy.files(3)  # type: ignore[arg-type]


def test_lock_makes_every_page_resident_until_closed(tmp_path: Path) -> None:
    p = tmp_path / "f"
    n = (1 << 20) + 100
    p.write_bytes(data(n, 5))
    pages = -(-n // PAGE)
    with open(p, "rb") as f:
        assert zcopy.evict(f).resident == 0
        with zcopy.lock(f) as locked:
            assert isinstance(locked, zcopy.Locked)
            assert (locked.pages, locked.bytes, locked.closed) == (pages, n, False)
            assert repr(locked) == f"Locked(pages={pages}, bytes={n})"
            r = zcopy.residency(f)
            assert (r.pages, r.resident) == (pages, pages)
            assert zcopy.evict(f).resident == pages, "locked pages were evicted"
        assert locked.closed and locked.pages == 0 and repr(locked) == "Locked(closed)"
        locked.close()
        assert zcopy.evict(f).resident == 0
    # A range from the page boundary below its offset; a path; an empty range.
    part = zcopy.lock(p, offset=PAGE + 1, length=PAGE)
    assert (part.pages, part.bytes) == (2, PAGE + 1)
    part.close()
    assert zcopy.lock(p, length=0).pages == 0
    pr, pw = os.pipe()
    try:
        with pytest.raises(ValueError, match="has no page cache"):
            zcopy.lock(pr)
    finally:
        os.close(pr)
        os.close(pw)


def test_lock_limit_is_rlimit_memlock_unless_cap_ipc_lock() -> None:
    soft, _ = resource.getrlimit(resource.RLIMIT_MEMLOCK)
    with open("/proc/self/status") as s:
        caps = int(next(line for line in s if line.startswith("CapEff:")).split()[1], 16)
    want = None if soft == resource.RLIM_INFINITY or caps & (1 << 14) else soft
    assert zcopy.lock_limit() == want


def test_lock_past_rlimit_memlock_fails_cleanly(tmp_path: Path) -> None:
    # In a child: RLIMIT_MEMLOCK lowered to 64 KiB, and, as root, become nobody (root's
    # CAP_IPC_LOCK lifts the limit).
    p = tmp_path / "f"
    p.write_bytes(data(1 << 20, 6))
    f = open(p, "rb")
    rd, wr = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads (3.12+)
        pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            os.close(rd)
            resource.setrlimit(resource.RLIMIT_MEMLOCK, (64 << 10, 64 << 10))
            if os.getuid() == 0:
                os.setgroups([])
                os.setgid(65534)
                os.setuid(65534)
            limit = zcopy.lock_limit()
            try:
                zcopy.lock(f)
                msg = f"locked past the limit ({limit})"
            except zcopy.ZcopyError as e:
                msg = f"{limit} {e.errno} {e}"
            os.write(wr, msg.encode())
            code = 0
        finally:
            os._exit(code)
    os.close(wr)
    with os.fdopen(rd, "rb") as r:
        out = r.read().decode()
    _, status = os.waitpid(pid, 0)
    f.close()
    assert os.waitstatus_to_exitcode(status) == 0, out
    assert out.startswith(f"65536 {errno.ENOMEM} [Errno {errno.ENOMEM}] mlock of 1048576 bytes of "), out


def test_lock_names_the_callers_fd_and_path(pipe: tuple[int, int]) -> None:
    # zcopy works on a duplicate of the caller's fd; the engine is given the caller's name for it.
    r, _ = pipe
    with pytest.raises(ValueError, match=f"^\\[Errno 22\\] cannot lock: fd {r} is a pipe, which has no page cache$"):
        zcopy.lock(r)
    with pytest.raises(ValueError, match="^\\[Errno 22\\] cannot lock: /dev/null is a character device, which has no page cache$"):
        zcopy.lock("/dev/null")
