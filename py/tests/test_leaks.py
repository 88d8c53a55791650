"""No fd leaks across 10,000 calls, failing ones included."""

from __future__ import annotations

import io
import os
from pathlib import Path

import zcopy

from conftest import open_fds


def test_no_fd_leak_across_10000_calls(src_file: Path, tmp_path: Path) -> None:
    small = tmp_path / "small"
    small.write_bytes(b"x" * 100)
    dst_path = tmp_path / "out"
    missing = tmp_path / "missing"
    with open(small, "rb") as src, open(dst_path, "wb") as dst, open(tmp_path / "wo", "wb") as write_only:
        before = open_fds()
        failures = 0
        for i in range(10_000):
            kind = i % 8
            try:
                if kind == 0:
                    zcopy.transfer(src.fileno(), dst.fileno(), src_offset=0)
                elif kind == 1:
                    zcopy.transfer(src, dst, src_offset=0, length=10, strategy="read_write")
                elif kind == 2:
                    zcopy.copy_file(small, dst_path)
                elif kind == 3:
                    zcopy.copy_file(missing, dst_path)
                elif kind == 4:
                    zcopy.transfer(write_only, dst)
                elif kind == 5:
                    zcopy.transfer(io.BytesIO(b"x"), dst)
                elif kind == 6:
                    zcopy.transfer(src, dst, strategy="reflink", fallback=False)
                else:
                    zcopy.probe(src, dst)
            except (OSError, TypeError, ValueError):
                failures += 1
        after = open_fds()
    assert failures >= 3 * 1250
    assert after == before, f"{after - before} fds leaked"
    assert not os.path.exists(missing)
