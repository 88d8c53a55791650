//! Structs that begin with `size_t struct_size`, so they can grow without breaking callers.
//!
//! The rule (the kernel's `copy_struct_from_user`, as `openat2` and `clone3` use it):
//! - a caller compiled against an older, smaller struct passes its smaller `struct_size`: the
//!   library reads only those bytes (later fields take their defaults) and writes only those;
//! - a caller compiled against a newer, larger struct passes its larger size: the library writes
//!   zeros into the bytes it does not know, and when reading accepts them only if they are all
//!   zero (a field it does not know, set to something other than its default, is `ZC_INVALID`);
//! - a size below the first release's is `ZC_INVALID`, as is a size above [`MAX_STRUCT_SIZE`]
//!   (an uninitialised `struct_size`, most likely).
//!
//! Fields are read one by one through raw pointers as plain integers, never as a Rust `bool` or
//! enum, and never through a reference to the whole struct, so no bit pattern is undefined
//! behaviour and padding is never read.

use crate::status::Failure;

/// The largest `struct_size` accepted: far above any struct of this library, far below what an
/// uninitialised `size_t` usually holds.
pub(crate) const MAX_STRUCT_SIZE: usize = 1 << 16;

/// Reads the `struct_size` at the start of `p` (the struct named `what`) and checks it is at
/// least `min` and at most [`MAX_STRUCT_SIZE`].
///
/// # Safety
/// `p` is non-null and valid for reading a `usize` at its start.
pub(crate) unsafe fn struct_size<T>(p: *const T, what: &str, min: usize) -> Result<usize, Failure> {
    // SAFETY: the caller guarantees the first usize is readable.
    let size = unsafe { p.cast::<usize>().read_unaligned() };
    if size < min {
        return Err(Failure::invalid(format!(
            "{what}.struct_size is {size}, smaller than the smallest {what} ({min} bytes): set it \
             to sizeof({what}){}",
            if size == 0 {
                " (zero: was the struct initialised?)"
            } else {
                ""
            }
        )));
    }
    if size > MAX_STRUCT_SIZE {
        return Err(Failure::invalid(format!(
            "{what}.struct_size is {size}, larger than any {what} can be: set it to \
             sizeof({what}) (was the struct initialised?)"
        )));
    }
    Ok(size)
}

/// Checks that the bytes of a caller's struct past the ones this library knows (`known..size`)
/// are all zero.
///
/// # Safety
/// `p` is valid for reading `size` bytes.
pub(crate) unsafe fn check_unknown_tail<T>(
    p: *const T,
    what: &str,
    known: usize,
    size: usize,
) -> Result<(), Failure> {
    for i in known..size {
        // SAFETY: i < size, and the caller guarantees `size` bytes are readable.
        let b = unsafe { p.cast::<u8>().add(i).read() };
        if b != 0 {
            return Err(Failure::invalid(format!(
                "{what} has {} bytes this library (zcopy {}) does not know, and byte {i} of them \
                 is not zero: the program was built against a newer zcopy.h and sets an option \
                 this library cannot honour",
                size - known,
                env!("CARGO_PKG_VERSION"),
            )));
        }
    }
    Ok(())
}

/// Writes `value` into the caller's struct of `size` bytes: the first `min(size, size_of::<T>())`
/// bytes from `value` (whose own `struct_size` the caller should have set to `size`), and zeros
/// in the rest.
///
/// # Safety
/// `dst` is valid for writing `size` bytes.
pub(crate) unsafe fn write<T>(dst: *mut T, size: usize, value: &T) {
    let known = size.min(std::mem::size_of::<T>());
    // SAFETY: `value` is a live T, readable for size_of::<T>() >= known bytes; the caller
    // guarantees `dst` is writable for `size` >= known bytes; a caller's struct and our local
    // value cannot overlap. copy_nonoverlapping is an untyped copy, so padding is fine.
    unsafe {
        std::ptr::copy_nonoverlapping((value as *const T).cast::<u8>(), dst.cast::<u8>(), known)
    };
    if size > known {
        // SAFETY: bytes known..size lie within the caller's `size` writable bytes.
        unsafe { std::ptr::write_bytes(dst.cast::<u8>().add(known), 0, size - known) };
    }
}

/// Whether the field at `offset` with `len` bytes lies within a struct of `size` bytes.
pub(crate) fn has_field(size: usize, offset: usize, len: usize) -> bool {
    offset + len <= size
}

/// Reads one field of a caller's struct as type `$t` (an integer or a nullable pointer), or
/// `None` when the caller's `struct_size` ends before it.
///
/// `read_field!(p, size, zc_options, strategy: u32)`; `p` must be valid for `size` bytes.
macro_rules! read_field {
    ($p:expr, $size:expr, $struct:ty, $field:ident : $t:ty) => {{
        let offset = ::std::mem::offset_of!($struct, $field);
        if $crate::sized::has_field($size, offset, ::std::mem::size_of::<$t>()) {
            // SAFETY: the field lies within the `$size` bytes the caller vouched for; it is read
            // as a plain integer or nullable pointer, for which every bit pattern is valid.
            Some(unsafe {
                ::std::ptr::addr_of!((*$p).$field)
                    .cast::<$t>()
                    .read_unaligned()
            })
        } else {
            None
        }
    }};
}
pub(crate) use read_field;

#[cfg(test)]
mod tests {
    use super::*;

    #[repr(C)]
    struct S {
        struct_size: usize,
        a: u32,
        b: u64,
    }

    #[test]
    fn reads_only_the_callers_bytes() {
        let s = S {
            struct_size: 12,
            a: 7,
            b: 9,
        };
        let p: *const S = &s;
        // SAFETY: `p` points at a live S.
        let size = unsafe { struct_size(p, "S", 12) }.unwrap();
        assert_eq!(read_field!(p, size, S, a: u32), Some(7));
        assert_eq!(read_field!(p, size, S, b: u64), None);
        assert_eq!(read_field!(p, 24, S, b: u64), Some(9));
        // SAFETY: as above.
        let err = unsafe { struct_size(p, "S", 16) }.unwrap_err();
        assert!(err
            .message
            .contains("smaller than the smallest S (16 bytes)"));
    }

    #[test]
    fn a_larger_struct_must_end_in_zeros() {
        let buf = [0u8; 64];
        let p: *const u8 = buf.as_ptr();
        // SAFETY: `buf` holds 64 bytes.
        unsafe { check_unknown_tail(p, "S", 24, 64) }.unwrap();
        let mut buf = buf;
        buf[40] = 1;
        let p: *const u8 = buf.as_ptr();
        // SAFETY: as above.
        let err = unsafe { check_unknown_tail(p, "S", 24, 64) }.unwrap_err();
        assert!(err.message.contains("byte 40"), "{}", err.message);
    }

    #[test]
    fn writes_only_the_callers_bytes_and_zeros_the_rest() {
        let mut buf = [0xAAu8; 40];
        let v = S {
            struct_size: 40,
            a: 1,
            b: 2,
        };
        // SAFETY: buf is 40 writable bytes.
        unsafe { write(buf.as_mut_ptr().cast::<S>(), 40, &v) };
        assert_eq!(&buf[24..], &[0u8; 16]);
        let mut small = [0xAAu8; 20];
        // SAFETY: small is 20 writable bytes, and only 12 are written.
        unsafe { write(small.as_mut_ptr().cast::<S>(), 12, &v) };
        assert_eq!(&small[12..], &[0xAAu8; 8]);
        assert_eq!(u32::from_ne_bytes(small[8..12].try_into().unwrap()), 1);
    }
}
