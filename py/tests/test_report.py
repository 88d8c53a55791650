"""Report, Support, strategies() and the version."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

import zcopy

FIELDS = [
    "bytes",
    "strategy",
    "fallbacks",
    "elapsed_ns",
    "syscalls",
    "mode_switches",
    "user_cpu_ns",
    "sys_cpu_ns",
    "voluntary_ctx_switches",
    "involuntary_ctx_switches",
    "cpu_copies_bytes",
    "dma_copies_bytes",
    "zerocopy_sends",
    "zerocopy_copied",
]


def test_report_fields_repr_and_dict(src_file: Path, tmp_path: Path) -> None:
    r = zcopy.copy_file(src_file, tmp_path / "o", strategy="read_write", fallback=False)
    d = r.to_dict()
    assert list(d) == FIELDS
    assert {k: getattr(r, k) for k in FIELDS} == d
    assert r.bytes == 1 << 20 and r.strategy == "read_write" and r.fallbacks == []
    assert r.mode_switches == 2 * r.syscalls and r.syscalls >= 2 * 8
    # The copy model: two CPU copies per byte, one DMA copy at each file end.
    assert r.cpu_copies_bytes == 2 * r.bytes and r.dma_copies_bytes == 2 * r.bytes
    text = repr(r)
    assert text.startswith("Report(bytes=1048576, strategy='read_write', fallbacks=[], elapsed_ns=")
    assert all(f"{k}=" in text for k in FIELDS)
    assert r == r and r != zcopy.copy_file(src_file, tmp_path / "p", strategy="read_write")
    with pytest.raises(AttributeError):
        r.bytes = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        zcopy.Report()


def test_fallbacks_are_strategy_reason_tuples(src_file: Path, tmp_path: Path) -> None:
    r, w = os.pipe()
    try:
        os.write(w, b"abc")
        os.close(w)
        with open(tmp_path / "o", "wb") as dst:
            rep = zcopy.transfer(r, dst, strategy="sendfile")
    finally:
        os.close(r)
    assert rep.bytes == 3 and rep.strategy != "sendfile"
    assert rep.fallbacks[0][0] == "sendfile"
    assert f"src fd {r} " in rep.fallbacks[0][1]
    assert rep.to_dict()["fallbacks"] == rep.fallbacks


def test_strategies_and_version() -> None:
    names = zcopy.strategies()
    assert names[0] == "auto"
    assert {"read_write", "mmap_write", "sendfile", "splice", "copy_file_range", "reflink"} <= set(names)
    assert isinstance(zcopy.__version__, str) and zcopy.__version__.count(".") == 2


def test_every_public_name_has_a_docstring() -> None:
    for name in zcopy.__all__:
        obj = getattr(zcopy, name)
        if name == "__version__":
            continue
        assert obj.__doc__ and len(obj.__doc__) > 20, name
    for cls in (zcopy.Report, zcopy.Support):
        for attr in dir(cls):
            if not attr.startswith("_"):
                assert getattr(cls, attr).__doc__, f"{cls.__name__}.{attr}"


def test_length_zero_moves_nothing(src_file: Path, tmp_path: Path) -> None:
    r = zcopy.copy_file(src_file, tmp_path / "o", length=0)
    assert r.bytes == 0 and (tmp_path / "o").read_bytes() == b""


def test_memory_filesystems_cost_no_dma(tmp_path: Path) -> None:
    # Issue 14, case 15: one DMA copy per end backed by a device; tmpfs (/dev/shm) has none.
    if not os.path.isdir("/dev/shm") or os.statvfs("/dev/shm").f_fsid == os.statvfs(tmp_path).f_fsid:
        pytest.skip("needs /dev/shm apart from the temp folder")
    n = (1 << 20) + 7
    payload = os.urandom(n)
    src_shm = tempfile.NamedTemporaryFile(dir="/dev/shm")
    dst_shm = tempfile.NamedTemporaryFile(dir="/dev/shm")
    with src_shm, dst_shm:
        src_shm.write(payload)
        src_shm.flush()
        r = zcopy.copy_file(src_shm.name, dst_shm.name)
        assert r.bytes == n and r.dma_copies_bytes == 0, r
        r = zcopy.copy_file(src_shm.name, "/dev/null")
        assert r.bytes == n and r.dma_copies_bytes == 0, r
        if _fs_type_is_tmpfs(tmp_path):
            pytest.skip("the temp folder is on tmpfs too")
        disk = tmp_path / "disk"
        disk.write_bytes(payload)
        r = zcopy.copy_file(disk, dst_shm.name)
        assert r.bytes == n and r.dma_copies_bytes == n, r
        with open(dst_shm.name, "rb") as f:
            assert f.read() == payload


def _fs_type_is_tmpfs(path: Path) -> bool:
    """Whether ``path`` lives on tmpfs: the type of the longest mount point above it."""
    here = str(path.resolve())
    best, kind = "", ""
    with open("/proc/self/mounts") as f:
        for line in f:
            point, fstype = line.split()[1:3]
            if (here == point or here.startswith(point.rstrip("/") + "/")) and len(point) >= len(best):
                best, kind = point, fstype
    return kind == "tmpfs"
