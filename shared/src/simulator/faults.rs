//! Fault injection: which transient fault a request gets, which rows are malformed, and how
//! the `total` changes mid-run. All draws are pure functions of the seed and a counter.
//!
//! - Transient faults are per request: request `n` (per endpoint, counted since the last
//!   `set_date`/`set_faults`) on day `d` draws one uniform number and falls in at most one
//!   band (error, rate limit, HTML, timeout, truncation), so the same sequence of requests
//!   meets the same faults. Concurrent clients see the same faults, in arrival order.
//! - Malformed rows are data: chosen by a hash of the row's version, so a retry (or another
//!   day on which the row did not change) serves the same malformed row. So are rows whose
//!   datetimes are written in another ISO-8601 form (the same instant).
//! - The `total` change grows the endpoint by 1..=5 rows appended at the end, or shrinks it
//!   by 1..=5 rows removed from the front (shifting every page), depending on the seed.

use serde_json::Value;

use super::dataset::GenRow;
use super::random::{hash, mix, unit};
use super::{Resource, Faults};

const TAG_REQUEST: u64 = 101;
const TAG_MALFORMED: u64 = 102;
const TAG_TOTAL: u64 = 103;
const TAG_DATETIME_FORM: u64 = 104;

/// The kinds of injected faults, as counted in [`super::SimulatorStats::faults`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// A 500, 502 or 503 answer (`"error"`).
    Error,
    /// A 429 answer with `Retry-After` (`"rate_limit"`).
    RateLimit,
    /// A 200 whose body was cut (`"truncate"`).
    Truncate,
    /// An HTML page, status 200 or 502 (`"html"`).
    Html,
    /// A request that hung, then answered 504 (`"timeout"`).
    Timeout,
    /// A malformed row served (counted per row, `"malformed"`).
    Malformed,
    /// A page served with the changed `total` (`"total_change"`).
    TotalChange,
    /// A 503 from the failing endpoint (`"fail_endpoint"`).
    FailEndpoint,
    /// A request delayed by the configured latency (`"latency"`).
    Latency,
    /// A row served with its datetimes in another form (counted per row, `"datetime_form"`).
    DatetimeForm,
    /// A page served from the shifted listing (`"shift"`).
    Shift,
    /// A page served from a listing with rows served twice (`"duplicate"`).
    Duplicate,
    /// A page answered in the wrong shape (`"wrong_shape"`).
    WrongShape,
}

impl FaultKind {
    /// Every kind.
    pub const ALL: [FaultKind; 13] = [
        FaultKind::Error,
        FaultKind::RateLimit,
        FaultKind::Truncate,
        FaultKind::Html,
        FaultKind::Timeout,
        FaultKind::Malformed,
        FaultKind::TotalChange,
        FaultKind::FailEndpoint,
        FaultKind::Latency,
        FaultKind::DatetimeForm,
        FaultKind::Shift,
        FaultKind::Duplicate,
        FaultKind::WrongShape,
    ];

    /// The key of this kind in the stats.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Error => "error",
            FaultKind::RateLimit => "rate_limit",
            FaultKind::Truncate => "truncate",
            FaultKind::Html => "html",
            FaultKind::Timeout => "timeout",
            FaultKind::Malformed => "malformed",
            FaultKind::TotalChange => "total_change",
            FaultKind::FailEndpoint => "fail_endpoint",
            FaultKind::Latency => "latency",
            FaultKind::DatetimeForm => "datetime_form",
            FaultKind::Shift => "shift",
            FaultKind::Duplicate => "duplicate",
            FaultKind::WrongShape => "wrong_shape",
        }
    }
}

/// The transient fault drawn for one request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Transient {
    None,
    /// Answer with this 5xx status.
    Error(u16),
    RateLimit,
    /// An HTML page with this status (200 or 502).
    Html(u16),
    Timeout,
    /// Cut a 200 body at this fraction of its length (in `[0.1, 0.9)`).
    Truncate(f64),
}

/// The per-request draws: the transient fault and the latency jitter fraction.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestDraw {
    pub(crate) transient: Transient,
    pub(crate) jitter: f64,
}

pub(crate) fn draw_request(
    faults: &Faults,
    seed: u64,
    day: u64,
    e: Resource,
    n: u64,
) -> RequestDraw {
    let h = hash(seed, TAG_REQUEST, (day << 2) | e as u64, n);
    let (h2, h3) = (mix(h ^ 1), mix(h ^ 2));
    let u = unit(h);
    let bands = [
        faults.error_rate,
        faults.rate_limit_rate,
        faults.html_rate,
        faults.timeout_rate,
        faults.truncate_rate,
    ];
    let mut edge = 0.0;
    let mut band = None;
    for (i, r) in bands.into_iter().enumerate() {
        edge += if r.is_nan() { 0.0 } else { r.max(0.0) };
        if u < edge {
            band = Some(i);
            break;
        }
    }
    let transient = match band {
        None => Transient::None,
        Some(0) => Transient::Error([500, 502, 503][(h2 % 3) as usize]),
        Some(1) => Transient::RateLimit,
        Some(2) => Transient::Html(if h2 % 2 == 0 { 200 } else { 502 }),
        Some(3) => Transient::Timeout,
        Some(_) => Transient::Truncate(0.1 + 0.8 * unit(h2)),
    };
    RequestDraw {
        transient,
        jitter: unit(h3),
    }
}

/// How the `total` changes after `total_change_after` requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TotalChange {
    /// Rows appended at the end.
    Grow(u64),
    /// Rows removed from the front.
    Shrink(u64),
}

pub(crate) fn total_change(seed: u64, e: Resource) -> TotalChange {
    let h = hash(seed, TAG_TOTAL, e as u64, 0);
    let k = 1 + (h >> 8) % 5;
    if h % 2 == 0 {
        TotalChange::Grow(k)
    } else {
        TotalChange::Shrink(k)
    }
}

/// Makes the row malformed when its version is drawn (share `rate`); returns whether it did.
pub(crate) fn malform(row: &mut GenRow, e: Resource, seed: u64, rate: f64) -> bool {
    if rate.is_nan() || unit(hash(seed, TAG_MALFORMED, row.key, 0)) >= rate {
        return false;
    }
    let h = hash(seed, TAG_MALFORMED, row.key, 1);
    let (id_field, null_fields): (&str, &[&str]) = match e {
        Resource::Tracks => ("id", &["name", "artist", "genres", "duration", "album"]),
        Resource::Users => (
            "id",
            &["email", "first_name", "last_name", "favorite_genres"],
        ),
        Resource::ListenHistory => ("user_id", &["items", "user_id"]),
    };
    let set = |row: &mut GenRow, name: &str, v: Value| {
        if let Some(f) = row.fields.iter_mut().find(|(k, _)| *k == name) {
            f.1 = v;
        }
    };
    let kinds = if e == Resource::ListenHistory { 5 } else { 4 };
    match h % kinds {
        // A missing key.
        0 => row.fields.retain(|(k, _)| *k != id_field),
        // An id of the wrong type.
        1 => set(
            row,
            id_field,
            Value::from(["abc", "n/a", "12a"][((h >> 8) % 3) as usize]),
        ),
        // An unparsable datetime.
        2 => {
            let field = if (h >> 8) % 2 == 0 {
                "created_at"
            } else {
                "updated_at"
            };
            set(row, field, Value::from("yesterday"));
        }
        // A null business field.
        3 => set(
            row,
            null_fields[((h >> 8) % null_fields.len() as u64) as usize],
            Value::Null,
        ),
        // Listen history: items as a string (Python's repr of the list).
        _ => {
            let items = row
                .fields
                .iter()
                .find(|(k, _)| *k == "items")
                .map(|(_, v)| v.to_string());
            let text = items.unwrap_or_default().replace(',', ", ");
            set(row, "items", Value::from(text));
        }
    }
    true
}

/// Rewrites the row's `created_at` and `updated_at` in another ISO-8601 form, the same instant,
/// when its version is drawn (share `rate`): a space for the `T` (what SQL-backed APIs print),
/// a `Z`, or the time at `+02:00`. Returns whether it did.
pub(crate) fn reform_datetimes(row: &mut GenRow, seed: u64, rate: f64) -> bool {
    if rate.is_nan() || unit(hash(seed, TAG_DATETIME_FORM, row.key, 0)) >= rate {
        return false;
    }
    let form = hash(seed, TAG_DATETIME_FORM, row.key, 1) % 3;
    for (name, value) in row.fields.iter_mut() {
        let Some(text) = value
            .as_str()
            .filter(|_| matches!(*name, "created_at" | "updated_at"))
        else {
            continue;
        };
        let Some(at) = crate::records::parse_datetime(text) else {
            continue;
        };
        *value = Value::from(match form {
            0 => text.replacen('T', " ", 1),
            1 => format!("{text}Z"),
            _ => (at + chrono::TimeDelta::hours(2))
                .format("%Y-%m-%dT%H:%M:%S%.f+02:00")
                .to_string(),
        });
    }
    true
}
