//! Timestamps: nanoseconds since the Unix epoch, strict RFC 3339 parsing (as the CloudEvents
//! spec requires) and formatting in UTC. Hand-written because it runs once per attribute on
//! the hot ingest path and must reject what the spec rejects (no minute-only times, no `X`
//! offsets, offsets within ±23:59).

/// Nanoseconds since 1970-01-01T00:00:00Z.
pub type Nanos = i64;

pub const NANOS_PER_MS: i64 = 1_000_000;
pub const NANOS_PER_SEC: i64 = 1_000_000_000;

/// Why a string is not an RFC 3339 timestamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeError(pub &'static str);

impl std::fmt::Display for TimeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

fn digits(b: &[u8], at: usize, n: usize) -> Option<i64> {
    let s = b.get(at..at + n)?;
    let mut v = 0i64;
    for &c in s {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(c - b'0');
    }
    Some(v)
}

/// Days since the epoch for a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

/// Parses an RFC 3339 `date-time` (`2018-04-05T17:31:00Z`, `...00.123456789+01:00`).
pub fn parse_rfc3339(s: &str) -> Result<Nanos, TimeError> {
    let b = s.as_bytes();
    let bad =
        TimeError("not an RFC 3339 timestamp (expected YYYY-MM-DDThh:mm:ss[.frac](Z|±hh:mm))");
    if b.len() < 20 {
        return Err(bad);
    }
    let y = digits(b, 0, 4).ok_or(bad.clone())?;
    let mo = digits(b, 5, 2).ok_or(bad.clone())?;
    let d = digits(b, 8, 2).ok_or(bad.clone())?;
    if b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return Err(bad);
    }
    let h = digits(b, 11, 2).ok_or(bad.clone())?;
    let mi = digits(b, 14, 2).ok_or(bad.clone())?;
    let se = digits(b, 17, 2).ok_or(bad.clone())?;
    if b[13] != b':' || b[16] != b':' {
        return Err(bad);
    }
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) {
        return Err(TimeError("date out of range"));
    }
    if h > 23 || mi > 59 || se > 60 {
        return Err(TimeError("time of day out of range"));
    }
    let mut i = 19;
    let mut frac: i64 = 0;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        let mut scale = 100_000_000i64;
        while let Some(&c) = b.get(i) {
            if !c.is_ascii_digit() {
                break;
            }
            frac += i64::from(c - b'0') * scale;
            scale /= 10;
            i += 1;
        }
        if i == start {
            return Err(TimeError("fraction of a second has no digits"));
        }
    }
    let offset_secs = match b.get(i) {
        Some(b'Z' | b'z') if i + 1 == b.len() => 0,
        Some(&sign @ (b'+' | b'-')) if i + 6 == b.len() => {
            let oh = digits(b, i + 1, 2).ok_or(TimeError("offset hours are not digits"))?;
            let om = digits(b, i + 4, 2).ok_or(TimeError("offset minutes are not digits"))?;
            if b[i + 3] != b':' {
                return Err(TimeError("offset must be ±hh:mm"));
            }
            if oh > 23 || om > 59 {
                return Err(TimeError("offset out of range"));
            }
            let v = oh * 3600 + om * 60;
            if sign == b'+' { v } else { -v }
        }
        _ => return Err(TimeError("missing or malformed offset (Z or ±hh:mm)")),
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + se.min(59) - offset_secs;
    // A valid date outside the range (Go's zero time 0001-01-01T00:00:00Z, year 9999) is an
    // error, not an overflow.
    secs.checked_mul(NANOS_PER_SEC)
        .and_then(|n| n.checked_add(frac))
        .filter(|&t| in_range(t))
        .ok_or(TimeError(OUT_OF_RANGE))
}

/// The earliest time eventlens reads: 2^62 ns before 1970 (1823-11-12T00:06:21.572612096Z).
///
/// Nanoseconds in 64 bits reach from 1677 to 2262, but then the difference of two times
/// (a latency, a time span, a position on an axis) can overflow; within ±2^62 every
/// difference and every sum of a time and a difference fits.
pub const MIN_TIME: Nanos = -(1 << 62);
/// The latest time eventlens reads: 2^62 ns after 1970 (2116-02-20T23:53:38.427387903Z).
pub const MAX_TIME: Nanos = (1 << 62) - 1;

/// Whether `t` is within [`MIN_TIME`]..=[`MAX_TIME`].
pub fn in_range(t: Nanos) -> bool {
    (MIN_TIME..=MAX_TIME).contains(&t)
}

/// The message for a valid RFC 3339 time eventlens cannot represent.
pub const OUT_OF_RANGE: &str = "outside the years 1824 to 2115 that eventlens reads (so that the difference of any two times fits in 64-bit nanoseconds)";

/// Why a time read from a record stands for "no time", if it does: exactly the Unix epoch
/// (what an unset Unix timestamp formats as), or a valid date outside the years eventlens can
/// represent, such as Go's zero `time.Time` (`0001-01-01T00:00:00Z`).
pub fn no_time_reason(parsed: &Result<Nanos, TimeError>) -> Option<&'static str> {
    match parsed {
        Ok(0) => Some("is the Unix epoch itself, a placeholder: the record has no time"),
        Err(e) if e.0 == OUT_OF_RANGE => Some(
            "is outside the years 1824 to 2115 that eventlens reads (0001-01-01 is Go's zero time, a placeholder): the record has no time",
        ),
        _ => None,
    }
}

/// Formats as RFC 3339 UTC with millisecond precision, or more when the value needs it.
pub fn format_rfc3339(t: Nanos) -> String {
    let secs = t.div_euclid(NANOS_PER_SEC);
    let nanos = t.rem_euclid(NANOS_PER_SEC);
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (h, mi, s) = (sod / 3600, (sod % 3600) / 60, sod % 60);
    if nanos % 1_000_000 == 0 {
        format!(
            "{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:03}Z",
            nanos / 1_000_000
        )
    } else if nanos % 1000 == 0 {
        format!(
            "{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{:06}Z",
            nanos / 1000
        )
    } else {
        format!("{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{nanos:09}Z")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conformance_times() {
        let utc = parse_rfc3339("2018-04-05T17:31:00Z").unwrap();
        assert_eq!(parse_rfc3339("2018-04-05T18:31:00+01:00").unwrap(), utc);
        assert_eq!(parse_rfc3339("2018-04-05T16:31:00-01:00").unwrap(), utc);
        assert_eq!(
            parse_rfc3339("2018-04-05T17:31:00.000000000Z").unwrap(),
            utc
        );
        for bad in [
            "lunchtime",
            "2018-04-05T18:31Z",
            "2018-04-05T18:31:00X",
            "2018-04-05T18:31:00+25:00",
            "2018-04-05T18:31:00+xx:00",
            "2018-04-05T18:31:00+05",
            "2018-02-30T18:31:00Z",
        ] {
            assert!(parse_rfc3339(bad).is_err(), "{bad} must be rejected");
        }
    }

    #[test]
    fn zero_times_are_errors_or_placeholders_not_overflows() {
        for s in [
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999Z",
            "1677-01-01T00:00:00Z",
            "2262-12-31T00:00:00+23:59",
        ] {
            let r = parse_rfc3339(s);
            assert_eq!(r, Err(TimeError(OUT_OF_RANGE)), "{s}");
            assert!(no_time_reason(&r).is_some(), "{s}");
        }
        assert_eq!(
            no_time_reason(&parse_rfc3339("1970-01-01T00:00:00Z")),
            no_time_reason(&Ok(0))
        );
        assert!(no_time_reason(&Ok(0)).is_some());
        assert!(no_time_reason(&parse_rfc3339("1970-01-01T00:00:00.001Z")).is_none());
        assert!(parse_rfc3339("1824-01-01T00:00:00Z").is_ok());
        assert!(parse_rfc3339("2115-12-31T23:59:59.999999999Z").is_ok());
        for s in [
            "1823-01-01T00:00:00Z",
            "2116-12-31T00:00:00Z",
            "2261-12-31T23:59:59Z",
        ] {
            assert_eq!(parse_rfc3339(s), Err(TimeError(OUT_OF_RANGE)), "{s}");
        }
    }

    #[test]
    fn round_trip() {
        let t = parse_rfc3339("2026-11-28T15:45:20.123Z").unwrap();
        assert_eq!(format_rfc3339(t), "2026-11-28T15:45:20.123Z");
        let t = parse_rfc3339("1969-12-31T23:59:59.5Z").unwrap();
        assert_eq!(format_rfc3339(t), "1969-12-31T23:59:59.500Z");
        assert_eq!(format_rfc3339(t + 1), "1969-12-31T23:59:59.500000001Z");
    }
}
