"""The experiments notebook is stored with the outputs of a reference run (readable without
running it), and holds no path or host name of the machine that ran it: the checks of
scripts/notebook.py, on the stored notebook and on notebooks made to fail them."""

from __future__ import annotations

import copy
import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "examples" / "notebooks" / "zero_copy_experiments.ipynb"


def _tool() -> Any:
    spec = importlib.util.spec_from_file_location("notebook_tool", ROOT / "scripts" / "notebook.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


tool = _tool()


def _stored() -> dict[str, Any]:
    with open(NOTEBOOK, encoding="utf-8") as f:
        nb: dict[str, Any] = json.load(f)
    return nb


def test_the_stored_notebook_has_outputs_and_no_machine_paths() -> None:
    wrong = tool.problems(_stored())
    assert wrong == [], "\n".join(wrong) + "\n(re-run: bash scripts/notebook-reference.sh)"


def test_the_stored_notebook_describes_its_machine_first() -> None:
    nb = _stored()
    first = next(c for c in nb["cells"] if c["cell_type"] == "code")
    text = "".join("".join(o.get("text", "")) for o in first["outputs"] if o.get("output_type") == "stream")
    for what in ("cores", "GiB of memory", "Linux ", "temporary files on", "Run on "):
        assert what in text, f"the first code cell's output lacks {what!r}: {text!r}"


def test_the_stored_notebook_has_the_memory_pressure_run() -> None:
    """The summary's eviction claim is the measured one (or the printed reason it was skipped),
    never the old "not seen: no memory pressure here"."""
    text = json.dumps(tool._without_images(_stored()))
    assert "no memory pressure)" not in text
    assert "a large copy evicts small hot files" in text
    assert "64 MiB hot file resident after" in text or "not measured: " in text


def _fixture() -> dict[str, Any]:
    """A small notebook that passes the check: two code cells run in order, one with a plot."""
    return {
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": ["# t"]},
            {"cell_type": "code", "execution_count": 1, "metadata": {}, "source": ["print(1)"],
             "outputs": [{"output_type": "stream", "name": "stdout", "text": ["1\n"]}]},
            {"cell_type": "code", "execution_count": 2, "metadata": {}, "source": ["plot()"],
             "outputs": [{"output_type": "display_data", "metadata": {},
                          "data": {"image/png": "iVBORw0KGgo+/tmp/work/", "text/plain": ["<Figure>"]}}]},
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def test_the_check_passes_a_clean_notebook() -> None:
    # Base64 image data is not searched: any short string turns up in it now and then.
    assert tool.problems(_fixture(), host_names=["buildhost-7"]) == []


@pytest.mark.parametrize(
    "text, found",
    [
        ("written to /work/wt-x/target/a.bin\n", "a path under /work"),
        ("{'directory': '/tmp', 'filesystem': 'ext4'}\n", "a path under /tmp"),
        ("FileNotFoundError: /tmp/zcopy-pollution-1/big.bin\n", "a path under /tmp"),
        ("File /root/.cache/x.py, line 3\n", "root's home directory"),
        ("File /home/ana/src/zcopy/x.py\n", "a home directory"),
        ("  File lib/python3.11/site-packages/zcopy/experiments.py\n", "a Python installation's path"),
        ("served by buildhost-7 on port 80\n", "host 'buildhost-7'"),
    ],
)
def test_the_check_finds_machine_paths_and_names(text: str, found: str) -> None:
    nb = _fixture()
    nb["cells"][1]["outputs"][0]["text"] = [text]
    wrong = tool.problems(nb, host_names=["buildhost-7"])
    assert len(wrong) == 1 and found in wrong[0], wrong


def test_the_check_finds_missing_outputs_errors_and_order() -> None:
    nb = _fixture()
    nb["cells"][1]["outputs"] = []
    assert tool.problems(nb, host_names=[]) == ["code cell 1 ('print(1)') has no output (tag it 'no-output' if it produces none)"]
    nb["cells"][1]["metadata"]["tags"] = ["no-output"]
    assert tool.problems(nb, host_names=[]) == []

    nb = _fixture()
    nb["cells"][1]["outputs"].append({"output_type": "error", "ename": "ValueError", "evalue": "bad", "traceback": []})
    assert tool.problems(nb, host_names=[]) == ["code cell 1 ('print(1)') raised ValueError: bad"]

    nb = _fixture()
    nb["cells"][1]["outputs"].append({"output_type": "stream", "name": "stderr", "text": ["warning\n"]})
    assert tool.problems(nb, host_names=[]) == ["code cell 1 ('print(1)') wrote to stderr: 'warning\\n'"]

    nb = _fixture()
    nb["cells"][1]["execution_count"], nb["cells"][2]["execution_count"] = 2, 1
    assert tool.problems(nb, host_names=[]) == [
        "the code cells did not run top to bottom in one kernel: execution counts [2, 1]"
    ]

    nb = _fixture()
    del nb["cells"][2]["outputs"][0]["data"]["image/png"]
    assert tool.problems(nb, host_names=[]) == ["no plot stored as a PNG"]


def test_scrub_replaces_the_machines_paths_and_timings() -> None:
    nb = _fixture()
    repo, prefix = tool.ROOT, tool.sys.prefix
    nb["cells"][1]["outputs"][0]["text"] = [
        f"{repo}/examples/x.py\n",
        f"{prefix}/lib/python3/x.py\n",
        "{'directory': '/tmp'}\n",
        "/tmp/zcopy-pollution-1/big.bin\n",
        "/tmpfs and /proc/meminfo stay\n",
    ]
    nb["cells"][1]["metadata"]["execution"] = {"iopub.status.busy": "2026-12-06T06:00:00Z"}
    png = nb["cells"][2]["outputs"][0]["data"]["image/png"]
    clean = tool.scrub(copy.deepcopy(nb))
    assert clean["cells"][1]["outputs"][0]["text"] == [
        "<repo>/examples/x.py\n",
        "<python>/lib/python3/x.py\n",
        "{'directory': '$TMPDIR'}\n",
        "$TMPDIR/zcopy-pollution-1/big.bin\n",
        "/tmpfs and /proc/meminfo stay\n",
    ]
    assert "execution" not in clean["cells"][1]["metadata"]
    assert clean["cells"][2]["outputs"][0]["data"]["image/png"] == png
    assert tool.problems(clean, host_names=[]) == []
