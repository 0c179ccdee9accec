//! Reading a row field by field, recording warnings and rejections, never quoting personal values.

use super::check::{Check, Issue};
use super::common::{CommonRow, Scalar};
use super::datetime::read_datetime;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// A row as the checks read it: a parsed JSON value, or the row's text read straight into its
/// common shape ([`CommonRow`]). Both give every check the same answer.
#[derive(Clone, Copy)]
pub(super) enum Row<'a> {
    Json(&'a Map<String, Value>),
    Common(&'a CommonRow<'a>),
}

/// One field as the checks see it: the kinds they branch on, and any other JSON value.
enum Field<'v> {
    Null,
    Int(i64),
    Text(&'v str),
    Ints(&'v [i64]),
    Other(&'v Value),
}

impl Field<'_> {
    /// The field as a JSON value, for a message.
    fn to_value(&self) -> Value {
        match self {
            Field::Null => Value::Null,
            Field::Int(i) => Value::from(*i),
            Field::Text(s) => Value::from(*s),
            Field::Ints(items) => Value::from(items.to_vec()),
            Field::Other(v) => (*v).clone(),
        }
    }
}

impl<'a> Row<'a> {
    fn get(&self, name: &str) -> Option<Field<'a>> {
        match *self {
            Row::Json(map) => map.get(name).map(|v| match v {
                Value::Null => Field::Null,
                Value::String(s) => Field::Text(s),
                Value::Number(n) => n.as_i64().map_or(Field::Other(v), Field::Int),
                v => Field::Other(v),
            }),
            Row::Common(row) => row.get(name).map(|v| match v {
                Scalar::Null => Field::Null,
                Scalar::Int(i) => Field::Int(*i),
                Scalar::Text(s) => Field::Text(s),
                Scalar::Ints(items) => Field::Ints(items),
            }),
        }
    }

    /// The row's field names, sorted (the order of unknown-field warnings).
    pub(super) fn names(&self) -> Vec<&'a str> {
        let mut names: Vec<&str> = match *self {
            Row::Json(map) => map.keys().map(String::as_str).collect(),
            Row::Common(row) => row.names().collect(),
        };
        names.sort_unstable();
        names
    }
}

/// The field-by-field reader that records warnings and rejections as it goes.
pub struct Fields<'a> {
    pub(super) row: Row<'a>,
    /// Fields whose values an issue never quotes.
    pub(super) personal: &'static [&'static str],
    pub(super) warnings: Vec<Issue>,
    pub(super) rejections: Vec<Issue>,
}

impl Fields<'_> {
    /// A value for a message: its kind and a clipped rendering, or only its kind for a personal field.
    fn describe(&self, field: &str, v: &Field<'_>) -> String {
        let v = v.to_value();
        if self.personal.contains(&field) { format!("{} (a personal field: value not shown)", kind(&v)) } else { describe(&v) }
    }

    pub(super) fn warn(&mut self, field: &str, check: Check, detail: String) {
        self.warnings.push(Issue { field: field.to_owned(), check, detail });
    }

    pub(super) fn reject(&mut self, field: &str, check: Check, detail: String) {
        self.rejections.push(Issue { field: field.to_owned(), check, detail });
    }

    pub(super) fn key(&mut self, name: &str) -> Option<i64> {
        match self.row.get(name) {
            None | Some(Field::Null) => {
                self.reject(name, Check::MissingKey, "the row has no identifier".into());
                None
            }
            Some(Field::Int(i)) => Some(i),
            Some(v) => {
                self.reject(name, Check::WrongType, format!("expected an integer, got {}", describe(&v.to_value())));
                None
            }
        }
    }

    /// An optional text field: null or missing is a warning, another type a rejection.
    pub(super) fn text(&mut self, name: &str) -> Option<String> {
        match self.row.get(name) {
            None => {
                self.warn(name, Check::NullField, "missing".into());
                None
            }
            Some(Field::Null) => {
                self.warn(name, Check::NullField, "null".into());
                None
            }
            Some(Field::Text(s)) => {
                if s.trim().is_empty() {
                    self.warn(name, Check::EmptyField, "empty text".into());
                }
                Some(s.to_owned())
            }
            Some(v) => {
                self.reject(name, Check::WrongType, format!("expected text, got {}", self.describe(name, &v)));
                None
            }
        }
    }

    pub(super) fn one_of(&mut self, name: &str, allowed: &[&str]) -> Option<String> {
        let value = self.text(name)?;
        if !allowed.contains(&value.as_str()) {
            self.warn(name, Check::UnknownValue, format!("{value:?} is not one of the known values"));
        }
        Some(value)
    }

    pub(super) fn datetime(&mut self, name: &str) -> Option<DateTime<Utc>> {
        match self.row.get(name) {
            None | Some(Field::Null) => {
                self.reject(name, Check::MissingDatetime, "missing or null".into());
                None
            }
            Some(Field::Text(s)) => match read_datetime(s) {
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
                self.reject(name, Check::WrongType, format!("expected a datetime string, got {}", describe(&v.to_value())));
                None
            }
        }
    }

    pub(super) fn timestamps(&mut self) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        let (created, updated) = (self.datetime("created_at"), self.datetime("updated_at"));
        if let (Some(c), Some(u)) = (created, updated)
            && u < c
        {
            self.warn("updated_at", Check::UpdatedBeforeCreated, format!("{u} is before created_at {c}"));
        }
        (created, updated)
    }

    pub(super) fn int_list(&mut self, name: &str) -> Option<Vec<i64>> {
        let out = match self.row.get(name) {
            None | Some(Field::Null) => {
                self.warn(name, Check::NullField, "missing or null, read as no items".into());
                return Some(Vec::new());
            }
            Some(Field::Ints(items)) => items.to_vec(),
            Some(Field::Other(Value::Array(items))) => {
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
                out
            }
            Some(v) => {
                self.reject(name, Check::WrongType, format!("expected a list of integers, got {}", describe(&v.to_value())));
                return None;
            }
        };
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
pub(super) fn kind(v: &Value) -> &'static str {
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
pub(super) fn describe(v: &Value) -> String {
    let kind = kind(v);
    let mut text = v.to_string();
    if text.len() > 60 {
        let cut = (0..=60).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        text.truncate(cut);
        text.push('…');
    }
    format!("{kind} {text}")
}
