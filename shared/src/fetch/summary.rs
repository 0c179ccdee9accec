//! What a fetch run reports: per endpoint the rows accepted, warned and rejected, and the run's
//! summary (the function's response); and the rejected-share check that can fail the run.

use super::TooManyRejected;
use crate::records::{Check, Entity};
use chrono::NaiveDate;
use serde::Serialize;
use std::collections::BTreeMap;

/// What one endpoint gave.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EntitySummary {
    /// Rows written to `raw/` (those with warnings included).
    pub accepted: u64,
    /// Accepted rows that carried at least one warning.
    pub warned: u64,
    /// Rows written to `quarantine/`.
    pub rejected: u64,
    pub pages: u64,
    pub retries: u64,
    pub restarts: u64,
    /// Rows whose key the source served again (kept in raw; transform quarantines them).
    pub duplicate_rows: u64,
    pub bytes_written: u64,
    pub warnings_by_check: BTreeMap<Check, u64>,
    pub rejections_by_check: BTreeMap<Check, u64>,
}

impl EntitySummary {
    /// Rejected rows over the rows served (0 for an empty endpoint).
    pub fn rejected_share(&self) -> f64 {
        let served = self.accepted + self.rejected;
        if served == 0 {
            0.0
        } else {
            self.rejected as f64 / served as f64
        }
    }

    /// The data contract of `FETCH_MAX_REJECTED_SHARE`: above `max`, the run fails.
    pub(super) fn check_rejected(&self, entity: Entity, max: f64) -> Result<(), TooManyRejected> {
        let share = self.rejected_share();
        if share <= max {
            return Ok(());
        }
        let by_check = self
            .rejections_by_check
            .iter()
            .map(|(c, n)| format!("{} {n}", c.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        Err(TooManyRejected {
            entity,
            rejected: self.rejected,
            served: self.accepted + self.rejected,
            share,
            max,
            by_check,
        })
    }
}

/// What a fetch run did; the function's response.
#[derive(Debug, Clone, Serialize)]
pub struct FetchSummary {
    pub date: NaiveDate,
    pub run_id: String,
    pub source: String,
    pub entities: BTreeMap<Entity, EntitySummary>,
    pub run_manifest: String,
    pub manifests: Vec<String>,
    pub removed_stale_objects: usize,
    pub duration_ms: u64,
}
