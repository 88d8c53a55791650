"""Every face of zcopy has every function: Rust (the ``zcopy`` crate), C (``include/zcopy.h``), Go
(``go/``) and Python (``zcopy.__all__``).

Each face's public functions are listed from its source (Python: from the module itself) and
named canonically: snake_case without C's ``zc_`` prefix; the log and the server as ``Log`` and
``Server`` (the call that opens or starts one: ``zc_log_open``, ``OpenLog``, ``Log::open``,
``zcopy.Log(...)``) and their methods as ``Log.append``, ``Server.close``, ... Types that only
carry results (Report, Residency, Support, the errors) are not functions and are left out.

The test fails when a face lacks a function another has, unless the pair is in ``FACE_SPECIFIC``
(by design: each entry says why) or ``MISSING`` (a gap, printed by every run until it is
filled), and when an entry of those lists is no longer needed.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import zcopy

ROOT = Path(__file__).resolve().parents[2]
FACES = ("rust", "c", "go", "python")

pytestmark = pytest.mark.skipif(
    not (ROOT / "include" / "zcopy.h").is_file(), reason="needs the source tree (include/, go/, core/)"
)


def snake(name: str) -> str:
    """Go's CamelCase as snake_case: ``NextOffset`` -> ``next_offset``, ``URL`` -> ``url``."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def rust_items(src: str, pattern: str) -> list[str]:
    """The names ``pattern`` (with one group) finds in ``src``, line by line."""
    return [m.group(1) for m in re.finditer(pattern, src, re.MULTILINE)]


def impl_block(src: str, type_name: str) -> str:
    """The body of ``impl TYPE {`` ... the next ``}`` at column 0."""
    m = re.search(rf"^impl {type_name} \{{\n(.*?)^\}}", src, re.MULTILINE | re.DOTALL)
    assert m, f"no `impl {type_name}` block"
    return m.group(1)


def rust_face() -> dict[str, str]:
    core = ROOT / "core" / "src"
    lib = (core / "lib.rs").read_text()
    out: dict[str, str] = {}
    # The crate root's functions, and the cache module's.
    for name in rust_items(lib, r"^pub fn (\w+)"):
        out[name] = f"zcopy::{name}"
    # Functions of the crate root that live in a file of their own.
    for group in re.findall(r"^pub use \w+::\{([^}]*)\};", lib, re.MULTILINE):
        for name in re.findall(r"\b([a-z]\w*)\b", group):
            out[name] = f"zcopy::{name}"
    # Whole trees: the tree module's functions (re-exported at the crate root).
    for name in rust_items((core / "tree" / "mod.rs").read_text(), r"^pub fn (\w+)"):
        out[name] = f"zcopy::{name}"
    cache = (core / "cache.rs").read_text()
    for name in rust_items(cache, r"^pub fn (\w+)"):
        out[name] = f"zcopy::cache::{name}"
    # The pages cache::lock holds: Locked's methods.
    for name in rust_items(impl_block(cache, "Locked"), r"^    pub fn (\w+)"):
        out[f"Locked.{name}"] = f"zcopy::cache::Locked::{name}"
    if re.search(r"^pub const VERSION\b", lib, re.MULTILINE):
        out["version"] = "zcopy::VERSION"
    if "pub const ALL: &'static [Strategy]" in (core / "options.rs").read_text():
        out["strategies"] = "zcopy::Strategy::ALL"
    # The log (the zcopy-log crate): Log::open, its methods, and the frame decoders it
    # re-exports.
    log = (ROOT / "log" / "src" / "lib.rs").read_text()
    for name in rust_items(impl_block(log, "Log"), r"^    pub fn (\w+)"):
        key = {"open": "Log", "send_with": "Log.send"}.get(name, f"Log.{name}")
        out.setdefault(key, f"zcopy_log::Log::{name}")
    reexport = re.search(r"^pub use record::\{([^}]*)\}", log, re.MULTILINE)
    assert reexport, "log/src/lib.rs re-exports no decoder"
    for name in re.findall(r"\b(decode\w*)\b", reexport.group(1)):
        out[f"Log.{name}"] = f"zcopy_log::{name}"
    # The prepared transfer: Prepared::new and its methods.
    prepared = (core / "prepared.rs").read_text()
    m = re.search(r"^impl<'fd, 'a> Prepared<'fd, 'a> \{\n(.*?)^\}", prepared, re.MULTILINE | re.DOTALL)
    assert m, "no `impl Prepared` block"
    for name in rust_items(m.group(1), r"^    pub fn (\w+)"):
        out[{"new": "Prepared"}.get(name, f"Prepared.{name}")] = f"zcopy::Prepared::{name}"
    # A source classified once (zcopy::Source) and its methods.
    source = (core / "source.rs").read_text()
    m = re.search(r"^impl<'fd> Source<'fd> \{\n(.*?)^\}", source, re.MULTILINE | re.DOTALL)
    assert m, "no `impl Source` block"
    for name in rust_items(m.group(1), r"^    pub fn (\w+)"):
        out[f"Source.{name}"] = f"zcopy::Source::{name}"
    # The server (the zcopy-serve crate): Server::bind and its methods.
    serve = (ROOT / "serve" / "src" / "lib.rs").read_text()
    for name in rust_items(impl_block(serve, "Server"), r"^    pub fn (\w+)"):
        key = {"bind": "Server", "local_addr": "Server.address"}.get(name, f"Server.{name}")
        out[key] = f"zcopy_serve::Server::{name}"
    return out


def c_face() -> dict[str, str]:
    header = (ROOT / "include" / "zcopy.h").read_text()
    out: dict[str, str] = {}
    # Declarations start at column 0 (doc comments are indented ` * `).
    for name in rust_items(header, r"^[a-z][^(;]*?\b(zc_\w+)\("):
        bare = name.removeprefix("zc_")
        special = {
            "log_open": "Log",
            "server_start": "Server",
            "server_stop": "Server.close",
            # zc_strategy_name(i) for i = 0, 1, ... until NULL lists them (as Go's Strategies does).
            "strategy_name": "strategies",
            # One frame a call; the loop over a buffer is the caller's.
            "log_frame": "Log.decode_first",
            # zc_log_options is the options struct's name, so the getter is zc_log_get_options.
            "log_get_options": "Log.options",
            "prepared_new": "Prepared",
            "prepared_run": "Prepared.run",
            "prepared_free": "Prepared.close",
            "prepared_to_dst": "Prepared.to_dst",
            "prepared_run_from": "Prepared.run_from",
            "prepared_set_cpu_meter": "Prepared.set_cpu_meter",
            # The handle zc_lock gives.
            "locked_pages": "Locked.pages",
            "locked_bytes": "Locked.bytes",
            "unlock": "Locked.close",
        }
        if bare in special:
            key = special[bare]
        elif bare.startswith("log_") and bare != "log_options_default":
            key = "Log." + bare.removeprefix("log_")
        elif bare.startswith("server_") and bare != "server_options_default":
            key = "Server." + bare.removeprefix("server_")
        else:
            key = bare
        out[key] = name
    return out


def go_face() -> dict[str, str]:
    out: dict[str, str] = {}
    for path in sorted((ROOT / "go").glob("*.go")):
        if path.name.endswith("_test.go"):
            continue
        src = path.read_text()
        for name in rust_items(src, r"^func ([A-Z]\w*)\("):
            key = {"OpenLog": "Log", "Serve": "Server", "DecodeFrames": "Log.decode_prefix",
                   "Prepare": "Prepared", "PrepareTo": "Prepared.to_dst"}.get(name, snake(name))
            out[key] = f"zcopy.{name}"
        for m in re.finditer(r"^func \(\w+ \*?(Log|Server|Prepared|Locked)\) ([A-Z]\w*)\(", src, re.MULTILINE):
            typ, name = m.groups()
            key = {"Server.Addr": "Server.address", "Prepared.Transfer": "Prepared.run",
                   "Prepared.TransferFrom": "Prepared.run_from",
                   "Prepared.SetCPUMeter": "Prepared.set_cpu_meter"}.get(
                f"{typ}.{name}", f"{typ}.{snake(name)}"
            )
            out[key] = f"(*zcopy.{typ}).{name}"
    return out


def python_face() -> dict[str, str]:
    out: dict[str, str] = {}
    for name in zcopy.__all__:
        obj = getattr(zcopy, name)
        if name == "__version__":
            out["version"] = "zcopy.__version__"
        elif name == "prepare":
            out["Prepared"] = "zcopy.prepare"
        elif name == "prepare_to":
            out["Prepared.to_dst"] = "zcopy.prepare_to"
        elif name == "copytree":
            # shutil's spelling, which Python users know.
            out["copy_tree"] = "zcopy.copytree"
        elif name in ("Log", "Server", "Prepared", "Locked"):
            # zcopy.prepare and zcopy.lock make the last two.
            if name not in ("Prepared", "Locked"):
                out[name] = f"zcopy.{name}"
            for attr in dir(obj):
                if attr == "__enter__" and hasattr(obj, "__exit__"):
                    out[f"{name}.with"] = f"zcopy.{name}.__enter__"
                elif not attr.startswith("_"):
                    key = {"Prepared.transfer": "Prepared.run", "Prepared.transfer_from": "Prepared.run_from"}.get(
                        f"{name}.{attr}", f"{name}.{attr}"
                    )
                    out[key] = f"zcopy.{name}.{attr}"
        elif inspect.isclass(obj):
            continue  # a result type or an error, not a function
        else:
            assert callable(obj), name
            out[name] = f"zcopy.{name}"
    return out


# (face, canonical name) -> why that face has no such function, by design.
FACE_SPECIFIC: dict[tuple[str, str], str] = {
    # C reports failures through per-thread state; the other faces return or raise errors.
    ("rust", "last_error"): "Rust returns Result<_, zcopy::Error>",
    ("go", "last_error"): "Go returns an error (*zcopy.Error)",
    ("python", "last_error"): "Python raises ZcopyError",
    ("rust", "last_errno"): "Error::raw_os_error()",
    ("go", "last_errno"): "errors.Is(err, syscall.EPIPE) and friends",
    ("python", "last_errno"): "ZcopyError.errno",
    # C's option structs are versioned by their size and filled by a call; the other faces have
    # defaults in their option types (Options::default(), zcopy.Options{}, keyword arguments).
    **{
        (face, name): "the option types carry their defaults"
        for face in ("rust", "go", "python")
        for name in ("options_default", "log_options_default", "server_options_default", "tree_options_default")
    },
    # C names strategies with enum values; the other faces with the names themselves.
    ("rust", "strategy_from_name"): "Strategy implements FromStr (\"splice\".parse())",
    ("go", "strategy_from_name"): "zcopy.Strategy is a string type",
    ("python", "strategy_from_name"): "strategy= takes the name",
    # Go's own idioms.
    ("rust", "int64"): "Go's helper for an optional field (*int64); Rust has Option",
    ("c", "int64"): "Go's helper for an optional field (*int64); C has has_* flags",
    ("python", "int64"): "Go's helper for an optional field (*int64); Python has None",
    **{
        (face, name): "context.Context is Go's cancellation; the others take a cancel flag or a progress callback"
        for face in ("rust", "c", "python")
        for name in ("transfer_context", "copy_file_context", "copy_tree_context")
    },
    ("rust", "Server.string"): "Go's fmt.Stringer; Python has repr(), Rust Debug",
    ("c", "Server.string"): "Go's fmt.Stringer; C has zc_server_address",
    ("python", "Server.string"): "Go's fmt.Stringer; Python has repr()",
    # Python's `with`; Go has defer Close(), Rust Drop, C an explicit close.
    **{
        (face, name): "Python's context manager (__enter__/__exit__)"
        for face in ("rust", "c", "go")
        for name in ("Log.with", "Server.with")
    },
    ("rust", "Log.closed"): "Python's file-like .closed; Log::close consumes the Log",
    ("c", "Log.closed"): "Python's file-like .closed; zc_log_close frees the log",
    ("go", "Log.closed"): "Python's file-like .closed; Close may be called twice",
    # The frame decoders: one primitive, spelled by each face as its users loop.
    ("python", "Log.decode_first"): "Log.decode_prefix parses from the first frame on",
    ("go", "Log.decode_first"): "DecodeFrames parses from the first frame on",
    ("c", "Log.decode"): "zc_log_frame parses one frame a call: the loop is the caller's",
    ("c", "Log.decode_prefix"): "zc_log_frame parses one frame a call: the loop is the caller's",
    ("go", "Log.decode"): "DecodeFrames is decode_prefix: the whole buffer when used == len(b)",
    # Resuming a send a non-blocking descriptor cut.
    ("go", "Log.send_rest"): "Send waits through the Go poller: a send is never cut",
    ("python", "Log.send_rest"): "Log.send(..., skip=bytes_moved) resumes it",
    ("c", "Log.dir"): "the caller passed the directory to zc_log_open",
    # Rust's Server is the engine's server: bind, then run() on the caller's thread until a
    # ShutdownHandle stops it. The other faces run it on background threads (as zcopy serve
    # does) and give that server's port, URL, model, state and close.
    ("rust", "Server.port"): "Server::local_addr().port()",
    ("rust", "Server.url"): "run() serves on the caller's thread; local_addr() gives the address",
    ("rust", "Server.model"): "the model is ServeOptions::model, which bind takes",
    ("rust", "Server.running"): "run() blocks for as long as it serves",
    ("rust", "Server.close"): "Server::handle().shutdown() stops run()",
    ("c", "Server.run"): "zc_server_start runs it on background threads",
    ("go", "Server.run"): "Serve runs it on background threads",
    ("python", "Server.run"): "zcopy.Server runs it on background threads",
    ("c", "Server.handle"): "zc_server_stop",
    ("go", "Server.handle"): "(*Server).Close",
    ("python", "Server.handle"): "Server.close",
    ("c", "Server.url"): "\"http://\" + zc_server_address",
    ("c", "Server.model"): "the caller chose it in zc_server_options.model, and it runs exactly that",
    # The prepared transfer.
    ("rust", "Prepared.close"): "dropping the Prepared releases it",
    **{
        (face, "Prepared.from_fds"): "Rust's constructor from BorrowedFd; the others take fds in Prepared"
        for face in ("c", "go", "python")
    },
    **{
        (face, "Prepared.from_fds_named"): "Rust's constructor with labels for the ends; the faces pass their callers' names for the fds"
        for face in ("c", "go", "python")
    },
    **{
        (face, f"{name}_named"): "the labelled variant, for callers that name the file as their caller knows it"
        for face in ("c", "go", "python")
        for name in ("residency", "advise", "readahead", "warm", "evict", "lock")
    },
    ("python", "transfer_buffered"): "transfer(src, dst) sends a buffered reader's read-ahead through it",
    **{
        (face, "transfer_buffered_named"): "the labelled variant: Python's transfer uses it; C and Go would with transfer_buffered"
        for face in ("c", "go", "python")
    },
    **{
        (face, "Prepared.run_with"): "Rust's run with per-run Options; the other faces give their callbacks to the constructor"
        for face in ("c", "go", "python")
    },
    **{
        (face, "Prepared.run_from_with"): "Rust's run_from with a label and per-run Options, for the faces themselves"
        for face in ("c", "go", "python")
    },
    **{
        (face, "Log.send_prepared_with"): "Rust's send_prepared with per-send Options, for the faces themselves"
        for face in ("c", "go", "python")
    },
    **{
        (face, "Prepared.run_from_named"): "Rust's run_from with a label for the source, for the log's sends (named by segment path)"
        for face in ("c", "go", "python")
    },
    **{
        (face, "Prepared.to_dst_named"): "Rust's to_dst with a label for the end; the faces pass their callers' names for the fd"
        for face in ("c", "go", "python")
    },
    # A source classified once: a Rust server's (zcopy-serve) way to give its headers the size and
    # mtime of the one statx the engine makes, and send from it with no syscall of its own. The
    # faces' callers stat with fstat / os.fstat / File.Stat and send with Prepared.run_from.
    **{
        (face, name): "the Rust server's classify-once path; the faces stat with their own calls and send with run_from"
        for face in ("c", "go", "python")
        for name in (
            "Prepared.run_source",
            "Source.classify",
            "Source.opened",
            "Source.size",
            "Source.mtime",
            "Source.is_file",
            "Source.is_dir",
        )
    },
    **{
        (face, "Log.send_rest_named"): "Rust's send_rest with a label for dst: Python's Log.send passes its caller's fd "
        "number for the duplicate it sends to; C and Go send to the caller's own fd, which the engine names right"
        for face in ("c", "go", "python")
    },
    **{(face, "Prepared.with"): "Python's context manager (__enter__/__exit__)" for face in ("rust", "c", "go")},
    ("rust", "Prepared.closed"): "Python's file-like .closed; dropping the Prepared releases it",
    ("c", "Prepared.closed"): "Python's file-like .closed; zc_prepared_free frees it",
    ("go", "Prepared.closed"): "Python's file-like .closed; Close may be called twice",
    # The pages cache::lock holds.
    ("rust", "Locked.close"): "dropping the Locked unlocks the pages",
    **{(face, "Locked.with"): "Python's context manager (__enter__/__exit__)" for face in ("rust", "c", "go")},
    ("rust", "Locked.closed"): "Python's file-like .closed; dropping the Locked unlocks the pages",
    ("c", "Locked.closed"): "Python's file-like .closed; zc_unlock frees it",
    ("go", "Locked.closed"): "Python's file-like .closed; Close may be called twice",
    # asyncio is Python's event loop: the other faces wait their own way (Go's poller and
    # goroutines, Rust's and C's threads or their own loops over non-blocking fds).
    **{
        (face, name): "asyncio is Python's; Go waits in its poller, Rust and C on their own threads or loops"
        for face in ("rust", "c", "go")
        for name in ("atransfer", "acopy_file")
    },
    ("c", "page_size"): "sysconf(_SC_PAGESIZE)",
    ("go", "page_size"): "os.Getpagesize()",
    ("python", "page_size"): "mmap.PAGESIZE",
    # The CLI's path names: the engine's messages name the paths it opened; the faces name fds
    # as their callers know them.
    **{
        (face, name): "the CLI's: messages name the paths it opened (the faces name fds as their callers do)"
        for face in ("c", "go", "python")
        for name in ("transfer_named", "probe_named", "auto_choice_named")
    },
}

# (face, canonical name) -> what is missing: a function another face has and this one should.
MISSING: dict[tuple[str, str], str] = {}


def faces() -> dict[str, dict[str, str]]:
    return {"rust": rust_face(), "c": c_face(), "go": go_face(), "python": python_face()}


def test_every_face_lists_the_functions_it_is_known_for() -> None:
    # The listings themselves: a parser that found nothing would make the next test vacuous.
    found = faces()
    for face, items in found.items():
        for name in ("transfer", "copy_file", "probe", "residency", "advise", "readahead", "evict", "warm",
                     "version", "strategies", "Log", "Log.append", "Log.send", "Server"):
            assert name in items, f"{face}: {name} not found in {sorted(items)}"
    assert found["c"]["readahead"] == "zc_readahead"
    assert found["go"]["readahead"] == "zcopy.Readahead"
    assert found["rust"]["readahead"] == "zcopy::cache::readahead"
    assert found["python"]["Server.with"] == "zcopy.Server.__enter__"


def test_every_face_has_every_function() -> None:
    found = faces()
    everything = sorted(set().union(*found.values()))
    lacking = []
    for name in everything:
        has = [f for f in FACES if name in found[f]]
        for face in FACES:
            if name in found[face] or (face, name) in FACE_SPECIFIC or (face, name) in MISSING:
                continue
            where = ", ".join(f"{f}: {found[f][name]}" for f in has)
            lacking.append(f"{face} lacks {name} ({where})")
    for (face, name), what in sorted(MISSING.items()):
        print(f"missing, to be added: {face} {name}: {what}")
    assert not lacking, "\n".join(lacking)


@pytest.mark.parametrize("table", ["FACE_SPECIFIC", "MISSING"])
def test_no_allowance_outlives_its_reason(table: str) -> None:
    # An entry is needed while its face lacks the function and another face has it.
    found = faces()
    stale = []
    for face, name in globals()[table]:
        if name in found[face]:
            stale.append(f"{face} has {name} now ({found[face][name]})")
        elif not any(name in found[f] for f in FACES):
            stale.append(f"no face has {name}")
    assert not stale, f"remove from {table}:\n" + "\n".join(stale)
