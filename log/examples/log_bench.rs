//! `zcopy-log` throughput: appends of 100 B and 4 KiB records under each flush policy, next to
//! plain `write()` loops (with `fdatasync` per record, the peer of Sync; without, the peer of
//! no flush), and consumption by `Log::send` into a pipe drained by a reader thread (sendfile,
//! next to the same frames moved by read_write), and the cost of a one-record send: `send`, a
//! consumer's `send_prepared` (metered, and with its CPU meter off) and a bare `sendfile` of the
//! same frame. Medians of interleaved rounds.
//!
//! `cargo run --release -p zcopy-log --example log_bench [ROUNDS]` (default 5: 8–25 s here, more on a
//! busy disk; 9 rounds took 14 s). The log lives
//! in `$ZCOPY_DIR` (default /tmp). Append times cover the append calls only (not the final
//! `close`, which syncs what async and manual left).

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::path::Path;
use std::thread;
use std::time::Instant;

use zcopy::{Options, Strategy};
use zcopy_log::{FlushPolicy, Log, LogOptions};

/// Records per round of each case: enough for ~0.1–0.5 s.
fn records(case: Case, size: usize) -> usize {
    match (case, size) {
        (Case::Sync | Case::PeerSync, _) => 1_000,
        (_, 100) => 200_000,
        _ => 20_000,
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Case {
    Sync,
    PeerSync,
    Async,
    Manual,
    PeerWrite,
}

impl Case {
    const ALL: [Case; 5] = [
        Case::Sync,
        Case::PeerSync,
        Case::Async,
        Case::Manual,
        Case::PeerWrite,
    ];

    fn label(self) -> &'static str {
        match self {
            Case::Sync => "log append, sync (msync per record)",
            Case::PeerSync => "peer: write()+fdatasync per record",
            Case::Async => "log append, async (1 s interval)",
            Case::Manual => "log append, manual (no flush)",
            Case::PeerWrite => "peer: write() per record, no sync",
        }
    }
}

fn record(i: usize, size: usize) -> Vec<u8> {
    (0..size).map(|k| (i * 31 + k * 7) as u8).collect()
}

/// Seconds for `n` appends (or peer writes) of `size`-byte records into a fresh dir in `base`.
fn append_round(
    base: &Path,
    case: Case,
    size: usize,
    n: usize,
) -> Result<f64, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir_in(base)?;
    let payloads: Vec<Vec<u8>> = (0..64).map(|i| record(i, size)).collect();
    let flush = match case {
        Case::Sync => FlushPolicy::Sync,
        Case::Async => FlushPolicy::async_default(),
        _ => FlushPolicy::Manual,
    };
    match case {
        Case::PeerSync | Case::PeerWrite => {
            let mut f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.path().join("peer.log"))?;
            let t = Instant::now();
            for i in 0..n {
                f.write_all(&payloads[i % 64])?;
                if case == Case::PeerSync {
                    f.sync_data()?;
                }
            }
            Ok(t.elapsed().as_secs_f64())
        }
        _ => {
            let opts = LogOptions {
                flush,
                ..LogOptions::default()
            };
            let mut log = Log::open(dir.path(), &opts)?;
            let t = Instant::now();
            for i in 0..n {
                log.append(&payloads[i % 64])?;
            }
            let secs = t.elapsed().as_secs_f64();
            log.close()?;
            Ok(secs)
        }
    }
}

/// Seconds to send the whole log to a pipe (1 MiB per `send`) with `strategy`, a reader thread
/// draining it; checks every byte arrived.
fn consume_round(log: &Log, strategy: Strategy) -> Result<(f64, u64), Box<dyn std::error::Error>> {
    let (mut r, w) = std::io::pipe()?;
    let reader = thread::spawn(move || -> std::io::Result<u64> {
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                return Ok(total);
            }
            total += n as u64;
        }
    });
    let opts = Options {
        strategy,
        fallback: false,
        ..Options::default()
    };
    let t = Instant::now();
    let mut from = 0;
    let mut sent = 0;
    while from < log.next_offset() {
        let (report, next) = log.send_with(&w, from, 1 << 20, &opts)?;
        sent += report.bytes;
        from = next;
    }
    drop(w);
    let got = reader.join().map_err(|_| "reader thread panicked")??;
    let secs = t.elapsed().as_secs_f64();
    if got != sent {
        return Err(format!("sent {sent} bytes, the reader got {got}").into());
    }
    Ok((secs, sent))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Appends: every case at 100 B and 4 KiB records, rounds interleaved.
fn appends(base: &Path, rounds: usize) -> Result<(), Box<dyn std::error::Error>> {
    println!(
        "{:<38} {:>6} {:>12} {:>9} {:>10}",
        "append", "record", "records/s", "MB/s", "µs/record"
    );
    for size in [100usize, 4096] {
        let mut secs: Vec<Vec<f64>> = vec![Vec::new(); Case::ALL.len()];
        for round in 0..rounds {
            for k in 0..Case::ALL.len() {
                // Rotate the order each round, so no case always runs first.
                let i = (k + round) % Case::ALL.len();
                let case = Case::ALL[i];
                secs[i].push(append_round(base, case, size, records(case, size))?);
            }
        }
        for (i, case) in Case::ALL.iter().enumerate() {
            let n = records(*case, size) as f64;
            let s = median(&mut secs[i]);
            println!(
                "{:<38} {:>6} {:>12.0} {:>9.1} {:>10.2}",
                case.label(),
                if size == 100 { "100 B" } else { "4 KiB" },
                n / s,
                n * size as f64 / s / 1e6,
                s / n * 1e6
            );
        }
    }
    Ok(())
}

/// Consuming ~96 MiB of `size`-byte records into a pipe, by sendfile and by read/write.
fn consumes(base: &Path, rounds: usize, size: usize) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir_in(base)?;
    let opts = LogOptions {
        flush: FlushPolicy::Manual,
        ..LogOptions::default()
    };
    let mut log = Log::open(dir.path(), &opts)?;
    let n = (96usize << 20) / size; // ~96 MiB of payload: two segments
    let payloads: Vec<Vec<u8>> = (0..64).map(|i| record(i, size)).collect();
    for i in 0..n {
        log.append(&payloads[i % 64])?;
    }
    log.flush()?;
    let strategies = [Strategy::Sendfile, Strategy::ReadWrite];
    let mut secs: Vec<Vec<f64>> = vec![Vec::new(); 2];
    let mut frames = 0;
    for round in 0..rounds {
        for k in 0..2 {
            let i = (k + round) % 2;
            let (s, b) = consume_round(&log, strategies[i])?;
            secs[i].push(s);
            frames = b;
        }
    }
    for (i, s) in strategies.iter().enumerate() {
        let t = median(&mut secs[i]);
        println!(
            "{:<38} {:>6} {:>12.0} {:>9.1} {:>10.2}",
            format!("log send, {s}"),
            if size == 100 { "100 B" } else { "4 KiB" },
            n as f64 / t,
            (n * size) as f64 / t / 1e6,
            frames as f64 / t / 1e9
        );
    }
    log.close()?;
    Ok(())
}

/// One way of sending one record a call in [`per_send`].
#[derive(Clone, Copy)]
enum Sender {
    Send,
    Prepared,
    PreparedUnmetered,
    BareSendfile,
}

impl Sender {
    const ALL: [Sender; 4] = [
        Sender::Send,
        Sender::Prepared,
        Sender::PreparedUnmetered,
        Sender::BareSendfile,
    ];

    fn label(self) -> &'static str {
        match self {
            Sender::Send => "log send",
            Sender::Prepared => "log send_prepared",
            Sender::PreparedUnmetered => "log send_prepared, meter off",
            Sender::BareSendfile => "bare sendfile of the same frame",
        }
    }
}

/// Records sent one a call in each round of [`per_send`] (all in the first segment).
const ONE_A_CALL: usize = 10_000;

/// Seconds to send records `0..ONE_A_CALL` one a call into a pipe a thread drains, the way
/// `how` says; checks every byte arrived.
fn per_send_round(
    log: &Log,
    seg: &std::fs::File,
    how: Sender,
) -> Result<f64, Box<dyn std::error::Error>> {
    use std::os::fd::{AsFd, AsRawFd};
    let (mut r, w) = std::io::pipe()?;
    let reader = thread::spawn(move || -> std::io::Result<u64> {
        let mut buf = vec![0u8; 1 << 20];
        let mut total = 0u64;
        loop {
            match r.read(&mut buf)? {
                0 => return Ok(total),
                n => total += n as u64,
            }
        }
    });
    let mut p = zcopy::Prepared::to_dst(w.as_fd(), &zcopy_log::send_options())?;
    p.set_cpu_meter(!matches!(how, Sender::PreparedUnmetered));
    let t = Instant::now();
    let (mut from, mut sent, mut pos) = (0, 0u64, 0i64);
    while (from as usize) < ONE_A_CALL {
        let (bytes, next) = match how {
            Sender::Send => {
                let (r, n) = log.send(&w, from, 1)?;
                (r.bytes, n)
            }
            Sender::Prepared | Sender::PreparedUnmetered => {
                let (r, n) = log.send_prepared(&mut p, from, 0, 1)?;
                (r.bytes, n)
            }
            Sender::BareSendfile => {
                // A pipe takes what fits: the rest of the frame goes in the next calls.
                let frame = FRAME + SMALL;
                let mut done = 0;
                while done < frame {
                    let left = (frame - done) as usize;
                    // SAFETY: both fds are open for the call; `pos` is a valid i64 the call
                    // advances.
                    let n =
                        unsafe { libc::sendfile(w.as_raw_fd(), seg.as_raw_fd(), &mut pos, left) };
                    if n <= 0 {
                        return Err(format!("bare sendfile gave {n}").into());
                    }
                    done += n as u64;
                }
                (frame, from + 1)
            }
        };
        sent += bytes;
        from = next;
    }
    drop(p);
    drop(w);
    let got = reader.join().map_err(|_| "reader thread panicked")??;
    let secs = t.elapsed().as_secs_f64();
    if got != sent {
        return Err(format!("sent {sent} bytes, the reader got {got}").into());
    }
    Ok(secs)
}

/// The record size of [`per_send`], and a frame's header.
const SMALL: u64 = 100;
const FRAME: u64 = zcopy_log::FRAME_HEADER as u64;

/// The cost of a one-record send (100 B records), each way of [`Sender`], rounds interleaved.
fn per_send(base: &Path, rounds: usize) -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir_in(base)?;
    let opts = LogOptions {
        flush: FlushPolicy::Manual,
        ..LogOptions::default()
    };
    let mut log = Log::open(dir.path(), &opts)?;
    let payload = record(0, SMALL as usize);
    for _ in 0..ONE_A_CALL {
        log.append(&payload)?;
    }
    log.flush()?;
    let seg = std::fs::File::open(dir.path().join(format!("{:020}.log", 0)))?;
    let mut secs: Vec<Vec<f64>> = vec![Vec::new(); Sender::ALL.len()];
    for round in 0..rounds {
        for k in 0..Sender::ALL.len() {
            let i = (k + round) % Sender::ALL.len();
            secs[i].push(per_send_round(&log, &seg, Sender::ALL[i])?);
        }
    }
    let bare = median(&mut secs[Sender::ALL.len() - 1].clone());
    for (i, how) in Sender::ALL.iter().enumerate() {
        let t = median(&mut secs[i]);
        println!(
            "{:<38} {:>6} {:>12.0} {:>9.2} {:>10.2}",
            how.label(),
            "100 B",
            ONE_A_CALL as f64 / t,
            t / ONE_A_CALL as f64 * 1e6,
            t / bare
        );
    }
    log.close()?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: usize = std::env::args()
        .nth(1)
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(5);
    let base = std::env::var("ZCOPY_DIR").unwrap_or_else(|_| "/tmp".into());
    let base = Path::new(&base);
    let started = Instant::now();
    println!(
        "zcopy::log bench: medians of {rounds} interleaved rounds, log in {}",
        base.display()
    );
    println!();
    appends(base, rounds)?;
    println!();
    println!(
        "{:<38} {:>6} {:>12} {:>9} {:>10}",
        "consume (send → pipe, 1 MiB a call)", "record", "records/s", "MB/s", "GB/s frames"
    );
    for size in [100usize, 4096] {
        consumes(base, rounds, size)?;
    }
    println!();
    println!(
        "{:<38} {:>6} {:>12} {:>9} {:>10}",
        "consume one record a call (→ pipe)", "record", "sends/s", "µs/send", "÷ bare"
    );
    per_send(base, rounds)?;
    println!();
    println!("took {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
