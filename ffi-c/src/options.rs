//! `zc_options`: how to run a transfer.

use std::ffi::c_void;
use std::mem::{offset_of, size_of};
use std::sync::atomic::AtomicBool;

use crate::names::Names;
use crate::sized::{self, read_field};
use crate::status::{boundary, Failure};
use crate::strategy::{self, zc_strategy, ZC_STRATEGY_AUTO};
use crate::zc_status;

/// A progress callback: called on the thread that called `zc_transfer` (or `zc_copy_file`)
/// after each chunk (of any thread, with `parallelism`), and every 100 ms with the same count
/// while a pipe or socket source has nothing to read, with the bytes moved so far and the
/// options' `user` pointer. Return `true` to go on, `false` to stop the transfer with
/// `ZC_CANCELLED` (the report then holds the bytes moved). It must not unwind (a C++ exception
/// or `longjmp` out of it is undefined behaviour).
pub type zc_progress_fn = Option<unsafe extern "C" fn(moved: u64, user: *mut c_void) -> bool>;

/// What a transfer does to the page cache: one of the `ZC_CACHE_*` values (an integer, so an
/// unknown value is `ZC_INVALID`, never undefined behaviour).
pub type zc_cache = u32;
/// Leave the cache as the transfer leaves it (the default).
pub const ZC_CACHE_KEEP: zc_cache = 0;
/// After the transfer, evict the pages it brought into the cache, for source and destination
/// (dirty destination pages are written back first); pages resident before stay.
pub const ZC_CACHE_DROP_AFTER: zc_cache = 1;
/// Advise `POSIX_FADV_NOREUSE` on both ranges first (since Linux 6.3 the pages read are not
/// promoted as recently used).
pub const ZC_CACHE_NOREUSE: zc_cache = 2;
/// Uncached buffered I/O (`RWF_DONTCACHE`, Linux 6.14+): regular files are read and written
/// through the page cache and the pages brought in are dropped once read or written back;
/// pages resident before stay. Served by `read_write` (4 MiB chunks); the transfer returns once
/// the destination's last writes completed, so no page of either file is left cached. Where the
/// kernel or filesystem refuses the flag, Auto copies with `ZC_CACHE_DROP_AFTER` and says so in
/// the report's fallbacks.
pub const ZC_CACHE_DONTCACHE: zc_cache = 3;

pub(crate) const CACHE_POLICIES: Names = Names {
    c_type: "zc_cache",
    table: &[
        (ZC_CACHE_KEEP, c"keep"),
        (ZC_CACHE_DROP_AFTER, c"drop_after"),
        (ZC_CACHE_NOREUSE, c"noreuse"),
        (ZC_CACHE_DONTCACHE, c"dontcache"),
    ],
};

/// What a transfer makes durable before it returns: one of the `ZC_SYNC_*` values.
pub type zc_sync = u32;
/// Nothing: the data may still be in the page cache only (the default).
pub const ZC_SYNC_NONE: zc_sync = 0;
/// `fdatasync` the destination at the end: its data is on the device.
pub const ZC_SYNC_DATA: zc_sync = 1;
/// `fsync` the destination at the end: data and metadata.
pub const ZC_SYNC_FULL: zc_sync = 2;

pub(crate) const SYNC_POLICIES: Names = Names {
    c_type: "zc_sync",
    table: &[
        (ZC_SYNC_NONE, c"none"),
        (ZC_SYNC_DATA, c"data"),
        (ZC_SYNC_FULL, c"full"),
    ],
};

/// What a transfer does with the holes of a sparse source file: one of the `ZC_SPARSE_*`
/// values (the engine's `sparse` bool, spelled so that its default is 0).
pub type zc_sparse = u32;
/// Keep the holes (the default): file → file, only the source's data segments are moved and
/// the destination gets holes where the source has them (when the destination range starts at
/// or past its end). Costs nothing for files without holes.
pub const ZC_SPARSE_KEEP_HOLES: zc_sparse = 0;
/// Write the zeros of the holes.
pub const ZC_SPARSE_WRITE_ZEROS: zc_sparse = 1;

/// How to run a transfer. Fill it with `zc_options_default(&opts, sizeof opts)`, then change
/// the fields you need; passing `NULL` instead of options means the defaults.
///
/// The struct grows by appending fields. A program built against an older, smaller header
/// passes its smaller `struct_size` and gets the defaults for the fields it does not have (the
/// smallest accepted is the first layout, up to `cancel`: 96 bytes); one built against a newer
/// header works with an older library as long as the fields that library does not know are
/// zero (their defaults), and gets `ZC_INVALID` otherwise.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct zc_options {
    /// `sizeof(zc_options)` as the program was compiled: set by `zc_options_default`.
    pub struct_size: usize,
    /// The technique to use, or `ZC_STRATEGY_AUTO` (the default).
    pub strategy: zc_strategy,
    /// Whether `src_offset` is used. When false (the default) the source is read from its fd's
    /// current position, which advances by the bytes moved.
    pub has_src_offset: bool,
    /// Where to read the source when `has_src_offset`; the fd's position is then left alone.
    pub src_offset: u64,
    /// Whether `dst_offset` is used; false and true behave as for `has_src_offset`.
    pub has_dst_offset: bool,
    /// Where to write the destination when `has_dst_offset`.
    pub dst_offset: u64,
    /// Whether `len` is used. When false (the default) the transfer runs to the end of the
    /// source (following a file that grows while it is copied).
    pub has_len: bool,
    /// How many bytes to move when `has_len`; past end of file moves what there is; 0 moves
    /// nothing and succeeds.
    pub len: u64,
    /// Bytes per syscall (the buffer for read_write, the window for mmap_write, the pipe size
    /// for splice); 0 (the default) uses each technique's own.
    pub chunk_size: u64,
    /// Whether the planner may try the next technique when one cannot serve the pair (default
    /// true). False with a named strategy means exactly that technique or `ZC_UNSUPPORTED`.
    pub fallback: bool,
    /// Called after each chunk with the bytes moved so far, and every 100 ms with the same
    /// count while the transfer waits (a FIFO's open, an idle source, a full pipe or stalled
    /// socket destination), so returning false ends any wait; `NULL` (the default) for none.
    pub progress: zc_progress_fn,
    /// Passed to `progress` as is.
    pub user: *mut c_void,
    /// A flag checked before each chunk, and every 100 ms while the transfer waits (a FIFO's
    /// open in `zc_copy_file`, an idle pipe or socket source, a full pipe or a socket whose peer
    /// does not read): once another thread sets it to true, the transfer
    /// stops with `ZC_CANCELLED`. `NULL` (the default) for none. Set it with an atomic store
    /// (`__atomic_store_n(&flag, true, __ATOMIC_RELAXED)`, or C11 `atomic_store` on an
    /// `atomic_bool` whose address is cast to `const bool *`); it must stay valid for the call.
    pub cancel: *const bool,
    /// What the transfer does to the page cache: `ZC_CACHE_KEEP` (the default),
    /// `ZC_CACHE_DROP_AFTER`, `ZC_CACHE_NOREUSE` or `ZC_CACHE_DONTCACHE`.
    pub cache: zc_cache,
    /// What it makes durable before returning: `ZC_SYNC_NONE` (the default), `ZC_SYNC_DATA` or
    /// `ZC_SYNC_FULL`.
    pub sync: zc_sync,
    /// What to do with the holes of a sparse source: `ZC_SPARSE_KEEP_HOLES` (the default) or
    /// `ZC_SPARSE_WRITE_ZEROS`.
    pub sparse: zc_sparse,
    /// Whether `direct_threshold` is used (default false: Auto never picks direct I/O).
    pub has_direct_threshold: bool,
    /// When `has_direct_threshold`: transfers of at least this many bytes are moved by Auto
    /// with direct I/O (`ZC_STRATEGY_IO_URING` in direct mode, else `ZC_STRATEGY_DIRECT`:
    /// nginx's `aio on; directio N;`), bypassing the page cache.
    pub direct_threshold: u64,
    /// Requests `ZC_STRATEGY_IO_URING` keeps in flight, 1 to 1024; 0 (the default) means 4.
    pub queue_depth: u64,
    /// Threads that move a regular file → regular file transfer of at least 16 MiB at once,
    /// each a contiguous range of at least 8 MiB, up to 64; 0 (the default) and 1 mean one.
    /// Other transfers (another kind of fd, an `O_APPEND` destination, a sparse source whose
    /// holes are kept, less to move) run on one thread. `progress` is still called on the
    /// calling thread only, with the bytes all threads moved; a stop or the cancel flag stops
    /// every thread at its next chunk. On failure the report's `bytes` is the contiguous prefix
    /// from the start that is completely written; bytes past it may have been written too.
    /// Measured here (2 vCPUs, ext4, 16 and 256 MiB): 2 threads ran at 0.97–0.98× one thread
    /// hot, 0.79–0.96× cold, so Auto never turns it on.
    pub parallelism: u64,
}

/// The size of the first `zc_options` layout (up to `cancel`): the smallest `struct_size`
/// accepted. A caller that passes it gets the defaults for every later field (`cache` on). It
/// never changes when fields are appended.
///
/// Every field appended after it must have all-zero bytes as its default (a `has_` flag, a
/// policy whose default value is 0): a program built against a newer header than the library
/// passes zeros for the fields the library does not know, and the library accepts exactly that.
const OPTIONS_SIZE_V0: usize = 96;

impl zc_options {
    fn defaults(struct_size: usize) -> zc_options {
        zc_options {
            struct_size,
            strategy: ZC_STRATEGY_AUTO,
            has_src_offset: false,
            src_offset: 0,
            has_dst_offset: false,
            dst_offset: 0,
            has_len: false,
            len: 0,
            chunk_size: 0,
            fallback: true,
            progress: None,
            user: std::ptr::null_mut(),
            cancel: std::ptr::null(),
            cache: ZC_CACHE_KEEP,
            sync: ZC_SYNC_NONE,
            sparse: ZC_SPARSE_KEEP_HOLES,
            has_direct_threshold: false,
            direct_threshold: 0,
            queue_depth: 0,
            parallelism: 0,
        }
    }
}

/// A C progress callback with its user pointer, callable as the engine's progress.
#[derive(Clone, Copy)]
struct CProgress {
    f: unsafe extern "C" fn(u64, *mut c_void) -> bool,
    user: *mut c_void,
}

// SAFETY: the engine calls progress only on the thread that called it (zc_progress_fn's
// documented contract); the pointer is never dereferenced by Rust, only handed back to C.
unsafe impl Sync for CProgress {}

impl CProgress {
    fn call(&self, moved: u64) -> bool {
        // SAFETY: the caller of zc_transfer gave this function and pointer to be called so for
        // the duration of the call.
        unsafe { (self.f)(moved, self.user) }
    }
}

/// Options read from a caller's `zc_options`, owning what the engine's options borrow.
pub(crate) struct Parsed {
    strategy: engine::Strategy,
    src_offset: Option<u64>,
    dst_offset: Option<u64>,
    len: Option<u64>,
    chunk_size: Option<u64>,
    fallback: bool,
    progress: Option<CProgress>,
    cancel: *const bool,
    cache: engine::CachePolicy,
    sync: engine::SyncPolicy,
    direct_threshold: Option<u64>,
    sparse: bool,
    queue_depth: Option<u32>,
    parallelism: Option<u32>,
}

impl Parsed {
    /// Reads and checks the caller's options; `NULL` means the defaults.
    ///
    /// # Safety
    /// `p` is `NULL` or points at a `zc_options` valid for reading `p->struct_size` bytes, whose
    /// `progress`, `user` and `cancel` are valid as their docs say for the call.
    pub(crate) unsafe fn read(p: *const zc_options) -> Result<Parsed, Failure> {
        if p.is_null() {
            // SAFETY: the defaults hold no pointers.
            return unsafe { Parsed::read(&zc_options::defaults(size_of::<zc_options>())) };
        }
        // SAFETY: non-null; the caller guarantees the struct is readable.
        let size = unsafe { sized::struct_size(p, "zc_options", OPTIONS_SIZE_V0) }?;
        // SAFETY: `size` bytes are readable.
        unsafe { sized::check_unknown_tail(p, "zc_options", size_of::<zc_options>(), size) }?;
        let d = zc_options::defaults(size);
        let flag = |v: Option<u8>, default: bool| v.map_or(default, |b| b != 0);
        let opt = |has: Option<u8>, v: Option<u64>| flag(has, false).then(|| v.unwrap_or(0));

        let strategy = read_field!(p, size, zc_options, strategy: u32).unwrap_or(d.strategy);
        let progress = read_field!(p, size, zc_options, progress: zc_progress_fn).flatten();
        let user = read_field!(p, size, zc_options, user: *mut c_void).unwrap_or(d.user);
        Ok(Parsed {
            strategy: strategy::to_engine(strategy, "zc_options.strategy")?,
            src_offset: opt(
                read_field!(p, size, zc_options, has_src_offset: u8),
                read_field!(p, size, zc_options, src_offset: u64),
            ),
            dst_offset: opt(
                read_field!(p, size, zc_options, has_dst_offset: u8),
                read_field!(p, size, zc_options, dst_offset: u64),
            ),
            len: opt(
                read_field!(p, size, zc_options, has_len: u8),
                read_field!(p, size, zc_options, len: u64),
            ),
            chunk_size: read_field!(p, size, zc_options, chunk_size: u64).filter(|&c| c > 0),
            fallback: flag(read_field!(p, size, zc_options, fallback: u8), d.fallback),
            progress: progress.map(|f| CProgress { f, user }),
            cancel: read_field!(p, size, zc_options, cancel: *const bool).unwrap_or(d.cancel),
            cache: CACHE_POLICIES.to_engine(
                read_field!(p, size, zc_options, cache: u32).unwrap_or(d.cache),
                "zc_options.cache",
            )?,
            sync: SYNC_POLICIES.to_engine(
                read_field!(p, size, zc_options, sync: u32).unwrap_or(d.sync),
                "zc_options.sync",
            )?,
            direct_threshold: opt(
                read_field!(p, size, zc_options, has_direct_threshold: u8),
                read_field!(p, size, zc_options, direct_threshold: u64),
            ),
            queue_depth: match read_field!(p, size, zc_options, queue_depth: u64).unwrap_or(0) {
                0 => None,
                q => Some(u32::try_from(q).map_err(|_| {
                    Failure::invalid(format!(
                        "zc_options.queue_depth {q} is out of range: 1 to 1024"
                    ))
                })?),
            },
            parallelism: match read_field!(p, size, zc_options, parallelism: u64).unwrap_or(0) {
                0 => None,
                n => Some(u32::try_from(n).map_err(|_| {
                    Failure::invalid(format!(
                        "zc_options.parallelism {n} is out of range: 0 to 64 threads"
                    ))
                })?),
            },
            sparse: match read_field!(p, size, zc_options, sparse: u32).unwrap_or(d.sparse) {
                ZC_SPARSE_KEEP_HOLES => true,
                ZC_SPARSE_WRITE_ZEROS => false,
                other => {
                    return Err(Failure::invalid(format!(
                        "zc_options.sparse is {other}, which is no zc_sparse; valid: \
                         keep_holes (0), write_zeros (1)"
                    )))
                }
            },
        })
    }

    /// Runs `f` with the engine's options for these.
    pub(crate) fn with_engine<R>(&self, f: impl FnOnce(&engine::Options<'_>) -> R) -> R {
        let progress = self.progress.map(|p| move |moved: u64| p.call(moved));
        let opts = self.engine(
            progress
                .as_ref()
                .map(|p| p as &(dyn Fn(u64) -> bool + Sync)),
        );
        f(&opts)
    }

    /// The progress callback as a heap closure the caller owns (for a prepared transfer, which
    /// keeps its options between calls): free it with `Box::from_raw` once nothing borrows it.
    pub(crate) fn progress_box(&self) -> Option<*mut (dyn Fn(u64) -> bool + Sync)> {
        let p = self.progress?;
        let f: Box<dyn Fn(u64) -> bool + Sync> = Box::new(move |moved: u64| p.call(moved));
        Some(Box::into_raw(f))
    }

    /// The engine's options for these, with `progress` as the callback. The cancel flag is
    /// borrowed for as long as the caller's contract says (`'a`).
    pub(crate) fn engine<'a>(
        &self,
        progress: Option<&'a (dyn Fn(u64) -> bool + Sync)>,
    ) -> engine::Options<'a> {
        let cancel = if self.cancel.is_null() {
            None
        } else {
            // SAFETY: the caller guarantees a non-null `cancel` points at a bool valid for as
            // long as the options are used (the call, or a prepared transfer's life) and
            // written only atomically (the field's documented contract); AtomicBool has bool's
            // size and alignment.
            Some(unsafe { AtomicBool::from_ptr(self.cancel.cast_mut()) })
        };
        // `..default()`: options the engine gains keep their defaults until zc_options carries
        // them (and this keeps compiling meanwhile).
        #[allow(clippy::needless_update)]
        engine::Options {
            strategy: self.strategy,
            src_offset: self.src_offset,
            dst_offset: self.dst_offset,
            len: self.len,
            chunk_size: self.chunk_size,
            fallback: self.fallback,
            progress,
            cancel,
            cache: self.cache,
            sync: self.sync,
            direct_threshold: self.direct_threshold,
            sparse: self.sparse,
            queue_depth: self.queue_depth,
            parallelism: self.parallelism,
            ..engine::Options::default()
        }
    }
}

/// Fills `*opts` with the defaults: Auto, each fd's position, to end of file, the techniques'
/// own chunk sizes, fallback allowed, no progress callback, no cancel flag; and sets
/// `opts->struct_size` to `struct_size`.
///
/// Pass `sizeof *opts` as `struct_size`: `zc_options opts; zc_options_default(&opts, sizeof
/// opts);`. A library newer than the program's header writes only that many bytes.
/// `ZC_NULL_POINTER` when `opts` is `NULL`; `ZC_INVALID` when `struct_size` is smaller than the
/// first `zc_options` layout (96 bytes: the fields up to `cancel`) or implausibly large.
///
/// # Safety
/// `opts` is `NULL` or valid for writing `struct_size` bytes.
#[no_mangle]
pub unsafe extern "C" fn zc_options_default(
    opts: *mut zc_options,
    struct_size: usize,
) -> zc_status {
    boundary(|| {
        if opts.is_null() {
            return Err(Failure::null("opts"));
        }
        let size_ptr: *const usize = &struct_size;
        // SAFETY: reads the local `struct_size` through a pointer, only to share the check.
        let size = unsafe { sized::struct_size(size_ptr, "zc_options", OPTIONS_SIZE_V0) }?;
        // SAFETY: the caller guarantees `size` writable bytes at `opts`.
        unsafe { sized::write(opts, size, &zc_options::defaults(size)) };
        Ok(())
    })
}

// The first layout ends where `cache` begins; the struct has no trailing padding, so a field
// appended later can never sit in bytes an older library would not check.
const _: () = assert!(offset_of!(zc_options, cache) == OPTIONS_SIZE_V0);
const _: () =
    assert!(offset_of!(zc_options, parallelism) + size_of::<u64>() == size_of::<zc_options>());

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_engines() {
        // SAFETY: NULL means the defaults.
        let p = unsafe { Parsed::read(std::ptr::null()) }.unwrap();
        p.with_engine(|o| {
            let d = engine::Options::default();
            assert_eq!(o.strategy, d.strategy);
            assert_eq!(o.src_offset, d.src_offset);
            assert_eq!(o.dst_offset, d.dst_offset);
            assert_eq!(o.len, d.len);
            assert_eq!(o.chunk_size, d.chunk_size);
            assert_eq!(o.fallback, d.fallback);
            assert!(o.progress.is_none() && o.cancel.is_none());
            assert_eq!(o.cache, d.cache);
            assert_eq!(o.sync, d.sync);
            assert_eq!(o.direct_threshold, d.direct_threshold);
            assert_eq!(o.sparse, d.sparse);
            assert_eq!(o.queue_depth, d.queue_depth);
            assert_eq!(o.parallelism, d.parallelism);
        });
    }

    #[test]
    fn a_bool_field_holding_any_byte_is_defined() {
        // A caller's struct as raw memory: 96 bytes, 8-aligned.
        let mut buf = [0u64; OPTIONS_SIZE_V0 / 8];
        let p = buf.as_mut_ptr().cast::<zc_options>();
        let mut d = zc_options::defaults(OPTIONS_SIZE_V0);
        d.len = 5;
        // SAFETY: buf has OPTIONS_SIZE_V0 writable bytes.
        unsafe { sized::write(p, OPTIONS_SIZE_V0, &d) };
        // SAFETY: has_len's byte lies inside buf.
        unsafe {
            p.cast::<u8>()
                .add(offset_of!(zc_options, has_len))
                .write(0x7f)
        };
        // SAFETY: buf holds OPTIONS_SIZE_V0 readable bytes; no pointers are set.
        let parsed = unsafe { Parsed::read(p) }.unwrap();
        assert_eq!(parsed.len, Some(5));
    }

    #[test]
    fn the_first_layout_gets_defaults_for_later_fields() {
        let mut buf = [0u64; OPTIONS_SIZE_V0 / 8];
        let p = buf.as_mut_ptr().cast::<zc_options>();
        // SAFETY: buf has OPTIONS_SIZE_V0 writable bytes, and only those are written.
        unsafe { sized::write(p, OPTIONS_SIZE_V0, &zc_options::defaults(OPTIONS_SIZE_V0)) };
        // SAFETY: buf holds OPTIONS_SIZE_V0 readable bytes.
        let parsed = unsafe { Parsed::read(p) }.unwrap();
        assert!(parsed.sparse);
        assert_eq!(parsed.cache, engine::CachePolicy::Keep);
    }

    #[test]
    fn every_later_field_defaults_to_zero_bytes() {
        let d = zc_options::defaults(size_of::<zc_options>());
        let bytes: *const u8 = (&d as *const zc_options).cast();
        let padding = offset_of!(zc_options, has_direct_threshold) + 1
            ..offset_of!(zc_options, direct_threshold);
        for i in (OPTIONS_SIZE_V0..size_of::<zc_options>()).filter(|i| !padding.contains(i)) {
            // SAFETY: i lies inside `d`, in a field (the padding is skipped), which `defaults`
            // initialised.
            let b = unsafe { bytes.add(i).read() };
            assert_eq!(b, 0, "byte {i} of the defaults");
        }
    }

    #[test]
    fn policy_tables_match_the_engine() {
        let names: Vec<&str> = engine::CachePolicy::ALL.iter().map(|c| c.name()).collect();
        CACHE_POLICIES.check(&names);
        let names: Vec<&str> = engine::SyncPolicy::ALL.iter().map(|c| c.name()).collect();
        SYNC_POLICIES.check(&names);
    }
}
