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
    let naive =
        NaiveDateTime::parse_from_str(&format!("{date}T{time}"), "%Y-%m-%dT%H:%M:%S%.f").ok()?;
    let utc = naive
        .checked_sub_signed(chrono::TimeDelta::seconds(offset.unwrap_or(0)))?
        .and_utc();
    Some((utc, b[10] == b'T' && offset.is_none()))
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
