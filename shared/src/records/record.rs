//! The validation every record kind shares, and the redaction of a row for quarantine.

use super::check::{Check, Issue, Validated};
use super::entity::Entity;
use super::common::CommonRow;
use super::fields::{Fields, Row, describe, kind};
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

    /// How many units the row counts for in the quality figures (a listen history: its items).
    fn units(&self) -> u64 {
        1
    }

    /// Validates one JSON row as served.
    fn validate(row: &Value) -> Validated<Self> {
        let Some(map) = row.as_object() else {
            // A row that is not an object cannot be searched for personal fields: only its kind.
            let detail = if Self::PERSONAL.is_empty() { describe(row) } else { kind(row).to_owned() };
            let reason = Issue { field: String::new(), check: Check::NotAnObject, detail };
            return Validated::Rejected { reasons: vec![reason] };
        };
        verdict(Row::Json(map))
    }

    /// The record and its warnings read straight from the row's text, when the row has the
    /// common shape and is accepted ([`CommonRow`]); `None` otherwise, and [`Record::validate`]
    /// of its `Value` decides. A record given here is what `validate` gives.
    fn accept_common(text: &[u8]) -> Option<(Self, Vec<Issue>)> {
        let row = CommonRow::read(text)?;
        match verdict::<Self>(Row::Common(&row)) {
            Validated::Accepted { record, warnings } => Some((record, warnings)),
            Validated::Rejected { .. } => None,
        }
    }
}

/// The checks of one row, field by field, then its unknown fields.
fn verdict<R: Record>(row: Row<'_>) -> Validated<R> {
    let mut fields = Fields { row, personal: R::PERSONAL, warnings: Vec::new(), rejections: Vec::new() };
    let record = R::from_fields(&mut fields);
    for name in row.names().into_iter().filter(|k| !R::FIELDS.contains(k)) {
        fields.warn(name, Check::UnknownField, "not in the known schema (schema drift)".into());
    }
    match record {
        Some(record) if fields.rejections.is_empty() => Validated::Accepted { record, warnings: fields.warnings },
        _ => Validated::Rejected { reasons: fields.rejections },
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
