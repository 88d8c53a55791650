//! `zcopy bench` as a newcomer reads it: a legend above the tables, ratios named for what they
//! are and printed with their spread across rounds, `cp` labelled and kept out of the ratios, no
//! internal references, CPU from the CPU clocks, and `--quick` on one screen.

use std::path::Path;
use std::process::{Command, Output};

fn zcopy(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_zcopy"))
        .args(args)
        .output()
        .expect("run zcopy")
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// A small run over as many cells as `--quick` has (3 sizes, 3 endpoints, hot and cold), of
/// `rounds` rounds (2 or more give each ratio a spread); `extra` flags added. Returns stdout and
/// the JSON.
fn bench(rounds: &str, extra: &[&str]) -> (String, serde_json::Value) {
    let dir = tempfile::tempdir().expect("tempdir");
    let json = dir.path().join("bench.json");
    let mut args = vec![
        "bench",
        "--sizes",
        "4K,64K,1M",
        "--rounds",
        rounds,
        "--sample-bytes",
        "262144",
        "--dir",
        s(dir.path()),
        "--json",
        s(&json),
    ];
    args.extend_from_slice(extra);
    let out = zcopy(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let v = serde_json::from_slice(&std::fs::read(&json).expect("json written")).expect("json");
    (text, v)
}

/// Whether `line` shows a ratio with its spread, like `1.49× [1.31–1.62]`.
fn has_spread(line: &str) -> bool {
    line.split("× [").skip(1).any(|rest| {
        rest.split_once(']').is_some_and(|(inside, _)| {
            inside
                .split_once('–')
                .is_some_and(|(a, b)| a.parse::<f64>().is_ok() && b.parse::<f64>().is_ok())
        })
    })
}

fn no_internal_references(text: &str) {
    let lower = text.to_lowercase();
    assert!(!lower.contains("issue"), "an internal reference:\n{text}");
    assert!(!text.contains("(!)"), "an unexplained marker:\n{text}");
}

#[test]
fn quick_prints_the_summary_and_targets_on_one_screen() {
    let (text, v) = bench("2", &["--quick"]);
    let lines = text.lines().count();
    assert!(lines < 50, "--quick printed {lines} lines:\n{text}");
    // No per-cell tables, but the summary says what its ratios are, and where the tables are.
    assert!(!text.contains("How to read the tables"), "{text}");
    assert!(!text.contains("file_tcp  64K  cold"), "{text}");
    assert!(text.contains("Summary:"), "{text}");
    assert!(text.contains("median of per-round ratios"), "{text}");
    assert!(text.contains("Targets the project set itself"), "{text}");
    assert!(text.contains("with --full"), "{text}");
    no_internal_references(&text);
    // cp is kept out of the summary's ratios, and the summary says why.
    assert!(text.contains("cp is left out"), "{text}");
    assert!(!text.contains("× cp") && !text.contains("÷ cp"), "{text}");
    // Every summary row shows each ratio with its spread.
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("  file_")).collect();
    assert_eq!(rows.len(), 18, "one summary row per cell:\n{text}");
    assert!(rows.iter().all(|l| has_spread(l)), "{text}");
    // --json keeps every sample all the same.
    let samples = v["samples"].as_array().expect("samples");
    assert!(samples.iter().any(|s| s["technique"] == "splice"));
}

#[test]
fn full_prints_a_legend_tables_with_spreads_and_labels_cp() {
    let (text, v) = bench("2", &["--quick", "--full", "--endpoints", "file_file"]);
    no_internal_references(&text);
    // The legend comes before the first table and names every column and mark.
    let legend = text.find("How to read the tables").expect("a legend");
    let first = text.find("file_file  4K  hot").expect("a table");
    assert!(legend < first, "{text}");
    for term in [
        "GB/s",
        "median of per-round ratios",
        "[lowest–highest]",
        "µs/op",
        "CPU s/GB",
        "copies",
        "*  ",
        "includes process start",
        "10^9 bytes",
    ] {
        assert!(
            text[legend..first].contains(term),
            "legend lacks {term:?}:\n{text}"
        );
    }
    // The ratio column is named for what it is.
    assert!(text.contains("÷ read_write, median of"), "{text}");
    assert!(text.contains("per-round ratios [lo–hi]"), "{text}");
    // Each ratio in the tables has its spread; read_write is the baseline.
    let row = |name: &str| {
        text.lines()
            .filter(move |l| {
                l.get(2..)
                    .is_some_and(|r| r.starts_with(&format!("{name} ")))
            })
            .collect::<Vec<_>>()
    };
    let splice = row("splice");
    assert_eq!(splice.len(), 6, "one splice row per cell:\n{text}");
    assert!(splice.iter().all(|l| has_spread(l)), "{text}");
    assert!(row("read_write").iter().all(|l| l.contains("the baseline")));
    // cp, where it ran, is labelled and has no ratio.
    let cp = row("cp");
    if cp.is_empty() {
        eprintln!("SKIP the cp rows: no cp on PATH");
    }
    for l in cp {
        assert!(l.ends_with("includes process start"), "{l}");
        assert!(!l.contains('×'), "cp got a ratio: {l}");
    }
    // CPU from the CPU clocks: every sample has it, none a tick-counted 0.
    let samples = v["samples"].as_array().expect("samples");
    for s in samples {
        let cpu = s["cpu_ns"].as_u64().expect("cpu_ns");
        assert!(cpu > 0, "no CPU measured: {s}");
    }
    assert!(!text.contains("0.000 "), "a CPU figure of 0:\n{text}");
}

#[test]
fn a_single_round_prints_no_spread_and_no_noisy_verdict() {
    let (text, _) = bench(
        "1",
        &["--quick", "--endpoints", "file_pipe", "--cache", "hot"],
    );
    no_internal_references(&text);
    assert!(text.contains("one round, so no spread"), "{text}");
    assert!(!text.contains("× ["), "{text}");
    assert!(
        !text.lines().any(|l| l.starts_with("  noisy")),
        "one round cannot be noisy:\n{text}"
    );
}
