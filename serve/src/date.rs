//! Dates as HTTP writes them (IMF-fixdate, RFC 9110 §5.6.7) and as nginx's access log does
//! (`$time_local`), without a crate: the civil calendar from a count of days (Howard
//! Hinnant's algorithms), and the current second's strings cached per thread, so a response
//! formats its `Date` once per second per worker, not once per request.

use std::cell::Cell;
use std::time::{SystemTime, UNIX_EPOCH};

/// The bytes of an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub(crate) const IMF_LEN: usize = 29;

/// The bytes of a `$time_local`: `06/Nov/1994:08:49:37 +0000`.
pub(crate) const LOCAL_LEN: usize = 26;

/// Day 0 (1970-01-01) was a Thursday.
const WEEKDAYS: [&[u8; 3]; 7] = [b"Thu", b"Fri", b"Sat", b"Sun", b"Mon", b"Tue", b"Wed"];
const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// The first and last second an IMF-fixdate can write (years 0000 to 9999).
const MIN_SECS: i64 = -62_167_219_200;
const MAX_SECS: i64 = 253_402_300_799;

/// `(year, month 1..=12, day 1..=31)` of the day `days` after 1970-01-01.
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The days from 1970-01-01 to `y-m-d` (`m` 1..=12).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn two(out: &mut [u8], v: u32) {
    out[0] = b'0' + (v / 10 % 10) as u8;
    out[1] = b'0' + (v % 10) as u8;
}

fn four(out: &mut [u8], v: u32) {
    two(&mut out[..2], v / 100);
    two(&mut out[2..], v % 100);
}

/// `secs` since the epoch as an IMF-fixdate (clamped to the years 0000..=9999).
pub(crate) fn imf_fixdate(secs: i64) -> [u8; IMF_LEN] {
    let secs = secs.clamp(MIN_SECS, MAX_SECS);
    let (days, sod) = (secs.div_euclid(86_400), secs.rem_euclid(86_400) as u32);
    let (y, m, d) = civil(days);
    let mut out = *b"Thu, 01 Jan 1970 00:00:00 GMT";
    out[..3].copy_from_slice(WEEKDAYS[days.rem_euclid(7) as usize]);
    two(&mut out[5..7], d);
    out[8..11].copy_from_slice(MONTHS[m as usize - 1]);
    four(&mut out[12..16], y as u32);
    two(&mut out[17..19], sod / 3600);
    two(&mut out[20..22], sod / 60 % 60);
    two(&mut out[23..25], sod % 60);
    out
}

/// `secs` since the epoch, shifted by `offset` seconds east of UTC, as nginx's `$time_local`:
/// `06/Nov/1994:08:49:37 +0100`.
pub(crate) fn time_local(secs: i64, offset: i64) -> [u8; LOCAL_LEN] {
    let local = (secs + offset).clamp(MIN_SECS, MAX_SECS);
    let (days, sod) = (local.div_euclid(86_400), local.rem_euclid(86_400) as u32);
    let (y, m, d) = civil(days);
    let mut out = *b"01/Jan/1970:00:00:00 +0000";
    two(&mut out[0..2], d);
    out[3..6].copy_from_slice(MONTHS[m as usize - 1]);
    four(&mut out[7..11], y as u32);
    two(&mut out[12..14], sod / 3600);
    two(&mut out[15..17], sod / 60 % 60);
    two(&mut out[18..20], sod % 60);
    out[21] = if offset < 0 { b'-' } else { b'+' };
    let off = (offset.unsigned_abs() / 60).min(99 * 60 + 59) as u32;
    two(&mut out[22..24], off / 60);
    two(&mut out[24..26], off % 60);
    out
}

/// The seconds since the epoch now (negative before it).
pub(crate) fn now_secs() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs_f64().ceil() as i64),
    }
}

thread_local! {
    /// This thread's `Date` for the second it was made in.
    static DATE: Cell<(i64, [u8; IMF_LEN])> = const { Cell::new((i64::MIN, [0; IMF_LEN])) };
    /// This thread's `$time_local` for the second it was made in.
    static LOCAL: Cell<(i64, [u8; LOCAL_LEN])> = const { Cell::new((i64::MIN, [0; LOCAL_LEN])) };
}

/// The `Date` header's value now, made once per second per thread.
pub(crate) fn date_now() -> [u8; IMF_LEN] {
    let now = now_secs();
    DATE.with(|c| {
        let (at, s) = c.get();
        if at == now {
            return s;
        }
        let s = imf_fixdate(now);
        c.set((now, s));
        s
    })
}

/// `$time_local` now, in the local time zone (as `localtime_r` says), made once per second per
/// thread.
pub(crate) fn local_now() -> [u8; LOCAL_LEN] {
    let now = now_secs();
    LOCAL.with(|c| {
        let (at, s) = c.get();
        if at == now {
            return s;
        }
        let s = time_local(now, utc_offset(now));
        c.set((now, s));
        s
    })
}

/// The local time zone's offset from UTC at `secs`, in seconds east (0 when unknown).
fn utc_offset(secs: i64) -> i64 {
    let t = secs as libc::time_t;
    // SAFETY: an all-zero tm is a valid value of this plain C struct.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: `t` and `tm` are valid for the call; localtime_r is the thread-safe variant.
    let r = unsafe { libc::localtime_r(&t, &mut tm) };
    if r.is_null() {
        0
    } else {
        tm.tm_gmtoff
    }
}

/// Parses an HTTP date in any of the three forms RFC 9110 §5.6.7 says a recipient accepts:
/// IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the obsolete RFC 850 form
/// (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime's (`Sun Nov  6 08:49:37 1994`). The weekday
/// is not checked. `None` for anything else (a date that is not one is ignored, as the RFC
/// says).
pub(crate) fn parse_http_date(v: &[u8]) -> Option<i64> {
    let v = trim(v);
    let (y, m, d, rest) = if let Some(comma) = v.iter().position(|&c| c == b',') {
        if comma < 3 || !v[..comma].iter().all(u8::is_ascii_alphabetic) {
            return None;
        }
        let r = v[comma + 1..].strip_prefix(b" ")?;
        if r.len() >= 3 && r[2] == b'-' {
            // RFC 850: DD-Mon-YY HH:MM:SS GMT
            let (d, r) = (digits(r, 2)?, &r[3..]);
            let m = month(r)?;
            let r = r.get(3..)?.strip_prefix(b"-")?;
            let yy = digits(r, 2)? as i64;
            // Two-digit years: 70..99 are 19xx, the rest 20xx (RFC 9110 asks for the past
            // within 50 years of now; this reads every date of 1970..2069 right).
            let y = if yy >= 70 { 1900 + yy } else { 2000 + yy };
            (y, m, d, &r[2..])
        } else {
            // IMF-fixdate: DD Mon YYYY HH:MM:SS GMT
            let d = digits(r, 2)?;
            let r = r.get(2..)?.strip_prefix(b" ")?;
            let m = month(r)?;
            let r = r.get(3..)?.strip_prefix(b" ")?;
            let y = digits(r, 4)? as i64;
            (y, m, d, &r[4..])
        }
    } else {
        // asctime: Www Mon _D HH:MM:SS YYYY
        if v.len() != 24 || !v[..3].iter().all(u8::is_ascii_alphabetic) || v[3] != b' ' {
            return None;
        }
        let m = month(&v[4..])?;
        if v[7] != b' ' {
            return None;
        }
        let d = if v[8] == b' ' {
            digits(&v[9..], 1)?
        } else {
            digits(&v[8..], 2)?
        };
        if v[10] != b' ' || v[19] != b' ' {
            return None;
        }
        let (h, mi, s) = clock(&v[11..19])?;
        let y = digits(&v[20..], 4)? as i64;
        return seconds(y, m, d, h, mi, s);
    };
    let r = rest.strip_prefix(b" ")?;
    if r.len() != 12 || &r[8..] != b" GMT" {
        return None;
    }
    let (h, mi, s) = clock(&r[..8])?;
    seconds(y, m, d, h, mi, s)
}

fn seconds(y: i64, m: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<i64> {
    if d == 0 || d > days_in_month(y, m) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    // A leap second (60) is read as the last second of its minute.
    let s = s.min(59);
    Some(days_from_civil(y, m, d) * 86_400 + i64::from(h * 3600 + mi * 60 + s))
}

/// `HH:MM:SS`.
fn clock(v: &[u8]) -> Option<(u32, u32, u32)> {
    if v.len() != 8 || v[2] != b':' || v[5] != b':' {
        return None;
    }
    Some((digits(v, 2)?, digits(&v[3..], 2)?, digits(&v[6..], 2)?))
}

/// The number in the first `n` bytes of `v`, all of them digits.
fn digits(v: &[u8], n: usize) -> Option<u32> {
    let v = v.get(..n)?;
    v.iter().try_fold(0u32, |acc, &c| {
        c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
    })
}

/// The month whose three-letter name `v` starts with (1..=12, case-sensitive as the RFC).
fn month(v: &[u8]) -> Option<u32> {
    let name = v.get(..3)?;
    MONTHS
        .iter()
        .position(|m| &m[..] == name)
        .map(|i| i as u32 + 1)
}

fn trim(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|&c| c != b' ' && c != b'\t')
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|&c| c != b' ' && c != b'\t')
        .map_or(start, |e| e + 1);
    &v[start..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_example_in_every_form() {
        let t = 784_111_777; // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(&imf_fixdate(t), b"Sun, 06 Nov 1994 08:49:37 GMT");
        for form in [
            &b"Sun, 06 Nov 1994 08:49:37 GMT"[..],
            b"Sunday, 06-Nov-94 08:49:37 GMT",
            b"Sun Nov  6 08:49:37 1994",
            b"  Sun, 06 Nov 1994 08:49:37 GMT ",
        ] {
            assert_eq!(
                parse_http_date(form),
                Some(t),
                "{}",
                String::from_utf8_lossy(form)
            );
        }
        assert_eq!(&time_local(t, 3600), b"06/Nov/1994:09:49:37 +0100");
        assert_eq!(
            &time_local(t, -5 * 3600 - 1800),
            b"06/Nov/1994:03:19:37 -0530"
        );
    }

    #[test]
    fn formatting_and_parsing_agree_over_four_centuries() {
        // Every 3,333,331 seconds (an odd step, so every time of day and weekday comes up)
        // from 1900 to 2300, through leap years and the centuries that are not.
        let mut t = -2_208_988_800;
        while t < 10_413_792_000 {
            let s = imf_fixdate(t);
            assert_eq!(
                parse_http_date(&s),
                Some(t),
                "{}",
                String::from_utf8_lossy(&s)
            );
            t += 3_333_331;
        }
        assert_eq!(&imf_fixdate(0), b"Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(&imf_fixdate(951_782_400), b"Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(&imf_fixdate(-1), b"Wed, 31 Dec 1969 23:59:59 GMT");
        assert_eq!(&imf_fixdate(i64::MAX), b"Fri, 31 Dec 9999 23:59:59 GMT");
    }

    #[test]
    fn what_is_not_a_date_is_none() {
        for bad in [
            &b""[..],
            b"yesterday",
            b"Sun, 06 Nov 1994 08:49:37 UTC",
            b"Sun, 31 Nov 1994 08:49:37 GMT",
            b"Sun, 29 Feb 1900 08:49:37 GMT",
            b"Sun, 06 Nov 1994 24:00:00 GMT",
            b"Sun, 06 nov 1994 08:49:37 GMT",
            b"Sun, 6 Nov 1994 08:49:37 GMT",
            b"Sun,06 Nov 1994 08:49:37 GMT",
            b"Sun, 06 Nov 1994 08:49:37 GMT; length=10",
            b"Sun Nov  6 08:49:37 94",
            b"\"5cbee66d-264\"",
            b"W/\"x\"",
        ] {
            assert_eq!(
                parse_http_date(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn the_cached_strings_are_this_second() {
        let a = date_now();
        assert!(parse_http_date(&a).is_some_and(|t| (t - now_secs()).abs() <= 1));
        assert_eq!(local_now().len(), LOCAL_LEN);
    }
}
