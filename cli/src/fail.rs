//! How the command fails: one line on stderr (`zcopy: error: ...`) naming the path the user
//! gave, or with `--json` one JSON object per error; exit status 1 for a failure, 2 for a
//! command line that cannot be parsed.
//!
//! The JSON object's keys, always all present:
//!
//! - `error`: the message (the text line without `zcopy: error: `);
//! - `kind`: `usage` (the command line; status 2), `io` (the OS refused a call: see `errno`),
//!   `invalid` (a request that cannot make sense), `unsupported` (no technique can serve the
//!   pair as asked), `cancelled`;
//! - `errno`: the OS error number behind it (2 for `ENOENT`), or null;
//! - `path`: the path the error is about, as given on the command line (or as found in a
//!   directory given), or null when it concerns no one file (a usage error, a transfer
//!   between two paths);
//! - `bytes_moved`: bytes a copy had moved before it failed (0 when none, or not a copy).

use std::path::Path;
use std::process::ExitCode;

/// A failure to report.
#[derive(Debug, Clone)]
pub struct Failure {
    pub message: String,
    pub kind: &'static str,
    pub errno: Option<i32>,
    pub path: Option<String>,
    pub bytes_moved: u64,
    /// Already printed (several items failed, each printed as it happened): the exit status
    /// only.
    pub reported: bool,
}

impl Failure {
    /// A failure of `kind` with a message.
    pub fn new(kind: &'static str, message: impl Into<String>) -> Failure {
        Failure {
            message: message.into(),
            kind,
            errno: None,
            path: None,
            bytes_moved: 0,
            reported: false,
        }
    }

    /// A command line that cannot be parsed (status 2).
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure::new("usage", message)
    }

    /// Something this command did failed, said in `message`.
    pub fn other(message: impl Into<String>) -> Failure {
        Failure::new("io", message)
    }

    /// An OS error: `what` (naming the path), then the OS's text.
    pub fn io(e: &std::io::Error, what: impl std::fmt::Display) -> Failure {
        Failure {
            errno: e.raw_os_error(),
            ..Failure::new("io", format!("{what}: {}", os_text(e)))
        }
    }

    /// An engine error, as the engine words it.
    pub fn engine(e: &zcopy::Error) -> Failure {
        let kind = match e.kind() {
            zcopy::ErrorKind::Io => "io",
            zcopy::ErrorKind::Invalid => "invalid",
            zcopy::ErrorKind::Unsupported => "unsupported",
            zcopy::ErrorKind::Cancelled => "cancelled",
            _ => "io",
        };
        Failure {
            errno: e.errno(),
            bytes_moved: e.bytes_moved(),
            ..Failure::new(kind, e.message())
        }
    }

    /// With the path it is about.
    pub fn at(mut self, path: &Path) -> Failure {
        self.path = Some(path.display().to_string());
        self
    }

    /// With an errno.
    pub fn errno(mut self, errno: i32) -> Failure {
        self.errno = Some(errno);
        self
    }

    /// Items failed and were printed as they did: exit 1, print nothing more.
    pub fn reported() -> Failure {
        Failure {
            reported: true,
            ..Failure::new("io", "")
        }
    }

    /// Prints the failure on stderr: one line, or one JSON object.
    pub fn print(&self, json: bool) {
        if self.reported {
            return;
        }
        if json {
            let v = serde_json::json!({
                "error": self.message,
                "kind": self.kind,
                "errno": self.errno,
                "path": self.path,
                "bytes_moved": self.bytes_moved,
            });
            eprintln!("{v}");
        } else if self.bytes_moved > 0 {
            eprintln!(
                "zcopy: error: {} ({} bytes moved before the error)",
                self.message, self.bytes_moved
            );
        } else {
            eprintln!("zcopy: error: {}", self.message);
        }
    }

    /// The exit status: 2 for a usage error, 1 for any other failure.
    pub fn status(&self) -> ExitCode {
        if self.kind == "usage" {
            ExitCode::from(2)
        } else {
            ExitCode::FAILURE
        }
    }
}

/// A message built as text by bench and serve (`error: ...`): a failure (status 1).
impl From<String> for Failure {
    fn from(message: String) -> Failure {
        let message = message.strip_prefix("error: ").unwrap_or(&message);
        Failure::other(message.to_string())
    }
}

/// An OS error's text without Rust's ` (os error N)` (the errno is reported apart).
pub fn os_text(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.rfind(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// clap's error (several paragraphs: the error with the valid values, a tip, the usage, a
/// pointer to --help) as one line: `invalid value 'warp' for '--strategy <STRATEGY>' [possible
/// values: ...]; tip: ...; see 'zcopy copy --help'`. `command` is the subcommand given, if any.
pub fn clap_one_line(e: &clap::Error, command: Option<&str>) -> String {
    let text = e.render().to_string();
    let mut out = String::new();
    for paragraph in text.split("\n\n") {
        let paragraph = paragraph.trim();
        if paragraph.is_empty()
            || paragraph.starts_with("Usage:")
            || paragraph.starts_with("For more information")
        {
            continue;
        }
        for line in paragraph.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let line = line.strip_prefix("error: ").unwrap_or(line);
            if out.is_empty() {
                out += line;
            } else if out.ends_with(':') || line.starts_with('[') {
                out += " ";
                out += line;
            } else {
                out += "; ";
                out += line;
            }
        }
    }
    out + &see_help(command)
}

/// `; see 'zcopy COMMAND --help'`.
pub fn see_help(command: Option<&str>) -> String {
    match command {
        Some(c) => format!("; see 'zcopy {c} --help'"),
        None => "; see 'zcopy --help'".to_string(),
    }
}
