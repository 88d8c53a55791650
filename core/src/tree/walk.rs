//! The walk, on the calling thread: `lstat` each entry; create directories (owner-writable
//! until their metadata is set at the end), symlinks and special files; queue regular files for
//! the workers; remember the first destination of every multiply-linked inode so its other
//! names become hard links once the workers are done.

use std::collections::{HashMap, VecDeque};
use std::ffi::{CStr, CString, OsStr};
use std::io;
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::pool::{temp_path, Job, Queue};
use super::{meta, Shared, Specials, TreeOptions, TreeReport};
use crate::{sys, Error, Result};

/// A second name of a file already copied, to link once the copy exists.
struct Link {
    src: PathBuf,
    first: PathBuf,
    dst: PathBuf,
}

/// A directory made, whose metadata is set after its contents.
struct Dir {
    src: PathBuf,
    dst: PathBuf,
    st: libc::stat,
}

/// What the walk leaves for after the workers: links to make, directories to finish.
pub(super) struct Walked {
    links: Vec<Link>,
    dirs: Vec<Dir>,
    root: bool,
}

/// The walker's state.
pub(super) struct Walker<'s, 'a> {
    shared: &'s Shared<'a>,
    jobs: &'s Queue,
    root: bool,
    follow: bool,
    /// The destination root directory's (dev, ino), so a copy into the source itself stops.
    dst_root: Option<(u64, u64)>,
    /// First destination of each inode with more than one name.
    inodes: HashMap<(u64, u64), PathBuf>,
    /// The directories being walked, for loop detection when symlinks are followed.
    ancestors: Vec<(u64, u64)>,
    report: TreeReport,
    walked: Walked,
    /// Files found in the directory being read, not yet queued: queued as one batch when the
    /// walk descends into a subdirectory or leaves the directory, or at [`BATCH`] files.
    batch: VecDeque<Job>,
}

/// The most files queued in one batch (a directory with more is queued in several).
const BATCH: usize = 64;

impl<'s, 'a> Walker<'s, 'a> {
    pub(super) fn new(shared: &'s Shared<'a>, jobs: &'s Queue, root: bool) -> Self {
        Walker {
            shared,
            jobs,
            root,
            follow: !shared.opts.symlinks,
            dst_root: None,
            inodes: HashMap::new(),
            ancestors: Vec::new(),
            report: TreeReport::default(),
            walked: Walked {
                links: Vec::new(),
                dirs: Vec::new(),
                root,
            },
            batch: VecDeque::new(),
        }
    }

    /// Hands the files found so far to the workers.
    fn flush(&mut self) {
        self.jobs.push(std::mem::take(&mut self.batch));
    }

    /// Ends the walk: the counts so far and what is left to do.
    pub(super) fn finish_walk(mut self) -> (TreeReport, Walked) {
        self.flush();
        (self.report, self.walked)
    }

    fn opts(&self) -> &TreeOptions<'a> {
        self.shared.opts
    }

    /// Copies the entry at `src` to `dst` (queueing it when it is a regular file).
    pub(super) fn entry(&mut self, src: &Path, dst: &Path, top: bool) {
        if self.shared.stopped() {
            return;
        }
        self.shared.relay(false);
        if let Err(e) = self.entry_inner(src, dst, top) {
            self.shared.fail(src, e);
        }
    }

    fn entry_inner(&mut self, src: &Path, dst: &Path, top: bool) -> Result<()> {
        let c_src = c_path(src)?;
        let st = sys::tree::stat_at(&c_src, self.follow).map_err(|e| {
            let what = if self.follow && e.raw_os_error() == Some(libc::ENOENT) {
                "cannot follow"
            } else {
                "cannot stat"
            };
            Error::os(e, format_args!("{what} {}", src.display()))
        })?;
        let kind = st.st_mode & libc::S_IFMT;
        if kind != libc::S_IFDIR && st.st_nlink > 1 {
            let key = (st.st_dev, st.st_ino);
            if let Some(first) = self.inodes.get(&key) {
                self.walked.links.push(Link {
                    src: src.to_path_buf(),
                    first: first.clone(),
                    dst: dst.to_path_buf(),
                });
                return Ok(());
            }
            self.inodes.insert(key, dst.to_path_buf());
        }
        match kind {
            libc::S_IFDIR => self.dir(src, &c_src, dst, st, top),
            libc::S_IFREG => {
                self.batch.push_back(Job {
                    src: src.to_path_buf(),
                    dst: dst.to_path_buf(),
                    st,
                });
                if self.batch.len() >= BATCH {
                    self.flush();
                }
                Ok(())
            }
            libc::S_IFLNK => self.symlink(&c_src, dst, &st),
            _ => self.special(src, &c_src, dst, &st),
        }
    }

    fn dir(
        &mut self,
        src: &Path,
        c_src: &CStr,
        dst: &Path,
        st: libc::stat,
        top: bool,
    ) -> Result<()> {
        let id = (st.st_dev, st.st_ino);
        if self.dst_root == Some(id) {
            return Err(Error::invalid(format!(
                "cannot copy {} into itself: the destination {} is inside it",
                src.display(),
                dst.display()
            )));
        }
        if self.ancestors.contains(&id) {
            return Err(Error::os(
                io::Error::from_raw_os_error(libc::ELOOP),
                format_args!(
                    "{} is a directory loop (a followed symlink leads back above it)",
                    src.display()
                ),
            ));
        }
        let c_dst = c_path(dst)?;
        match sys::tree::mkdirat(&c_dst, (st.st_mode & 0o777) | 0o700) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {
                let is_dir = sys::tree::stat_at(&c_dst, true)
                    .is_ok_and(|d| d.st_mode & libc::S_IFMT == libc::S_IFDIR);
                if !(self.opts().dirs_exist_ok && is_dir) {
                    let hint = if is_dir {
                        " (pass dirs_exist_ok to copy into it)"
                    } else {
                        ""
                    };
                    return Err(Error::os(
                        e,
                        format_args!("dst {} already exists{hint}", dst.display()),
                    ));
                }
            }
            Err(e) => {
                return Err(Error::os(
                    e,
                    format_args!("cannot create directory {}", dst.display()),
                ))
            }
        }
        if top {
            self.dst_root = sys::tree::stat_at(&c_dst, true)
                .ok()
                .map(|d| (d.st_dev, d.st_ino));
        }
        self.report.directories += 1;
        self.walked.dirs.push(Dir {
            src: src.to_path_buf(),
            dst: dst.to_path_buf(),
            st,
        });
        let fd = sys::fs::open(c_src, libc::O_RDONLY | libc::O_DIRECTORY, 0)
            .map_err(|e| Error::os(e, format_args!("cannot open directory {}", src.display())))?;
        let entries = sys::tree::read_dir(fd.as_fd())
            .map_err(|e| Error::os(e, format_args!("cannot read directory {}", src.display())))?;
        drop(fd);
        // The files found so far in the parent go to the workers before this directory's.
        self.flush();
        self.ancestors.push(id);
        for e in entries {
            let name = OsStr::from_bytes(e.name.to_bytes());
            self.entry(&src.join(name), &dst.join(name), false);
        }
        self.ancestors.pop();
        self.flush();
        Ok(())
    }

    fn symlink(&mut self, c_src: &CStr, dst: &Path, st: &libc::stat) -> Result<()> {
        let target = sys::tree::readlinkat(c_src).map_err(|e| {
            Error::os(
                e,
                format_args!("cannot read symlink {}", c_src.to_string_lossy()),
            )
        })?;
        let c_dst = self.create(dst, "symlink", |p| sys::tree::symlinkat(&target, p))?;
        meta::symlink(&c_dst, st, self.root, dst)?;
        self.report.symlinks += 1;
        Ok(())
    }

    fn special(&mut self, src: &Path, c_src: &CStr, dst: &Path, st: &libc::stat) -> Result<()> {
        let what = match st.st_mode & libc::S_IFMT {
            libc::S_IFIFO => "a named pipe",
            libc::S_IFSOCK => "a socket",
            libc::S_IFCHR => "a character device",
            libc::S_IFBLK => "a block device",
            _ => "of an unknown file type",
        };
        if self.opts().specials == Specials::Error {
            return Err(Error::invalid(format!(
                "{} is {what}: specials=\"error\" refuses it (\"recreate\" makes a new one, as cp -a does)",
                src.display()
            )));
        }
        let mode = st.st_mode & (libc::S_IFMT | 0o7777);
        let c_dst = self.create(dst, what, |p| sys::tree::mknodat(p, mode, st.st_rdev))?;
        meta::path(c_src, &c_dst, st, self.root, dst)?;
        self.report.specials += 1;
        Ok(())
    }

    /// Makes `dst` with `make`; where a non-directory of that name exists and `dirs_exist_ok`
    /// allows replacing it, makes a temporary name and renames it over.
    fn create(
        &self,
        dst: &Path,
        what: &str,
        make: impl Fn(&CStr) -> io::Result<()>,
    ) -> Result<CString> {
        create_replacing(dst, self.opts().dirs_exist_ok, what, make)
    }
}

/// Makes `dst` with `make`; on `EEXIST` with `replace`, makes it under a temporary name in the
/// same directory and renames that over `dst`.
fn create_replacing(
    dst: &Path,
    replace: bool,
    what: &str,
    make: impl Fn(&CStr) -> io::Result<()>,
) -> Result<CString> {
    let c_dst = c_path(dst)?;
    let err = |e: io::Error| Error::os(e, format_args!("cannot create {what} {}", dst.display()));
    match make(&c_dst) {
        Ok(()) => Ok(c_dst),
        Err(e) if replace && e.raw_os_error() == Some(libc::EEXIST) => {
            let c_tmp = c_path(&temp_path(dst))?;
            make(&c_tmp).map_err(err)?;
            if let Err(e) = sys::fs::rename(&c_tmp, &c_dst) {
                let _ = sys::fs::unlink(&c_tmp);
                return Err(err(e));
            }
            Ok(c_dst)
        }
        Err(e) => Err(err(e)),
    }
}

/// After the workers: makes the hard links, then sets the directories' metadata, deepest first
/// (unless the copy was stopped).
pub(super) fn finish(
    walked: Walked,
    opts: &TreeOptions<'_>,
    shared: &Shared<'_>,
    report: &mut TreeReport,
) {
    for link in &walked.links {
        if shared.stopped() {
            return;
        }
        let made = c_path(&link.first).and_then(|first| {
            create_replacing(&link.dst, opts.dirs_exist_ok, "hard link", |p| {
                sys::tree::linkat(&first, p)
            })
        });
        match made {
            Ok(_) => report.hard_links += 1,
            Err(e) => shared.fail(&link.src, e),
        }
    }
    for dir in walked.dirs.iter().rev() {
        if shared.stopped() {
            return;
        }
        let done = c_path(&dir.src).and_then(|s| {
            let d = c_path(&dir.dst)?;
            meta::path(&s, &d, &dir.st, walked.root, &dir.dst)
        });
        if let Err(e) = done {
            shared.fail(&dir.src, e);
        }
    }
}

/// `path` as a C string (its bytes; a NUL inside is an Invalid error).
pub(super) fn c_path(path: &Path) -> Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| Error::invalid(format!("path {} contains a NUL byte", path.display())))
}
