//! The history columns of the SCD2 tables (`tracks`, `users`): one [`Version`] of a row, and its columns in a file.
//!
//! How versions are decided is [`crate::transform::scd2`]; this is what they are.

use super::Hash256;
use crate::codec::arrow::{Columns, flags, micros, opt_time_at, opt_times, text_at, time_at, times};
use crate::codec::{Column, Kind};
use arrow_array::{ArrayRef, BooleanArray, StringArray, TimestampMicrosecondArray};
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// A business row with a key and a hash of its business columns.
pub trait Versioned {
    fn key(&self) -> i64;
    fn row_hash(&self) -> Hash256;
}

/// One version of a row in a history table.
#[derive(Debug, Clone, PartialEq)]
pub struct Version<R> {
    pub row: R,
    pub valid_from: DateTime<Utc>,
    /// Null while the version is current.
    pub valid_to: Option<DateTime<Utc>>,
    /// When the source served this version (the raw run that first held it).
    pub ingested_at: DateTime<Utc>,
    /// Current only because today's row for the key was rejected: the state is yesterday's.
    pub carried_forward: bool,
}

impl<R> Version<R> {
    pub fn is_current(&self) -> bool {
        self.valid_to.is_none()
    }
}

pub const VALID_FROM: Column = Column::required("valid_from", Kind::Timestamp);
pub const VALID_TO: Column = Column::nullable("valid_to", Kind::Timestamp);
pub const IS_CURRENT: Column = Column::required("is_current", Kind::Boolean);
pub const ROW_HASH: Column = Column::required("row_hash", Kind::Text);
pub const INGESTED_AT: Column = Column::required("ingested_at", Kind::Timestamp);
pub const CARRIED_FORWARD: Column = Column::required("carried_forward", Kind::Boolean).added_later();

/// The columns after a history table's business columns, in file order.
pub const COLUMNS: [Column; 6] = [VALID_FROM, VALID_TO, IS_CURRENT, ROW_HASH, INGESTED_AT, CARRIED_FORWARD];

/// The history columns of a batch of versions.
pub(super) fn to_arrays<R: Versioned>(rows: &[Version<R>]) -> [ArrayRef; 6] {
    [
        times(rows.iter().map(|v| micros(v.valid_from))),
        opt_times(rows.iter().map(|v| v.valid_to.map(micros))),
        flags(rows.iter().map(Version::is_current)),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|v| v.row.row_hash().to_hex()))),
        times(rows.iter().map(|v| micros(v.ingested_at))),
        flags(rows.iter().map(|v| v.carried_forward)),
    ]
}

/// A hex digest column read back.
pub(super) fn hash_at(a: &StringArray, i: usize, column: Column) -> Result<Hash256, String> {
    text_at(a, i).and_then(Hash256::from_hex).ok_or_else(|| format!("row {i}: `{}` is not a SHA-256 hex digest", column.name))
}

/// The history columns of a batch, read back.
pub(super) struct HistoryColumns<'a> {
    valid_from: &'a TimestampMicrosecondArray,
    valid_to: &'a TimestampMicrosecondArray,
    is_current: &'a BooleanArray,
    pub(super) row_hash: &'a StringArray,
    ingested_at: &'a TimestampMicrosecondArray,
    carried_forward: Option<&'a BooleanArray>,
}

impl<'a> HistoryColumns<'a> {
    pub(super) fn new(c: &Columns<'a>) -> Result<Self, String> {
        Ok(Self {
            valid_from: c.time(VALID_FROM)?,
            valid_to: c.time(VALID_TO)?,
            is_current: c.bool(IS_CURRENT)?,
            row_hash: c.text(ROW_HASH)?,
            ingested_at: c.time(INGESTED_AT)?,
            carried_forward: c.flag_or_false(CARRIED_FORWARD)?,
        })
    }

    pub(super) fn row_hash(&self, i: usize) -> Result<Hash256, String> {
        hash_at(self.row_hash, i, ROW_HASH)
    }

    pub(super) fn version<R>(&self, i: usize, row: R) -> Result<Version<R>, String> {
        let v = Version {
            row,
            valid_from: time_at(self.valid_from, i, VALID_FROM)?,
            valid_to: opt_time_at(self.valid_to, i),
            ingested_at: time_at(self.ingested_at, i, INGESTED_AT)?,
            carried_forward: self.carried_forward.is_some_and(|a| a.value(i)),
        };
        if self.is_current.value(i) != v.is_current() {
            return Err(format!("row {i}: is_current disagrees with valid_to"));
        }
        Ok(v)
    }
}
