"""Hostile cases through the Python face: a panic inside the engine is a ZcopyError (never
pyo3's PanicException, and the interpreter lives); /dev/full and a full tmpfs give ENOSPC with
the exact prefix in ``.bytes_moved``; offsets across 2**32 in a sparse 5 GiB file are exact;
the caller's fds stay open with their flags after every failure."""

from __future__ import annotations

import errno
import fcntl
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

import zcopy
from zcopy import _zcopy

from conftest import data

TECHNIQUES = ["auto", "read_write", "mmap_write", "sendfile", "splice", "copy_file_range", "direct", "io_uring"]


# The panic hook exists only in a build with the `testing` feature (scripts/test-py.sh builds
# one; a released wheel has none).
needs_panic_hook = pytest.mark.skipif(
    not hasattr(_zcopy, "_inject_panic"),
    reason="zcopy was built without the testing feature: no _inject_panic "
    "(pip install ./py with MATURIN_PEP517_ARGS=--features=testing, as scripts/test-py.sh does)",
)


def flags(fd: int) -> tuple[int, int]:
    return fcntl.fcntl(fd, fcntl.F_GETFD), fcntl.fcntl(fd, fcntl.F_GETFL)


@needs_panic_hook
@pytest.mark.parametrize("strategy", TECHNIQUES)
def test_a_panic_inside_the_engine_is_a_zcopy_error(strategy: str, tmp_path: Path) -> None:
    want = data(8 << 20, 40)
    src = tmp_path / "src"
    src.write_bytes(want)
    with open(src, "rb") as s, open(tmp_path / "dst", "wb") as d:
        before = flags(s.fileno()), flags(d.fileno())
        _zcopy._inject_panic(1 << 20)
        with pytest.raises(zcopy.ZcopyError) as info:
            zcopy.transfer(s, d, strategy=strategy, fallback=False, chunk_size=256 * 1024)
        assert type(info.value) is zcopy.ZcopyError  # the base class itself: not a built-in's
        assert "injected panic" in str(info.value)
        assert "a bug" in str(info.value)
        assert (flags(s.fileno()), flags(d.fileno())) == before
        # The engine still works, with the same technique.
        s.seek(0)
        d.seek(0)
        d.truncate()
        r = zcopy.transfer(s, d, strategy=strategy, fallback=False, chunk_size=256 * 1024)
        assert r.bytes == len(want)
    assert (tmp_path / "dst").read_bytes() == want


@needs_panic_hook
def test_a_panic_in_copy_file_is_a_zcopy_error(tmp_path: Path) -> None:
    want = data(1 << 20, 41)
    (tmp_path / "a").write_bytes(want)
    _zcopy._inject_panic(0)
    with pytest.raises(zcopy.ZcopyError, match="injected panic"):
        zcopy.copy_file(tmp_path / "a", tmp_path / "b")
    zcopy.copy_file(tmp_path / "a", tmp_path / "b")
    assert (tmp_path / "b").read_bytes() == want


@pytest.mark.parametrize("strategy", ["auto", "read_write", "sendfile", "splice"])
def test_dev_full_is_enospc(strategy: str, src_file: Path) -> None:
    with open(src_file, "rb") as s, open("/dev/full", "wb") as d:
        before = flags(s.fileno()), flags(d.fileno())
        with pytest.raises(zcopy.ZcopyError) as info:
            zcopy.transfer(s, d, strategy=strategy)
        assert info.value.errno == errno.ENOSPC
        assert "dst" in str(info.value)
        assert info.value.bytes_moved == 0
        assert s.tell() == 0
        assert (flags(s.fileno()), flags(d.fileno())) == before


@pytest.fixture
def tiny_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs mounted for the test (as root), or a skip that says why."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "zcopy-test", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a 1 MiB tmpfs ({r.stderr.strip() or 'not root'}); test_dev_full_is_enospc checks ENOSPC instead")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


@pytest.mark.parametrize("strategy", ["auto", "read_write", "sendfile", "splice", "mmap_write"])
def test_enospc_mid_transfer_keeps_the_exact_prefix(strategy: str, tiny_tmpfs: Path, tmp_path: Path) -> None:
    want = data(4 << 20, 42)
    src = tmp_path / "src"
    src.write_bytes(want)
    dst = tiny_tmpfs / "dst"
    with open(src, "rb") as s, open(dst, "wb") as d:
        with pytest.raises(OSError) as info:
            zcopy.transfer(s, d, strategy=strategy)
        assert isinstance(info.value, zcopy.ZcopyError)
        assert info.value.errno == errno.ENOSPC
        moved = info.value.bytes_moved
        assert 0 < moved < len(want)
        assert s.tell() == moved
    assert dst.read_bytes() == want[:moved]


@pytest.fixture
def sparse_5gib(tmp_path: Path) -> Iterator[tuple[Path, dict[int, int]]]:
    path = tmp_path / "big.sparse"
    size = (5 << 30) + 17
    marks = {(1 << 31) - 3: 0xA0, 1 << 31: 0xA1, (1 << 32) - 1: 0xA2, 1 << 32: 0xA3, (1 << 32) + 4096: 0xA4, size - 1: 0xA5}
    with open(path, "wb") as f:
        try:
            f.truncate(size)
        except OSError as e:
            pytest.skip(f"this filesystem cannot hold a 5 GiB file: {e}")
        for off, b in marks.items():
            f.seek(off)
            f.write(bytes([b]))
    yield path, marks
    path.unlink()


@pytest.mark.parametrize("strategy", ["auto", "read_write", "sendfile", "copy_file_range"])
def test_offsets_across_2_to_the_32(strategy: str, sparse_5gib: tuple[Path, dict[int, int]], tmp_path: Path) -> None:
    path, marks = sparse_5gib
    start, n, at = (1 << 32) - 4096, 8192, (1 << 32) + 5
    want = bytearray(n)
    for off, b in marks.items():
        if start <= off < start + n:
            want[off - start] = b
    with open(path, "rb") as s, open(tmp_path / "dst", "w+b") as d:
        r = zcopy.transfer(s, d, src_offset=start, dst_offset=at, length=n, strategy=strategy, fallback=False)
        assert r.bytes == n
        assert s.tell() == 0  # explicit offsets leave the positions alone
        d.seek(at)
        assert d.read() == bytes(want)
        assert os.fstat(d.fileno()).st_size == at + n


def test_offsets_that_overflow_are_refused_naming_the_offset(sparse_5gib: tuple[Path, dict[int, int]], pipe: tuple[int, int]) -> None:
    path, _ = sparse_5gib
    with open(path, "rb") as s:
        with pytest.raises(zcopy.ZcopyError, match="offset") as info:
            zcopy.transfer(s, pipe[1], src_offset=(1 << 64) - 10)
        assert info.value.bytes_moved == 0
    with pytest.raises(OverflowError):
        zcopy.transfer(0, pipe[1], src_offset=1 << 64)
