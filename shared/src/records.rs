//! The source's rows (tracks, users, listen history) as typed records, and their validation.
//!
//! Validation sorts each row into accepted, accepted-with-warnings, or rejected-with-reasons.
//! It rejects only what would corrupt downstream tables (a missing or mistyped key, a mistyped
//! field, an unparsable or missing datetime, a listen row without `user_id`); what the real source
//! routinely serves (`updated_at` before `created_at`, a null name, an unknown genre, a field we
//! do not know yet) is accepted and counted as a warning.
//!
//! Personal fields ([`Record::PERSONAL`]: a user's `email`, `first_name`, `last_name`) are never
//! quoted in a warning's or rejection's detail, and [`redact_personal`] makes a row fit for
//! quarantine.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;

/// The three entities the source serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    Tracks,
    Users,
    ListenHistory,
}

impl Entity {
    pub const ALL: [Entity; 3] = [Entity::Tracks, Entity::Users, Entity::ListenHistory];

    /// The dataset name: the endpoint's path and the folder under `raw/`.
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::Tracks => "tracks",
            Entity::Users => "users",
            Entity::ListenHistory => "listen_history",
        }
    }

    /// The field that identifies a row.
    pub fn key_field(self) -> &'static str {
        match self {
            Entity::Tracks | Entity::Users => "id",
            Entity::ListenHistory => "user_id",
        }
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The values `favorite_genres` takes at the source.
pub const GENRES: [&str; 17] = [
    "Rock", "Pop", "Hip Hop", "Jazz", "Electronic", "Classical", "Country", "Blues", "R&B", "Reggae", "Folk", "Metal",
    "Punk", "Funk", "Indie", "Alternative", "Techno",
];

/// The values `gender` takes at the source.
pub const GENDERS: [&str; 9] = [
    "Male",
    "Female",
    "Non-binary",
    "Genderqueer",
    "Genderfluid",
    "Agender",
    "Bigender",
    "Gender questioning",
    "Gender nonconforming",
];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Track {
    pub id: i64,
    pub name: Option<String>,
    pub artist: Option<String>,
    pub songwriters: Option<String>,
    /// As served, `"MM:SS"`.
    pub duration: Option<String>,
    pub genres: Option<String>,
    pub album: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: i64,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub gender: Option<String>,
    pub favorite_genres: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListenHistory {
    pub user_id: i64,
    /// Track ids in the order served; a null `items` is read as empty (with a warning).
    pub items: Vec<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What is wrong with one field of one row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    pub field: String,
    pub check: Check,
    pub detail: String,
}

/// The named checks, stable identifiers used in quarantine files, reports and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    // Rejections.
    NotAnObject,
    MissingKey,
    WrongType,
    BadDatetime,
    MissingDatetime,
    // Warnings.
    NullField,
    EmptyField,
    UpdatedBeforeCreated,
    BadDuration,
    UnknownValue,
    UnknownField,
    DuplicateItems,
    DatetimeForm,
}

impl Check {
    pub fn as_str(self) -> &'static str {
        match self {
            Check::NotAnObject => "not_an_object",
            Check::MissingKey => "missing_key",
            Check::WrongType => "wrong_type",
            Check::BadDatetime => "bad_datetime",
            Check::MissingDatetime => "missing_datetime",
            Check::NullField => "null_field",
            Check::EmptyField => "empty_field",
            Check::UpdatedBeforeCreated => "updated_before_created",
            Check::BadDuration => "bad_duration",
            Check::UnknownValue => "unknown_value",
            Check::UnknownField => "unknown_field",
            Check::DuplicateItems => "duplicate_items",
            Check::DatetimeForm => "datetime_form",
        }
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} `{}`: {}", self.check.as_str(), self.field, self.detail)
    }
}

/// The verdict on one row.
#[derive(Debug, Clone, PartialEq)]
pub enum Validated<T> {
    /// Usable downstream; the warnings (possibly none) are counted and reported.
    Accepted { record: T, warnings: Vec<Issue> },
    /// Not usable; goes to quarantine with every reason found.
    Rejected { reasons: Vec<Issue> },
}

/// A typed record of one entity.
pub trait Record: Sized {
    const ENTITY: Entity;
    const FIELDS: &'static [&'static str];
    /// Fields holding personal data: never quoted in an issue's detail, redacted in quarantine.
    const PERSONAL: &'static [&'static str] = &[];
    /// The row's identifier (`id`, or `user_id` for listen history).
    fn key(&self) -> i64;
    /// Builds the record from the checked fields; `None` when a rejection was recorded.
    fn from_fields(f: &mut Fields<'_>) -> Option<Self>;

    /// Validates one JSON row as served.
    fn validate(row: &Value) -> Validated<Self> {
        let Some(map) = row.as_object() else {
            // A row that is not an object cannot be searched for personal fields: only its kind.
            let detail = if Self::PERSONAL.is_empty() { describe(row) } else { kind(row).to_owned() };
            let reason = Issue { field: String::new(), check: Check::NotAnObject, detail };
            return Validated::Rejected { reasons: vec![reason] };
        };
        let mut fields = Fields { map, personal: Self::PERSONAL, warnings: Vec::new(), rejections: Vec::new() };
        let record = Self::from_fields(&mut fields);
        for name in map.keys().filter(|k| !Self::FIELDS.contains(&k.as_str())) {
            fields.warn(name, Check::UnknownField, "not in the known schema (schema drift)".into());
        }
        match record {
            Some(record) if fields.rejections.is_empty() => Validated::Accepted { record, warnings: fields.warnings },
            _ => Validated::Rejected { reasons: fields.rejections },
        }
    }
}

impl Record for Track {
    const ENTITY: Entity = Entity::Tracks;
    const FIELDS: &'static [&'static str] =
        &["id", "name", "artist", "songwriters", "duration", "genres", "album", "created_at", "updated_at"];

    fn key(&self) -> i64 {
        self.id
    }

    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let id = f.key("id");
        let (name, artist, songwriters) = (f.text("name"), f.text("artist"), f.text("songwriters"));
        let duration = f.text("duration");
        if let Some(d) = &duration
            && duration_seconds(d).is_none()
        {
            f.warn("duration", Check::BadDuration, format!("{d:?} is not MM:SS"));
        }
        let (genres, album) = (f.text("genres"), f.text("album"));
        let (created_at, updated_at) = f.timestamps();
        Some(Track { id: id?, name, artist, songwriters, duration, genres, album, created_at: created_at?, updated_at: updated_at? })
    }
}

impl Record for User {
    const ENTITY: Entity = Entity::Users;
    const FIELDS: &'static [&'static str] =
        &["id", "first_name", "last_name", "email", "gender", "favorite_genres", "created_at", "updated_at"];
    const PERSONAL: &'static [&'static str] = &["email", "first_name", "last_name"];

    fn key(&self) -> i64 {
        self.id
    }

    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let id = f.key("id");
        let (first_name, last_name, email) = (f.text("first_name"), f.text("last_name"), f.text("email"));
        let gender = f.one_of("gender", &GENDERS);
        let favorite_genres = f.one_of("favorite_genres", &GENRES);
        let (created_at, updated_at) = f.timestamps();
        Some(User { id: id?, first_name, last_name, email, gender, favorite_genres, created_at: created_at?, updated_at: updated_at? })
    }
}

impl Record for ListenHistory {
    const ENTITY: Entity = Entity::ListenHistory;
    const FIELDS: &'static [&'static str] = &["user_id", "items", "created_at", "updated_at"];

    fn key(&self) -> i64 {
        self.user_id
    }

    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let user_id = f.key("user_id");
        let items = f.int_list("items");
        let (created_at, updated_at) = f.timestamps();
        Some(ListenHistory { user_id: user_id?, items: items?, created_at: created_at?, updated_at: updated_at? })
    }
}

/// `"MM:SS"` (minutes may exceed 59 or have more digits) as seconds.
pub fn duration_seconds(text: &str) -> Option<u32> {
    let (m, s) = text.trim().split_once(':')?;
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
    if !digits(m) || !digits(s) || s.len() != 2 {
        return None;
    }
    let (m, s): (u32, u32) = (m.parse().ok()?, s.parse().ok()?);
    (s < 60).then_some(m.checked_mul(60)?.checked_add(s)?)
}

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

/// A row of `R` fit for quarantine: its personal fields set to null. A row that is not an object
/// cannot be searched for them, so a row of an entity with personal fields is replaced by a note.
pub fn redact_personal<R: Record>(row: &Value) -> Value {
    if R::PERSONAL.is_empty() {
        return row.clone();
    }
    let Some(map) = row.as_object() else { return Value::String(format!("({} withheld: it may hold personal data)", kind(row))) };
    let mut map = map.clone();
    for field in R::PERSONAL {
        if let Some(v) = map.get_mut(*field) {
            *v = Value::Null;
        }
    }
    Value::Object(map)
}

/// The field-by-field reader that records warnings and rejections as it goes.
pub struct Fields<'a> {
    map: &'a Map<String, Value>,
    /// Fields whose values an issue never quotes.
    personal: &'static [&'static str],
    warnings: Vec<Issue>,
    rejections: Vec<Issue>,
}

impl Fields<'_> {
    /// A value for a message: its kind and a clipped rendering, or only its kind for a personal field.
    fn describe(&self, field: &str, v: &Value) -> String {
        if self.personal.contains(&field) { format!("{} (a personal field: value not shown)", kind(v)) } else { describe(v) }
    }

    fn warn(&mut self, field: &str, check: Check, detail: String) {
        self.warnings.push(Issue { field: field.to_owned(), check, detail });
    }

    fn reject(&mut self, field: &str, check: Check, detail: String) {
        self.rejections.push(Issue { field: field.to_owned(), check, detail });
    }

    fn key(&mut self, name: &str) -> Option<i64> {
        match self.map.get(name) {
            None | Some(Value::Null) => {
                self.reject(name, Check::MissingKey, "the row has no identifier".into());
                None
            }
            Some(v) => v.as_i64().or_else(|| {
                self.reject(name, Check::WrongType, format!("expected an integer, got {}", describe(v)));
                None
            }),
        }
    }

    /// An optional text field: null or missing is a warning, another type a rejection.
    fn text(&mut self, name: &str) -> Option<String> {
        match self.map.get(name) {
            None => {
                self.warn(name, Check::NullField, "missing".into());
                None
            }
            Some(Value::Null) => {
                self.warn(name, Check::NullField, "null".into());
                None
            }
            Some(Value::String(s)) => {
                if s.trim().is_empty() {
                    self.warn(name, Check::EmptyField, "empty text".into());
                }
                Some(s.clone())
            }
            Some(v) => {
                self.reject(name, Check::WrongType, format!("expected text, got {}", self.describe(name, v)));
                None
            }
        }
    }

    fn one_of(&mut self, name: &str, allowed: &[&str]) -> Option<String> {
        let value = self.text(name)?;
        if !allowed.contains(&value.as_str()) {
            self.warn(name, Check::UnknownValue, format!("{value:?} is not one of the known values"));
        }
        Some(value)
    }

    fn datetime(&mut self, name: &str) -> Option<DateTime<Utc>> {
        match self.map.get(name) {
            None | Some(Value::Null) => {
                self.reject(name, Check::MissingDatetime, "missing or null".into());
                None
            }
            Some(Value::String(s)) => match read_datetime(s) {
                Some((t, canonical)) => {
                    if !canonical {
                        self.warn(
                            name,
                            Check::DatetimeForm,
                            format!("{s:?} is read as {}", t.format("%Y-%m-%dT%H:%M:%S%.fZ")),
                        );
                    }
                    Some(t)
                }
                None => {
                    self.reject(
                        name,
                        Check::BadDatetime,
                        format!("{s:?} is not an ISO-8601 datetime"),
                    );
                    None
                }
            },
            Some(v) => {
                self.reject(name, Check::WrongType, format!("expected a datetime string, got {}", describe(v)));
                None
            }
        }
    }

    fn timestamps(&mut self) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        let (created, updated) = (self.datetime("created_at"), self.datetime("updated_at"));
        if let (Some(c), Some(u)) = (created, updated)
            && u < c
        {
            self.warn("updated_at", Check::UpdatedBeforeCreated, format!("{u} is before created_at {c}"));
        }
        (created, updated)
    }

    fn int_list(&mut self, name: &str) -> Option<Vec<i64>> {
        let items = match self.map.get(name) {
            None | Some(Value::Null) => {
                self.warn(name, Check::NullField, "missing or null, read as no items".into());
                return Some(Vec::new());
            }
            Some(Value::Array(items)) => items,
            Some(v) => {
                self.reject(name, Check::WrongType, format!("expected a list of integers, got {}", describe(v)));
                return None;
            }
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item.as_i64() {
                Some(id) => out.push(id),
                None => {
                    self.reject(name, Check::WrongType, format!("item {i}: expected an integer, got {}", describe(item)));
                    return None;
                }
            }
        }
        let mut sorted = out.clone();
        sorted.sort_unstable();
        sorted.dedup();
        if sorted.len() != out.len() {
            self.warn(name, Check::DuplicateItems, format!("{} repeated track ids", out.len() - sorted.len()));
        }
        Some(out)
    }
}

/// The JSON type of a value, for messages.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "list",
        Value::Object(_) => "object",
    }
}

/// A short description of a JSON value for messages: its type and a clipped rendering.
fn describe(v: &Value) -> String {
    let kind = kind(v);
    let mut text = v.to_string();
    if text.len() > 60 {
        let cut = (0..=60).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        text.truncate(cut);
        text.push('…');
    }
    format!("{kind} {text}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn track() -> Value {
        json!({"id": 17, "name": "Song", "artist": "A", "songwriters": "B", "duration": "03:25", "genres": "rock",
               "album": "X", "created_at": "2025-10-30T17:52:06.998307", "updated_at": "2025-11-01T08:00:00"})
    }

    fn checks(reasons: &[Issue]) -> Vec<(&str, Check)> {
        reasons.iter().map(|i| (i.field.as_str(), i.check)).collect()
    }

    #[test]
    fn a_clean_track_is_accepted_with_typed_fields() {
        let Validated::Accepted { record, warnings } = Track::validate(&track()) else { panic!() };
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(record.id, 17);
        assert_eq!(record.created_at.to_rfc3339(), "2025-10-30T17:52:06.998307+00:00");
        assert_eq!(record.updated_at.to_rfc3339(), "2025-11-01T08:00:00+00:00");
    }

    #[test]
    fn what_the_source_routinely_serves_is_warned_not_rejected() {
        let mut row = track();
        row["updated_at"] = json!("2024-01-01T00:00:00.5");
        row["name"] = Value::Null;
        row["genres"] = json!("  ");
        row["loudness"] = json!(-7.5);
        row.as_object_mut().unwrap().remove("album");
        let Validated::Accepted { warnings, .. } = Track::validate(&row) else { panic!("rejected") };
        let mut got = checks(&warnings);
        got.sort();
        assert_eq!(
            got,
            [
                ("album", Check::NullField),
                ("genres", Check::EmptyField),
                ("loudness", Check::UnknownField),
                ("name", Check::NullField),
                ("updated_at", Check::UpdatedBeforeCreated),
            ]
        );
    }

    #[test]
    fn rows_that_would_corrupt_tables_are_rejected_with_every_reason() {
        let mut row = track();
        row["id"] = json!("abc");
        row["created_at"] = json!("yesterday");
        row["artist"] = json!(42);
        let Validated::Rejected { reasons } = Track::validate(&row) else { panic!("accepted") };
        assert_eq!(checks(&reasons), [("id", Check::WrongType), ("artist", Check::WrongType), ("created_at", Check::BadDatetime)]);
        assert!(reasons[0].detail.contains("string \"abc\""), "{}", reasons[0].detail);

        for (mutate, expected) in [
            (json!({"id": null}), ("id", Check::MissingKey)),
            (json!({"id": 1.5}), ("id", Check::WrongType)),
            (json!({"updated_at": null}), ("updated_at", Check::MissingDatetime)),
            (json!({"updated_at": 1700000000}), ("updated_at", Check::WrongType)),
        ] {
            let mut row = track();
            for (k, v) in mutate.as_object().unwrap() {
                row[k] = v.clone();
            }
            let Validated::Rejected { reasons } = Track::validate(&row) else { panic!("{mutate} accepted") };
            assert_eq!(checks(&reasons), [expected]);
        }
        assert!(matches!(Track::validate(&json!([1, 2])), Validated::Rejected { .. }));
    }

    #[test]
    fn users_warn_on_unknown_genres_and_genders() {
        let user = json!({"id": 5, "first_name": "A", "last_name": "B", "email": "a@b.c", "gender": "Agender",
                          "favorite_genres": "Hip Hop", "created_at": "2025-01-01T00:00:00", "updated_at": "2025-06-01T00:00:00.1"});
        let Validated::Accepted { warnings, record } = User::validate(&user) else { panic!() };
        assert!(warnings.is_empty());
        assert_eq!(record.favorite_genres.as_deref(), Some("Hip Hop"));
        let mut odd = user.clone();
        odd["favorite_genres"] = json!("Polka");
        let Validated::Accepted { warnings, .. } = User::validate(&odd) else { panic!() };
        assert_eq!(checks(&warnings), [("favorite_genres", Check::UnknownValue)]);
    }

    #[test]
    fn listen_rows_need_a_user_and_integer_items() {
        let row = json!({"user_id": 9, "items": [3, 1, 2], "created_at": "2025-01-01T00:00:00", "updated_at": "2025-01-02T00:00:00"});
        let Validated::Accepted { record, .. } = ListenHistory::validate(&row) else { panic!() };
        assert_eq!((record.key(), record.items), (9, vec![3, 1, 2]));

        let mut no_user = row.clone();
        no_user["user_id"] = Value::Null;
        let Validated::Rejected { reasons } = ListenHistory::validate(&no_user) else { panic!() };
        assert_eq!(checks(&reasons), [("user_id", Check::MissingKey)]);

        let mut bad_items = row.clone();
        bad_items["items"] = json!("1,2,3");
        assert!(matches!(ListenHistory::validate(&bad_items), Validated::Rejected { .. }));
        bad_items["items"] = json!([1, "2"]);
        assert!(matches!(ListenHistory::validate(&bad_items), Validated::Rejected { .. }));

        let mut null_items = row.clone();
        null_items["items"] = Value::Null;
        let Validated::Accepted { record, warnings } = ListenHistory::validate(&null_items) else { panic!() };
        assert!(record.items.is_empty());
        assert_eq!(checks(&warnings), [("items", Check::NullField)]);

        let mut repeated = row;
        repeated["items"] = json!([4, 4, 5]);
        let Validated::Accepted { warnings, .. } = ListenHistory::validate(&repeated) else { panic!() };
        assert_eq!(checks(&warnings), [("items", Check::DuplicateItems)]);
    }

    #[test]
    fn durations_and_datetimes_parse_as_the_source_writes_them() {
        assert_eq!(duration_seconds("03:25"), Some(205));
        assert_eq!(duration_seconds("125:00"), Some(7500));
        for bad in ["3:5", "03:60", "", "ab:cd", "03:25:00", "-1:00"] {
            assert_eq!(duration_seconds(bad), None, "{bad}");
        }
        assert!(parse_datetime("2025-10-30T17:52:06").is_some());
        assert!(parse_datetime("2025-10-30T17:52:06.998307").is_some());
        assert_eq!(parse_datetime("2025-10-30T19:52:06+02:00"), parse_datetime("2025-10-30T17:52:06Z"));
        for bad in ["yesterday", "2025-10-30", "2025-13-30T00:00:00", ""] {
            assert_eq!(parse_datetime(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_common_iso_8601_forms_are_read_and_only_the_sources_own_is_canonical() {
        let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        for (text, want, canonical) in [
            ("2026-11-21T06:00:00", "2026-11-21T06:00:00Z", true),
            (
                "2026-11-21T06:00:00.123456",
                "2026-11-21T06:00:00.123456Z",
                true,
            ),
            ("2026-11-21 06:00:00", "2026-11-21T06:00:00Z", false),
            ("2026-11-21 06:00:00.5", "2026-11-21T06:00:00.5Z", false),
            ("2026-11-21t06:00:00", "2026-11-21T06:00:00Z", false),
            ("2026-11-21T06:00:00Z", "2026-11-21T06:00:00Z", false),
            ("2026-11-21 06:00:00z", "2026-11-21T06:00:00Z", false),
            ("2026-11-21T08:00:00+02:00", "2026-11-21T06:00:00Z", false),
            (
                "2026-11-21T08:30:00.25+0230",
                "2026-11-21T06:00:00.25Z",
                false,
            ),
            ("2026-11-21 01:00:00-05", "2026-11-21T06:00:00Z", false),
            ("2026-11-21T00:30:00+01:00", "2026-11-20T23:30:00Z", false),
        ] {
            assert_eq!(read_datetime(text), Some((at(want), canonical)), "{text}");
        }
        for bad in [
            "2026-11-21",
            "2026-11-21T06:00",
            "2026-11-21_06:00:00",
            "2026-11-21T06:00:00 UTC",
            "2026-11-21T06:00:00+24:00",
            "2026-11-21T06:00:00+2:00",
            "2026-11-21T06:00:00+02:0x",
            "2026-11-21T06:00:00.",
            "2026-11-21T25:00:00",
            "2026-02-30 06:00:00",
            "21/11/2026 06:00:00",
            "2026-11-21é06:00:00",
            "2026-11-21T06:00:00Zjunk",
            "2026-11-21T06:00:00+1é1",
            "2026-11-21T06:00:00+é",
            "2026-11-21T06:00:00+0é:0",
            "2026-11-21T06:00:00.é",
            "2026-11-21 06:00:é0",
        ] {
            assert_eq!(read_datetime(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_datetime_in_another_form_is_a_warning_and_an_unparsable_one_a_rejection() {
        let mut row = track();
        row["created_at"] = json!("2025-10-30 17:52:06");
        row["updated_at"] = json!("2025-11-01T09:00:00+01:00");
        let Validated::Accepted { record, warnings } = Track::validate(&row) else {
            panic!("rejected")
        };
        assert_eq!(
            checks(&warnings),
            [
                ("created_at", Check::DatetimeForm),
                ("updated_at", Check::DatetimeForm)
            ]
        );
        let Validated::Accepted {
            record: canonical, ..
        } = Track::validate(&track())
        else {
            panic!()
        };
        assert_eq!(
            record.created_at.timestamp(),
            canonical.created_at.timestamp(),
            "the same instant, fraction aside"
        );
        assert_eq!(record.updated_at, canonical.updated_at);
        row["updated_at"] = json!("2025-11-01 at 9");
        let Validated::Rejected { reasons } = Track::validate(&row) else {
            panic!("accepted")
        };
        assert_eq!(checks(&reasons), [("updated_at", Check::BadDatetime)]);
    }

    const REJECTIONS: [Check; 5] = [Check::NotAnObject, Check::MissingKey, Check::WrongType, Check::BadDatetime, Check::MissingDatetime];

    /// Every verdict is classified: accepted with warnings only, or rejected with at least one
    /// rejection reason; an accepted record's key is the row's.
    fn classified<R: Record>(row: &Value) -> Result<(), proptest::test_runner::TestCaseError> {
        match R::validate(row) {
            Validated::Accepted { record, warnings } => {
                proptest::prop_assert!(warnings.iter().all(|w| !REJECTIONS.contains(&w.check)), "{warnings:?}");
                proptest::prop_assert_eq!(Some(record.key()), row[R::ENTITY.key_field()].as_i64());
            }
            Validated::Rejected { reasons } => {
                proptest::prop_assert!(!reasons.is_empty());
                proptest::prop_assert!(reasons.iter().all(|r| REJECTIONS.contains(&r.check)), "{reasons:?}");
            }
        }
        Ok(())
    }

    /// A personal value that says so: a marked text, alone or inside a list or an object.
    fn personal_value() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        crate::arbitrary_json::text().prop_flat_map(|t| {
            let marked = format!("§pii§{t}");
            prop_oneof![Just(json!(marked.clone())), Just(json!([marked.clone()])), Just(json!({"v": marked}))]
        })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 1024, ..Default::default() })]

        #[test]
        fn any_row_is_accepted_or_rejected_with_its_reasons(row in proptest::prop_oneof![
            crate::arbitrary_json::json(),
            crate::arbitrary_json::object_with(Track::FIELDS),
            crate::arbitrary_json::object_with(User::FIELDS),
            crate::arbitrary_json::object_with(ListenHistory::FIELDS),
        ]) {
            classified::<Track>(&row)?;
            classified::<User>(&row)?;
            classified::<ListenHistory>(&row)?;
        }

        #[test]
        fn personal_values_are_never_quoted_and_redaction_removes_them(
            row in crate::arbitrary_json::object_with(User::FIELDS),
            email in personal_value(),
            first in personal_value(),
            last in personal_value(),
            as_list in proptest::prelude::any::<bool>(),
        ) {
            let mut row = row;
            for (field, value) in [("email", email), ("first_name", first), ("last_name", last)] {
                row[field] = value;
            }
            let row = if as_list { json!([row]) } else { row };
            let issues = match User::validate(&row) {
                Validated::Accepted { warnings, .. } => warnings,
                Validated::Rejected { reasons } => reasons,
            };
            for issue in &issues {
                proptest::prop_assert!(!issue.detail.contains("§pii§"), "{issue}");
            }
            proptest::prop_assert!(!redact_personal::<User>(&row).to_string().contains("§pii§"));
        }
    }
}
