//! `zc_copy_tree`, `zc_tree_options_default`: whole-tree copies, like `cp -a`.

use std::ffi::{c_char, c_void};
use std::mem::{offset_of, size_of};

use crate::options::{zc_options, Parsed};
use crate::sized::{self, read_field};
use crate::status::{boundary, Failure};
use crate::transfer::path;
use crate::zc_status;

/// A whole-tree progress callback: called on the thread that called `zc_copy_tree`, at most
/// every 50 ms and once at the end, with the bytes copied and the files finished so far over
/// the whole tree, and the options' `user` pointer. Return `true` to go on, `false` to stop the
/// copy with `ZC_CANCELLED` (files being copied then leave nothing under their names). It must
/// not unwind.
pub type zc_tree_progress_fn =
    Option<unsafe extern "C" fn(bytes: u64, files: u64, user: *mut c_void) -> bool>;

/// What `zc_copy_tree` does when an entry fails: one of the `ZC_TREE_ERRORS_*` values.
pub type zc_tree_errors = u32;
/// Stop at the first error and return it (the default).
pub const ZC_TREE_ERRORS_RAISE: zc_tree_errors = 0;
/// Go on with the rest of the tree, then fail with one message listing every failed path.
pub const ZC_TREE_ERRORS_COLLECT: zc_tree_errors = 1;

/// What `zc_copy_tree` does with FIFOs, sockets and devices: one of the `ZC_SPECIALS_*`
/// values.
pub type zc_specials = u32;
/// Make a new one of the same kind (`mknod`), as `cp -a` does (the default).
pub const ZC_SPECIALS_RECREATE: zc_specials = 0;
/// Refuse it with `ZC_INVALID`, naming the path (as Python's `shutil.copytree`).
pub const ZC_SPECIALS_ERROR: zc_specials = 1;

/// How to run `zc_copy_tree`. Fill it with `zc_tree_options_default(&opts, sizeof opts)`, then
/// change the fields you need; `NULL` instead of options means the defaults. Grows by appending
/// fields, as `zc_options` does.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct zc_tree_options {
    /// `sizeof(zc_tree_options)` as the program was compiled: set by `zc_tree_options_default`.
    pub struct_size: usize,
    /// The options each regular file is copied with (`NULL`: the defaults). Its offsets, `len`
    /// and `progress` must be unset (`ZC_INVALID` otherwise); its `cancel` flag stops the tree.
    pub transfer: *const zc_options,
    /// Keep symlinks as symlinks (the default, true); false copies what they point to.
    pub symlinks: bool,
    /// Copy into a destination directory that exists already (and into existing directories
    /// below it), replacing files of the same names; false (the default): `ZC_IO` with `EEXIST`.
    pub dirs_exist_ok: bool,
    /// Threads that copy files at once; 0 (the default): the number of CPUs, at least 4; at
    /// most 256.
    pub workers: u32,
    /// `ZC_TREE_ERRORS_RAISE` (the default) or `ZC_TREE_ERRORS_COLLECT`.
    pub errors: zc_tree_errors,
    /// `ZC_SPECIALS_RECREATE` (the default) or `ZC_SPECIALS_ERROR`.
    pub specials: zc_specials,
    /// Called with the bytes and files so far; `NULL` (the default) for none.
    pub progress: zc_tree_progress_fn,
    /// Passed to `progress` as is.
    pub user: *mut c_void,
}

/// The size of the first `zc_tree_options` layout: the smallest `struct_size` accepted.
const TREE_OPTIONS_SIZE_V0: usize = 48;
const _: () = assert!(size_of::<zc_tree_options>() == TREE_OPTIONS_SIZE_V0);
const _: () = assert!(offset_of!(zc_tree_options, user) + 8 == TREE_OPTIONS_SIZE_V0);

impl zc_tree_options {
    fn defaults(struct_size: usize) -> zc_tree_options {
        zc_tree_options {
            struct_size,
            transfer: std::ptr::null(),
            symlinks: true,
            dirs_exist_ok: false,
            workers: 0,
            errors: ZC_TREE_ERRORS_RAISE,
            specials: ZC_SPECIALS_RECREATE,
            progress: None,
            user: std::ptr::null_mut(),
        }
    }
}

/// What `zc_copy_tree` did. Set `struct_size` to `sizeof(zc_tree_report)` before the call; it
/// is written whatever the status (after a failure, with what was done before it).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct zc_tree_report {
    /// `sizeof(zc_tree_report)` as the program was compiled.
    pub struct_size: usize,
    /// Regular files copied (hard links made again not counted).
    pub files: u64,
    /// Directories created (or found, with `dirs_exist_ok`).
    pub directories: u64,
    /// Symlinks made.
    pub symlinks: u64,
    /// FIFOs, sockets and devices made.
    pub specials: u64,
    /// Hard links made again.
    pub hard_links: u64,
    /// Bytes copied: the regular files' lengths, each file once.
    pub bytes: u64,
    /// Wall-clock time of the whole copy.
    pub elapsed_ns: u64,
    /// Syscalls made by the calling thread and the workers.
    pub syscalls: u64,
    /// Entries that failed (their paths and messages are in `zc_last_error()`).
    pub errors: u64,
}

const TREE_REPORT_SIZE_V0: usize = size_of::<zc_tree_report>();

fn report_to_c(r: Option<&engine::TreeReport>, struct_size: usize) -> zc_tree_report {
    let mut out = zc_tree_report {
        struct_size,
        files: 0,
        directories: 0,
        symlinks: 0,
        specials: 0,
        hard_links: 0,
        bytes: 0,
        elapsed_ns: 0,
        syscalls: 0,
        errors: 0,
    };
    if let Some(r) = r {
        out.files = r.files;
        out.directories = r.directories;
        out.symlinks = r.symlinks;
        out.specials = r.specials;
        out.hard_links = r.hard_links;
        out.bytes = r.bytes;
        out.elapsed_ns = r.elapsed_ns;
        out.syscalls = r.syscalls;
        out.errors = r.errors.len() as u64;
    }
    out
}

/// A C tree progress callback with its user pointer.
#[derive(Clone, Copy)]
struct CTreeProgress {
    f: unsafe extern "C" fn(u64, u64, *mut c_void) -> bool,
    user: *mut c_void,
}

// SAFETY: the engine calls the tree progress only on the thread that called copy_tree
// (zc_tree_progress_fn's documented contract); the pointer is only handed back to C.
unsafe impl Sync for CTreeProgress {}

impl CTreeProgress {
    fn call(&self, bytes: u64, files: u64) -> bool {
        // SAFETY: the caller of zc_copy_tree gave this function and pointer to be called so
        // for the duration of the call.
        unsafe { (self.f)(bytes, files, self.user) }
    }
}

/// The tree options read from the caller's struct.
struct TreeParsed {
    transfer: *const zc_options,
    symlinks: bool,
    dirs_exist_ok: bool,
    workers: Option<u32>,
    errors: engine::OnError,
    specials: engine::Specials,
    progress: Option<CTreeProgress>,
}

/// Reads and checks the caller's tree options; `NULL` means the defaults.
///
/// # Safety
/// `p` is `NULL` or valid for reading `p->struct_size` bytes.
unsafe fn read(p: *const zc_tree_options) -> Result<TreeParsed, Failure> {
    let defaults = zc_tree_options::defaults(size_of::<zc_tree_options>());
    let p: *const zc_tree_options = if p.is_null() { &defaults } else { p };
    // SAFETY: non-null; the caller guarantees the struct is readable.
    let size = unsafe { sized::struct_size(p, "zc_tree_options", TREE_OPTIONS_SIZE_V0) }?;
    // SAFETY: `size` bytes are readable.
    unsafe { sized::check_unknown_tail(p, "zc_tree_options", size_of::<zc_tree_options>(), size) }?;
    let flag = |v: Option<u8>, default: bool| v.map_or(default, |b| b != 0);
    let user = read_field!(p, size, zc_tree_options, user: *mut c_void).unwrap_or(defaults.user);
    let progress = read_field!(p, size, zc_tree_options, progress: zc_tree_progress_fn).flatten();
    let errors = match read_field!(p, size, zc_tree_options, errors: u32).unwrap_or(0) {
        ZC_TREE_ERRORS_RAISE => engine::OnError::Raise,
        ZC_TREE_ERRORS_COLLECT => engine::OnError::Collect,
        other => {
            return Err(Failure::invalid(format!(
                "zc_tree_options.errors is {other}, which is no zc_tree_errors; valid: raise (0), \
                 collect (1)"
            )))
        }
    };
    let specials = match read_field!(p, size, zc_tree_options, specials: u32).unwrap_or(0) {
        ZC_SPECIALS_RECREATE => engine::Specials::Recreate,
        ZC_SPECIALS_ERROR => engine::Specials::Error,
        other => {
            return Err(Failure::invalid(format!(
                "zc_tree_options.specials is {other}, which is no zc_specials; valid: recreate \
                 (0), error (1)"
            )))
        }
    };
    Ok(TreeParsed {
        transfer: read_field!(p, size, zc_tree_options, transfer: *const zc_options)
            .unwrap_or(defaults.transfer),
        symlinks: flag(read_field!(p, size, zc_tree_options, symlinks: u8), true),
        dirs_exist_ok: flag(
            read_field!(p, size, zc_tree_options, dirs_exist_ok: u8),
            false,
        ),
        workers: read_field!(p, size, zc_tree_options, workers: u32).filter(|&w| w > 0),
        errors,
        specials,
        progress: progress.map(|f| CTreeProgress { f, user }),
    })
}

/// Copies the tree at `src_path` to `dst_path` like `cp -a`: directories, regular files
/// through the engine (each as `zc_copy_file` would, with `opts->transfer`: reflink or
/// `copy_file_range` where the filesystem clones, holes kept, the cache policy), symlinks as
/// links, FIFOs, sockets and devices recreated (or refused: `specials`), hard links made
/// again, and every entry's mode, times (to the nanosecond), extended attributes and owner
/// (as root) copied. Files are copied by a pool of `workers` threads, each into a temporary
/// name renamed into place when complete, so a file that fails leaves nothing under its name.
/// `src_path` may also be a single file or symlink.
///
/// Returns `ZC_OK`, or: `ZC_IO` naming the path (`EEXIST` when `dst_path` exists without
/// `dirs_exist_ok`, `ENOENT`, `EACCES`, ...); `ZC_INVALID` for a special file with
/// `ZC_SPECIALS_ERROR`, bad options (an offset, `len` or `progress` in `transfer`, an unknown
/// enum value, a bad `struct_size`), or a copy into the source itself; `ZC_CANCELLED` when
/// the progress callback or the cancel flag stopped it; `ZC_NULL_POINTER` for a `NULL` path.
/// With `ZC_TREE_ERRORS_COLLECT`, the status and errno of the first failure, and a message
/// listing every failed path. `*report` (`NULL`: not wanted) is written in every case but a
/// bad `report->struct_size`.
///
/// # Safety
/// `src_path` and `dst_path` are `NULL` or NUL-terminated strings; `opts` is `NULL` or a
/// `zc_tree_options` readable for `opts->struct_size` bytes, whose `transfer` is `NULL` or a
/// valid `zc_options` (as for `zc_transfer`) and whose `progress` and `user` are valid for the
/// call; `report` is `NULL` or a `zc_tree_report` writable for `report->struct_size` bytes,
/// with that field set.
#[no_mangle]
pub unsafe extern "C" fn zc_copy_tree(
    src_path: *const c_char,
    dst_path: *const c_char,
    opts: *const zc_tree_options,
    report: *mut zc_tree_report,
) -> zc_status {
    boundary(|| {
        let size = if report.is_null() {
            0
        } else {
            // SAFETY: non-null; the caller guarantees it is readable.
            unsafe {
                sized::struct_size(report.cast_const(), "zc_tree_report", TREE_REPORT_SIZE_V0)
            }?
        };
        let put = |r: Option<&engine::TreeReport>| {
            if !report.is_null() {
                // SAFETY: the caller guarantees `size` writable bytes.
                unsafe { sized::write(report, size, &report_to_c(r, size)) };
            }
        };
        // SAFETY: zc_copy_tree's own contract.
        let result = unsafe { run(src_path, dst_path, opts) };
        match result {
            Ok(Ok(r)) => {
                put(Some(&r));
                Ok(())
            }
            Ok(Err(e)) => {
                put(e.tree_report());
                Err(Failure::from(e))
            }
            Err(f) => {
                put(None);
                Err(f)
            }
        }
    })
}

/// Reads the arguments and runs the engine's copy_tree.
///
/// # Safety
/// As `zc_copy_tree`'s.
unsafe fn run(
    src_path: *const c_char,
    dst_path: *const c_char,
    opts: *const zc_tree_options,
) -> Result<engine::Result<engine::TreeReport>, Failure> {
    let src = path(src_path, "src_path")?;
    let dst = path(dst_path, "dst_path")?;
    // SAFETY: the caller's contract for `opts`.
    let tree = unsafe { read(opts) }?;
    // SAFETY: the caller's contract for `opts->transfer`.
    let transfer = unsafe { Parsed::read(tree.transfer) }?;
    let progress = tree.progress.map(|p| move |b: u64, f: u64| p.call(b, f));
    Ok(transfer.with_engine(|o| {
        let opts = engine::TreeOptions {
            transfer: o.clone(),
            symlinks: tree.symlinks,
            dirs_exist_ok: tree.dirs_exist_ok,
            workers: tree.workers,
            errors: tree.errors,
            specials: tree.specials,
            progress: progress
                .as_ref()
                .map(|p| p as &(dyn Fn(u64, u64) -> bool + Sync)),
        };
        engine::copy_tree(src, dst, &opts)
    }))
}

/// Fills `*opts` with the defaults: per-file defaults (`transfer` `NULL`), symlinks kept,
/// the destination must not exist, one worker per CPU (at least 4), stop at the first error,
/// special files recreated, no progress callback; and sets `opts->struct_size`.
///
/// Pass `sizeof *opts` as `struct_size`. `ZC_NULL_POINTER` when `opts` is `NULL`;
/// `ZC_INVALID` for a `struct_size` below the first layout (48 bytes) or implausibly large.
///
/// # Safety
/// `opts` is `NULL` or valid for writing `struct_size` bytes.
#[no_mangle]
pub unsafe extern "C" fn zc_tree_options_default(
    opts: *mut zc_tree_options,
    struct_size: usize,
) -> zc_status {
    boundary(|| {
        if opts.is_null() {
            return Err(Failure::null("opts"));
        }
        let size_ptr: *const usize = &struct_size;
        // SAFETY: reads the local `struct_size` through a pointer, only to share the check.
        let size =
            unsafe { sized::struct_size(size_ptr, "zc_tree_options", TREE_OPTIONS_SIZE_V0) }?;
        // SAFETY: the caller guarantees `size` writable bytes at `opts`.
        unsafe { sized::write(opts, size, &zc_tree_options::defaults(size)) };
        Ok(())
    })
}
