"""The experiments notebook: run it headless, store a run's outputs, check a stored notebook.

    python scripts/notebook.py run SRC OUT     # execute SRC (as CI does); the executed copy goes to OUT
    python scripts/notebook.py reference SRC   # execute SRC, scrub the machine's paths, check, write SRC
    python scripts/notebook.py check NB        # what is wrong with NB as a stored notebook; exit 1 if any

`run` and `reference` need nbclient, nbformat and ipykernel in the Python that runs this (the venv
of scripts/test-py.sh has them); `check` needs nothing beyond the standard library, so the test
(py/tests/test_notebook_clean.py) loads this file and calls `problems()`.

A stored notebook must be readable without running it, and name the kind of machine it ran on,
never the machine: every code cell has an output, none is an error, they ran top to bottom in one
kernel, at least one plot is a PNG, and no path of the machine (its checkout, venv, home and
temporary directories, /work, /root, /home) or its host name is anywhere in the file.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sys
import tempfile
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

#: Paths no stored notebook may hold: a machine's own directories, whoever ran it.
FORBIDDEN = [
    (re.compile(r"/work/"), "a path under /work"),
    (re.compile(r"(?<![\w.~-])/tmp(?:/|\b)"), "a path under /tmp"),
    (re.compile(r"(?<![\w.~-])/var/tmp\b"), "a path under /var/tmp"),
    (re.compile(r"(?<![\w.~-])/root\b"), "root's home directory"),
    (re.compile(r"(?<![\w.~-])/home/"), "a home directory"),
    (re.compile(r"(?<![\w.~-])/Users/"), "a home directory (macOS)"),
    (re.compile(r"(?<![\w.~-])/private/var/"), "a temporary directory (macOS)"),
    (re.compile(r"site-packages|dist-packages|py-venv|\.venv\b"), "a Python installation's path"),
]


def _host_names() -> list[str]:
    """This machine's host names worth looking for: the full name and its first label, when they
    are long enough not to be an ordinary word (a host called "vm" would match "vm.dirty_ratio")."""
    full = socket.gethostname()
    names = {full, full.split(".")[0]}
    return sorted(n for n in names if len(n) >= 4 and n != "localhost")


def _without_images(value: Any) -> Any:
    """``value`` (parsed JSON) without its ``image/png`` data: base64 text, in which any short
    string turns up now and then (a "/tmp/" once in a few thousand plots)."""
    if isinstance(value, list):
        return [_without_images(v) for v in value]
    if isinstance(value, dict):
        return {k: _without_images(v) for k, v in value.items() if k != "image/png"}
    return value


def _outputs_text(cell: dict[str, Any]) -> str:
    return json.dumps(_without_images(cell.get("outputs", [])), ensure_ascii=False)


def problems(nb: dict[str, Any], host_names: list[str] | None = None) -> list[str]:
    """What keeps ``nb`` (a notebook as parsed JSON) from being stored: cells without outputs,
    errors, cells not run in order, no PNG plot, and paths or host names of the machine it ran
    on. ``host_names`` defaults to this machine's (see :func:`_host_names`)."""
    found = []
    hosts = _host_names() if host_names is None else host_names
    code = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    if not code:
        found.append("no code cells")
    counts = []
    pngs = 0
    for n, cell in enumerate(code, 1):
        first = "".join(cell.get("source", "")).strip().split("\n")[0][:60]
        where = f"code cell {n} ({first!r})"
        outputs = cell.get("outputs", [])
        if not outputs and "no-output" not in cell.get("metadata", {}).get("tags", []):
            found.append(f"{where} has no output (tag it 'no-output' if it produces none)")
        for out in outputs:
            if out.get("output_type") == "error":
                found.append(f"{where} raised {out.get('ename')}: {out.get('evalue')}")
            if out.get("name") == "stderr":
                found.append(f"{where} wrote to stderr: {''.join(out.get('text', ''))[:200]!r}")
            if "image/png" in out.get("data", {}):
                pngs += 1
        counts.append(cell.get("execution_count"))
        text = _outputs_text(cell)
        for host in hosts:
            if re.search(rf"(?<![\w-]){re.escape(host)}(?![\w-])", text):
                found.append(f"{where} names this machine's host {host!r}")
    if counts and counts != list(range(1, len(counts) + 1)):
        found.append(f"the code cells did not run top to bottom in one kernel: execution counts {counts}")
    if code and pngs == 0:
        found.append("no plot stored as a PNG")
    whole = json.dumps(_without_images(nb), ensure_ascii=False)
    for pattern, what in FORBIDDEN:
        m = pattern.search(whole)
        if m:
            around = whole[max(m.start() - 60, 0):m.end() + 60]
            found.append(f"{what}: ...{around}...")
    return found


def _replacements() -> list[tuple[str, str]]:
    """The machine-specific strings :func:`scrub` replaces, longest first, with what replaces
    them: this checkout, the Python installation, the home and temporary directories."""
    pairs = {ROOT: "<repo>"}
    for prefix in {sys.prefix, sys.base_prefix, sys.exec_prefix}:
        pairs.setdefault(prefix, "<python>")
    home = os.path.expanduser("~")
    if home not in ("/", ""):
        pairs.setdefault(home, "~")
    for tmp in {tempfile.gettempdir(), os.path.realpath(tempfile.gettempdir()), "/tmp", "/var/tmp"}:
        pairs.setdefault(tmp, "$TMPDIR")
    return sorted(pairs.items(), key=lambda kv: -len(kv[0]))


def _scrub_text(text: str, pairs: list[tuple[str, str]], hosts: list[str]) -> str:
    for old, new in pairs:
        # A path is replaced where it is a whole path or a path's start, not inside a longer name.
        text = re.sub(rf"(?<![\w.~-]){re.escape(old)}(?=/|\b|$)", lambda _m, new=new: new, text)
    for host in hosts:
        text = re.sub(rf"(?<![\w-]){re.escape(host)}(?![\w-])", "<host>", text)
    return text


def scrub(nb: dict[str, Any]) -> dict[str, Any]:
    """``nb`` with the machine's paths and host name replaced in every output (text, HTML,
    tracebacks), and the per-cell execution timestamps removed."""
    pairs, hosts = _replacements(), _host_names()

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            return _scrub_text(value, pairs, hosts)
        if isinstance(value, list):
            return [walk(v) for v in value]
        if isinstance(value, dict):
            return {k: (v if k == "image/png" else walk(v)) for k, v in value.items()}
        return value

    for cell in nb.get("cells", []):
        cell.get("metadata", {}).pop("execution", None)
        if "outputs" in cell:
            cell["outputs"] = walk(cell["outputs"])
    return nb


def execute(src: str) -> tuple[Any, bool, str]:
    """Runs the notebook at ``src`` headless, from the checkout's root, with a 10-minute limit
    per cell; returns the executed notebook (an nbformat node), whether every cell ran, and the
    error when one did not."""
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    nb = nbformat.read(src, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": ROOT}})
    try:
        client.execute()
    except CellExecutionError as e:
        return nb, False, str(e)
    return nb, True, ""


def _write(nb: Any, path: str) -> None:
    import nbformat

    nbformat.write(nbformat.from_dict(nb) if isinstance(nb, dict) else nb, path)


def main(argv: list[str]) -> int:
    if len(argv) == 3 and argv[0] == "run":
        src, out = argv[1], argv[2]
        start = time.monotonic()
        nb, ok, err = execute(src)
        _write(nb, out)
        if not ok:
            print(f"a cell failed (executed copy in {out}):\n{err}", file=sys.stderr)
            return 1
        n = sum(c.cell_type == "code" for c in nb.cells)
        print(f"{src}: {n} code cells ran in {time.monotonic() - start:.0f} s; executed copy in {out}")
        return 0
    if len(argv) == 2 and argv[0] == "reference":
        src = argv[1]
        start = time.monotonic()
        nb, ok, err = execute(src)
        if not ok:
            fd, failed = tempfile.mkstemp(suffix=".ipynb", prefix="notebook-failed-")
            os.close(fd)
            _write(nb, failed)
            print(f"a cell failed; {src} is unchanged (executed copy in {failed}):\n{err}", file=sys.stderr)
            return 1
        clean = scrub(json.loads(json.dumps(nb)))
        wrong = problems(clean)
        if wrong:
            print(f"{src} is unchanged: the executed notebook still has\n  " + "\n  ".join(wrong), file=sys.stderr)
            return 1
        _write(clean, src)
        print(f"{src}: executed in {time.monotonic() - start:.0f} s, scrubbed, checked and stored with its outputs")
        return 0
    if len(argv) == 2 and argv[0] == "check":
        with open(argv[1], encoding="utf-8") as f:
            wrong = problems(json.load(f))
        for w in wrong:
            print(f"{argv[1]}: {w}", file=sys.stderr)
        return 1 if wrong else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
