"""Exceptions: classes, errno, messages, and .bytes_moved on every one."""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import socket
import threading
from pathlib import Path

import pytest

import zcopy

from conftest import data

N = 1 << 20


def test_missing_file_is_both_file_not_found_and_zcopy_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        zcopy.copy_file(tmp_path / "nope", tmp_path / "out")
    e = info.value
    assert isinstance(e, zcopy.ZcopyError) and isinstance(e, OSError)
    assert e.errno == errno.ENOENT
    assert e.bytes_moved == 0
    assert "nope" in str(e) and e.strerror and "nope" in e.strerror
    assert type(e).__name__ == "ZcopyFileNotFoundError" and type(e).__module__ == "zcopy"


def test_permission_error(tmp_path: Path, src_file: Path) -> None:
    if os.geteuid() == 0:
        # root opens anything: a directory as the destination gives another class.
        with pytest.raises(IsADirectoryError) as info:
            zcopy.copy_file(src_file, tmp_path)
        assert isinstance(info.value, zcopy.ZcopyError)
        return
    locked = tmp_path / "locked"
    locked.write_bytes(b"")
    locked.chmod(0)
    with pytest.raises(PermissionError) as pinfo:
        zcopy.copy_file(src_file, locked)
    assert isinstance(pinfo.value, zcopy.ZcopyError)


def test_strict_unsupported(pipe: tuple[int, int], tmp_path: Path) -> None:
    r, _ = pipe
    with open(tmp_path / "o", "wb") as dst:
        with pytest.raises(zcopy.UnsupportedError) as info:
            zcopy.transfer(r, dst, strategy="sendfile", fallback=False)
    e = info.value
    assert isinstance(e, zcopy.ZcopyError) and e.bytes_moved == 0
    assert e.errno is not None
    # The message names the caller's fd, not zcopy's duplicate.
    assert f"src fd {r} " in str(e)


def test_write_only_source_is_a_value_error_naming_it(tmp_path: Path) -> None:
    with open(tmp_path / "w", "wb") as src, open(tmp_path / "o", "wb") as dst:
        with pytest.raises(ValueError, match=f"src fd {src.fileno()} is opened write-only") as info:
            zcopy.transfer(src, dst)
    e = info.value
    assert isinstance(e, zcopy.ZcopyError)
    assert e.errno == errno.EBADF and e.bytes_moved == 0


def test_read_only_destination(src_file: Path) -> None:
    with open(src_file, "rb") as src, open(src_file, "rb") as dst:
        with pytest.raises(ValueError, match=f"dst fd {dst.fileno()} is opened read-only"):
            zcopy.transfer(src, dst)


def test_offset_on_a_pipe_is_espipe(pipe: tuple[int, int], tmp_path: Path) -> None:
    r, _ = pipe
    with open(tmp_path / "o", "wb") as dst:
        with pytest.raises(zcopy.ZcopyError) as info:
            zcopy.transfer(r, dst, src_offset=3)
    assert isinstance(info.value, ValueError) and info.value.errno == errno.ESPIPE


def test_same_file_copy_is_a_value_error(src_file: Path) -> None:
    with pytest.raises(ValueError, match="same file"):
        zcopy.copy_file(src_file, src_file)
    assert src_file.read_bytes() == data(N)


def test_bad_fd(tmp_path: Path) -> None:
    with open(tmp_path / "o", "wb") as dst:
        with pytest.raises(zcopy.ZcopyError, match="src fd -1 is not an open file descriptor") as info:
            zcopy.transfer(-1, dst)
    assert info.value.errno == errno.EBADF
    with open(tmp_path / "o", "wb") as dst:
        r, w = os.pipe()
        os.close(r)
        os.close(w)
        with pytest.raises(OSError, match=f"src fd {r} is not an open"):
            zcopy.transfer(r, dst)


def test_broken_pipe(src_file: Path) -> None:
    r, w = os.pipe()
    os.close(r)
    try:
        with open(src_file, "rb") as src:
            with pytest.raises(BrokenPipeError) as info:
                zcopy.transfer(src, w)
        assert isinstance(info.value, zcopy.ZcopyError) and info.value.errno == errno.EPIPE
        assert info.value.bytes_moved == 0
    finally:
        os.close(w)


def test_would_block_is_blocking_io_error_with_the_partial_count(src_file: Path, pipe: tuple[int, int]) -> None:
    r, w = pipe
    os.set_blocking(w, False)
    cap = fcntl.fcntl(w, fcntl.F_GETPIPE_SZ)
    with open(src_file, "rb") as src:
        with pytest.raises(BlockingIOError) as info:
            zcopy.transfer(src, w)
        e = info.value
        assert isinstance(e, zcopy.ZcopyError) and e.errno == errno.EAGAIN
        assert 0 < e.bytes_moved <= cap
        assert src.tell() == e.bytes_moved  # the position advanced by exactly what moved
        assert e.report is not None and e.report.bytes == e.bytes_moved
    assert os.read(r, cap + 1) == data(N)[: e.bytes_moved]


@pytest.mark.parametrize(
    "options, exc, match",
    [
        ({"strategy": "bogus"}, ValueError, "unknown strategy \"bogus\"; expected one of auto"),
        ({"strategy": 3}, TypeError, "strategy must be a str"),
        ({"src_offset": -1}, ValueError, "src_offset must be >= 0, got -1"),
        ({"length": 1 << 64}, OverflowError, "length .* does not fit in 64 bits"),
        ({"length": "10"}, TypeError, "length must be an int or None, not str"),
        ({"chunk_size": True}, TypeError, "not a bool"),
        ({"fallback": 1}, TypeError, "fallback must be a bool"),
        ({"progress": 3}, TypeError, "progress must be a callable"),
        ({"cancel": True}, TypeError, "cancel must be a threading.Event"),
        ({"len": 3}, TypeError, "spelling is length="),
        ({"colour": 3}, TypeError, "unexpected keyword argument 'colour'"),
    ],
)
def test_bad_options(options: dict[str, object], exc: type[Exception], match: str, src_file: Path, tmp_path: Path) -> None:
    with open(src_file, "rb") as src, open(tmp_path / "o", "wb") as dst:
        with pytest.raises(exc, match=match):
            zcopy.transfer(src, dst, **options)  # type: ignore[arg-type]
        with pytest.raises(exc, match=match):
            zcopy.copy_file(src_file, tmp_path / "p", **options)  # type: ignore[arg-type]


def test_unknown_strategy_value_error_is_also_zcopy_error() -> None:
    with pytest.raises(zcopy.ZcopyError) as info:
        zcopy.copy_file("/dev/null", "/dev/null", strategy="nope")
    assert isinstance(info.value, ValueError) and info.value.errno == errno.EINVAL


def test_progress_false_cancels(src_file: Path, tmp_path: Path) -> None:
    seen: list[int] = []

    def progress(moved: int) -> bool:
        seen.append(moved)
        return moved < 64 * 1024

    with open(src_file, "rb") as src, open(tmp_path / "o", "wb") as dst:
        with pytest.raises(zcopy.CancelledError) as info:
            zcopy.transfer(src, dst, strategy="read_write", chunk_size=16 * 1024, progress=progress)
        assert src.tell() == info.value.bytes_moved
    e = info.value
    assert e.errno == errno.ECANCELED and e.bytes_moved == 64 * 1024
    assert seen == [16 * 1024, 32 * 1024, 48 * 1024, 64 * 1024]
    assert (tmp_path / "o").read_bytes() == data(N)[: 64 * 1024]


def test_progress_none_or_other_values_go_on(src_file: Path, tmp_path: Path) -> None:
    answers = iter([None, 0, "", True] * 100)
    r = zcopy.copy_file(
        src_file, tmp_path / "o", strategy="read_write", chunk_size=64 * 1024, progress=lambda n: next(answers)
    )
    assert r.bytes == N


def test_progress_exception_propagates_with_bytes_moved(src_file: Path, tmp_path: Path) -> None:
    def progress(moved: int) -> None:
        raise RuntimeError(f"stop at {moved}")

    with pytest.raises(RuntimeError, match="stop at 65536") as info:
        zcopy.copy_file(src_file, tmp_path / "o", strategy="read_write", chunk_size=65536, progress=progress)
    assert info.value.bytes_moved == 65536  # type: ignore[attr-defined]


def test_cancel_event(src_file: Path, tmp_path: Path) -> None:
    ev = threading.Event()
    ev.set()
    with pytest.raises(zcopy.CancelledError, match="cancel") as info:
        zcopy.copy_file(src_file, tmp_path / "o", cancel=ev)
    assert info.value.bytes_moved == 0

    class Flag:
        def __init__(self) -> None:
            self.calls = 0

        def is_set(self) -> bool:
            self.calls += 1
            return self.calls > 3

    flag = Flag()
    with pytest.raises(zcopy.CancelledError) as info:
        zcopy.copy_file(
            src_file,
            tmp_path / "o",
            strategy="read_write",
            chunk_size=4096,
            cancel=flag,
            progress=lambda n: None,
        )
    # Seen set after the third chunk (the first call is before the transfer starts); the engine
    # checks its flag after calling progress, between chunks, so the fourth never starts.
    assert info.value.bytes_moved == 3 * 4096
    assert zcopy.copy_file(src_file, tmp_path / "o", cancel=threading.Event()).bytes == N


def test_progress_true_needs_tqdm(src_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    with pytest.raises(ImportError, match="pip install tqdm"):
        zcopy.copy_file(src_file, tmp_path / "o", progress=True)


def test_progress_true_shows_a_tqdm_bar(src_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tqdm")
    r = zcopy.copy_file(src_file, tmp_path / "o", progress=True, strategy="read_write")
    assert r.bytes == N
    err = capsys.readouterr().err
    assert "zcopy" in err and "100%" in err


def test_exception_report_and_pickle_free_attributes(src_file: Path, tmp_path: Path) -> None:
    with pytest.raises(zcopy.CancelledError) as info:
        zcopy.copy_file(src_file, tmp_path / "o", strategy="read_write", chunk_size=4096, progress=lambda n: False)
    rep = info.value.report
    assert isinstance(rep, zcopy.Report)
    assert rep.bytes == 4096 and rep.strategy == "read_write" and rep.syscalls > 0


# Issue 14, cases 5 and 14: the built-ins open() and shutil raise, each also a ZcopyError.


def _check_os_error(e: BaseException, cls: type[OSError], err: int, needle: str) -> None:
    assert isinstance(e, cls) and isinstance(e, zcopy.ZcopyError), type(e).__mro__
    assert not isinstance(e, ValueError)
    assert e.errno == err and needle in str(e)
    assert e.bytes_moved == 0


def test_directory_as_source_is_is_a_directory_error(tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError) as info:
        zcopy.copy_file(tmp_path, tmp_path / "out")
    _check_os_error(info.value, IsADirectoryError, errno.EISDIR, str(tmp_path))
    assert not (tmp_path / "out").exists()
    # What shutil.copyfile raises for the same call.
    with pytest.raises(IsADirectoryError):
        shutil.copyfile(tmp_path, tmp_path / "out2")
    fd = os.open(tmp_path, os.O_RDONLY)
    try:
        with open(tmp_path / "o", "wb") as dst, pytest.raises(IsADirectoryError) as dinfo:
            zcopy.transfer(fd, dst)
        _check_os_error(dinfo.value, IsADirectoryError, errno.EISDIR, "is a directory")
    finally:
        os.close(fd)


def test_directory_as_destination_is_is_a_directory_error(tmp_path: Path, src_file: Path) -> None:
    with pytest.raises(IsADirectoryError) as info:
        zcopy.copy_file(src_file, tmp_path)
    _check_os_error(info.value, IsADirectoryError, errno.EISDIR, str(tmp_path))


def test_not_a_directory_and_permission_errors(tmp_path: Path, src_file: Path) -> None:
    with pytest.raises(NotADirectoryError) as info:
        zcopy.copy_file(src_file / "sub", tmp_path / "out")
    _check_os_error(info.value, NotADirectoryError, errno.ENOTDIR, "sub")
    # sysfs refuses to open a read-only attribute for writing, even to root.
    ro = Path("/sys/devices/system/cpu/online")
    if not ro.exists():
        pytest.skip(f"no {ro}: no PermissionError case")
    with pytest.raises(PermissionError) as pinfo:
        zcopy.copy_file(src_file, ro)
    _check_os_error(pinfo.value, PermissionError, errno.EACCES, str(ro))


def test_server_root_errors_are_os_errors(tmp_path: Path, src_file: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        zcopy.Server(tmp_path / "missing")
    _check_os_error(info.value, FileNotFoundError, errno.ENOENT, "missing")
    with pytest.raises(NotADirectoryError) as ninfo:
        zcopy.Server(src_file)
    _check_os_error(ninfo.value, NotADirectoryError, errno.ENOTDIR, str(src_file))


def _copy_file_in_thread(src: Path | str, dst: Path | str, release: Path) -> BaseException | None:
    """copy_file(src, dst) on a thread, its exception returned; fails (after releasing the
    FIFO ``release`` with an open of its other end) if it blocks instead of returning."""
    box: list[BaseException | None] = []

    def run() -> None:
        try:
            zcopy.copy_file(src, dst)
            box.append(None)
        except BaseException as e:  # handed to the test
            box.append(e)

    t = threading.Thread(target=run)
    t.start()
    t.join(5)
    if t.is_alive():
        os.close(os.open(release, os.O_RDWR))  # wakes the blocked open; then end of file
        t.join()
        pytest.fail(f"copy_file({src}, {dst}) blocked opening a FIFO instead of refusing it")
    return box[0]


def test_copy_file_refuses_special_files(tmp_path: Path, src_file: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    sock_path = tmp_path / "sock"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    kept = tmp_path / "kept"
    kept.write_bytes(b"old")
    try:
        cases: list[tuple[Path | str, Path, str]] = [
            (fifo, kept, f"src {fifo} is a named pipe"),
            (sock_path, kept, f"src {sock_path} is a socket"),
            ("/dev/null", kept, "src /dev/null is a character device"),
            (src_file, fifo, f"dst {fifo} is a named pipe"),
        ]
        for src, dst, what in cases:
            e = _copy_file_in_thread(src, dst, fifo)
            assert isinstance(e, ValueError) and isinstance(e, zcopy.ZcopyError), repr(e)
            assert e.errno == errno.EINVAL and what in str(e), str(e)
            assert "pass the fd to transfer" in str(e)
            assert e.bytes_moved == 0
            assert kept.read_bytes() == b"old"
        # shutil refuses the named pipe likewise (its SpecialFileError).
        with pytest.raises(shutil.SpecialFileError):
            shutil.copyfile(fifo, kept)
    finally:
        sock.close()
    # A device as the destination is a sink, as for shutil.
    assert zcopy.copy_file(src_file, "/dev/null").bytes == N
