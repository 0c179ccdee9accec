//! The validation every record kind shares, and the redaction of a row for quarantine.

use super::check::{Check, Issue, Validated};
use super::entity::Entity;
use super::fields::{Fields, describe, kind};
use serde_json::Value;

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
