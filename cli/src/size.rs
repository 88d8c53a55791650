//! Byte counts as people type them (`4k`, `1M`, `1GiB`) and read them (`4K`, `1.2K`, `147.8K`).
//!
//! One parser for every flag that takes a size: `copy --len --offset --dst-offset --chunk-size
//! --direct-threshold`, `probe`'s, `serve --directio`, `bench --sizes --sample-bytes`.

/// What a size looks like, for error messages.
const EXPECTED: &str =
    "expected a byte count like 512, 4k, 64KiB, 1M or 2G (K, M, G, T, P, E: powers of 1024)";

/// Parses a byte count: digits, then an optional unit. The units are powers of 1024 whatever
/// their spelling, in any case: `K`, `KB`, `KiB` (and `k`, `kb`, `kib`) are 1024; `M`, `G`, `T`,
/// `P`, `E` the next powers; `B` (or nothing) is 1. `KB` is 1024 here, never 1000, as in
/// `ulimit`, `free` and nginx; zcopy takes no powers of 1000.
pub fn parse(s: &str) -> Result<u64, String> {
    let digits = s.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(EXPECTED.to_string());
    }
    let (num, unit) = s.split_at(digits);
    let unit = unit.to_ascii_lowercase();
    let (letter, rest) = match unit.chars().next() {
        Some(c @ ('k' | 'm' | 'g' | 't' | 'p' | 'e')) => (Some(c), &unit[1..]),
        _ => (None, unit.as_str()),
    };
    let shift = match (letter, rest) {
        (None, "" | "b") => 0,
        (Some(c), "" | "b" | "ib") => match c {
            'k' => 10,
            'm' => 20,
            'g' => 30,
            't' => 40,
            'p' => 50,
            _ => 60,
        },
        _ => return Err(EXPECTED.to_string()),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1u64 << shift))
        .ok_or_else(|| "too large: at most 2^64 - 1 bytes (16E)".to_string())
}

/// `serve --directio`: a positive size, or `off`.
pub fn parse_directio(s: &str) -> Result<Directio, String> {
    if s.eq_ignore_ascii_case("off") {
        return Ok(Directio(None));
    }
    match parse(s)? {
        0 => Err("expected a positive byte count (e.g. 4m) or off".to_string()),
        n => Ok(Directio(Some(n))),
    }
}

/// `serve --directio`'s value: the threshold in bytes, or none (`off`).
#[derive(Debug, Clone, Copy)]
pub struct Directio(pub Option<u64>);

/// Bytes as util-linux prints them (`size_to_human_string` with one-letter suffixes): `512B`,
/// `4K`, `1.2K`, `147.8K`, `1024K`; one decimal, rounded half up, dropped when it is 0.
pub fn human(bytes: u64) -> String {
    const LETTERS: [char; 7] = ['B', 'K', 'M', 'G', 'T', 'P', 'E'];
    let mut exp = 0u32;
    while exp < 60 && bytes >= 1u64 << (exp + 10) {
        exp += 10;
    }
    if exp == 0 {
        return format!("{bytes}B");
    }
    let letter = LETTERS[(exp / 10) as usize];
    let mut int = bytes >> exp;
    let frac = bytes & ((1u64 << exp) - 1);
    // Thousandths, then rounded to tenths (util-linux's arithmetic).
    let milli = ((u128::from(frac) * 1000) >> exp) as u64;
    let mut tenth = (milli + 50) / 100;
    if tenth == 10 {
        int += 1;
        tenth = 0;
    }
    if tenth == 0 {
        format!("{int}{letter}")
    } else {
        format!("{int}.{tenth}{letter}")
    }
}

/// `part` of `whole` as a percentage with one decimal, cut (never rounded) so that `100.0%`
/// means every page: 99.957 % is `99.9%`. An empty whole is `0.0%`.
pub fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "0.0%".to_string();
    }
    let tenths = (u128::from(part) * 1000 / u128::from(whole)) as u64;
    format!("{}.{}%", tenths / 10, tenths % 10)
}

/// [`percent`] as a number (for JSON): tenths cut, not rounded.
pub fn percent_value(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    (u128::from(part) * 1000 / u128::from(whole)) as f64 / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_every_spelling_of_a_power_of_1024() {
        for (s, want) in [
            ("0", 0),
            ("512", 512),
            ("512B", 512),
            ("4k", 4096),
            ("4K", 4096),
            ("4KB", 4096),
            ("4kB", 4096),
            ("4KiB", 4096),
            ("4kib", 4096),
            ("1M", 1 << 20),
            ("1MiB", 1 << 20),
            ("1G", 1 << 30),
            ("1GiB", 1 << 30),
            ("3T", 3 << 40),
            ("2P", 2 << 50),
            ("15E", 15 << 60),
        ] {
            assert_eq!(parse(s), Ok(want), "{s}");
        }
        for bad in [
            "", "k", "4Q", "4 K", "-1", "1.5M", "4KiBB", "4iB", "16E", "4Kb2",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
        assert!(parse("99999999999999999999").is_err());
    }

    #[test]
    fn human_sizes_read_as_util_linux_prints_them() {
        for (n, want) in [
            (0, "0B"),
            (512, "512B"),
            (1023, "1023B"),
            (1024, "1K"),
            (1221, "1.2K"),
            (4096, "4K"),
            (151_344, "147.8K"),
            (1_048_575, "1024K"),
            (4 << 20, "4M"),
            ((3 << 30) + (1 << 29), "3.5G"),
            (u64::MAX, "16E"),
        ] {
            assert_eq!(human(n), want, "{n}");
        }
    }

    #[test]
    fn percentages_are_cut_never_rounded_up_to_100() {
        assert_eq!(percent(2332, 2333), "99.9%");
        assert_eq!(percent(2333, 2333), "100.0%");
        assert_eq!(percent(0, 5), "0.0%");
        assert_eq!(percent(1, 3), "33.3%");
        assert_eq!(percent(0, 0), "0.0%");
        assert_eq!(percent_value(2332, 2333), 99.9);
    }
}
