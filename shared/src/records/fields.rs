//! Reading a row field by field, recording warnings and rejections, never quoting personal values.

use super::check::{Check, Issue};
use super::datetime::read_datetime;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

/// The field-by-field reader that records warnings and rejections as it goes.
pub struct Fields<'a> {
    pub(super) map: &'a Map<String, Value>,
    /// Fields whose values an issue never quotes.
    pub(super) personal: &'static [&'static str],
    pub(super) warnings: Vec<Issue>,
    pub(super) rejections: Vec<Issue>,
}

impl Fields<'_> {
    /// A value for a message: its kind and a clipped rendering, or only its kind for a personal field.
    fn describe(&self, field: &str, v: &Value) -> String {
        if self.personal.contains(&field) { format!("{} (a personal field: value not shown)", kind(v)) } else { describe(v) }
    }

    pub(super) fn warn(&mut self, field: &str, check: Check, detail: String) {
        self.warnings.push(Issue { field: field.to_owned(), check, detail });
    }

    pub(super) fn reject(&mut self, field: &str, check: Check, detail: String) {
        self.rejections.push(Issue { field: field.to_owned(), check, detail });
    }

    pub(super) fn key(&mut self, name: &str) -> Option<i64> {
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
    pub(super) fn text(&mut self, name: &str) -> Option<String> {
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

    pub(super) fn one_of(&mut self, name: &str, allowed: &[&str]) -> Option<String> {
        let value = self.text(name)?;
        if !allowed.contains(&value.as_str()) {
            self.warn(name, Check::UnknownValue, format!("{value:?} is not one of the known values"));
        }
        Some(value)
    }

    pub(super) fn datetime(&mut self, name: &str) -> Option<DateTime<Utc>> {
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
