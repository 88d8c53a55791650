"""Per-call cost of zcopy from Python against a bare ``os.sendfile`` (issue 16, item 3).

4 KiB from a hot file to a Unix socket, which a reader thread drains; each round times
``os.sendfile``, ``zcopy.prepare(src, dst).transfer()`` (with the CPU meter on, and off),
and ``zcopy.transfer()`` one after the
other (``--calls`` calls each), and the script prints the median per call of each over the
rounds and the ratios to ``os.sendfile``: in wall time, and in CPU time of the calling thread
(``time.thread_time_ns``; less disturbed by other processes on a loaded machine). Targets: prepared <= 2x, transfer <= 3x.

    python py/bench/percall.py [--rounds 5] [--calls 5000] [--size 4096] [--thread]

The machine this runs on is usually shared: quote the ratios as noisy (the ratios inside one
round are steadier than the absolute times).
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import tempfile
import threading
import time

import zcopy


def drain(sock: socket.socket) -> None:
    # Into one buffer: a fresh 1 MiB bytes per recv would fault pages in and unmap them (TLB
    # shootdowns that slow the sending thread too).
    buf = bytearray(1 << 18)
    while sock.recv_into(buf):
        pass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--calls", type=int, default=5000)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument(
        "--thread",
        action="store_true",
        help="make every call on a thread other than the main one (as a thread pool or asyncio.to_thread does)",
    )
    a = ap.parse_args()
    if a.thread:
        t = threading.Thread(target=measure, args=(a,))
        t.start()
        t.join()
    else:
        measure(a)


def measure(a: argparse.Namespace) -> None:

    with tempfile.TemporaryFile() as f:
        f.write(os.urandom(a.size))
        f.flush()
        fd = f.fileno()
        tx, rx = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        reader = threading.Thread(target=drain, args=(rx,), daemon=True)
        reader.start()
        out = tx.fileno()
        size, calls = a.size, a.calls

        def bare() -> None:
            for _ in range(calls):
                os.sendfile(out, fd, 0, size)

        prepared = zcopy.prepare(fd, out)

        def prep() -> None:
            t = prepared.transfer
            for _ in range(calls):
                t(size, 0)

        unmetered = zcopy.prepare(fd, out)
        unmetered.set_cpu_meter(False)

        def prep_nometer() -> None:
            t = unmetered.transfer
            for _ in range(calls):
                t(size, 0)

        def plain() -> None:
            t = zcopy.transfer
            for _ in range(calls):
                t(fd, out, src_offset=0, length=size)

        runs = {
            "os.sendfile": bare,
            "prepare().transfer()": prep,
            "... set_cpu_meter(False)": prep_nometer,
            "zcopy.transfer()": plain,
        }
        times: dict[str, list[float]] = {k: [] for k in runs}
        cpu: dict[str, list[float]] = {k: [] for k in runs}
        for k, fn in runs.items():  # warm up
            fn()
        for _ in range(a.rounds):
            for k, fn in runs.items():
                t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
                fn()
                cpu[k].append((time.thread_time_ns() - c0) / calls / 1000)
                times[k].append((time.perf_counter_ns() - t0) / calls / 1000)
        prepared.close()
        unmetered.close()
        tx.close()
        reader.join()
        rx.close()

    where = "a worker thread" if a.thread else "the main thread"
    print(f"{a.rounds} rounds of {a.calls} calls on {where}, {a.size} bytes file -> Unix socket (noisy: shared machine)")
    for what, table in (("wall time", times), ("CPU time of the calling thread", cpu)):
        print(f"{what}:")
        base = statistics.median(table["os.sendfile"])
        for k, ts in table.items():
            med = statistics.median(ts)
            per_round = " ".join(f"{t / b:.2f}" for t, b in zip(ts, table["os.sendfile"]))
            print(f"  {k:24} {med:7.2f} us/call  {med / base:5.2f}x os.sendfile  (per round: {per_round})")


if __name__ == "__main__":
    main()
