//! What the server tells its caller while it runs (it never prints): a fallback it took (no
//! direct I/O, no `openat2`) or a failure it survives (the access log cannot be written). Each
//! kind is told once per server, through the callback the caller chose in
//! [`ServeOptions::notify`](crate::ServeOptions::notify); without one, nothing is said.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The kinds of notice, each told at most once per server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NoticeKind {
    /// Direct I/O is unavailable (the filesystem refuses `O_DIRECT`, or io_uring is missing):
    /// large files are served with `sendfile`.
    NoDirectIo,
    /// `openat2` is unavailable (seccomp, kernel before 5.6): paths are opened with `openat`
    /// one segment at a time after normalising them.
    NoOpenat2,
    /// The access log cannot be written: its lines are dropped.
    AccessLogFailed,
}

/// A callback for the server's notices (a fallback taken, a failure survived; each kind once
/// per server): called on a worker thread with the kind and a one-line message (no trailing newline, no `zcopy serve:`
/// prefix). The CLI prints them to standard error; the C and Python faces say nothing.
#[derive(Clone, Default)]
pub struct Notify(Option<Arc<Callback>>);

/// The callback behind a [`Notify`].
type Callback = dyn Fn(NoticeKind, &str) + Send + Sync;

impl Notify {
    /// Notices go to `f`.
    pub fn new(f: impl Fn(NoticeKind, &str) + Send + Sync + 'static) -> Notify {
        Notify(Some(Arc::new(f)))
    }

    /// No notices (the default).
    pub fn off() -> Notify {
        Notify(None)
    }
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Notify(callback)"
        } else {
            "Notify(off)"
        })
    }
}

/// A server's notices: the caller's callback and which kinds were told already.
#[derive(Debug, Default)]
pub(crate) struct Notices {
    notify: Notify,
    told: [AtomicBool; 3],
}

impl Notices {
    pub(crate) fn new(notify: Notify) -> Notices {
        Notices {
            notify,
            told: Default::default(),
        }
    }

    /// Tells `kind` with the message `say` makes, unless it was told already.
    pub(crate) fn once(&self, kind: NoticeKind, say: impl FnOnce() -> String) {
        let i = match kind {
            NoticeKind::NoDirectIo => 0,
            NoticeKind::NoOpenat2 => 1,
            NoticeKind::AccessLogFailed => 2,
        };
        if let Some(f) = &self.notify.0 {
            if !self.told[i].swap(true, Ordering::Relaxed) {
                f(kind, &say());
            }
        }
    }
}
