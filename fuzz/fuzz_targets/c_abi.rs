//! Fuzzes the C ABI's `zc_transfer` with random bytes as `zc_options`, under a random
//! `struct_size` (below the first layout, the first layout, the current one, larger ones with
//! random bytes past the fields this library knows, and implausible values), between two
//! temporary files.
//!
//! Every call must return a status (never `ZC_PANIC`, never a crash): `ZC_INVALID` whenever the
//! size is out of range, an unknown tail byte is set, or an enum field holds no valid value;
//! and when it returns `ZC_OK` the destination holds exactly the bytes the options (as the
//! library reads them, field by field up to `struct_size`) asked for. The pointer fields
//! (`progress`, `user`, `cancel`) are set to `NULL` or to valid values: an arbitrary address
//! there would be the caller's undefined behaviour, not the library's.

#![no_main]

use std::ffi::{c_void, CStr};
use std::fs::File;
use std::mem::{offset_of, size_of};
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use zcopy_ffi::{zc_last_error, zc_options, zc_report, zc_status, zc_transfer};

/// The first `zc_options` layout (up to `cancel`): the smallest accepted `struct_size`.
const V0: usize = 96;
/// The largest accepted `struct_size` (`sized::MAX_STRUCT_SIZE`).
const MAX: usize = 1 << 16;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Size {
    /// `sizeof(zc_options)`.
    Exact,
    /// The first layout.
    First,
    /// This much below the current size (maybe below the first layout).
    Below(u8),
    /// This much above: bytes the library does not know.
    Above(u16),
    /// Anything.
    Raw(usize),
}

#[derive(Arbitrary, Debug)]
struct Input {
    size: Size,
    /// The struct's bytes (repeated to fill it; zeros when empty).
    bytes: Vec<u8>,
    /// Overrides that make valid values likely (the raw bytes rarely hold one).
    strategy: Option<u8>,
    cache: Option<u8>,
    sync: Option<u8>,
    sparse: Option<u8>,
    /// Clear the bytes past the known fields (a newer caller that sets nothing new).
    clear_tail: bool,
    /// 0: no callback; 1: one that goes on; else one that stops after `stop_after` calls.
    progress: u8,
    stop_after: u8,
    user_null: bool,
    /// 0: NULL; 1: a flag that stays false; else a flag already set.
    cancel: u8,
    src_len: u16,
    src_pos: u16,
}

/// What the progress callback gets as `user`.
struct Stop {
    calls: AtomicU32,
    after: u32,
}

unsafe extern "C" fn go_on(_moved: u64, _user: *mut c_void) -> bool {
    true
}

unsafe extern "C" fn stop_after(_moved: u64, user: *mut c_void) -> bool {
    if user.is_null() {
        return false;
    }
    // SAFETY: a non-null `user` is the `Stop` this target passes, alive for the call.
    let s = unsafe { &*user.cast::<Stop>() };
    s.calls.fetch_add(1, Ordering::Relaxed) < s.after
}

fn files() -> &'static (File, File) {
    static FILES: OnceLock<(File, File)> = OnceLock::new();
    FILES.get_or_init(|| {
        let dir = std::env::temp_dir();
        (tempfile_in(&dir, "src"), tempfile_in(&dir, "dst"))
    })
}

fn tempfile_in(dir: &std::path::Path, name: &str) -> File {
    let p = dir.join(format!("zcopy-fuzz-c_abi-{}-{name}", std::process::id()));
    let _ = std::fs::remove_file(&p);
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&p)
        .expect("temp file");
    let _ = std::fs::remove_file(&p);
    f
}

/// Reads the field at `off` of `size` bytes from the struct's bytes as the library does: only
/// when it lies inside `struct_size`.
fn field(buf: &[u8], struct_size: usize, off: usize, n: usize) -> Option<u64> {
    if off + n > struct_size {
        return None;
    }
    let mut v = [0u8; 8];
    v[..n].copy_from_slice(&buf[off..off + n]);
    Some(u64::from_le_bytes(v))
}

fuzz_target!(|input: Input| {
    let real = size_of::<zc_options>();
    let struct_size = match input.size {
        Size::Exact => real,
        Size::First => V0,
        Size::Below(k) => real.saturating_sub(1 + usize::from(k)),
        Size::Above(k) => real + 1 + usize::from(k),
        Size::Raw(n) => n,
    };
    // The library reads at most `struct_size` bytes, and only the first word when it is out
    // of range: give it that many (8-aligned, as a C struct would be).
    let len = struct_size.min(MAX + 8).max(real);
    let mut words = vec![0u64; len.div_ceil(8)];
    // SAFETY: the u64 buffer is at least `len` bytes, viewed as bytes only here.
    let buf: &mut [u8] =
        unsafe { std::slice::from_raw_parts_mut(words.as_mut_ptr().cast::<u8>(), len) };
    if !input.bytes.is_empty() {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = input.bytes[i % input.bytes.len()];
        }
    }
    if input.clear_tail {
        buf[real..].fill(0);
    }
    buf[..8].copy_from_slice(&struct_size.to_ne_bytes());
    let put = |buf: &mut [u8], off: usize, v: &[u8]| buf[off..off + v.len()].copy_from_slice(v);
    if let Some(s) = input.strategy {
        put(
            buf,
            offset_of!(zc_options, strategy),
            &u32::from(s % 12).to_ne_bytes(),
        );
    }
    if let Some(c) = input.cache {
        put(
            buf,
            offset_of!(zc_options, cache),
            &u32::from(c % 5).to_ne_bytes(),
        );
    }
    if let Some(c) = input.sync {
        put(
            buf,
            offset_of!(zc_options, sync),
            &u32::from(c % 4).to_ne_bytes(),
        );
    }
    if let Some(c) = input.sparse {
        put(
            buf,
            offset_of!(zc_options, sparse),
            &u32::from(c % 3).to_ne_bytes(),
        );
    }
    // The pointer fields: NULL or valid.
    let stop = Stop {
        calls: AtomicU32::new(0),
        after: u32::from(input.stop_after),
    };
    let flag = AtomicBool::new(input.cancel >= 2);
    let progress: usize = match input.progress {
        0 => 0,
        1 => go_on as *const () as usize,
        _ => stop_after as *const () as usize,
    };
    let user: usize = if input.user_null {
        0
    } else {
        &stop as *const Stop as usize
    };
    let cancel: usize = if input.cancel == 0 {
        0
    } else {
        flag.as_ptr() as usize
    };
    put(
        buf,
        offset_of!(zc_options, progress),
        &progress.to_ne_bytes(),
    );
    put(buf, offset_of!(zc_options, user), &user.to_ne_bytes());
    put(buf, offset_of!(zc_options, cancel), &cancel.to_ne_bytes());
    // Keep calls short: at most 16 KiB to move, in chunks of at least 64 bytes.
    let chunk_off = offset_of!(zc_options, chunk_size);
    let chunk = u64::from_ne_bytes(buf[chunk_off..chunk_off + 8].try_into().expect("8 bytes"));
    if chunk > 0 && chunk < 64 {
        put(buf, chunk_off, &64u64.to_ne_bytes());
    }
    let bytes_copy = buf.to_vec();

    // The files: a source of up to 16 KiB, an empty destination.
    let (src, dst) = files();
    let n = usize::from(input.src_len) % (16 << 10);
    let data: Vec<u8> = (0..n).map(|i| (i * 7 + 3) as u8).collect();
    src.set_len(0).expect("truncate src");
    src.write_all_at(&data, 0).expect("write src");
    let src_pos = u64::from(input.src_pos) % (n as u64 + 2);
    // SAFETY: lseek on our own open fds touches no memory.
    unsafe {
        libc::lseek(src.as_raw_fd(), src_pos as i64, libc::SEEK_SET);
        libc::lseek(dst.as_raw_fd(), 0, libc::SEEK_SET);
    }
    dst.set_len(0).expect("truncate dst");

    // SAFETY: zc_report is plain data; all zeros is a valid bit pattern for it.
    let mut report: zc_report = unsafe { std::mem::zeroed() };
    report.struct_size = size_of::<zc_report>();
    // SAFETY: `words` holds `struct_size` readable bytes when it is in range (else the library
    // reads only the first word); its pointer fields are NULL or valid for the call; `report`
    // is a writable zc_report of the size it says.
    let status = unsafe {
        zc_transfer(
            src.as_raw_fd(),
            dst.as_raw_fd(),
            words.as_ptr().cast::<zc_options>(),
            &mut report,
        )
    };
    drop(words);

    assert!(
        !matches!(status, zc_status::ZC_PANIC | zc_status::ZC_NULL_POINTER),
        "status {status:?}"
    );
    if status != zc_status::ZC_OK {
        // SAFETY: zc_last_error returns a NUL-terminated string valid until the next call.
        let msg = unsafe { CStr::from_ptr(zc_last_error()) };
        assert!(
            !msg.to_bytes().is_empty(),
            "status {status:?} without a message"
        );
    }
    // Out-of-range sizes and unknown tail bytes are refused.
    let tail_set = struct_size > real
        && struct_size <= MAX
        && bytes_copy[real..struct_size].iter().any(|&b| b != 0);
    if !(V0..=MAX).contains(&struct_size) || tail_set {
        assert_eq!(
            status,
            zc_status::ZC_INVALID,
            "struct_size {struct_size}, tail set {tail_set}"
        );
        assert_eq!(report.bytes, 0);
        return;
    }
    assert!(report.bytes <= n as u64, "moved {} of {n}", report.bytes);
    if status != zc_status::ZC_OK {
        return;
    }
    // Ok: the destination holds exactly what the options asked for.
    let b = &bytes_copy;
    let flag_at = |f: usize| field(b, struct_size, f, 1).is_some_and(|v| v != 0);
    let u64_at = |f: usize| field(b, struct_size, f, 8).unwrap_or(0);
    let start = if flag_at(offset_of!(zc_options, has_src_offset)) {
        u64_at(offset_of!(zc_options, src_offset))
    } else {
        src_pos
    };
    let at = if flag_at(offset_of!(zc_options, has_dst_offset)) {
        u64_at(offset_of!(zc_options, dst_offset))
    } else {
        0
    };
    let want_len = if flag_at(offset_of!(zc_options, has_len)) {
        u64_at(offset_of!(zc_options, len))
    } else {
        u64::MAX
    };
    let avail = (n as u64).saturating_sub(start);
    let want = avail.min(want_len);
    assert_eq!(
        report.bytes, want,
        "Ok but moved {} of {want}",
        report.bytes
    );
    let size = dst.metadata().expect("dst metadata").len();
    if want > 0 {
        assert_eq!(size, at + want, "dst size");
        let mut got = vec![0u8; want as usize];
        dst.read_exact_at(&mut got, at).expect("read dst");
        assert!(
            got == data[start as usize..(start + want) as usize],
            "dst bytes differ"
        );
    } else {
        assert_eq!(size, 0, "nothing moved, yet dst grew");
    }
});
