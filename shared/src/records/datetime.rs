//! The source's datetimes, and the other ISO-8601 forms read alongside them.

use chrono::{DateTime, NaiveDateTime, Utc};

/// Parses the source's datetimes (see [`read_datetime`] for the forms accepted).
pub fn parse_datetime(text: &str) -> Option<DateTime<Utc>> {
    read_datetime(text).map(|(t, _)| t)
}

/// Reads an ISO-8601 datetime in any of its common unambiguous forms and says whether it was in
/// the source's own form (`canonical`: `YYYY-MM-DDTHH:MM:SS`, optional fraction, no zone).
///
/// Accepted: the date, a `T`, `t` or space separator, `HH:MM:SS` with an optional fraction, and
/// either no zone (read as UTC), `Z`/`z`, or an offset `+HH:MM`, `+HHMM` or `+HH` (or `-`).
/// Anything else (a date alone, no seconds, a zone name, a second separator) is `None`.
pub fn read_datetime(text: &str) -> Option<(DateTime<Utc>, bool)> {
    let b = text.as_bytes();
    if b.len() < 19 || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    // Bytes 0..10 and 11.. are split at ASCII bytes, so both are char boundaries.
    let (date, rest) = (&text[..10], &text[11..]);
    let (time, offset) = split_zone(rest)?;
    let naive = match strict_naive(date, time) {
        Some(naive) => naive,
        None => NaiveDateTime::parse_from_str(&format!("{date}T{time}"), "%Y-%m-%dT%H:%M:%S%.f").ok()?,
    };
    let utc = naive
        .checked_sub_signed(chrono::TimeDelta::seconds(offset.unwrap_or(0)))?
        .and_utc();
    Some((utc, b[10] == b'T' && offset.is_none()))
}

/// `YYYY-MM-DD` and `HH:MM:SS` with an optional `.` and 1 to 9 digits, read digit by digit: the
/// form of nearly every row, at a fraction of the cost of chrono's format-string parser (which
/// was 6% of transform). `None` for anything else, including an impossible date or a leap
/// second, which the general parser then decides.
fn strict_naive(date: &str, time: &str) -> Option<NaiveDateTime> {
    let (d, t) = (date.as_bytes(), time.as_bytes());
    let digits = |b: &[u8]| b.iter().try_fold(0u32, |n, &c| c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0')));
    if d.len() != 10 || d[4] != b'-' || d[7] != b'-' || t.len() < 8 || t[2] != b':' || t[5] != b':' {
        return None;
    }
    let nanos = match &t[8..] {
        [] => 0,
        [b'.', fraction @ ..] if (1..=9).contains(&fraction.len()) => digits(fraction)? * 10u32.pow(9 - fraction.len() as u32),
        _ => return None,
    };
    let date = chrono::NaiveDate::from_ymd_opt(digits(&d[..4])? as i32, digits(&d[5..7])?, digits(&d[8..])?)?;
    let (hour, minute, second) = (digits(&t[..2])?, digits(&t[3..5])?, digits(&t[6..8])?);
    if second > 59 {
        return None;
    }
    Some(date.and_time(chrono::NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?))
}

/// Splits a time of day from its zone: `Some(seconds east of UTC)` for `Z` or an offset, `None`
/// without a zone; `None` overall when the zone is malformed.
fn split_zone(rest: &str) -> Option<(&str, Option<i64>)> {
    if let Some(time) = rest.strip_suffix(['Z', 'z']) {
        return Some((time, Some(0)));
    }
    let Some(at) = rest.rfind(['+', '-']) else {
        return Some((rest, None));
    };
    let (time, zone) = (&rest[..at], &rest[at + 1..]);
    if !zone.is_ascii() {
        return None; // and the byte slicing below stays on char boundaries
    }
    let digits = |s: &str| s.len() == 2 && s.bytes().all(|c| c.is_ascii_digit());
    let (h, m) = match zone.len() {
        2 => (zone, "00"),
        4 => (&zone[..2], &zone[2..]),
        5 if zone.as_bytes()[2] == b':' => (&zone[..2], &zone[3..]),
        _ => return None,
    };
    if !digits(h) || !digits(m) {
        return None;
    }
    let (h, m): (i64, i64) = (h.parse().ok()?, m.parse().ok()?);
    if h > 23 || m > 59 {
        return None;
    }
    let sign = if rest.as_bytes()[at] == b'-' { -1 } else { 1 };
    Some((time, Some(sign * (h * 3600 + m * 60))))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn general(date: &str, time: &str) -> Option<NaiveDateTime> {
        NaiveDateTime::parse_from_str(&format!("{date}T{time}"), "%Y-%m-%dT%H:%M:%S%.f").ok()
    }

    #[test]
    fn the_strict_reader_takes_the_source_form_and_leaves_the_rest() {
        assert_eq!(strict_naive("2025-10-30", "17:52:06"), general("2025-10-30", "17:52:06"));
        assert_eq!(strict_naive("2025-10-30", "17:52:06.123456789"), general("2025-10-30", "17:52:06.123456789"));
        for (date, time) in [("2025-02-30", "00:00:00"), ("2025-10-30", "23:59:60"), ("2025-10-30", "17:52:06."), ("2025-10-30", "17:52:06.1234567891"),
            ("2025-1-030", "00:00:00"), ("2025-10-30", "7:52:06"), ("+025-10-30", "17:52:06"), ("2025-10-30", "17:52:06,5")] {
            assert_eq!(strict_naive(date, time), None, "{date}T{time} is left to the general parser");
        }
    }

    proptest::proptest! {
        #[test]
        fn what_the_strict_reader_reads_the_general_parser_reads_alike(y in 0u32..10000, mo in 0u32..14, d in 0u32..33, h in 0u32..26, mi in 0u32..62, s in 0u32..62, f in 0usize..11, frac in 0u64..10_000_000_000) {
            let fraction = if f == 0 { String::new() } else { format!(".{:0width$}", frac % 10u64.pow(f as u32), width = f) };
            let (date, time) = (format!("{y:04}-{mo:02}-{d:02}"), format!("{h:02}:{mi:02}:{s:02}{fraction}"));
            match strict_naive(&date, &time) {
                Some(strict) => proptest::prop_assert_eq!(Some(strict), general(&date, &time), "{}T{}", date, time),
                // The source's own form of a real instant is always read by the fast path.
                None => proptest::prop_assert!(!((1..=12).contains(&mo) && (1..=28).contains(&d) && h < 24 && mi < 60 && s < 60 && f <= 9), "{}T{}", date, time),
            }
        }
    }
}
