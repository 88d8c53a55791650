//! The worker threads that copy regular files: each takes a file from the walker's queue,
//! copies it through the engine into a temporary name beside its destination, copies its
//! metadata, and renames it into place; a failure or a stop unlinks the temporary file.

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Mutex};
use std::time::Duration;

use super::walk::{self, Walked, Walker};
use super::{meta, Shared, TreeOptions, TreeReport};
use crate::endpoint::{Endpoint, Name};
use crate::{plan, sys, Error, Result};

/// A regular file for a worker to copy.
pub(super) struct Job {
    pub(super) src: PathBuf,
    pub(super) dst: PathBuf,
    /// What the walk's `lstat` (or `stat`, following symlinks) saw: the metadata to copy
    /// (`fstat_mount` leaves the times out).
    pub(super) st: libc::stat,
}

/// Walks the tree on this thread while `workers` threads copy its files; returns what the
/// walk counted and made, once every worker has finished (relaying progress meanwhile).
pub(super) fn run(
    src: &Path,
    dst: &Path,
    opts: &TreeOptions<'_>,
    shared: &Shared<'_>,
    workers: usize,
) -> (TreeReport, Option<Walked>) {
    let root = sys::tree::geteuid() == 0;
    let (jobs, queue) = mpsc::channel::<Job>();
    let queue = Mutex::new(queue);
    let (done_tx, done) = mpsc::channel::<()>();
    std::thread::scope(|s| {
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let queue = &queue;
            s.spawn(move || worker(queue, shared, root, opts.symlinks, &done_tx));
        }
        drop(done_tx);
        let mut walker = Walker::new(shared, jobs, root);
        walker.entry(src, dst, true);
        let (report, walked) = walker.finish_walk();
        // Every worker holds a sender: the channel closes when the last one has finished.
        while let Ok(()) | Err(mpsc::RecvTimeoutError::Timeout) =
            done.recv_timeout(Duration::from_millis(50))
        {
            shared.relay(false);
        }
        (report, Some(walked))
    })
}

fn worker(
    queue: &Mutex<mpsc::Receiver<Job>>,
    shared: &Shared<'_>,
    root: bool,
    no_follow: bool,
    done: &mpsc::Sender<()>,
) {
    let start = sys::count();
    loop {
        let job = match queue.lock() {
            Ok(q) => q.recv(),
            Err(_) => break,
        };
        let Ok(job) = job else { break };
        if shared.stopped() {
            continue;
        }
        match copy_one(&job, shared, root, no_follow) {
            Ok(()) => {
                shared.files.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => shared.fail(&job.src, e),
        }
        let _ = done.send(());
    }
    shared
        .syscalls
        .fetch_add(sys::count() - start, Ordering::Relaxed);
}

/// Copies one regular file into a temporary name, then renames it into place.
fn copy_one(job: &Job, shared: &Shared<'_>, root: bool, no_follow: bool) -> Result<()> {
    let c_src = walk::c_path(&job.src)?;
    let c_dst = walk::c_path(&job.dst)?;
    let nofollow = if no_follow { libc::O_NOFOLLOW } else { 0 };
    let src = sys::fs::open(&c_src, libc::O_RDONLY | libc::O_NOCTTY | nofollow, 0)
        .map_err(|e| Error::os(e, format_args!("cannot open src {}", job.src.display())))?;
    let (src_st, src_mnt) = sys::fs::fstat_mount(src.as_fd())
        .map_err(|e| Error::os(e, format_args!("fstat on src {}", job.src.display())))?;
    if src_st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(Error::invalid(format!(
            "src {} is no longer a regular file",
            job.src.display()
        )));
    }
    let tmp = temp_path(&job.dst);
    let c_tmp = walk::c_path(&tmp)?;
    let dst = sys::fs::open(&c_tmp, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL, 0o600)
        .map_err(|e| Error::os(e, format_args!("cannot create dst {}", job.dst.display())))?;
    let result = (|| {
        let (mut dst_st, dst_mnt) = sys::fs::fstat_mount(dst.as_fd())
            .map_err(|e| Error::os(e, format_args!("fstat on dst {}", job.dst.display())))?;
        dst_st.st_size = 0;
        let src_ep = Endpoint::from_stat(
            src.as_fd(),
            Name::Path("src", &job.src),
            &src_st,
            src_mnt,
            libc::O_RDONLY,
        );
        let dst_ep = Endpoint::from_stat(
            dst.as_fd(),
            Name::Path("dst", &job.dst),
            &dst_st,
            dst_mnt,
            libc::O_WRONLY,
        );
        let counted = AtomicU64::new(0);
        let progress = |n: u64| {
            let before = counted.swap(n, Ordering::Relaxed);
            shared
                .bytes
                .fetch_add(n.saturating_sub(before), Ordering::Relaxed);
            !shared.stopped()
        };
        let mut opts = shared.opts.transfer.clone();
        // Only when someone can stop the tree: a callback changes how chunks are cut.
        if shared.opts.progress.is_some() || shared.opts.transfer.cancel.is_some() {
            opts.progress = Some(&progress);
        }
        let report = plan::run(&src_ep, &dst_ep, &opts)?;
        let before = counted.load(Ordering::Relaxed);
        shared
            .bytes
            .fetch_add(report.bytes.saturating_sub(before), Ordering::Relaxed);
        meta::file(src.as_fd(), dst.as_fd(), &job.st, root, &job.dst)?;
        sys::fs::rename(&c_tmp, &c_dst).map_err(|e| {
            Error::os(
                e,
                format_args!("cannot rename the copy into place as {}", job.dst.display()),
            )
        })
    })();
    if result.is_err() {
        // The copy failed or was stopped: nothing stays under either name.
        let _ = sys::fs::unlink(&c_tmp);
    }
    result
}

/// A name for a temporary file in `dst`'s directory, unused by any other copy of this process:
/// `.zcopy-PID-N.part`.
pub(super) fn temp_path(dst: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static PID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = format!(".zcopy-{}-{n}.part", PID.get_or_init(std::process::id));
    match dst.parent() {
        Some(dir) => dir.join(name),
        None => PathBuf::from(name),
    }
}
