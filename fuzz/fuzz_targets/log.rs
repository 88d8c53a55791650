//! Fuzzes the log's frame decoding and its recovery.
//!
//! Decoding: `zcopy_log::decode`, `decode_prefix` and `decode_first` on random bytes (and on
//! real frames with random bytes written over them) never panic and agree with each other: the
//! prefix is what `decode_first` finds frame by frame, `decode` succeeds exactly when the prefix
//! is the whole input, and every record lies inside the input.
//!
//! Recovery: a real log is written, closed, and random bytes are written over its last
//! segment (and index) on disk, which may also be cut short; `Log::open` then never panics,
//! keeps every record whose frame lies before the first damaged byte, returns no record other
//! than the one appended at its offset (a damaged one is an error, never wrong bytes), leaves
//! segment files whose frames decode with valid CRCs up to where its records end, and appends
//! the next record at the next offset.

#![no_main]

use std::path::{Path, PathBuf};

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use zcopy_log::{self as log, FlushPolicy, Log, LogOptions, FRAME_HEADER};

#[derive(Arbitrary, Debug)]
struct Damage {
    /// Where (modulo the file's length).
    at: u32,
    bytes: Vec<u8>,
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// Bytes decoded as they are.
    raw: Vec<u8>,
    /// Records appended to a real log (payloads cut to fit a segment).
    records: Vec<Vec<u8>>,
    /// Segment size: 4096 + this × 512 bytes.
    segment: u8,
    /// Index interval in bytes (0 indexes every record).
    interval: u16,
    /// Written over the last segment's .log file.
    log_damage: Vec<Damage>,
    /// Written over the last segment's .index file.
    index_damage: Vec<Damage>,
    /// Cut the .log file to this many bytes (modulo its length + 1).
    cut: Option<u32>,
}

/// Checks the three decoders agree on `bytes`; returns the records `decode_prefix` found.
fn decoders_agree(bytes: &[u8]) -> Vec<(u64, Vec<u8>)> {
    let first = log::decode_first(bytes);
    if let Ok(Some(((_, payload), n))) = &first {
        assert!(
            *n >= FRAME_HEADER && *n <= bytes.len(),
            "frame of {n} bytes"
        );
        assert_eq!(payload.len(), n - FRAME_HEADER);
        assert!(std::ptr::eq(
            payload.as_ptr(),
            bytes[FRAME_HEADER..].as_ptr()
        ));
    }
    let prefix = log::decode_prefix(bytes);
    let whole = log::decode(bytes);
    match &prefix {
        Ok((records, used)) => {
            assert!(*used <= bytes.len());
            // Frame by frame, decode_first finds the same records, then not a whole frame.
            let mut at = 0;
            for (i, r) in records.iter().enumerate() {
                let (got, n) = log::decode_first(&bytes[at..])
                    .expect("decode_first agrees with decode_prefix")
                    .expect("a whole frame");
                assert_eq!(got, *r, "record {i}");
                at += n;
            }
            assert_eq!(at, *used);
            assert!(
                matches!(log::decode_first(&bytes[at..]), Ok(None)),
                "decode_prefix stopped before a whole frame"
            );
            // decode: the same records exactly when they span the input.
            match &whole {
                Ok(all) => {
                    assert_eq!(*used, bytes.len());
                    assert_eq!(all, records);
                }
                Err(e) => {
                    assert_ne!(*used, bytes.len(), "decode failed on a whole prefix: {e}");
                    assert!(!e.message().is_empty());
                }
            }
            assert_eq!(
                log::decode(&bytes[..*used]).expect("the prefix decodes"),
                *records
            );
            records.iter().map(|&(o, p)| (o, p.to_vec())).collect()
        }
        Err(e) => {
            assert!(!e.message().is_empty());
            assert_eq!(e.errno(), Some(libc::EBADMSG), "{e}");
            assert!(
                whole.is_err(),
                "decode succeeded where decode_prefix failed"
            );
            Vec::new()
        }
    }
}

/// The segment files of a log directory, sorted: (.log paths, .index paths).
fn segment_files(dir: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let mut logs = Vec::new();
    let mut indexes = Vec::new();
    for e in std::fs::read_dir(dir).expect("read_dir") {
        let p = e.expect("dir entry").path();
        match p.extension().and_then(|x| x.to_str()) {
            Some("log") => logs.push(p),
            Some("index") => indexes.push(p),
            _ => {}
        }
    }
    logs.sort();
    indexes.sort();
    (logs, indexes)
}

/// Writes `damage` over the file at `path`; returns the first byte position actually changed.
fn damage(path: &Path, damage: &[Damage]) -> Option<u64> {
    let mut bytes = std::fs::read(path).expect("read segment");
    let before = bytes.clone();
    if bytes.is_empty() {
        return None;
    }
    for d in damage {
        let at = d.at as usize % bytes.len();
        let n = d.bytes.len().min(bytes.len() - at);
        bytes[at..at + n].copy_from_slice(&d.bytes[..n]);
    }
    std::fs::write(path, &bytes).expect("write damage");
    before
        .iter()
        .zip(&bytes)
        .position(|(a, b)| a != b)
        .map(|p| p as u64)
}

fuzz_target!(|input: Input| {
    decoders_agree(&input.raw);

    // A real log on a tmpfs when there is one (fsync is free there).
    let base = if Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let dir = base.join(format!("zcopy-fuzz-log-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let opts = LogOptions {
        segment_bytes: 4096 + u64::from(input.segment) * 512,
        flush: FlushPolicy::Manual,
        index_interval_bytes: u64::from(input.interval),
    };
    let max_payload = opts.segment_bytes as usize - FRAME_HEADER;
    let records: Vec<&[u8]> = input
        .records
        .iter()
        .take(64)
        .map(|r| &r[..r.len().min(max_payload)])
        .collect();
    {
        let mut l = Log::open(&dir, &opts).expect("open a new log");
        for (i, r) in records.iter().enumerate() {
            assert_eq!(l.append(r).expect("append"), i as u64);
        }
        l.close().expect("close");
    }

    // Real segments decode to exactly the records appended.
    let (logs, indexes) = segment_files(&dir);
    let mut decoded = Vec::new();
    for p in &logs {
        decoded.extend(decoders_agree(&std::fs::read(p).expect("read segment")));
    }
    assert_eq!(decoded.len(), records.len());
    for (i, (o, p)) in decoded.iter().enumerate() {
        assert_eq!((*o, p.as_slice()), (i as u64, records[i]));
    }

    // Damage the last segment (its frames and its index) and maybe cut it.
    let last_log = logs.last().expect("a segment").clone();
    // The records in earlier segments, and where each record of the last one ends in it.
    let last_base: u64 = last_log
        .file_stem()
        .and_then(|s| s.to_str())
        .and_then(|s| s.parse().ok())
        .expect("segment name");
    let mut ends = Vec::new();
    let mut pos = 0u64;
    for r in &records[last_base as usize..] {
        pos += (FRAME_HEADER + r.len()) as u64;
        ends.push(pos);
    }
    let mut first_bad = damage(&last_log, &input.log_damage).unwrap_or(u64::MAX);
    if let Some(cut) = input.cut {
        let len = std::fs::metadata(&last_log).expect("stat").len();
        let cut = u64::from(cut) % (len + 1);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&last_log)
            .and_then(|f| f.set_len(cut))
            .expect("cut");
        first_bad = first_bad.min(cut);
    }
    if let Some(ix) = indexes.last() {
        damage(ix, &input.index_damage);
    }
    // Records that must survive: all of earlier segments, and those of the last one whose
    // frame ends before the first damaged byte.
    let intact = last_base + ends.iter().filter(|&&e| e <= first_bad).count() as u64;

    let mut l = match Log::open(&dir, &opts) {
        Ok(l) => l,
        Err(e) => {
            panic!("reopening after damage to the last segment failed: {e:?}");
        }
    };
    let next = l.next_offset();
    assert!(
        next >= intact && next <= records.len() as u64,
        "recovered {next} records: {intact} were intact, {} appended",
        records.len()
    );
    for o in 0..next {
        match l.read(o, 1) {
            Ok(v) => {
                assert_eq!(v.len(), 1, "record {o}");
                assert_eq!(
                    v[0], records[o as usize],
                    "record {o} is not what was appended"
                );
            }
            Err(e) => {
                assert!(o >= intact, "intact record {o} unreadable: {e:?}");
                assert_eq!(e.errno(), Some(libc::EBADMSG), "record {o}: {e:?}");
            }
        }
    }
    // The next append gets the next offset and reads back.
    assert_eq!(l.append(b"after").expect("append after recovery"), next);
    assert_eq!(
        l.read(next, 1).expect("read after recovery"),
        vec![b"after".to_vec()]
    );
    l.close().expect("close after recovery");
    // Every segment's frames decode with valid CRCs up to the records the log holds.
    let (logs, _) = segment_files(&dir);
    let (mut count, mut all_decode) = (0u64, true);
    for p in &logs {
        let bytes = std::fs::read(p).expect("read segment");
        match log::decode_prefix(&bytes) {
            Ok((recs, used)) => {
                count += recs.len() as u64;
                all_decode &= used == bytes.len();
            }
            Err(_) => {
                // A damaged frame before the last index entry is not rewritten (reading it is
                // an error); the frames before it still count.
                all_decode = false;
                let mut at = 0;
                while let Ok(Some((_, n))) = log::decode_first(&bytes[at..]) {
                    at += n;
                    count += 1;
                }
            }
        }
    }
    if all_decode {
        assert_eq!(
            count,
            next + 1,
            "the segments decode to other than the log's records"
        );
    } else {
        assert!(
            count >= intact,
            "segments decode to {count} records, {intact} intact"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
});
