//! The offset index: fixed-size entries mapping a record's offset (relative to its segment's
//! base) to its byte position in the segment, one every `index_interval_bytes` of log.
//!
//! On disk (`{base:020}.index`) an entry is 8 bytes, little-endian: relative offset (u32), then
//! position (u32). The first record of a segment (position 0) has no entry: it is implied. The
//! active segment's index file is preallocated and memory-mapped; its first all-zero entry ends
//! it. The writer keeps a copy of the entries in memory, which lookups search.

/// Bytes per index entry.
pub(crate) const ENTRY: usize = 8;

/// One entry: (relative offset, position).
pub(crate) type Entry = (u32, u32);

/// The 8 bytes of `e`.
pub(crate) fn encode(e: Entry) -> [u8; ENTRY] {
    let mut b = [0u8; ENTRY];
    b[0..4].copy_from_slice(&e.0.to_le_bytes());
    b[4..8].copy_from_slice(&e.1.to_le_bytes());
    b
}

/// Parses an index file's bytes: the entries up to the first that is zero, not increasing in
/// both fields, or points at or past `log_len` (so a torn or stale tail is dropped).
pub(crate) fn parse(bytes: &[u8], log_len: u64) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    for b in bytes.chunks_exact(ENTRY) {
        let rel = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let pos = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        let increasing = out.last().is_none_or(|&(r, p)| rel > r && pos > p);
        if pos == 0 || rel == 0 || !increasing || u64::from(pos) >= log_len {
            break;
        }
        out.push((rel, pos));
    }
    out
}

/// The last entry at or before relative offset `rel` (`(0, 0)`, the implied first record,
/// when none is): where a forward scan for `rel` starts. A binary search.
pub(crate) fn floor_offset(entries: &[Entry], rel: u64) -> (u64, u64) {
    let i = entries.partition_point(|&(r, _)| u64::from(r) <= rel);
    match i {
        0 => (0, 0),
        _ => {
            let (r, p) = entries[i - 1];
            (u64::from(r), u64::from(p))
        }
    }
}

/// The last entry whose position is at or before `pos`, as for [`floor_offset`].
pub(crate) fn floor_position(entries: &[Entry], pos: u64) -> (u64, u64) {
    let i = entries.partition_point(|&(_, p)| u64::from(p) <= pos);
    match i {
        0 => (0, 0),
        _ => {
            let (r, p) = entries[i - 1];
            (u64::from(r), u64::from(p))
        }
    }
}

/// Entries a segment of `capacity` bytes can need with `interval` between them: each entry
/// is at least `max(interval, one frame header)` bytes after the previous one.
pub(crate) fn capacity_for(capacity: u64, interval: u64) -> u64 {
    capacity / interval.max(super::record::FRAME_HEADER as u64) + 1
}
