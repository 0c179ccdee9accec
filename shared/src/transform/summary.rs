//! What a transform run reports: per table and in all (the function's response).

use super::quality::DqReport;
use crate::curated::TableName;
use crate::manifest::{FetchStarted, Manifest};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

/// What one table got.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TableSummary {
    /// Input units (rows; listen_events: items).
    pub rows_in: u64,
    /// Rows written (history tables: every version).
    pub rows_out: u64,
    pub quarantined: u64,
    pub warnings: u64,
    /// Keys (listen_events: users) whose row was rejected today and whose previous state was kept.
    pub carried_forward: u64,
    /// History tables: current rows, versions opened and closed today.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new_versions: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closed_versions: Option<u64>,
}

/// What a transform run did; the function's response.
#[derive(Debug, Clone, Serialize)]
pub struct TransformSummary {
    pub date: NaiveDate,
    pub run_id: String,
    pub previous_date: Option<NaiveDate>,
    pub as_of: DateTime<Utc>,
    pub tables: BTreeMap<TableName, TableSummary>,
    /// The largest quarantined share of one table's input.
    pub quarantine_share: f64,
    pub warnings: u64,
    pub run_manifest: String,
    pub manifests: Vec<String>,
    pub removed_stale_objects: usize,
    pub duration_ms: u64,
}

/// The details transform's run manifest records.
#[derive(Debug, Serialize)]
pub struct RunDetails<'a> {
    pub dq_report: &'a DqReport,
    #[serde(flatten)]
    pub fetch: FetchStarted,
    /// How many buckets of users a fanned run was processed in ([`super::fanout`]); absent for a
    /// run in one invocation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buckets: Option<u32>,
}

/// The counts a curated partition's manifest records, typed: the next date reads `rows` and
/// (history tables) `current` back for its row-count checks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableCounts {
    pub rows: u64,
    pub rows_in: u64,
    pub quarantined: u64,
    pub warned: u64,
    pub carried_forward: u64,
    pub history: Option<HistoryCounts>,
}

/// The counts only history tables record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HistoryCounts {
    pub current: u64,
    pub new_versions: u64,
    pub closed_versions: u64,
}

impl TableCounts {
    /// The manifest's `counts`.
    pub fn to_map(&self) -> BTreeMap<String, u64> {
        let mut counts = BTreeMap::from([
            ("rows".to_owned(), self.rows),
            ("rows_in".to_owned(), self.rows_in),
            ("quarantined".to_owned(), self.quarantined),
            ("warned".to_owned(), self.warned),
            ("carried_forward".to_owned(), self.carried_forward),
        ]);
        if let Some(h) = &self.history {
            counts.extend([
                ("current".to_owned(), h.current),
                ("new_versions".to_owned(), h.new_versions),
                ("closed_versions".to_owned(), h.closed_versions),
            ]);
        }
        counts
    }

    /// Read back from a manifest; a count it lacks is 0, and the history counts are there when
    /// `current` is.
    pub fn from_manifest(m: &Manifest) -> Self {
        let history = m.counts.contains_key("current").then(|| HistoryCounts {
            current: m.count("current"),
            new_versions: m.count("new_versions"),
            closed_versions: m.count("closed_versions"),
        });
        Self {
            rows: m.count("rows"),
            rows_in: m.count("rows_in"),
            quarantined: m.count("quarantined"),
            warned: m.count("warned"),
            carried_forward: m.count("carried_forward"),
            history,
        }
    }

    /// Current rows, for history tables.
    pub fn current(&self) -> Option<u64> {
        self.history.map(|h| h.current)
    }
}
