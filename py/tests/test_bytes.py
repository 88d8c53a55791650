"""Random sizes, offsets, lengths and techniques, byte-exact against the source (hypothesis)."""

from __future__ import annotations

import errno
import os
import socket
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import zcopy

from conftest import data

# More examples for a long hunt: ZCOPY_HYPOTHESIS_EXAMPLES=2000 pytest tests/test_bytes.py
EXAMPLES = int(os.environ.get("ZCOPY_HYPOTHESIS_EXAMPLES", "150"))
SIZES = st.one_of(st.integers(0, 5000), st.integers(0, 600_000))
TECHNIQUES = st.sampled_from(zcopy.strategies())


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    size=SIZES,
    src_offset=st.one_of(st.none(), st.integers(0, 700_000)),
    dst_offset=st.one_of(st.none(), st.integers(0, 10_000)),
    length=st.one_of(st.none(), st.integers(0, 700_000)),
    skip=st.integers(0, 3000),
    chunk=st.one_of(st.none(), st.integers(1, 300_000)),
    strategy=TECHNIQUES,
    strict=st.booleans(),
    seed=st.integers(0, 1 << 30),
)
def test_file_to_file(
    size: int,
    src_offset: int | None,
    dst_offset: int | None,
    length: int | None,
    skip: int,
    chunk: int | None,
    strategy: str,
    strict: bool,
    seed: int,
) -> None:
    content = data(size, seed)
    with tempfile.TemporaryDirectory() as d:
        sp, dp = os.path.join(d, "s"), os.path.join(d, "d")
        with open(sp, "wb") as f:
            f.write(content)
        with open(sp, "rb") as src, open(dp, "wb") as dst:
            src.read(skip)  # a buffered reader part way through
            start = src.tell() if src_offset is None else src_offset
            want = content[start:] if length is None else content[start : start + length]
            try:
                r = zcopy.transfer(
                    src,
                    dst,
                    strategy=strategy,
                    fallback=not strict,
                    src_offset=src_offset,
                    dst_offset=dst_offset,
                    length=length,
                    chunk_size=chunk,
                )
            except zcopy.UnsupportedError as e:
                assert strict and e.bytes_moved == 0
                return
            assert r.bytes == len(want)
            if src_offset is None:
                assert src.tell() == start + len(want)
            else:
                assert src.tell() == min(skip, size)
        with open(dp, "rb") as f:
            out = f.read()
        at = dst_offset or 0
        if want:
            assert out == b"\0" * at + want
        else:
            assert out == b""


@settings(max_examples=max(EXAMPLES // 4, 10), deadline=None)
@given(size=SIZES, strategy=TECHNIQUES, seed=st.integers(0, 1 << 30))
def test_file_to_socket(size: int, strategy: str, seed: int) -> None:
    content = data(size, seed)
    a, b = socket.socketpair()
    got = bytearray()

    def drain() -> None:
        while chunk := b.recv(1 << 16):
            got.extend(chunk)

    with a, b, tempfile.TemporaryFile() as src:
        src.write(content)
        src.seek(0)
        t = threading.Thread(target=drain)
        t.start()
        try:
            r = zcopy.transfer(src, a, strategy=strategy)
        finally:
            a.shutdown(socket.SHUT_WR)
            t.join()
    assert r.bytes == size and bytes(got) == content


# Issue 14, case 4: a strict technique never succeeds short. procfs and sysfs files report size
# 0 or one page whatever they hold; the techniques that trust the size refuse them (nothing
# written), and with fallback the copy is exactly what a plain read gives.

SIZE_TRUSTING = ["mmap_write", "reflink", "copy_file_range", "sendfile", "direct", "io_uring"]
SIZELESS = [("/proc/cpuinfo", "procfs"), ("/sys/devices/system/cpu/online", "sysfs")]


@pytest.mark.parametrize("path, fs", SIZELESS)
@pytest.mark.parametrize("strategy", SIZE_TRUSTING)
def test_strict_technique_refuses_sizeless_source(path: str, fs: str, strategy: str, tmp_path: Path) -> None:
    if not os.path.exists(path):
        pytest.skip(f"no {path} here")
    out = tmp_path / "out"
    out.write_bytes(b"untouched")
    with open(path, "rb") as src, open(out, "r+b") as dst:
        with pytest.raises(zcopy.UnsupportedError) as info:
            zcopy.transfer(src, dst, strategy=strategy, fallback=False)
        assert f"is on {fs}, whose files report no true size" in str(info.value)
        assert info.value.bytes_moved == 0
        assert src.tell() == 0 and dst.tell() == 0
    assert out.read_bytes() == b"untouched"


@pytest.mark.parametrize("path, fs", SIZELESS)
@pytest.mark.parametrize("strategy", ["auto"] + SIZE_TRUSTING)
def test_fallback_copies_sizeless_source_exactly(path: str, fs: str, strategy: str, tmp_path: Path) -> None:
    if not os.path.exists(path):
        pytest.skip(f"no {path} here")
    with open(path, "rb") as f:
        want = f.read()
    out = tmp_path / "out"
    with open(path, "rb") as src, open(out, "wb") as dst:
        r = zcopy.transfer(src, dst, strategy=strategy)
    assert out.read_bytes() == want
    assert r.bytes == len(want) > 0
    assert r.strategy in ("read_write", "splice")
    if strategy != "auto":
        assert r.fallbacks[0][0] == strategy and fs in r.fallbacks[0][1]


def test_mmap_refusal_is_unsupported(tmp_path: Path) -> None:
    # /sys/kernel/btf/vmlinux reports its true size but refuses mmap (EACCES); a sysfs
    # attribute of one page, ENODEV: both are UnsupportedError, never a bare ZcopyError.
    path = "/sys/kernel/btf/vmlinux"
    if not os.access(path, os.R_OK):
        pytest.skip(f"no readable {path}")
    out = tmp_path / "out"
    with open(path, "rb") as src, open(out, "wb") as dst:
        try:
            r = zcopy.transfer(src, dst, strategy="mmap_write", fallback=False)
        except zcopy.UnsupportedError as e:
            assert e.errno in (errno.EACCES, errno.ENODEV) and e.bytes_moved == 0
            assert out.read_bytes() == b""
        else:
            pytest.skip(f"this kernel maps {path} ({r.bytes} bytes)")
        r = zcopy.transfer(src, dst, strategy="mmap_write")
    with open(path, "rb") as f:
        assert out.read_bytes() == f.read()
    assert r.fallbacks[0][0] == "mmap_write"
