//! The transform job: a committed raw date into the curated tables, checked for quality and committed together.
//!
//! For logical date D it reads fetch's commit `raw/_run/dt=D/` and writes, under one
//! [`RunWriter`] commit (`curated/_run/dt=D/_manifest.json` last, the event that starts
//! recommend):
//!
//! | table | content |
//! | --- | --- |
//! | `curated/tracks/dt=D/` | SCD2 history of tracks as of D ([`scd2`]): every version ever seen |
//! | `curated/users/dt=D/` | SCD2 history of users as of D, personal data hashed or dropped ([`pii`]) |
//! | `curated/listen_events/dt=D/` | today's listen history, one row per item, with `is_new` ([`listen_events`]) |
//! | `curated/listen_events_delta/dt=D/` | the rows of `listen_events` with `is_new` |
//! | `quarantine/curated_<table>/dt=D/` | rows a blocking check refused, with reasons ([`quality`]) |
//!
//! The data-quality report is the run manifest's `details.dq_report`.
//!
//! **Unknown is not absent.** A key whose row was rejected today, by fetch (its quarantine,
//! read back here) or by this run's validation, keeps its current version and its previous
//! listen events, marked `carried_forward`; only a key the source stopped serving is closed.
//!
//! **Order of dates.** D's history is D's snapshot merged onto the curated tables of P, the
//! latest date before D that fetch committed; so D needs P transformed first and is refused,
//! naming P, otherwise (a retry succeeds once P is done; the Lambda error type is
//! `Retryable.OutOfOrder`). A date with no earlier raw commit starts from an empty history.
//! Re-running D gives the same files (the merge's `as_of` is D at 00:00 UTC, `ingested_at` is
//! the raw run's start, and file contents depend only on rows); re-running an earlier date does
//! not rewrite the later ones: re-run them in order after it (a backfill).

pub mod config;
mod bucketed;
mod build;
mod classify;
mod error;
pub mod fanout;
pub mod listen_events;
pub mod pii;
mod previous;
pub mod quality;
pub mod raw_date;
mod raw_lines;
mod references;
pub mod rows;
pub mod scd2;
mod summary;
mod tables;

pub use error::TransformError;
pub use summary::{HistoryCounts, RunDetails, TableCounts, TableSummary, TransformSummary};

use crate::codec::{Layout, Table, TableReader};
use crate::commit::{CommitSettings, RunSpec, Staged, read_committed, with_run};
use crate::aws::AwsConfig;
use crate::config::Config;
use config::TransformConfig;
use crate::curated::TableName;
use crate::job::{Invocation, observed};
use crate::manifest::{FetchStarted, ObjectRole};
use crate::metrics::{Metric, Metrics};
use crate::partition::{Partition, Zone};
use crate::storage::Store;
use crate::trigger::{Trigger, check_logical_date};
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use pii::Pii;
use scd2::MergeStats;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

pub const FUNCTION: &str = "transform";

/// The merge time of a logical date: D at 00:00 UTC, the same on every run of D.
pub fn as_of(date: NaiveDate) -> DateTime<Utc> {
    date.and_time(NaiveTime::MIN).and_utc()
}

/// The transform job and what it needs, built once per container.
#[derive(Debug, Clone)]
pub struct Transformer {
    pub store: Arc<dyn Store>,
    pub metrics: Metrics,
    pub pii: Pii,
    pub config: TransformConfig,
    pub commit: CommitSettings,
}

impl Transformer {
    pub async fn from_config(config: &Config, aws: &AwsConfig) -> Result<Self, TransformError> {
        Ok(Self {
            store: crate::storage::open_for(FUNCTION, &config.data_url, aws).await,
            metrics: Metrics::from_config(FUNCTION, config, aws).await,
            pii: Pii::new(config.transform.salt.resolve(aws).await?, config.transform.keep_names),
            config: config.transform.clone(),
            commit: config.commit(),
        })
    }

    /// The erasure job over the same store, with this job's file layout and commit settings.
    pub fn eraser(&self) -> crate::erase::Eraser {
        let layout = Layout { row_group_rows: self.config.row_group_rows, file_rows: self.config.file_rows };
        crate::erase::Eraser { store: self.store.clone(), layout, commit: self.commit.clone() }
    }

    /// Runs for the date an event names: `{"date": ...}`, or fetch's commit in `raw/_run/`.
    pub async fn handle(&self, event: &Value, invocation: Invocation) -> Result<TransformSummary, TransformError> {
        let trigger = Trigger::parse(event).inspect_err(|e| tracing::error!(error = %e, "refused the event"))?;
        if let Trigger::Committed { zone, key, .. } = &trigger
            && *zone != Zone::Raw
        {
            let e = TransformError::WrongZone { zone: *zone, key: key.clone() };
            tracing::error!(error = %e, "refused the event");
            return Err(e);
        }
        // A date after tomorrow cannot have real data; past dates are re-runs, allowed.
        check_logical_date(trigger.logical_date(), invocation.started_at, None, true)
            .inspect_err(|e| tracing::error!(error = %e, "refused the date"))?;
        self.run(trigger.logical_date(), invocation).await
    }

    /// Transforms `date`, commits it, emits and flushes the run's metrics.
    pub async fn run(&self, date: NaiveDate, invocation: impl Into<Invocation>) -> Result<TransformSummary, TransformError> {
        let invocation = invocation.into();
        let run_id = invocation.run_id.clone();
        observed(FUNCTION, &self.metrics, &run_id, date, self.transform(date, invocation)).await
    }

    async fn transform(&self, date: NaiveDate, invocation: Invocation) -> Result<TransformSummary, TransformError> {
        let clock = Instant::now();
        let spec = RunSpec { store: self.store.clone(), stage: FUNCTION, zone: Zone::Curated, date, run_id: invocation.run_id.clone(), deadline: invocation.deadline };
        let (committed, built) = with_run(spec, &self.commit, |writer| async move {
            let mut built = self.build(date, &writer).await?;
            let partitions = self.partitions(date, &writer, &mut built).await?;
            let details = RunDetails { dq_report: &built.report, fetch: FetchStarted { fetch_started_at: built.fetch_started_at }, buckets: None };
            let details = serde_json::to_value(details).expect("the run details serialise");
            Ok::<_, TransformError>(Staged { partitions, details, output: built })
        })
        .await?;
        Ok(self.summarize(date, invocation.run_id.to_string(), committed, &built, clock))
    }

    /// Records a committed run's metrics and describes it (the function's response).
    fn summarize(&self, date: NaiveDate, run_id: String, committed: crate::commit::Committed, built: &build::BuiltTables, clock: Instant) -> TransformSummary {
        let report = &built.report;
        let mut tables = BTreeMap::new();
        for o in &built.outputs {
            let (q, s) = (&o.quality, o.stats.as_ref());
            self.metrics
                .record_for(Metric::RowsIn, o.table.as_str(), q.rows_in as f64);
            self.metrics
                .record_for(Metric::RowsOut, o.table.as_str(), o.rows as f64);
            self.metrics
                .record_for(Metric::RowsQuarantined, o.table.as_str(), q.quarantined as f64);
            if o.table != TableName::ListenEventsDelta {
                self.metrics
                    .record_for(Metric::CarriedForward, o.table.as_str(), q.carried_forward as f64);
            }
            if let Some(s) = s {
                self.metrics.record_for(Metric::NewVersions, o.table.as_str(), s.new_versions() as f64);
                self.metrics.record_for(Metric::ClosedVersions, o.table.as_str(), s.closed_versions() as f64);
            }
            tracing::info!(table = o.table.as_str(), rows_in = q.rows_in, rows_out = o.rows, quarantined = q.quarantined, warnings = q.warnings(),
                new_versions = s.map(MergeStats::new_versions), closed_versions = s.map(MergeStats::closed_versions), "table written");
            let summary = TableSummary {
                rows_in: q.rows_in,
                rows_out: o.rows,
                quarantined: q.quarantined,
                warnings: q.warnings(),
                carried_forward: q.carried_forward,
                current: s.map(|s| s.current),
                new_versions: s.map(MergeStats::new_versions),
                closed_versions: s.map(MergeStats::closed_versions),
            };
            tables.insert(o.table, summary);
        }
        self.metrics.record(Metric::QuarantineShare, report.quarantine_share);
        self.metrics.record(Metric::CleanupFailures, committed.cleanup_failures as f64);
        for (rule, n) in report.warnings_by_check() {
            self.metrics.record_with(Metric::DqWarnings, &[("Check", rule.as_str())], n as f64);
        }
        TransformSummary {
            date,
            run_id,
            previous_date: report.previous_date,
            as_of: report.as_of,
            tables,
            quarantine_share: report.quarantine_share,
            warnings: report.warnings,
            run_manifest: committed.run_manifest,
            manifests: committed.manifests,
            removed_stale_objects: committed.removed_stale_objects,
            duration_ms: clock.elapsed().as_millis() as u64,
        }
    }
}

/// A committed curated table of `date` (one of [`TableName::CURATED`]), read whole through its manifest: for tests and tools (the job streams).
pub async fn read_curated<T: Table>(store: Arc<dyn Store>, date: NaiveDate, table: TableName) -> Result<Vec<T>, TransformError> {
    let committed = read_committed(store.as_ref(), Zone::Curated, date)
        .await
        .map_err(|source| TransformError::PreviousUnreadable { previous: date, source })?;
    let prefix = Partition::new(Zone::Curated, table.as_str(), date).prefix();
    let manifest = committed
        .partitions
        .into_iter()
        .find(|m| m.partition == prefix)
        .ok_or(TransformError::PreviousIncomplete { previous: date, table })?;
    let objects = manifest.objects.into_iter().filter(|o| o.role == ObjectRole::Data);
    TableReader::new(store, objects).read_all::<T>().await.map_err(|source| TransformError::Previous { table, source })
}

#[cfg(test)]
mod tests;
