//! The record frame and its checksum (CRC-32C), and [`decode`] for consumers.
//!
//! A frame is a 16-byte header and the payload, little-endian:
//!
//! | bytes | field |
//! |---|---|
//! | 0..4 | `frame_len` (u32): header + payload; 0 marks the end of a segment (its zero-filled tail) |
//! | 4..8 | `crc` (u32): CRC-32C (Castagnoli, iSCSI's) of bytes 0..4 and 8..`frame_len` |
//! | 8..16 | `offset` (u64): the record's offset in the log |
//! | 16.. | the payload |
//!
//! Frames follow each other without padding, so a consumer parses what `Log::send` moved with
//! [`decode`] (or [`decode_prefix`] for a stream read in pieces).

use crate::error::{Error, ErrorKind, Result};

/// Bytes of a frame's header before the payload.
pub const FRAME_HEADER: usize = 16;

/// One frame's header, parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub frame_len: u32,
    pub crc: u32,
    pub offset: u64,
}

impl Header {
    /// Parses the first 16 bytes of `b` (which must hold them).
    pub(crate) fn parse(b: &[u8]) -> Header {
        let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
        let mut off = [0u8; 8];
        off.copy_from_slice(&b[8..16]);
        Header {
            frame_len: u32_at(0),
            crc: u32_at(4),
            offset: u64::from_le_bytes(off),
        }
    }
}

/// The header of a frame holding `payload` at `offset` (`payload.len() + 16` must fit a u32).
pub(crate) fn header(offset: u64, payload: &[u8]) -> [u8; FRAME_HEADER] {
    let frame_len = (FRAME_HEADER + payload.len()) as u32;
    let mut h = [0u8; FRAME_HEADER];
    h[0..4].copy_from_slice(&frame_len.to_le_bytes());
    h[8..16].copy_from_slice(&offset.to_le_bytes());
    let crc = checksum(&h, payload);
    h[4..8].copy_from_slice(&crc.to_le_bytes());
    h
}

/// The CRC a frame with header bytes `h` (its crc field ignored) and `payload` carries.
pub(crate) fn checksum(h: &[u8], payload: &[u8]) -> u32 {
    let c = crc32c_append(!0, &h[0..4]);
    let c = crc32c_append(c, &h[8..16]);
    !crc32c_append(c, payload)
}

/// Whether the whole frame `f` (header and payload) is intact: its length is what `f` holds and
/// its checksum matches.
pub(crate) fn intact(f: &[u8]) -> bool {
    if f.len() < FRAME_HEADER {
        return false;
    }
    let h = Header::parse(f);
    h.frame_len as usize == f.len() && checksum(f, &f[FRAME_HEADER..]) == h.crc
}

/// A record parsed from frames: its offset and its payload (borrowed).
pub type Record<'a> = (u64, &'a [u8]);

/// Parses frames as `Log::send` writes them: every `(offset, payload)` in `bytes`, in order,
/// borrowing the payloads.
///
/// ```
/// # let dir = tempfile::tempdir()?;
/// use zcopy::log::{Log, LogOptions};
/// let mut log = Log::open(dir.path(), &LogOptions::default())?;
/// log.append(b"one")?;
/// log.append(b"two")?;
/// let (mut r, mut w) = std::io::pipe()?;
/// let (report, next) = log.send(&w, 0, 1 << 20)?;
/// drop(w);
/// let mut bytes = Vec::new();
/// std::io::Read::read_to_end(&mut r, &mut bytes)?;
/// assert_eq!(report.bytes as usize, bytes.len());
/// assert_eq!(zcopy::log::decode(&bytes)?, vec![(0, &b"one"[..]), (1, &b"two"[..])]);
/// assert_eq!(next, 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`ErrorKind::Invalid`] (errno `EBADMSG`) naming the byte position, when a frame is cut short
/// at the end of `bytes` (use [`decode_prefix`] for a stream read in pieces), when its length
/// field is impossible, or when its checksum does not match.
pub fn decode(bytes: &[u8]) -> Result<Vec<Record<'_>>> {
    let (records, used) = decode_prefix(bytes)?;
    if used != bytes.len() {
        return Err(bad(format!(
            "frame at byte {used} is cut short: {} bytes remain, a header needs {FRAME_HEADER} and the frame says {}",
            bytes.len() - used,
            declared_len(&bytes[used..])
        )));
    }
    Ok(records)
}

/// Like [`decode`], but a frame cut short at the end is not an error: returns the whole frames
/// and how many bytes they span, so a consumer reading a stream keeps the rest for later.
///
/// # Errors
/// As [`decode`], except for the cut-short last frame.
pub fn decode_prefix(bytes: &[u8]) -> Result<(Vec<Record<'_>>, usize)> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while let Some((record, n)) = decode_first(&bytes[at..]).map_err(|e| shift(e, at))? {
        out.push(record);
        at += n;
    }
    Ok((out, at))
}

/// The first frame of `bytes`: its record and the bytes the frame spans, or `None` when
/// `bytes` does not hold a whole frame yet (for a consumer parsing a stream frame by frame).
///
/// # Errors
/// [`ErrorKind::Invalid`] (errno `EBADMSG`) for an impossible length or a CRC mismatch.
pub fn decode_first(bytes: &[u8]) -> Result<Option<(Record<'_>, usize)>> {
    if bytes.len() < FRAME_HEADER {
        return Ok(None);
    }
    let h = Header::parse(bytes);
    let n = h.frame_len as usize;
    if n < FRAME_HEADER {
        return Err(bad(format!(
            "frame at byte 0 declares {n} bytes, less than its {FRAME_HEADER}-byte header"
        )));
    }
    if bytes.len() < n {
        return Ok(None);
    }
    let f = &bytes[..n];
    if !intact(f) {
        return Err(bad(format!(
            "frame at byte 0 (offset {}) fails its CRC-32C check",
            h.offset
        )));
    }
    Ok(Some(((h.offset, &f[FRAME_HEADER..]), n)))
}

/// `e` (about a frame at byte 0 of a slice starting at `at`) with the position made absolute.
fn shift(e: Error, at: usize) -> Error {
    if at == 0 {
        return e;
    }
    bad(e
        .message()
        .replacen("frame at byte 0", &format!("frame at byte {at}"), 1))
}

fn declared_len(rest: &[u8]) -> String {
    if rest.len() >= 4 {
        format!(
            "{}",
            u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]])
        )
    } else {
        "nothing yet".to_string()
    }
}

fn bad(message: String) -> Error {
    Error::new(ErrorKind::Invalid, Some(libc::EBADMSG), message)
}

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), continuing from `crc` (start with
/// `!0`, finish with `!`). Uses the SSE 4.2 `crc32` instruction where the CPU has it (every
/// x86-64 since 2008), else slicing-by-8 tables. Hand-written rather than a crate: the tables
/// are 30 lines, and the workspace keeps its dependencies to the few it already has.
pub(crate) fn crc32c_append(crc: u32, data: &[u8]) -> u32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("sse4.2") {
            // SAFETY: the CPU has SSE 4.2, checked just above.
            return unsafe { crc32c_sse42(crc, data) };
        }
    }
    crc32c_soft(crc, data)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse4.2")]
unsafe fn crc32c_sse42(crc: u32, data: &[u8]) -> u32 {
    use std::arch::x86_64::{_mm_crc32_u64, _mm_crc32_u8};
    let mut c = u64::from(crc);
    let mut chunks = data.chunks_exact(8);
    for ch in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(ch);
        c = _mm_crc32_u64(c, u64::from_le_bytes(w));
    }
    let mut c = c as u32;
    for &b in chunks.remainder() {
        c = _mm_crc32_u8(c, b);
    }
    c
}

const POLY: u32 = 0x82F6_3B78;

/// `TABLES[k][b]`: the CRC of byte `b` followed by `k` zero bytes (slicing-by-8).
static TABLES: [[u32; 256]; 8] = make_tables();

const fn make_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 { (c >> 1) ^ POLY } else { c >> 1 };
            k += 1;
        }
        t[0][i] = c;
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            i += 1;
        }
        k += 1;
    }
    t
}

pub(crate) fn crc32c_soft(mut c: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(8);
    for ch in &mut chunks {
        let lo = c ^ u32::from_le_bytes([ch[0], ch[1], ch[2], ch[3]]);
        c = TABLES[7][(lo & 0xff) as usize]
            ^ TABLES[6][((lo >> 8) & 0xff) as usize]
            ^ TABLES[5][((lo >> 16) & 0xff) as usize]
            ^ TABLES[4][(lo >> 24) as usize]
            ^ TABLES[3][ch[4] as usize]
            ^ TABLES[2][ch[5] as usize]
            ^ TABLES[1][ch[6] as usize]
            ^ TABLES[0][ch[7] as usize];
    }
    for &b in chunks.remainder() {
        c = (c >> 8) ^ TABLES[0][((c ^ u32::from(b)) & 0xff) as usize];
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_check_values() {
        // RFC 3720 B.4 and the usual "123456789" check value.
        assert_eq!(!crc32c_append(!0, b"123456789"), 0xE306_9283);
        assert_eq!(!crc32c_soft(!0, b"123456789"), 0xE306_9283);
        assert_eq!(!crc32c_append(!0, &[0u8; 32]), 0x8A91_36AA);
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        for n in [0, 1, 7, 8, 9, 63, 1000] {
            assert_eq!(
                crc32c_append(!0, &data[..n]),
                crc32c_soft(!0, &data[..n]),
                "{n}"
            );
        }
    }
}
