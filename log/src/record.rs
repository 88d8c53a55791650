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

use nix::errno::Errno;
use zcopy::{Error, ErrorKind, Result};

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

/// The CRC a frame with header bytes `h` (its crc field ignored) and `payload` carries:
/// CRC-32C (Castagnoli) of the length, the offset and the payload, in that order. The
/// `crc32c` crate computes it with the CPU's instruction (SSE 4.2's `crc32` on three lanes at
/// once, ARMv8's `crc32c*`), or tables where the CPU has none.
pub(crate) fn checksum(h: &[u8], payload: &[u8]) -> u32 {
    let c = crc32c::crc32c(&h[0..4]);
    let c = crc32c::crc32c_append(c, &h[8..16]);
    crc32c::crc32c_append(c, payload)
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
/// use zcopy_log::{Log, LogOptions};
/// let mut log = Log::open(dir.path(), &LogOptions::default())?;
/// log.append(b"one")?;
/// log.append(b"two")?;
/// let (mut r, mut w) = std::io::pipe()?;
/// let (report, next) = log.send(&w, 0, 1 << 20)?;
/// drop(w);
/// let mut bytes = Vec::new();
/// std::io::Read::read_to_end(&mut r, &mut bytes)?;
/// assert_eq!(report.bytes as usize, bytes.len());
/// assert_eq!(zcopy_log::decode(&bytes)?, vec![(0, &b"one"[..]), (1, &b"two"[..])]);
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
    Error::new(ErrorKind::Invalid, Some(Errno::EBADMSG as i32), message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_check_values() {
        // RFC 3720 B.4 and the usual "123456789" check value, through the frame's own order:
        // the checksum of a header whose length and offset fields hold "12345678" and a
        // payload "9" is the CRC of "123456789".
        let mut h = [0u8; FRAME_HEADER];
        h[0..4].copy_from_slice(b"1234");
        h[8..12].copy_from_slice(b"5678");
        let mut h2 = h;
        h2[4..8].copy_from_slice(&[9, 9, 9, 9]); // the crc field itself is not covered
        assert_eq!(checksum(&h[..], b"9"), checksum(&h2[..], b"9"));
        let mut whole = b"1234".to_vec();
        whole.extend_from_slice(&h[8..16]);
        whole.push(b'9');
        assert_eq!(checksum(&h[..], b"9"), crc32c::crc32c(&whole));
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c::crc32c(&[0u8; 32]), 0x8A91_36AA);
    }
}
