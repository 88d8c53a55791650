"""A tour of zcopy from Python: copy, transfer, probe, errors, progress, and the page cache.

    python examples/python/tour.py [SIZE_MIB]
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile
import threading

import zcopy


def main() -> None:
    size = int(sys.argv[1]) << 20 if len(sys.argv) > 1 else 16 << 20
    with tempfile.TemporaryDirectory() as d:
        src = os.path.join(d, "src.bin")
        with open(src, "wb") as f:
            f.write(os.urandom(1 << 20) * (size >> 20))

        # Path to path: Auto picks the technique; the Report says what it cost.
        r = zcopy.copy_file(src, os.path.join(d, "copy.bin"))
        print(f"copy_file: {r.strategy} moved {r.bytes} bytes in {r.syscalls} syscalls, {r.elapsed_ns / 1e6:.1f} ms")

        # The same with every technique, strictly.
        print(f"{'technique':16} {'ms':>8} {'syscalls':>8} {'CPU copies':>11}")
        for tech in zcopy.strategies()[1:]:
            try:
                r = zcopy.copy_file(src, os.path.join(d, "copy.bin"), strategy=tech, fallback=False)
            except zcopy.UnsupportedError as e:
                print(f"{tech:16} unsupported here: {e.strerror}")
                continue
            print(f"{tech:16} {r.elapsed_ns / 1e6:8.2f} {r.syscalls:8} {r.cpu_copies_bytes / r.bytes:10.0f}x")

        # File object to a socket: a reader part way through transfers from where it is.
        a, b = socket.socketpair()
        got = []
        t = threading.Thread(target=lambda: got.append(sum(len(c) for c in iter(lambda: b.recv(1 << 16), b""))))
        t.start()
        with open(src, "rb") as f:
            f.read(100)
            r = zcopy.transfer(f, a, length=1 << 20)
            print(f"transfer to a socket: {r.strategy}, {r.bytes} bytes from byte 100; file now at {f.tell()}")
        a.shutdown(socket.SHUT_WR)
        t.join()
        a.close()
        b.close()

        # Why a technique can or cannot serve a pair, without moving a byte.
        r_end, w_end = os.pipe()
        with open(src, "rb") as f:
            for s in zcopy.probe(f, w_end):
                print(f"  probe file -> pipe: {s.strategy:16} {'yes' if s.supported else 'no: ' + s.reason}")
        os.close(r_end)
        os.close(w_end)

        # Errors are OSError subclasses with errno and .bytes_moved.
        try:
            zcopy.copy_file(os.path.join(d, "missing"), os.path.join(d, "x"))
        except FileNotFoundError as e:
            print(f"{type(e).__name__} (a zcopy.ZcopyError: {isinstance(e, zcopy.ZcopyError)}): {e}")

        # Progress: a callable gets the bytes so far; False stops with CancelledError.
        try:
            zcopy.copy_file(src, os.path.join(d, "x"), strategy="read_write", progress=lambda n: n < size // 2)
        except zcopy.CancelledError as e:
            print(f"stopped by progress after {e.bytes_moved} bytes")

        # The page cache: evict, warm, residency.
        print("after evict:", zcopy.evict(src))
        print("after warm: ", zcopy.warm(src))
        zcopy.copy_file(src, os.path.join(d, "y"), cache="drop_after")
        print("copied with cache='drop_after'; the copy is resident at", zcopy.residency(os.path.join(d, "y")).ratio)


if __name__ == "__main__":
    main()
