//! One raw row classified: parsed, validated and de-duplicated, or quarantined with its reasons.

use super::quality::{QuarantineBuffer, TableQuality};
use crate::quarantine::QuarantineReason;
use crate::records::{Check, Issue, Record, Validated};
use serde_json::Value;

/// The keys whose row was rejected today (at fetch or here): their previous state is carried.
#[derive(Debug, Default)]
pub(super) struct Rejected {
    pub(super) keys: Vec<i64>,
}

impl Rejected {
    /// Notes a rejected row: its key when it has a readable one, else it is uncarriable.
    pub(super) fn row(&mut self, row: &Value, key_field: &str, quality: &mut TableQuality) {
        match row.get(key_field).and_then(Value::as_i64) {
            Some(key) => self.keys.push(key),
            None => quality.uncarriable += 1,
        }
    }
}

/// One raw row parsed and validated, before the run's state sees it: pure, so rows are parsed
/// on every core ([`super::raw_lines::for_each_parsed`]) and then classified in order. The
/// row's `Value` is dropped here; the rare paths that quarantine an accepted row parse its text again.
pub(super) enum Parsed<R> {
    NotJson(String),
    Rejected { value: Value, reasons: Vec<Issue>, units: u64 },
    Accepted { record: R, warnings: Vec<Issue>, units: u64 },
}

pub(super) fn parse<R: Record>(text: &[u8], units: fn(&Value) -> u64) -> Parsed<R> {
    if let Some((record, warnings)) = R::accept_common(text) {
        return Parsed::Accepted { units: record.units(), record, warnings };
    }
    let value: Value = match serde_json::from_slice(text) {
        Ok(v) => v,
        Err(e) => return Parsed::NotJson(format!("not JSON: {e}")),
    };
    let units = units(&value);
    match R::validate(&value) {
        Validated::Rejected { reasons } => Parsed::Rejected { value, reasons, units },
        Validated::Accepted { record, warnings } => Parsed::Accepted { record, warnings, units },
    }
}

/// The JSON of an accepted raw line, for quarantine; its text when it does not parse as a `Value`
/// (none should: [`Record::accept_common`] leaves such rows to the `Value`).
pub(super) fn value_of(text: &[u8]) -> Value {
    serde_json::from_slice(text).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(text).into_owned()))
}

/// Counts and de-duplicates one parsed raw row; quarantines it (returning `None`) when it is
/// not JSON, failed validation, or repeats a key already seen today.
#[allow(clippy::too_many_arguments)]
pub(super) fn classify<R: Record>(
    seen: &mut foldhash::HashSet<i64>,
    rejected: &mut Rejected,
    quality: &mut TableQuality,
    quarantine: &mut QuarantineBuffer,
    source: &str,
    line: u64,
    text: &[u8],
    parsed: Parsed<R>,
    redact: &dyn Fn(&Value) -> Value,
) -> Option<(R, Vec<Issue>)> {
    match parsed {
        Parsed::NotJson(detail) => {
            quality.count_in(1);
            quality.quarantine(Check::InvalidRow, 1);
            quality.uncarriable += 1;
            let row = redact(&Value::String(String::from_utf8_lossy(text).into_owned()));
            quarantine.push(source, line, &[QuarantineReason::new(Check::InvalidRow, "", detail)], &row);
            None
        }
        Parsed::Rejected { value, reasons, units } => {
            quality.count_in(units);
            quality.quarantine(Check::InvalidRow, units);
            rejected.row(&value, R::ENTITY.key_field(), quality);
            quarantine.push(
                source,
                line,
                &reasons.iter().map(QuarantineReason::from_issue).collect::<Vec<_>>(),
                &redact(&value),
            );
            None
        }
        Parsed::Accepted { record, warnings, units } => {
            quality.count_in(units);
            let key = record.key();
            if !seen.insert(key) {
                let field = R::ENTITY.key_field();
                quality.quarantine(Check::DuplicateKey, units);
                let reason = QuarantineReason::new(Check::DuplicateKey, field, format!("{field} {key} appears again today; the first row is kept"));
                quarantine.push(source, line, &[reason], &redact(&value_of(text)));
                return None;
            }
            Some((record, warnings))
        }
    }
}

pub(super) fn one_unit(_: &Value) -> u64 {
    1
}

/// A listen-history row counts its items, and one when it has none.
pub(super) fn listen_units(row: &Value) -> u64 {
    row.get("items").and_then(Value::as_array).map_or(1, |items| items.len().max(1) as u64)
}

pub(super) fn as_is(row: &Value) -> Value {
    row.clone()
}

