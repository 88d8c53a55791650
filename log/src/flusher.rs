//! The background flusher of [`FlushPolicy::Async`](crate::FlushPolicy::Async): one thread that
//! makes what the writer dirtied durable, every `interval` or once `bytes` are pending.
//!
//! The writer records each append's dirty ranges here under a mutex; the thread takes them and
//! syncs outside the lock with `fdatasync` of the active segment's files, which it holds by
//! `Arc` (so a roll cannot close them while it syncs). It needs no mapping: on Linux the pages
//! stored through a shared mapping are the file's page-cache pages, which `fdatasync` writes
//! back as `msync(MS_SYNC)` does, and the writer keeps the map to itself.
//!
//! The thread is joined by [`Flusher::stop`] (called by `Log::close` and drop): no thread
//! outlives the log.

use std::fs::File;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use zcopy::{Error, Result};

/// A dirty byte range `lo..hi` of one file.
#[derive(Default)]
struct Dirty {
    file: Option<Arc<File>>,
    lo: usize,
    hi: usize,
}

impl Dirty {
    fn add(&mut self, lo: usize, hi: usize) {
        if self.lo >= self.hi {
            (self.lo, self.hi) = (lo, hi);
        } else {
            self.lo = self.lo.min(lo);
            self.hi = self.hi.max(hi);
        }
    }

    /// The file when a range of it is dirty, which is then clean.
    fn take(&mut self) -> Option<Arc<File>> {
        if self.lo >= self.hi {
            return None;
        }
        (self.lo, self.hi) = (0, 0);
        self.file.clone()
    }
}

#[derive(Default)]
struct State {
    stop: bool,
    log: Dirty,
    index: Dirty,
    pending: u64,
    /// The first background failure, handed to the writer's next call.
    error: Option<Error>,
    /// Background flushes that synced something (for tests and curiosity).
    flushes: u64,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind: keep using it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The flusher thread and what it shares with the writer.
pub(crate) struct Flusher {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    bytes: Option<u64>,
}

impl Flusher {
    /// Starts the thread. `bytes`: wake once that many bytes are pending; `interval`: wake at
    /// least that often (at least one of them is set, checked by the options).
    pub(crate) fn start(bytes: Option<u64>, interval: Option<Duration>) -> Result<Flusher> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
        });
        let s = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("zcopy-log-flush".into())
            .spawn(move || run(&s, bytes, interval))
            .map_err(|e| Error::os(e, "cannot start the log's background flush thread"))?;
        Ok(Flusher {
            shared,
            thread: Some(thread),
            bytes,
        })
    }

    /// The files of the active segment from now on (after a roll, whose old segment the
    /// writer has synced itself).
    pub(crate) fn set_files(&self, log: Arc<File>, index: Arc<File>) {
        let mut st = self.shared.lock();
        st.log = Dirty {
            file: Some(log),
            lo: 0,
            hi: 0,
        };
        st.index = Dirty {
            file: Some(index),
            lo: 0,
            hi: 0,
        };
        st.pending = 0;
    }

    /// Records an append: log bytes `log.0..log.1` and index bytes `index` are dirty.
    pub(crate) fn dirty(&self, log: (usize, usize), index: Option<(usize, usize)>) {
        let mut st = self.shared.lock();
        st.log.add(log.0, log.1);
        if let Some((lo, hi)) = index {
            st.index.add(lo, hi);
        }
        st.pending += (log.1 - log.0) as u64;
        if self.bytes.is_some_and(|b| st.pending >= b) {
            self.shared.wake.notify_one();
        }
    }

    /// Forgets what is dirty (the writer has just synced everything itself).
    pub(crate) fn clean(&self) {
        let mut st = self.shared.lock();
        st.log.take();
        st.index.take();
        st.pending = 0;
    }

    /// The first background failure since the last call, if any.
    pub(crate) fn take_error(&self) -> Option<Error> {
        self.shared.lock().error.take()
    }

    /// Background flushes that synced something so far.
    pub(crate) fn flushes(&self) -> u64 {
        self.shared.lock().flushes
    }

    /// Stops and joins the thread (it finishes a flush in progress first). Idempotent.
    pub(crate) fn stop(&mut self) {
        {
            let mut st = self.shared.lock();
            st.stop = true;
            self.shared.wake.notify_one();
        }
        if let Some(t) = self.thread.take() {
            // The thread's body cannot panic but through a bug; the log's own final flush
            // follows either way.
            let _ = t.join();
        }
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(shared: &Shared, bytes: Option<u64>, interval: Option<Duration>) {
    let due = |st: &State| st.stop || bytes.is_some_and(|b| st.pending >= b);
    let mut st = shared.lock();
    loop {
        st = match interval {
            Some(i) => {
                shared
                    .wake
                    .wait_timeout_while(st, i, |s| !due(s))
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
            None => shared
                .wake
                .wait_while(st, |s| !due(s))
                .unwrap_or_else(|e| e.into_inner()),
        };
        if st.stop {
            // The writer syncs everything itself once the thread is joined.
            return;
        }
        let log = st.log.take();
        let index = st.index.take();
        st.pending = 0;
        if log.is_none() && index.is_none() {
            continue;
        }
        drop(st);
        let mut result = Ok(());
        for file in [log, index].into_iter().flatten() {
            result = result.and_then(|()| file.sync_data());
        }
        st = shared.lock();
        st.flushes += 1;
        if let Err(e) = result {
            if st.error.is_none() {
                st.error = Some(Error::os(e, "the log's background fdatasync"));
            }
        }
    }
}
