"""Every kind of argument: fds, file objects (buffered, unbuffered, text), sockets, pipes, paths;
and the positions of buffered objects."""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import zcopy

from conftest import data

N = 1 << 20


def test_int_fds_use_and_advance_positions(src_file: Path, tmp_path: Path) -> None:
    src = os.open(src_file, os.O_RDONLY)
    dst = os.open(tmp_path / "out", os.O_WRONLY | os.O_CREAT)
    try:
        os.lseek(src, 100, os.SEEK_SET)
        r = zcopy.transfer(src, dst, length=1000)
        assert r.bytes == 1000
        assert os.lseek(src, 0, os.SEEK_CUR) == 1100
        assert os.lseek(dst, 0, os.SEEK_CUR) == 1000
        r = zcopy.transfer(src, dst)
        assert r.bytes == N - 1100
    finally:
        os.close(src)
        os.close(dst)
    assert (tmp_path / "out").read_bytes() == data(N)[100:]


def test_explicit_offsets_leave_positions_alone(src_file: Path, tmp_path: Path) -> None:
    with open(src_file, "rb") as src, open(tmp_path / "out", "wb") as dst:
        dst.write(b"head")
        r = zcopy.transfer(src, dst, src_offset=5000, dst_offset=10, length=300)
        assert r.bytes == 300
        assert src.tell() == 0
        assert dst.tell() == 4
        assert src.read(3) == data(N)[:3]
    out = (tmp_path / "out").read_bytes()
    assert out[:4] == b"head" and out[10:] == data(N)[5000:5300]


def test_buffered_reader_transfers_from_its_logical_position(src_file: Path, tmp_path: Path) -> None:
    expected = data(N)
    with open(src_file, "rb") as src, open(tmp_path / "out", "wb") as dst:
        assert src.read(10) == expected[:10]  # reads ahead far more than 10 bytes
        assert os.lseek(src.fileno(), 0, os.SEEK_CUR) > 10
        r = zcopy.transfer(src, dst, length=1000)
        assert r.bytes == 1000
        assert src.tell() == 1010
        # The object and the OS agree: reading on continues at 1010, past the old buffer too.
        assert src.read(20000) == expected[1010:21010]
        assert src.read() == expected[21010:]
    assert (tmp_path / "out").read_bytes() == expected[10:1010]


def test_buffered_reader_whole_rest(src_file: Path, tmp_path: Path) -> None:
    expected = data(N)
    with open(src_file, "rb") as src, open(tmp_path / "out", "wb") as dst:
        src.read(7)
        r = zcopy.transfer(src, dst)
        assert r.bytes == N - 7
        assert src.tell() == N
        assert src.read() == b""
    assert (tmp_path / "out").read_bytes() == expected[7:]


def test_buffered_random_reader(src_file: Path, tmp_path: Path) -> None:
    expected = data(N)
    with open(src_file, "r+b") as src, open(tmp_path / "out", "wb") as dst:
        src.read(3)
        zcopy.transfer(src, dst, length=5)
        assert src.tell() == 8
        assert src.read(4) == expected[8:12]
    assert (tmp_path / "out").read_bytes() == expected[3:8]


def test_buffered_writer_is_flushed_first_and_follows(src_file: Path, tmp_path: Path) -> None:
    expected = data(N)
    with open(src_file, "rb") as src, open(tmp_path / "out", "wb") as dst:
        dst.write(b"before")  # still in the object's buffer
        zcopy.transfer(src, dst, length=100)
        assert dst.tell() == 106
        dst.write(b"after")
    assert (tmp_path / "out").read_bytes() == b"before" + expected[:100] + b"after"


def test_append_mode_writer(src_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.write_bytes(b"old")
    with open(src_file, "rb") as src, open(out, "ab") as dst:
        dst.write(b"+")
        zcopy.transfer(src, dst, length=10)
        dst.write(b"!")
    assert out.read_bytes() == b"old+" + data(N)[:10] + b"!"


def test_read_write_file_as_destination_drops_its_read_buffer(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_bytes(b"a" * 10000)
    src = tmp_path / "s"
    src.write_bytes(b"B" * 10)
    with open(src, "rb") as s, open(p, "r+b") as f:
        assert f.read(5) == b"aaaaa"  # the object now holds bytes 0..8192 in its buffer
        zcopy.transfer(s, f, dst_offset=100)
        f.seek(95)
        assert f.read(20) == b"aaaaa" + b"B" * 10 + b"aaaaa"


def test_unbuffered_fileio(src_file: Path, tmp_path: Path) -> None:
    with open(src_file, "rb", buffering=0) as src, open(tmp_path / "out", "wb", buffering=0) as dst:
        src.read(1)
        zcopy.transfer(src, dst, length=10)
        assert src.tell() == 11 and dst.tell() == 10
    assert (tmp_path / "out").read_bytes() == data(N)[1:11]


def test_text_files(tmp_path: Path) -> None:
    text = "héllo wörld\n" * 1000
    (tmp_path / "in.txt").write_text(text, encoding="utf-8")
    raw = text.encode()
    with open(tmp_path / "in.txt", encoding="utf-8") as src, open(tmp_path / "out.txt", "w", encoding="utf-8") as dst:
        assert src.read(3) == "hél"  # 4 bytes
        dst.write("AB")
        zcopy.transfer(src, dst, length=4)  # "lo w"
        assert src.tell() == 8
        assert src.read(4) == "örld"
        dst.write("Z")
    assert (tmp_path / "out.txt").read_bytes() == b"AB" + raw[4:8] + b"Z"


def test_pipe_ends_and_fifo_objects(src_file: Path, pipe: tuple[int, int], tmp_path: Path) -> None:
    r, w = pipe
    got = bytearray()
    reader = threading.Thread(target=lambda: got.extend(_drain(r)))
    reader.start()
    with open(src_file, "rb") as src, open(w, "wb", closefd=False) as wf:
        rep = zcopy.transfer(src, wf)
    os.close(w)
    reader.join()
    assert rep.bytes == N and bytes(got) == data(N)


def _drain(fd: int) -> bytes:
    chunks: list[bytes] = []
    while True:
        b = os.read(fd, 1 << 16)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


def test_socketpair_objects(src_file: Path) -> None:
    a, b = socket.socketpair()
    got = bytearray()
    with a, b:
        t = threading.Thread(target=lambda: got.extend(_recv_all(b)))
        t.start()
        with open(src_file, "rb") as src:
            rep = zcopy.transfer(src, a)
        a.shutdown(socket.SHUT_WR)
        t.join()
    assert rep.bytes == N and bytes(got) == data(N)


def _recv_all(s: socket.socket) -> bytes:
    chunks: list[bytes] = []
    while True:
        b = s.recv(1 << 16)
        if not b:
            return b"".join(chunks)
        chunks.append(b)


def test_tcp_sockets_both_ways(tcp_pair: tuple[socket.socket, socket.socket], src_file: Path, tmp_path: Path) -> None:
    client, server = tcp_pair
    with open(src_file, "rb") as src:
        def send() -> None:
            zcopy.transfer(src, client)
            client.shutdown(socket.SHUT_WR)

        t = threading.Thread(target=send)
        t.start()
        with open(tmp_path / "out", "wb") as dst:
            rep = zcopy.transfer(server, dst)
        t.join()
    assert rep.bytes == N
    assert (tmp_path / "out").read_bytes() == data(N)


def test_copy_file_takes_str_bytes_and_pathlike(src_file: Path, tmp_path: Path) -> None:
    pairs: list[tuple[Any, Any]] = [
        (str(src_file), str(tmp_path / "a")),
        (os.fsencode(src_file), os.fsencode(tmp_path / "b")),
        (src_file, tmp_path / "c"),
    ]
    for s, d in pairs:
        r = zcopy.copy_file(s, d)
        assert r.bytes == N
    for name in "abc":
        assert (tmp_path / name).read_bytes() == data(N)


def test_copy_file_truncates_and_keeps_an_existing_mode(src_file: Path, tmp_path: Path) -> None:
    os.chmod(src_file, 0o640)
    out = tmp_path / "out"
    out.write_bytes(b"x" * (2 * N))
    os.chmod(out, 0o600)
    zcopy.copy_file(src_file, out)
    assert out.read_bytes() == data(N)
    assert os.stat(out).st_mode & 0o7777 == 0o600


_UMASK_CHILD = """
import os, sys, zcopy
os.umask(0o077)
src, dst, existing = sys.argv[1:4]
for mode in (0o666, 0o4755):
    os.chmod(src, mode)
    new = f"{dst}.{mode:o}"
    zcopy.copy_file(src, new)
    print(oct(os.stat(new).st_mode & 0o7777))
os.chmod(src, 0o666)
zcopy.copy_file(src, existing)
print(oct(os.stat(existing).st_mode & 0o7777))
"""


def test_copy_file_under_umask_077_never_loosens_permissions(src_file: Path, tmp_path: Path) -> None:
    # The umask is process-wide: set it in a child interpreter, not under pytest's threads.
    existing = tmp_path / "existing"
    existing.write_bytes(b"old")
    os.chmod(existing, 0o600)
    out = subprocess.run(
        [sys.executable, "-c", _UMASK_CHILD, str(src_file), str(tmp_path / "new"), str(existing)],
        capture_output=True,
        text=True,
        check=True,
    )
    # As cp: the source's mode minus the umask, no setuid; an existing file keeps its mode.
    assert out.stdout.split() == ["0o600", "0o700", "0o600"]
    for name in ("new.666", "new.4755", "existing"):
        assert (tmp_path / name).read_bytes() == data(N)


def test_probe_takes_file_objects(src_file: Path, tmp_path: Path) -> None:
    with open(src_file, "rb") as src, open(tmp_path / "o", "wb") as dst:
        support = zcopy.probe(src, dst)
    names = [s.strategy for s in support]
    assert names == zcopy.strategies()[1:]
    rw = support[names.index("read_write")]
    assert rw.supported and rw.reason == ""
    assert rw.to_dict() == {"strategy": "read_write", "supported": True, "reason": ""}


def test_bytesio_is_a_clear_type_error(tmp_path: Path) -> None:
    with open(tmp_path / "o", "wb") as dst:
        with pytest.raises(TypeError, match="src is _io.BytesIO, which has no file descriptor"):
            zcopy.transfer(io.BytesIO(b"abc"), dst)
        with pytest.raises(TypeError, match="dst is _io.BytesIO"):
            zcopy.transfer(dst, io.BytesIO())


@pytest.mark.parametrize(
    "bad, match",
    [
        ("a/path", "src is a path"),
        (Path("a/path"), "src is a path"),
        (b"a/path", "src is a path"),
        (1.5, "not float"),
        (True, "not a bool"),
        (None, "not NoneType"),
    ],
)
def test_transfer_refuses_other_kinds(bad: object, match: str, tmp_path: Path) -> None:
    with open(tmp_path / "o", "wb") as dst:
        with pytest.raises(TypeError, match=match):
            zcopy.transfer(bad, dst)  # type: ignore[arg-type]


def test_copy_file_refuses_open_files(src_file: Path, tmp_path: Path) -> None:
    with open(src_file, "rb") as f:
        with pytest.raises(TypeError, match="copy_file\\(\\) takes paths"):
            zcopy.copy_file(f, tmp_path / "o")  # type: ignore[arg-type]


def test_closed_file_is_a_value_error(src_file: Path, tmp_path: Path) -> None:
    f = open(src_file, "rb")
    f.close()
    with open(tmp_path / "o", "wb") as dst:
        with pytest.raises(ValueError, match="closed file"):
            zcopy.transfer(f, dst)


def test_huge_fd_number_is_an_overflow_error(tmp_path: Path) -> None:
    with open(tmp_path / "o", "wb") as dst:
        with pytest.raises(OverflowError):
            zcopy.transfer(1 << 40, dst)


def test_callers_fds_stay_open_and_unchanged(src_file: Path, tmp_path: Path) -> None:
    src = os.open(src_file, os.O_RDONLY | os.O_NONBLOCK)
    dst = os.open(tmp_path / "o", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        before = [os.get_inheritable(src), os.get_blocking(src), os.get_blocking(dst)]
        zcopy.transfer(src, dst, length=10)
        assert [os.get_inheritable(src), os.get_blocking(src), os.get_blocking(dst)] == before
        os.fstat(src)
        os.fstat(dst)
    finally:
        os.close(src)
        os.close(dst)


def test_io_uring_queue_depth(src_file: Path, tmp_path: Path) -> None:
    for q in (1, 3, None):
        r = zcopy.copy_file(src_file, tmp_path / "o", strategy="io_uring", fallback=False, queue_depth=q)
        assert r.strategy == "io_uring"
        assert (tmp_path / "o").read_bytes() == src_file.read_bytes()
    with pytest.raises(ValueError, match="queue_depth"):
        zcopy.copy_file(src_file, tmp_path / "o", strategy="io_uring", queue_depth=0)


def test_parallelism_copies_exactly_and_keeps_positions(tmp_path: Path) -> None:
    size = 20 * N + 12345  # split in 2 ranges of at least 8 MiB
    expected = data(size, 5)
    (tmp_path / "big").write_bytes(expected)
    for n in (2, 3, None, 0, 1):
        for strategy in ("auto", "read_write", "copy_file_range"):
            r = zcopy.copy_file(tmp_path / "big", tmp_path / "o", strategy=strategy, parallelism=n)
            assert r.bytes == size
            assert (tmp_path / "o").read_bytes() == expected, (n, strategy)
    with open(tmp_path / "big", "rb") as src, open(tmp_path / "o", "wb") as dst:
        src.read(10)
        dst.write(b"head")
        r = zcopy.transfer(src, dst, parallelism=4)
        assert r.bytes == size - 10
        assert src.tell() == size and dst.tell() == 4 + size - 10
    assert (tmp_path / "o").read_bytes() == b"head" + expected[10:]


def test_parallelism_stop_leaves_an_exact_prefix(tmp_path: Path) -> None:
    # The workers do not wait for the callback: on a busy machine they may move every byte
    # before the calling thread runs it, and a stop seen after the last byte lets the complete
    # copy stand. So each attempt checks whichever happened, exactly, and one of five attempts
    # must see the stop land mid-copy.
    size = 20 * N + 12345
    expected = data(size, 6)
    (tmp_path / "big").write_bytes(expected)
    caller = threading.get_ident()
    stopped = 0
    for attempt in range(5):
        threads: set[int] = set()

        def stop(moved: int) -> bool:
            threads.add(threading.get_ident())
            return moved < N

        out = tmp_path / f"o{attempt}"
        try:
            r = zcopy.copy_file(
                tmp_path / "big", out, strategy="read_write", chunk_size=64 << 10, parallelism=2, progress=stop
            )
        except zcopy.CancelledError as e:
            moved = e.bytes_moved
            assert 0 <= moved < size
            assert out.read_bytes()[:moved] == expected[:moved]
            stopped += 1
        else:
            assert r.bytes == size
            assert out.read_bytes() == expected
        assert threads == {caller}
        if stopped:
            break
    assert stopped, "in five attempts the stop never landed before the last byte"


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        ("2", TypeError, "parallelism must be an int or None"),
        (2.0, TypeError, "parallelism must be an int or None"),
        (True, TypeError, "not a bool"),
        (-1, ValueError, "parallelism must be >= 0"),
        (65, ValueError, "parallelism 65"),
        (1 << 40, ValueError, "parallelism"),
        (1 << 70, OverflowError, "parallelism"),
    ],
)
def test_parallelism_bad_values(
    src_file: Path, tmp_path: Path, value: Any, error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        zcopy.copy_file(src_file, tmp_path / "o", parallelism=value)
