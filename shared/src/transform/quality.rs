//! Data quality of the transform: which checks block a row (quarantine) and which only warn, their counts, the thresholds and the run's report.
//!
//! Blocking checks send the row (or listen item) to `quarantine/curated_<table>/dt=D/` with its
//! reasons and keep it out of the curated table:
//!
//! | check | table | what is quarantined |
//! | --- | --- | --- |
//! | `invalid_row` | all | a raw row the typed validation rejects (fetch already refused those; defence in depth) |
//! | `duplicate_key` | all | the second and later rows of a key (`id`, or `user_id` for listen history); the first is kept |
//! | `unknown_user` | listen_events | a listen-history row whose `user_id` is not in today's users: the whole row |
//! | `unknown_track` | listen_events | one listen item whose track id is not in today's tracks: that item only |
//!
//! Warnings are counted, reported and emitted as `DqWarnings{Check}`, and the row is kept:
//! `null_field`, `empty_field` (a null or blank business field; an empty `items` list),
//! `updated_before_created`, `bad_duration`, `unknown_value`, `duplicate_items`,
//! `unknown_field` (schema drift: the field names are counted in the report), and
//! `row_count_change` (a table's rows moved by more than `DQ_MAX_ROW_COUNT_CHANGE` versus the
//! previous date).
//!
//! The run fails, committing nothing, when one table's quarantined share of its input exceeds
//! `DQ_MAX_QUARANTINE_SHARE` (a share equal to the threshold passes); the rows fetch already
//! rejected for the date count as quarantined input too. For `listen_events` the unit is the
//! listen item: a quarantined row counts its items, and a row without items counts as one. It
//! also fails when a table's current rows (listen_events: rows) fall by more than
//! `DQ_MAX_CURRENT_DROP` versus the previous date.
//!
//! A key whose row was rejected (here or at fetch) is *unknown* today, not absent: its previous
//! state is carried forward (see [`super::scd2`] and [`super::listen_events`]) and counted in
//! `carried_forward`; a rejected row whose key cannot be read cannot be carried and is counted in
//! `uncarriable`.

use super::scd2::MergeStats;
use crate::codec::jsonl::Lines;
use crate::quarantine::{QuarantineLine, QuarantineReason};
use crate::curated::TableName;
use crate::records::{Check, Issue};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

// The transform's checks share one list with the validation's ([`Check`]): a warning keeps its name
// from the row's issue to the report, and a quarantine file's `check` column has one vocabulary.
impl Check {
    /// Sends the row (or listen item) to quarantine rather than only warning.
    pub fn is_blocking(self) -> bool {
        self.is_rejection() || matches!(self, Check::InvalidRow | Check::DuplicateKey | Check::UnknownUser | Check::UnknownTrack)
    }

    /// The check a validation issue of an accepted row counts as: itself for a warning.
    pub fn counted_as(self) -> Check {
        // Rejections never reach here (the row is invalid), but map them safely.
        if self.is_rejection() { Check::InvalidRow } else { self }
    }
}

/// Distinct unknown field names reported per table; more are counted under `"…"`.
const MAX_UNKNOWN_FIELD_NAMES: usize = 50;

/// One table's data quality for the run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TableQuality {
    /// Units read from raw: rows (listen_events: items, a row without items counting as one).
    pub rows_in: u64,
    /// Units fetch rejected for the date (`quarantine/<entity>/`), counted into the share.
    pub upstream_rejected: u64,
    /// Keys (listen_events: users) whose row was rejected and whose previous state was kept.
    pub carried_forward: u64,
    /// Rejected rows (here or at fetch) whose key could not be read, so nothing could be carried.
    pub uncarriable: u64,
    /// Units sent to quarantine.
    pub quarantined: u64,
    /// `quarantined / rows_in` (0 for an empty input).
    pub quarantine_share: f64,
    pub quarantined_by_check: BTreeMap<Check, u64>,
    /// Rows kept that carried at least one warning.
    pub warned_rows: u64,
    pub warnings_by_check: BTreeMap<Check, u64>,
    /// Schema drift: fields not in the known schema, with the number of rows carrying each.
    pub unknown_fields: BTreeMap<String, u64>,
    /// The table's rows today and on the previous date (tracks, users: current rows).
    pub row_count: Option<RowCount>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RowCount {
    pub today: u64,
    pub previous: Option<u64>,
    /// `|today - previous| / previous`; null without a previous count or when it was 0.
    pub change: Option<f64>,
}

impl TableQuality {
    pub fn count_in(&mut self, units: u64) {
        self.rows_in += units;
    }

    pub fn quarantine(&mut self, check: Check, units: u64) {
        self.quarantined += units;
        *self.quarantined_by_check.entry(check).or_default() += units;
    }

    pub fn warn(&mut self, check: Check) {
        *self.warnings_by_check.entry(check).or_default() += 1;
    }

    /// Counts an accepted row's validation warnings (and its unknown fields' names).
    pub fn warn_row(&mut self, issues: &[Issue]) {
        if !issues.is_empty() {
            self.warned_rows += 1;
        }
        for issue in issues {
            self.warn(issue.check.counted_as());
            if issue.check == Check::UnknownField {
                let name = if self.unknown_fields.len() < MAX_UNKNOWN_FIELD_NAMES || self.unknown_fields.contains_key(&issue.field) {
                    issue.field.clone()
                } else {
                    "…".to_owned()
                };
                *self.unknown_fields.entry(name).or_default() += 1;
            }
        }
    }

    pub fn warnings(&self) -> u64 {
        self.warnings_by_check.values().sum()
    }

    /// Computes the share (fetch's rejections included), and fails when it is above `max`.
    pub fn check_share(&mut self, table: TableName, max: f64) -> Result<(), QuarantineExceeded> {
        let (refused, input) = (
            self.quarantined + self.upstream_rejected,
            self.rows_in + self.upstream_rejected,
        );
        self.quarantine_share = if input == 0 {
            0.0
        } else {
            refused as f64 / input as f64
        };
        if self.quarantine_share > max {
            let mut by_check: Vec<String> = self
                .quarantined_by_check
                .iter()
                .map(|(r, n)| format!("{} {n}", r.as_str()))
                .collect();
            if self.upstream_rejected > 0 {
                by_check.push(format!("rejected by fetch {}", self.upstream_rejected));
            }
            return Err(QuarantineExceeded {
                table,
                share: self.quarantine_share,
                max,
                quarantined: refused,
                rows_in: input,
                by_check: by_check.join(", "),
            });
        }
        Ok(())
    }

    /// Warns when today's rows moved too far from the previous date's.
    pub fn compare_rows(&mut self, today: u64, previous: Option<u64>, max_change: f64) {
        let change = previous.filter(|&p| p > 0).map(|p| (today as f64 - p as f64).abs() / p as f64);
        let jumped = match (previous, change) {
            (_, Some(c)) => c > max_change,
            (Some(0), None) => today > 0,
            _ => false,
        };
        if jumped {
            self.warn(Check::RowCountChange);
        }
        self.row_count = Some(RowCount { today, previous, change });
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "{table}: {quarantined} of {rows_in} input rows quarantined ({:.2}%), above DQ_MAX_QUARANTINE_SHARE={max} ({by_check}); nothing was committed. Look at the source's data, then re-run the date (or raise the threshold)",
    share * 100.0
)]
pub struct QuarantineExceeded {
    pub table: TableName,
    pub share: f64,
    pub max: f64,
    pub quarantined: u64,
    pub rows_in: u64,
    pub by_check: String,
}

/// The fall of a table's current rows versus the previous date: `(previous - today) / previous`,
/// 0 when they did not fall or there is no previous count.
pub fn current_drop(today: u64, previous: Option<u64>) -> f64 {
    match previous {
        Some(p) if p > today => (p - today) as f64 / p as f64,
        _ => 0.0,
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "{table}: {today} current rows against {previous} on the previous date, a fall of {:.2}%, above DQ_MAX_CURRENT_DROP={max}; nothing was committed. Look at the source (rows it stopped serving), then re-run the date, or raise the threshold if the fall is real",
    drop * 100.0
)]
pub struct CurrentRowsDropped {
    pub table: TableName,
    pub today: u64,
    pub previous: u64,
    pub drop: f64,
    pub max: f64,
}

/// One table's quarantined rows, as gzipped JSON lines in memory until the run commits.
#[derive(Debug, Default)]
pub struct QuarantineBuffer {
    lines: Lines,
}

impl QuarantineBuffer {
    pub fn push(&mut self, source: &str, line: u64, reasons: &[QuarantineReason], row: &serde_json::Value) {
        self.lines.push(&QuarantineLine { source, line, reasons, row });
    }

    /// Rows quarantined so far.
    pub fn rows(&self) -> u64 {
        self.lines.rows()
    }

    /// The gzipped lines, or `None` when nothing was quarantined.
    pub fn finish(self) -> Option<Vec<u8>> {
        (self.lines.rows() > 0).then(|| self.lines.finish())
    }
}

/// The run's data-quality report: the committed run manifest's `details.dq_report`.
#[derive(Debug, Clone, Serialize)]
pub struct DqReport {
    pub date: NaiveDate,
    /// The date whose curated tables this run merged onto (`null` on the first date).
    pub previous_date: Option<NaiveDate>,
    pub as_of: DateTime<Utc>,
    pub max_quarantine_share: f64,
    pub max_row_count_change: f64,
    pub max_current_drop: f64,
    /// The largest fall of a table's current rows versus the previous date.
    pub current_drop: f64,
    /// Rows fetch already refused for this date (in `quarantine/<entity>/`), by entity.
    pub upstream_rejected: BTreeMap<String, u64>,
    pub tables: BTreeMap<TableName, TableQuality>,
    /// SCD2 outcome of the history tables.
    pub history: BTreeMap<TableName, MergeStats>,
    /// The largest table share.
    pub quarantine_share: f64,
    pub warnings: u64,
}

impl DqReport {
    pub fn warnings_by_check(&self) -> BTreeMap<Check, u64> {
        let mut all = BTreeMap::new();
        for t in self.tables.values() {
            for (check, n) in &t.warnings_by_check {
                *all.entry(*check).or_default() += n;
            }
        }
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::GzDecoder;
    use std::io::Read;

    #[test]
    fn the_share_at_the_threshold_passes_and_just_above_fails() {
        let mut at = TableQuality { rows_in: 100, ..Default::default() };
        at.quarantine(Check::DuplicateKey, 5);
        assert!(at.check_share(TableName::Users, 0.05).is_ok());
        assert_eq!(at.quarantine_share, 0.05);
        let mut above = at.clone();
        above.quarantine(Check::UnknownUser, 1);
        let err = above.check_share(TableName::Users, 0.05).unwrap_err();
        assert_eq!((err.quarantined, err.rows_in), (6, 100));
        let text = err.to_string();
        assert!(
            text.contains("users")
                && text.contains("6.00%")
                && text.contains("duplicate_key 5, unknown_user 1")
                && text.contains("nothing was committed"),
            "{text}"
        );
        assert!(
            TableQuality::default().check_share(TableName::Tracks, 0.0).is_ok(),
            "an empty input passes"
        );

        // What fetch rejected counts too: 3 quarantined here + 3 at fetch of 100 + 3.
        let mut upstream = TableQuality {
            rows_in: 100,
            upstream_rejected: 3,
            ..Default::default()
        };
        upstream.quarantine(Check::InvalidRow, 3);
        let err = upstream.check_share(TableName::Users, 0.05).unwrap_err();
        assert_eq!((err.quarantined, err.rows_in), (6, 103));
        assert!(err.to_string().contains("rejected by fetch 3"), "{err}");
    }

    #[test]
    fn the_current_drop_counts_only_falls() {
        assert_eq!(current_drop(90, Some(100)), 0.1);
        assert_eq!(current_drop(110, Some(100)), 0.0);
        assert_eq!(current_drop(0, Some(0)), 0.0);
        assert_eq!(current_drop(5, None), 0.0);
        assert_eq!(current_drop(0, Some(4)), 1.0);
    }

    #[test]
    fn row_count_changes_beyond_the_threshold_warn() {
        for (today, previous, warns) in [(120, Some(100), false), (121, Some(100), true), (79, Some(100), true), (80, Some(100), false), (5, None, false), (5, Some(0), true), (0, Some(0), false)] {
            let mut q = TableQuality::default();
            q.compare_rows(today, previous, 0.2);
            assert_eq!(q.warnings_by_check.contains_key(&Check::RowCountChange), warns, "{today} vs {previous:?}");
        }
    }

    #[test]
    fn warnings_are_counted_per_check_and_unknown_fields_by_name() {
        let issue = |field: &str, check| Issue { field: field.into(), check, detail: String::new() };
        let mut q = TableQuality::default();
        q.warn_row(&[issue("name", Check::NullField), issue("loudness", Check::UnknownField)]);
        q.warn_row(&[issue("loudness", Check::UnknownField)]);
        q.warn_row(&[]);
        assert_eq!(q.warned_rows, 2);
        assert_eq!(q.warnings_by_check, BTreeMap::from([(Check::NullField, 1), (Check::UnknownField, 2)]));
        assert_eq!(q.unknown_fields, BTreeMap::from([("loudness".to_owned(), 2)]));
        for i in 0..100 {
            q.warn_row(&[issue(&format!("f{i}"), Check::UnknownField)]);
        }
        assert_eq!(q.unknown_fields.len(), MAX_UNKNOWN_FIELD_NAMES + 1, "bounded, the rest under …");
        assert!(Check::DuplicateKey.is_blocking() && !Check::UpdatedBeforeCreated.is_blocking());
    }

    #[test]
    fn quarantine_lines_carry_source_line_reasons_and_row() {
        let mut b = QuarantineBuffer::default();
        b.push("raw/x/part-0.jsonl.gz", 3, &[QuarantineReason::new(Check::DuplicateKey, "id", "id 7 appears again".into())], &serde_json::json!({"id": 7}));
        let gz = b.finish().unwrap();
        let mut text = String::new();
        GzDecoder::new(&gz[..]).read_to_string(&mut text).unwrap();
        let line: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(line["line"], 3);
        assert_eq!(line["reasons"][0]["check"], "duplicate_key");
        assert_eq!(line["row"]["id"], 7);
        assert!(QuarantineBuffer::default().finish().is_none());
    }
}
