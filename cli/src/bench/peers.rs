//! The tools measured beside zcopy's techniques, timed the same way: in-process ones (Rust's
//! `std::io::copy` and `std::fs::copy`, `zcopy::copy_file`, the bare syscalls) with the bench
//! thread's clock and counters; `cp` as one process per op (its CPU from `RUSAGE_CHILDREN`; its
//! time includes starting each process, so the report gives it no ratio: see
//! [`process_per_op`]);
//! Python's `shutil.copyfile`, `socket.sendfile`/`os.sendfile` and `zcopy.copy_file` in one
//! Python process per sample that times its own loop (interpreter start-up excluded, as it is
//! for the in-process peers).
//!
//! `bare_copy_file_range` and `bare_sendfile` are the syscall alone in a loop, no bookkeeping:
//! next to the `copy_file_range` and `sendfile` rows they show what zcopy's Report costs.
//! `bare_sendfile_nosigpipe` is sendfile with SIGPIPE blocked around each call and the mask
//! restored after (`pthread_sigmask` twice): the least any sendfile can cost that keeps
//! zcopy's promise of no SIGPIPE in the host (Linux has no per-socket SO_NOSIGPIPE, and
//! sendfile takes no MSG_NOSIGNAL). `bare_sendfile_metered` is sendfile with what a prepared
//! run of a given length adds to it, done bare: the Report's metering (the thread CPU clock and
//! `getrusage`, each read at the start and the end); the least a prepared run that returns an
//! exact Report, CPU time included, can cost (with SIGPIPE ignored, as in this process).

use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use super::{usage, Clock, Dst, Fixture, Measured, Plan};

/// The peers that can run for `endpoint` on this machine.
pub fn available(endpoint: &str, python: Option<&Path>) -> Vec<&'static str> {
    let mut v = vec!["std_io_copy"];
    let py = python.map(probe_python).unwrap_or_default();
    match endpoint {
        "file_file" => {
            v.extend(["bare_copy_file_range", "zcopy_copy_file", "std_fs_copy"]);
            if which("cp") {
                v.push("cp");
            }
            if py.works {
                v.push("shutil_copyfile");
            }
            if py.has_zcopy {
                v.push("py_zcopy_copy_file");
            }
        }
        _ => {
            v.extend([
                "bare_sendfile",
                "bare_sendfile_nosigpipe",
                "bare_sendfile_metered",
            ]);
            if py.works {
                v.push("py_sendfile");
            }
        }
    }
    v
}

/// Whether `tech` copies whole files (one piece file per op, to fresh paths).
pub fn whole_file(tech: &str) -> bool {
    matches!(
        tech,
        "zcopy_copy_file" | "std_fs_copy" | "cp" | "shutil_copyfile" | "py_zcopy_copy_file"
    )
}

/// Whether `tech` runs in another process that connects to the destination itself.
pub fn external(tech: &str) -> bool {
    tech.starts_with("py_") || tech == "shutil_copyfile"
}

/// Whether `tech` starts a process for every op (`cp`): its time per op includes the process's
/// start, so it is no measure of the copy itself and is kept out of the per-op ratios.
pub fn process_per_op(tech: &str) -> bool {
    tech == "cp"
}

/// Ops per sample for `tech`: a peer that starts a process per op (`cp`) does at most 100.
pub fn ops(tech: &str, ops: u64) -> u64 {
    if process_per_op(tech) {
        ops.min(100)
    } else {
        ops
    }
}

/// What a Python interpreter can run.
#[derive(Default, Clone, Copy)]
struct Python {
    works: bool,
    has_zcopy: bool,
}

fn probe_python(python: &Path) -> Python {
    static SEEN: OnceLock<Python> = OnceLock::new();
    *SEEN.get_or_init(|| {
        let ok = |code: &str| {
            Command::new(python)
                .args(["-c", code])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        };
        let works = ok("import resource, shutil, socket");
        Python {
            works,
            has_zcopy: works && ok("import zcopy"),
        }
    })
}

fn which(cmd: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(cmd).is_file()))
        .unwrap_or(false)
}

/// Runs peer `tech` for one sample.
pub fn run(
    tech: &str,
    endpoint: &str,
    fx: &Fixture,
    src: &File,
    dst: &Dst,
    ops: u64,
    plan: &Plan,
) -> Result<Measured, String> {
    let size = fx.size;
    match tech {
        "std_io_copy" => std_io_copy(src, dst, size, ops),
        t if t.starts_with("bare_") => bare_peer(t, src, dst, size, ops),
        "zcopy_copy_file" => {
            let (mut syscalls, mut copies) = (0, 0);
            let clock = Clock::start();
            for i in 0..ops {
                let r = zcopy::copy_file(fx.piece(i), fx.out(i), &zcopy::Options::default())
                    .map_err(|e| e.to_string())?;
                syscalls += r.syscalls;
                copies += r.cpu_copies_bytes;
            }
            Ok(Measured {
                syscalls: Some(syscalls),
                cpu_copies_bytes: Some(copies),
                ..clock.stop()
            })
        }
        "std_fs_copy" => {
            let clock = Clock::start();
            for i in 0..ops {
                std::fs::copy(fx.piece(i), fx.out(i)).map_err(|e| e.to_string())?;
            }
            Ok(clock.stop())
        }
        "cp" => cp(fx, ops),
        _ => python(tech, endpoint, fx, dst, ops, plan),
    }
}

/// What a Report costs a zcopy call, done bare: the thread CPU clock and `getrusage`, each read
/// at the call's start and end (4 syscalls).
fn meter_bare() {
    // SAFETY: `ts` and `ru` are live locals valid for writes of one timespec and one rusage.
    unsafe {
        let mut ts = std::mem::zeroed::<libc::timespec>();
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts);
        let mut ru = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_THREAD, &mut ru);
    }
}

/// The bare-syscall peers (see the module's doc).
fn bare_peer(tech: &str, src: &File, dst: &Dst, size: u64, ops: u64) -> Result<Measured, String> {
    match tech {
        "bare_copy_file_range" => bare(dst, size, ops, 1, |fd, src_off, dst_off, len| {
            let (mut off_in, mut off_out) = (src_off as libc::loff_t, dst_off as libc::loff_t);
            // SAFETY: both offsets point to live locals; the fds are open for the call.
            unsafe {
                libc::copy_file_range(
                    src.as_raw_fd(),
                    &mut off_in,
                    fd.as_raw_fd(),
                    &mut off_out,
                    len,
                    0,
                )
            }
        }),
        "bare_sendfile" => bare(dst, size, ops, 1, |fd, src_off, _, len| {
            let mut off = src_off as libc::off_t;
            // SAFETY: `off` points to a live local; the fds are open for the call.
            unsafe { libc::sendfile(fd.as_raw_fd(), src.as_raw_fd(), &mut off, len) }
        }),
        "bare_sendfile_nosigpipe" => bare(dst, size, ops, 3, |fd, src_off, _, len| {
            let mut off = src_off as libc::off_t;
            // SAFETY: the sigsets are live locals, initialised by sigemptyset before use; `off`
            // points to a live local; the fds are open for the call; the old mask is restored.
            unsafe {
                let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
                let mut old = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
                libc::sigemptyset(set.as_mut_ptr());
                libc::sigaddset(set.as_mut_ptr(), libc::SIGPIPE);
                libc::pthread_sigmask(libc::SIG_BLOCK, set.as_ptr(), old.as_mut_ptr());
                let n = libc::sendfile(fd.as_raw_fd(), src.as_raw_fd(), &mut off, len);
                let e = *libc::__errno_location();
                libc::pthread_sigmask(libc::SIG_SETMASK, old.as_ptr(), std::ptr::null_mut());
                *libc::__errno_location() = e;
                n
            }
        }),
        // The least a metered call can cost: the syscall and the Report's metering (a
        // prepared run of a given length makes no fstat; SIGPIPE ignored: no mask).
        "bare_sendfile_metered" => bare(dst, size, ops, 5, |fd, src_off, _, len| {
            meter_bare();
            let mut off = src_off as libc::off_t;
            // SAFETY: `off` points to a live local; the fds are open for the call.
            let n = unsafe { libc::sendfile(fd.as_raw_fd(), src.as_raw_fd(), &mut off, len) };
            meter_bare();
            n
        }),
        _ => Err(format!("no bare peer {tech}")),
    }
}

fn std_io_copy(src: &File, dst: &Dst, size: u64, ops: u64) -> Result<Measured, String> {
    let mut from = src;
    let clock = Clock::start();
    for i in 0..ops {
        from.seek(SeekFrom::Start(i * size))
            .map_err(|e| e.to_string())?;
        let mut part = std::io::Read::take(from, size);
        let n = match dst {
            Dst::File(f) => {
                let mut f: &File = f;
                f.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
                std::io::copy(&mut part, &mut f)
            }
            Dst::Pipe(w) => std::io::copy(&mut part, &mut &*w),
            Dst::Tcp(s) => std::io::copy(&mut part, &mut &*s),
            Dst::Listener(_) => return Err("std::io::copy needs a destination fd".into()),
        }
        .map_err(|e| e.to_string())?;
        if n != size {
            return Err(format!("std::io::copy moved {n} bytes, not {size}"));
        }
    }
    Ok(clock.stop())
}

/// `ops` ops of a bare syscall in a loop until each op's `size` bytes are moved: `call(dst,
/// src_offset, dst_offset, len)` gives the bytes moved, or -1 with errno, making
/// `syscalls_per_call` syscalls. Op `i` reads from byte `i * size` and writes at byte 0 (a file
/// destination).
fn bare(
    dst: &Dst,
    size: u64,
    ops: u64,
    syscalls_per_call: u64,
    call: impl Fn(BorrowedFd<'_>, u64, u64, usize) -> isize,
) -> Result<Measured, String> {
    let fd = dst.fd().ok_or("no destination fd")?;
    let mut calls = 0;
    let clock = Clock::start();
    for i in 0..ops {
        let mut done = 0;
        while done < size {
            calls += 1;
            let n = call(fd.as_fd(), i * size + done, done, (size - done) as usize);
            if n < 0 {
                return Err(std::io::Error::last_os_error().to_string());
            }
            if n == 0 {
                return Err(format!(
                    "the syscall moved 0 bytes at byte {done} of {size}"
                ));
            }
            done += n as u64;
        }
    }
    Ok(Measured {
        syscalls: Some(calls * syscalls_per_call),
        ..clock.stop()
    })
}

fn cp(fx: &Fixture, ops: u64) -> Result<Measured, String> {
    let c0 = usage(libc::RUSAGE_CHILDREN);
    let clock = Clock::start();
    for i in 0..ops {
        let st = Command::new("cp").arg(fx.piece(i)).arg(fx.out(i)).status();
        if !st.as_ref().is_ok_and(|s| s.success()) {
            return Err(format!("cp failed: {st:?}"));
        }
    }
    let m = clock.stop();
    let c1 = usage(libc::RUSAGE_CHILDREN);
    // A reaped child's times are its exact runtime (taken at exit), split by ticks.
    let (user, sys) = (c1.0.saturating_sub(c0.0), c1.1.saturating_sub(c0.1));
    Ok(Measured {
        elapsed_ns: m.elapsed_ns,
        user_cpu_ns: Some(user),
        sys_cpu_ns: Some(sys),
        cpu_ns: Some(user + sys),
        ctx_switches: Some(c1.2.saturating_sub(c0.2)),
        ..Measured::default()
    })
}

/// The Python side: one sample's loop, timed by Python itself; the figures go to a file.
const PYTHON: &str = r#"
import json, os, resource, shutil, socket, sys, time
a = json.loads(sys.argv[1])
peer, size, ops = a["peer"], a["size"], a["ops"]
pieces = [os.path.join(a["dir"], "piece.%d" % i) for i in range(ops)]
outs = [os.path.join(a["dir"], "out.%d" % i) for i in range(ops)]
if peer == "py_zcopy_copy_file":
    import zcopy
sock = socket.create_connection(("127.0.0.1", a["port"])) if a["port"] else None
src = open(a["src"], "rb")
r0, c0 = resource.getrusage(resource.RUSAGE_THREAD), time.thread_time_ns()
t0 = time.perf_counter_ns()
if peer == "shutil_copyfile":
    for i in range(ops):
        shutil.copyfile(pieces[i], outs[i])
elif peer == "py_zcopy_copy_file":
    for i in range(ops):
        zcopy.copy_file(pieces[i], outs[i])
elif sock is not None:
    for i in range(ops):
        sock.sendfile(src, i * size, size)
else:
    for i in range(ops):
        off, left = i * size, size
        while left:
            n = os.sendfile(1, src.fileno(), off, left)
            if n == 0:
                sys.exit("os.sendfile returned 0 at offset %d" % off)
            off, left = off + n, left - n
t1 = time.perf_counter_ns()
c1, r1 = time.thread_time_ns(), resource.getrusage(resource.RUSAGE_THREAD)
if sock is not None:
    sock.close()
ns = lambda s: int(s * 1e9)
with open(a["result"], "w") as f:
    json.dump({"elapsed_ns": t1 - t0, "user_cpu_ns": ns(r1.ru_utime - r0.ru_utime),
               "sys_cpu_ns": ns(r1.ru_stime - r0.ru_stime), "cpu_ns": c1 - c0,
               "ctx_switches": r1.ru_nvcsw - r0.ru_nvcsw + r1.ru_nivcsw - r0.ru_nivcsw}, f)
"#;

fn python(
    tech: &str,
    endpoint: &str,
    fx: &Fixture,
    dst: &Dst,
    ops: u64,
    plan: &Plan,
) -> Result<Measured, String> {
    let python: PathBuf = plan.python.clone().ok_or("no Python interpreter")?;
    let result = fx.dir.join("py.result.json");
    let _ = std::fs::remove_file(&result);
    let port = match dst {
        Dst::Listener(p) => *p,
        _ => 0,
    };
    let args = serde_json::json!({
        "peer": tech, "endpoint": endpoint, "size": fx.size, "ops": ops, "port": port,
        "dir": fx.dir, "src": fx.src, "result": result,
    });
    let mut cmd = Command::new(&python);
    cmd.args(["-c", PYTHON, &args.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    if let Dst::Pipe(w) = dst {
        let fd = w.as_fd().try_clone_to_owned().map_err(|e| e.to_string())?;
        cmd.stdout(Stdio::from(fd));
    }
    let out = cmd.output();
    let failed = match &out {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!(
            "{} failed ({}): {}",
            python.display(),
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        )),
        Err(e) => Some(format!("cannot run {}: {e}", python.display())),
    };
    if let Some(why) = failed {
        // Free a drain thread still waiting for the peer to connect.
        if port != 0 {
            let _ = std::net::TcpStream::connect(("127.0.0.1", port));
        }
        return Err(why);
    }
    let text =
        std::fs::read_to_string(&result).map_err(|e| format!("{}: {e}", result.display()))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let field = |k: &str| v[k].as_u64();
    Ok(Measured {
        elapsed_ns: field("elapsed_ns").ok_or("the Python peer gave no time")?,
        user_cpu_ns: field("user_cpu_ns"),
        sys_cpu_ns: field("sys_cpu_ns"),
        cpu_ns: field("cpu_ns"),
        ctx_switches: field("ctx_switches"),
        ..Measured::default()
    })
}
