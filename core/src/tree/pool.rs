//! The worker threads that copy regular files: each takes a file from the walker's queue,
//! copies it through the engine into a temporary name beside its destination, copies its
//! metadata, and renames it into place; a failure or a stop unlinks the temporary file.

use std::collections::VecDeque;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::walk::{self, Walked, Walker};
use super::{meta, Shared, TreeReport};
use crate::endpoint::{Endpoint, Name};
use crate::parallel::Workers;
use crate::{plan, sys, Error, Result};

/// A regular file for a worker to copy.
pub(super) struct Job {
    pub(super) src: PathBuf,
    pub(super) dst: PathBuf,
    /// What the walk's `lstat` (or `stat`, following symlinks) saw: the metadata to copy
    /// (`fstat_mount` leaves the times out).
    pub(super) st: libc::stat,
}

/// The queue between the walker and the workers, and the news the workers give the calling
/// thread: a mutex and two condvars (futex-based: no thread handle is made for the calling
/// thread, unlike `std::thread::scope` or `mpsc`, whose handle is never freed on a C program's
/// main thread and shows up under valgrind; see `parallel::Relay`).
pub(super) struct Queue {
    state: Mutex<State>,
    /// Signalled when a job is queued or the queue is closed.
    work: Condvar,
    /// Signalled when a worker finished a file or stopped.
    news: Condvar,
}

#[derive(Default)]
struct State {
    /// Batches of files, one directory's each: a worker takes the next file of the front batch
    /// and moves the rest of it to the back, so workers running at once copy into different
    /// directories (creating a file locks its directory: workers in one directory wait for each
    /// other).
    jobs: VecDeque<VecDeque<Job>>,
    /// No more jobs will come: the walk is over.
    closed: bool,
    /// Workers that have stopped.
    stopped: usize,
}

impl Queue {
    fn new() -> Queue {
        Queue {
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            news: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues files of one directory for the workers.
    pub(super) fn push(&self, batch: VecDeque<Job>) {
        if batch.is_empty() {
            return;
        }
        let n = batch.len();
        self.lock().jobs.push_back(batch);
        if n == 1 {
            self.work.notify_one();
        } else {
            self.work.notify_all();
        }
    }

    fn close(&self) {
        self.lock().closed = true;
        self.work.notify_all();
    }

    /// The next job, or `None` once the queue is closed and empty.
    fn pop(&self) -> Option<Job> {
        let mut state = self.lock();
        loop {
            if let Some(mut batch) = state.jobs.pop_front() {
                if let Some(job) = batch.pop_front() {
                    if !batch.is_empty() {
                        state.jobs.push_back(batch);
                    }
                    return Some(job);
                }
                continue;
            }
            if state.closed {
                return None;
            }
            state = self
                .work
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn finished_one(&self) {
        self.news.notify_one();
    }

    fn stopped_one(&self) {
        self.lock().stopped += 1;
        self.news.notify_one();
    }

    /// Waits until `n` workers have stopped, relaying progress at least every 50 ms.
    fn wait_for(&self, n: usize, shared: &Shared<'_>) {
        let mut state = self.lock();
        while state.stopped < n {
            state = self
                .news
                .wait_timeout(state, Duration::from_millis(50))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            drop(state);
            shared.relay(false);
            state = self.lock();
        }
    }
}

/// Walks the tree on this thread while `workers` threads copy its files; returns what the
/// walk counted and made, once every worker has finished (relaying progress meanwhile).
pub(super) fn run(
    src: &Path,
    dst: &Path,
    shared: &Shared<'_>,
    workers: usize,
) -> Result<(TreeReport, Walked)> {
    let euid = sys::tree::geteuid();
    let ids = Ids {
        root: euid == 0,
        euid,
        egid: sys::tree::getegid(),
    };
    let root = ids.root;
    let no_follow = shared.opts.symlinks;
    let queue = Queue::new();
    let mut pool = Workers::new();
    // Dropped before `pool` (which joins the workers), also on unwind: the workers then end.
    let _close = CloseOnDrop(&queue);
    let mut started = 0;
    for i in 0..workers {
        let queue = &queue;
        match pool.spawn(format!("zcopy-tree-{i}"), move || {
            worker(queue, shared, ids, no_follow)
        }) {
            Ok(()) => started += 1,
            Err(e) if started == 0 => {
                return Err(Error::os(e, "cannot start a worker thread for copy_tree"));
            }
            // Fewer workers than asked: the ones started do the work.
            Err(_) => break,
        }
    }
    let mut walker = Walker::new(shared, &queue, root);
    walker.entry(src, dst, true);
    let walked = walker.finish_walk();
    queue.close();
    queue.wait_for(started, shared);
    drop(pool);
    Ok(walked)
}

/// Closes the queue when dropped.
struct CloseOnDrop<'q>(&'q Queue);

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// Who this process is, for the metadata of the files it creates.
#[derive(Clone, Copy)]
struct Ids {
    /// Owners can be copied.
    root: bool,
    euid: libc::uid_t,
    egid: libc::gid_t,
}

fn worker(queue: &Queue, shared: &Shared<'_>, ids: Ids, no_follow: bool) {
    let start = sys::count();
    while let Some(job) = queue.pop() {
        if shared.stopped() {
            continue;
        }
        let copied = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            copy_one(&job, shared, ids, no_follow)
        }));
        match copied {
            Ok(Ok(())) => {
                shared.files.fetch_add(1, Ordering::Relaxed);
            }
            Ok(Err(e)) => shared.fail(&job.src, e),
            // A bug: the worker goes on with the next file, the copy fails naming this one.
            Err(_) => shared.fail(
                &job.src,
                Error::new(
                    crate::ErrorKind::Io,
                    None,
                    format!("internal error (a panic) copying {}", job.src.display()),
                ),
            ),
        }
        queue.finished_one();
    }
    shared
        .syscalls
        .fetch_add(sys::count() - start, Ordering::Relaxed);
    queue.stopped_one();
}

/// Copies one regular file into a temporary name, then renames it into place.
fn copy_one(job: &Job, shared: &Shared<'_>, ids: Ids, no_follow: bool) -> Result<()> {
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
    // Created with the source's permission bits when it will have the source's owner and
    // group (as cp does): usually no chmod after. Otherwise owner-only until the owner is set,
    // so the wrong group never reads it.
    let mode = if (job.st.st_uid, job.st.st_gid) == (ids.euid, ids.egid) {
        job.st.st_mode & 0o777
    } else {
        job.st.st_mode & 0o700
    };
    let dst = sys::fs::open(&c_tmp, libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL, mode)
        .map_err(|e| Error::os(e, format_args!("cannot create dst {}", job.dst.display())))?;
    let result = (|| {
        let (mut dst_st, dst_mnt) = sys::fs::fstat_mount(dst.as_fd())
            .map_err(|e| Error::os(e, format_args!("fstat on dst {}", job.dst.display())))?;
        let made = dst_st;
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
        meta::file(src.as_fd(), dst.as_fd(), &job.st, &made, ids.root, &job.dst)?;
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
