//! `zcopy serve DIR`: the `zcopy-serve` crate's static file server, stopped by SIGINT or
//! SIGTERM. Translation only: arguments in, the server's notices and errors printed.

use std::path::PathBuf;
use std::time::Duration;

use zcopy_serve::{AccessLog, IoModel, Notify, Running, ServeOptions};

/// The arguments of `zcopy serve`, already parsed by clap.
pub struct Args {
    pub dir: PathBuf,
    pub listen: String,
    pub workers: Option<usize>,
    pub directio: Option<u64>,
    pub model: IoModel,
    pub header_timeout: String,
    pub keepalive_timeout: String,
    pub max_connections: usize,
    /// `--access-log PATH|-|off`.
    pub access_log: std::ffi::OsString,
}

/// Parses `--NAME S`: a positive number of seconds (fractions allowed).
fn seconds(name: &str, s: &str) -> Result<Duration, String> {
    s.parse::<f64>()
        .ok()
        .filter(|v| *v > 0.0)
        .and_then(|v| Duration::try_from_secs_f64(v).ok())
        .ok_or_else(|| format!("--{name} {s:?}: expected a positive number of seconds (e.g. 60)"))
}

/// Binds, prints `listening on http://ADDR`, and serves until SIGINT or SIGTERM.
pub fn run(args: Args) -> Result<(), String> {
    let mut opts = ServeOptions::new(&args.dir);
    opts.listen = args.listen.parse().map_err(|_| {
        format!(
            "--listen {:?}: expected an address like 127.0.0.1:8080",
            args.listen
        )
    })?;
    if let Some(w) = args.workers {
        opts.workers = w;
    }
    opts.directio = args.directio;
    opts.header_timeout = seconds("header-timeout", &args.header_timeout)?;
    opts.keepalive_timeout = seconds("keepalive-timeout", &args.keepalive_timeout)?;
    opts.max_connections = args.max_connections;
    opts.access_log = AccessLog::from_arg(&args.access_log);
    opts.model = args.model;
    // The library never prints: its notices (a fallback taken, a failure survived) come here.
    opts.notify = Notify::new(|_, message| eprintln!("zcopy serve: {message}"));
    // Block SIGINT and SIGTERM before any thread starts (they inherit the mask); one thread
    // waits for them with sigwait and stops the server.
    let set = signal_set();
    // SAFETY: `set` is an initialised sigset; no old mask is asked for.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    let server = Running::start(&opts).map_err(|e| format!("error: {}", e.message()))?;
    println!(
        "listening on http://{} (model {}, {} workers, directio {}, access log {})",
        server.addr(),
        opts.model,
        opts.workers,
        opts.directio.map_or("off".to_string(), |d| d.to_string()),
        match &opts.access_log {
            AccessLog::Off => "off".to_string(),
            AccessLog::Stdout => "stdout".to_string(),
            AccessLog::File(p) => p.display().to_string(),
        }
    );
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let handle = server.handle();
    std::thread::spawn(move || {
        let set = signal_set();
        let mut sig = 0;
        // SAFETY: `set` is initialised and `sig` valid for writes.
        unsafe { libc::sigwait(&set, &mut sig) };
        handle.shutdown();
    });
    // A worker's panic comes back from join() as a panic (the server stops the other workers
    // first); it ends the command with one line and status 1, like any failure.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| server.join())) {
        Ok(result) => result.map_err(|e| format!("error: {}", e.message())),
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".to_string());
            Err(format!(
                "error: a server worker panicked ({what}); the server stopped (a bug: please report it)"
            ))
        }
    }
}

fn signal_set() -> libc::sigset_t {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset/sigaddset initialise `set` in place.
    unsafe {
        libc::sigemptyset(set.as_mut_ptr());
        libc::sigaddset(set.as_mut_ptr(), libc::SIGINT);
        libc::sigaddset(set.as_mut_ptr(), libc::SIGTERM);
        set.assume_init()
    }
}
