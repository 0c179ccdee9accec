//! The fetch job: every page of every endpoint into the date's raw partitions, committed together.
//!
//! Each endpoint streams page by page (in page order, a bounded number in flight) into gzipped
//! JSON-lines parts of at most `FETCH_PART_ROWS` rows: memory holds a few pages and one part, not
//! the endpoint. Rows are kept byte for byte as served; rejected rows go to `quarantine/` with
//! their reasons (personal fields of user rows redacted). An endpoint whose listing changes while
//! it is read (another `total`, a row count that does not add up, a first or last page whose keys
//! moved when re-read at the end) is started over once, then fails the run. A key served twice is
//! either that (the listing shifted) or a duplicate the source really holds: the endpoint is read
//! again, and when the second pass shows the same duplicate keys with the same `total`, the rows
//! are committed as served and transform's `duplicate_key` rule quarantines the extra ones.
//! The run commits only if all endpoints were read completely and no entity's rejected share
//! exceeds `FETCH_MAX_REJECTED_SHARE`.
//!
//! The source serves only the present: a run stores the snapshot it reads now under its logical
//! date. An event naming a date after tomorrow is refused, and one more than
//! `FETCH_MAX_PAST_DAYS` back unless it says `"allow_past": true`; the run manifest records when
//! the snapshot was taken (`details.snapshot_taken_at`).

use crate::aws::AwsConfig;
use crate::commit::{CommitSettings, RunSpec, Staged, with_run};
use crate::config::Config;
use crate::job::{Invocation, observed};
use crate::metrics::{Metric, Metrics};
use crate::partition::Zone;
use crate::source::{PageSource, SourceClient, SourceError};
use crate::storage::Store;
use crate::trigger::{Trigger, check_logical_date};
use chrono::{DateTime, NaiveDate, Utc};
use config::FetchConfig;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

mod bucket_sinks;
pub mod config;
mod drift;
mod endpoints;
mod error;
mod pass;
mod restarts;
mod summary;

pub use endpoints::{ENDPOINTS, Endpoint};
pub use error::{FetchError, TooManyRejected};
pub use summary::{EntitySummary, FetchSummary};

pub const FUNCTION: &str = "fetch";

/// The fetch job and what it needs, built once per container: the source is the HTTP client,
/// or scripted pages in unit tests.
#[derive(Debug, Clone)]
pub struct Fetcher<S = SourceClient> {
    pub store: Arc<dyn Store>,
    pub source: S,
    pub metrics: Metrics,
    pub part_rows: usize,
    /// The data contract: the rejected share allowed, and how far back a date may be.
    pub limits: FetchConfig,
    pub commit: CommitSettings,
}

impl Fetcher {
    pub async fn from_config(config: &Config, aws: &AwsConfig) -> Result<Fetcher, SourceError> {
        Ok(Self {
            store: crate::storage::open_for(FUNCTION, &config.data_url, aws).await,
            source: SourceClient::new(config.source.clone())?,
            metrics: Metrics::from_config(FUNCTION, config, aws).await,
            part_rows: config.part_rows,
            limits: config.fetch,
            commit: config.commit(),
        })
    }
}

impl<S: PageSource> Fetcher<S> {
    /// Runs for the logical date an event names (see [`crate::trigger`]), once the date passes
    /// [`Fetcher::check_date`] against the invocation's start.
    pub async fn handle(
        &self,
        event: &Value,
        invocation: Invocation,
    ) -> Result<FetchSummary, FetchError> {
        let trigger = Trigger::parse(event)
            .inspect_err(|e| tracing::error!(error = %e, "refused the event"))?;
        self.check_date(
            trigger.logical_date(),
            invocation.started_at,
            trigger.allow_past(),
        )?;
        self.run(trigger.logical_date(), invocation).await
    }

    /// Refuses a date after tomorrow, or more than `FETCH_MAX_PAST_DAYS` back without `allow_past`.
    pub fn check_date(
        &self,
        date: NaiveDate,
        now: DateTime<Utc>,
        allow_past: bool,
    ) -> Result<(), FetchError> {
        check_logical_date(date, now, Some(self.limits.max_past_days), allow_past)
            .inspect_err(|e| tracing::error!(error = %e, %date, "refused the date"))
            .map_err(FetchError::from)
    }

    /// Fetches everything for `date`, commits it, emits and flushes the run's metrics.
    pub async fn run(&self, date: NaiveDate, invocation: impl Into<Invocation>) -> Result<FetchSummary, FetchError> {
        let invocation = invocation.into();
        let run_id = invocation.run_id.clone();
        observed(FUNCTION, &self.metrics, &run_id, date, self.fetch(date, invocation)).await
    }

    async fn fetch(&self, date: NaiveDate, invocation: Invocation) -> Result<FetchSummary, FetchError> {
        let clock = Instant::now();
        let source = self.source.for_run();
        let spec = RunSpec { store: self.store.clone(), stage: FUNCTION, zone: Zone::Raw, date, run_id: invocation.run_id.clone(), deadline: invocation.deadline };
        let (committed, summaries) = with_run(spec, &self.commit, |writer| async move {
            tracing::info!(source = %source.base_url(), store = %self.store.location(), "fetch started");
            // The source serves the present: this is when the date's snapshot was taken.
            let snapshot_taken_at = Utc::now();
            let entities = futures::future::try_join_all(ENDPOINTS.iter().map(|e| self.read_endpoint(&source, e, &writer, date))).await?;
            // Recorded before the check, so that the alarm sees the share that fails a run too.
            let largest = entities.iter().map(|(_, s, _)| s.rejected_share()).fold(0.0, f64::max);
            self.metrics.record(Metric::RejectedShare, largest);
            for (_, summary, entity) in &entities {
                summary.check_rejected(*entity, self.limits.max_rejected_share)?;
            }
            let details = serde_json::json!({
                "entities": entities.iter().map(|(_, s, e)| (e.as_str(), s)).collect::<BTreeMap<_, _>>(),
                "snapshot_taken_at": snapshot_taken_at,
                "snapshot_days_after_logical_date": (snapshot_taken_at.date_naive() - date).num_days(),
            });
            let (partitions, summaries): (Vec<_>, Vec<_>) = entities.into_iter().map(|(p, s, e)| (p, (e, s))).unzip();
            Ok::<_, FetchError>(Staged { partitions, details, output: summaries })
        })
        .await?;
        for (entity, s) in &summaries {
            let e = entity.as_str();
            self.metrics.record_for(Metric::RowsFetched, e, (s.accepted + s.rejected) as f64);
            self.metrics.record_for(Metric::RowsRejected, e, s.rejected as f64);
            self.metrics.record_for(Metric::RowsWarned, e, s.warned as f64);
            self.metrics.record_for(Metric::PagesFetched, e, s.pages as f64);
            self.metrics.record_for(Metric::HttpRetries, e, s.retries as f64);
            self.metrics.record_for(Metric::BytesWritten, e, s.bytes_written as f64);
        }
        self.metrics.record(Metric::CleanupFailures, committed.cleanup_failures as f64);
        Ok(FetchSummary {
            date,
            run_id: invocation.run_id.to_string(),
            source: self.source.base_url().to_owned(),
            entities: summaries.into_iter().collect(),
            run_manifest: committed.run_manifest,
            manifests: committed.manifests,
            removed_stale_objects: committed.removed_stale_objects,
            duration_ms: clock.elapsed().as_millis() as u64,
        })
    }
}

#[cfg(test)]
mod tests;
