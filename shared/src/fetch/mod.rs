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

use crate::commit::{
    CommitError, CommitSettings, PartitionCommit, RunSpec, RunWriter, Staged, with_run,
};
use crate::aws::AwsConfig;
use crate::config::Config;
use config::FetchConfig;
use crate::job::{Classified, Invocation, observed};
use crate::codec::jsonl::LinePartsWriter;
use crate::manifest::{ObjectEntry, ObjectRole};
use crate::metrics::{Metric, Metrics};
use crate::buckets::Bucket;
use crate::partition::{Partition, Zone};
use crate::records::{Check, Entity, Issue, ListenHistory, Record, Track, User, Validated, redact_personal};
use crate::source::{Fetched, PageSource, SourceClient, SourceError};
use crate::storage::{Store, StoreError};
use crate::trigger::{DateError, Trigger, TriggerError, check_logical_date};
use chrono::{DateTime, NaiveDate, Utc};
use futures::StreamExt;
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Instant;

pub mod config;

pub const FUNCTION: &str = "fetch";

/// One endpoint of the source, described as data: adding an endpoint is adding a row here.
pub struct Endpoint {
    pub entity: Entity,
    /// The URL path under `SOURCE_API_URL`.
    pub path: &'static str,
    validate: fn(&Value) -> Verdict,
    /// Whether rows carry personal fields, which quarantine redacts ([`redact_personal`]).
    personal: bool,
    redact: fn(&Value) -> Value,
}

pub const ENDPOINTS: [Endpoint; 3] = [
    Endpoint { entity: Entity::Tracks, path: "tracks", validate: verdict::<Track>, personal: false, redact: redact_personal::<Track> },
    Endpoint { entity: Entity::Users, path: "users", validate: verdict::<User>, personal: true, redact: redact_personal::<User> },
    Endpoint {
        entity: Entity::ListenHistory,
        path: "listen_history",
        validate: verdict::<ListenHistory>,
        personal: false,
        redact: redact_personal::<ListenHistory>,
    },
];

enum Verdict {
    Accepted { key: i64, warnings: Vec<Issue> },
    Rejected { reasons: Vec<Issue> },
}

fn verdict<R: Record>(row: &Value) -> Verdict {
    match R::validate(row) {
        Validated::Accepted { record, warnings } => Verdict::Accepted { key: record.key(), warnings },
        Validated::Rejected { reasons } => Verdict::Rejected { reasons },
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Trigger(#[from] TriggerError),
    #[error(transparent)]
    Date(#[from] DateError),
    #[error(transparent)]
    TooManyRejected(#[from] TooManyRejected),
    #[error("{entity}: {source}")]
    Source { entity: Entity, source: SourceError },
    #[error("{entity}: the source's listing is inconsistent, even after starting over once: {detail}")]
    Inconsistent { entity: Entity, detail: String },
    #[error("{entity}: could not write the partition: {source}")]
    Store { entity: Entity, source: StoreError },
    #[error(transparent)]
    Commit(#[from] CommitError),
}

impl Classified for FetchError {
    /// A stable class for the Lambda error type and alarms: retrying helps `Retryable.*` only.
    fn error_type(&self) -> &'static str {
        match self {
            FetchError::Trigger(_) => "Permanent.BadEvent",
            FetchError::Date(_) => "Permanent.BadDate",
            FetchError::TooManyRejected(_) => "Permanent.DataQuality",
            FetchError::Source { source: SourceError::Refused { .. } | SourceError::BadPage { .. }, .. } => "Permanent.SourceRefused",
            FetchError::Source { source: SourceError::WrongShape { .. } | SourceError::TooLarge { .. }, .. } => "Permanent.SourceContract",
            FetchError::Source { .. } => "Retryable.SourceUnavailable",
            FetchError::Inconsistent { .. } => "Retryable.SourceInconsistent",
            FetchError::Store { .. } => "Retryable.Storage",
            FetchError::Commit(e) => e.error_type(),
        }
    }
}

/// An entity whose rejected share of the rows served is above `FETCH_MAX_REJECTED_SHARE`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "{entity}: {rejected} of {served} rows served were rejected ({:.2}%), above FETCH_MAX_REJECTED_SHARE={max} ({by_check}); nothing was committed. Look at the source's rows (the reasons above), then re-run the date (or raise the threshold)",
    share * 100.0
)]
pub struct TooManyRejected {
    pub entity: Entity,
    pub rejected: u64,
    pub served: u64,
    pub share: f64,
    pub max: f64,
    pub by_check: String,
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

    fn check_rejected(&self, entity: Entity, max: f64) -> Result<(), TooManyRejected> {
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

    /// Reads one endpoint completely, starting over once if its listing changes under us, or to
    /// tell a duplicate the source holds (the same on both passes) from a listing that shifted.
    async fn read_endpoint(
        &self,
        source: &S,
        endpoint: &Endpoint,
        writer: &RunWriter,
        date: NaiveDate,
    ) -> Result<(PartitionCommit, EntitySummary, Entity), FetchError> {
        let entity = endpoint.entity;
        let mut restarts = 0;
        // The duplicates of the first pass, when it ended on them.
        let mut first_duplicates: Option<Duplicates> = None;
        loop {
            // Objects of an abandoned attempt are overwritten, or removed at the commit.
            let detail = match self.read_once(source, endpoint, writer, date).await {
                Ok((commit, mut summary, duplicates)) => {
                    match (&first_duplicates, duplicates.keys.is_empty()) {
                        (_, true) => {}
                        (Some(first), false) if *first == duplicates => {
                            tracing::warn!(%entity, keys = ?duplicates.keys, total = duplicates.total,
                                "the source serves the same keys twice on two passes, with a stable total: committed as served for transform's duplicate_key rule");
                        }
                        (Some(first), false) => {
                            let detail = format!("keys served twice: {:?} of {} rows, then {:?} of {}", first.keys, first.total, duplicates.keys, duplicates.total);
                            return Err(FetchError::Inconsistent { entity, detail });
                        }
                        (None, false) if restarts == 0 => {
                            tracing::warn!(%entity, keys = ?duplicates.keys, "keys served twice: reading the endpoint again to tell a shifted listing from a duplicate the source holds");
                            first_duplicates = Some(duplicates);
                            restarts += 1;
                            continue;
                        }
                        (None, false) => {
                            let detail = format!("keys served twice after a restart: {:?}", duplicates.keys);
                            return Err(FetchError::Inconsistent { entity, detail });
                        }
                    }
                    summary.restarts = restarts;
                    tracing::info!(%entity, accepted = summary.accepted, warned = summary.warned, rejected = summary.rejected,
                        pages = summary.pages, retries = summary.retries, restarts, duplicate_rows = summary.duplicate_rows, "endpoint read");
                    return Ok((commit, summary, entity));
                }
                Err(Attempt::Changed(detail)) => detail,
                Err(Attempt::Failed(e)) => return Err(e),
            };
            if restarts > 0 {
                return Err(FetchError::Inconsistent { entity, detail });
            }
            tracing::warn!(%entity, %detail, "the listing changed while it was read; starting the endpoint over");
            restarts += 1;
        }
    }

    async fn read_once(
        &self,
        source: &S,
        endpoint: &Endpoint,
        writer: &RunWriter,
        date: NaiveDate,
    ) -> Result<(PartitionCommit, EntitySummary, Duplicates), Attempt> {
        let entity = endpoint.entity;
        let source_err = |source| match source {
            SourceError::Changed { detail, .. } => Attempt::Changed(detail),
            source => Attempt::Failed(FetchError::Source { entity, source }),
        };
        let raw = Partition::new(Zone::Raw, entity.as_str(), date);
        let quarantine = Partition::new(Zone::Quarantine, entity.as_str(), date);
        // Listen history is written in buckets of users (the fan-out's unit); the rest whole.
        let buckets = if entity == Entity::ListenHistory { self.limits.listen_buckets } else { 1 };
        let mut reader = EndpointReader {
            endpoint,
            data: BucketSinks::new(writer, &raw, ObjectRole::Data, self.part_rows, buckets),
            rejected: BucketSinks::new(writer, &quarantine, ObjectRole::Quarantine, self.part_rows, buckets),
            keys: HashSet::new(),
            duplicates: BTreeSet::new(),
            edges: BTreeMap::new(),
            last_page: 1,
            rows_seen: 0,
            summary: EntitySummary::default(),
        };
        let first = source.first_page(endpoint.path).await.map_err(source_err)?;
        let (total, pages) = (first.page.total, first.page.pages);
        reader.last_page = pages.max(1);
        let mut rest = std::pin::pin!(source.remaining_pages(endpoint.path, &first.page));
        let progress = crate::progress::Task::start(&format!("fetch {entity}: pages"), pages);
        reader.take(first).await?;
        progress.advance(1);
        while let Some(fetched) = rest.next().await {
            reader.take(fetched.map_err(source_err)?).await?;
            progress.advance(1);
            progress.describe(|| format!("{} rows", reader.rows_seen));
        }
        if reader.rows_seen != total {
            return Err(Attempt::Changed(format!("received {} rows in {pages} pages, but `total` says {total}", reader.rows_seen)));
        }
        // A row deleted from a page already read and another inserted leave `total` and the row
        // count as they were, but move the keys of the first or the last page: read them again.
        for (&number, keys) in &reader.edges {
            let again = source.page(endpoint.path, number).await.map_err(source_err)?;
            reader.summary.retries += again.retries as u64;
            if (again.page.total, again.page.pages) != (total, pages) {
                return Err(Attempt::Changed(format!("page {number} read again says {} rows in {} pages, not {total} in {pages}", again.page.total, again.page.pages)));
            }
            if &page_keys(&again.page.items, entity) != keys {
                return Err(Attempt::Changed(format!("the keys of page {number} moved while the listing was read (a row removed and another added)")));
            }
        }
        let mut objects: Vec<ObjectEntry> = reader.data.finish().await.map_err(|source| Attempt::Failed(FetchError::Store { entity, source }))?;
        objects.extend(reader.rejected.finish().await.map_err(|source| Attempt::Failed(FetchError::Store { entity, source }))?);
        let mut summary = reader.summary;
        summary.bytes_written = objects.iter().map(|o| o.bytes).sum();
        let counts = BTreeMap::from([
            ("accepted".to_owned(), summary.accepted),
            ("warned".to_owned(), summary.warned),
            ("rejected".to_owned(), summary.rejected),
        ]);
        let details = serde_json::to_value(&summary).expect("a summary serialises");
        let commit = PartitionCommit {
            partition: raw,
            counts,
            objects,
            source: format!("{}/{}", source.base_url(), endpoint.path),
            details,
            also_owns: vec![quarantine],
        };
        Ok((commit, summary, Duplicates { keys: reader.duplicates, total }))
    }
}

/// Why one attempt at an endpoint ended.
enum Attempt {
    /// The listing changed under us: worth starting over once.
    Changed(String),
    Failed(FetchError),
}

/// The keys one pass saw twice, and the `total` it read them under.
#[derive(Debug, PartialEq, Eq)]
struct Duplicates {
    keys: BTreeSet<i64>,
    total: u64,
}

/// The key field of each row of a page, as served (`null` when missing): what the end-of-pass
/// check compares, so that a row that only changed its content does not count as moved.
fn page_keys(items: &[Box<RawValue>], entity: Entity) -> Vec<String> {
    items
        .iter()
        .map(|raw| match serde_json::from_str::<Value>(raw.get()) {
            Ok(row) => row.get(entity.key_field()).map_or_else(|| "null".to_owned(), Value::to_string),
            Err(_) => raw.get().to_owned(),
        })
        .collect()
}

/// The state of one pass over an endpoint's pages.
struct EndpointReader<'a> {
    endpoint: &'a Endpoint,
    data: BucketSinks<'a>,
    rejected: BucketSinks<'a>,
    keys: HashSet<i64>,
    /// Keys seen again in this pass.
    duplicates: BTreeSet<i64>,
    /// The keys of the first and the last page, by page number.
    edges: BTreeMap<u64, Vec<String>>,
    last_page: u64,
    rows_seen: u64,
    summary: EntitySummary,
}

/// A quarantined row: where it came from, why, and the row as served (personal fields nulled).
#[derive(Serialize)]
struct QuarantinedRow<'a, R: Serialize + ?Sized> {
    page: u64,
    reasons: &'a [Issue],
    row: &'a R,
}

impl EndpointReader<'_> {
    async fn take(&mut self, fetched: Fetched) -> Result<(), Attempt> {
        let entity = self.endpoint.entity;
        let page = fetched.page;
        self.summary.pages += 1;
        self.summary.retries += fetched.retries as u64;
        self.rows_seen += page.items.len() as u64;
        if page.page == 1 || page.page == self.last_page {
            self.edges.insert(page.page, page_keys(&page.items, entity));
        }
        for raw in &page.items {
            let value: Value = serde_json::from_str(raw.get()).expect("a RawValue is valid JSON");
            match (self.endpoint.validate)(&value) {
                Verdict::Accepted { key, warnings } => {
                    if !self.keys.insert(key) {
                        self.duplicates.insert(key);
                        self.summary.duplicate_rows += 1;
                    }
                    self.summary.accepted += 1;
                    if !warnings.is_empty() {
                        self.summary.warned += 1;
                    }
                    for w in warnings {
                        *self.summary.warnings_by_check.entry(w.check).or_default() += 1;
                    }
                    self.data.push(key, raw.get().as_bytes());
                }
                Verdict::Rejected { reasons } => {
                    self.summary.rejected += 1;
                    for r in &reasons {
                        *self.summary.rejections_by_check.entry(r.check).or_default() += 1;
                    }
                    let line = if self.endpoint.personal {
                        let row = (self.endpoint.redact)(&value);
                        serde_json::to_vec(&QuarantinedRow { page: page.page, reasons: &reasons, row: &row })
                    } else {
                        serde_json::to_vec(&QuarantinedRow { page: page.page, reasons: &reasons, row: raw.as_ref() })
                    }
                    .expect("serialises");
                    // A rejected row goes with its user's bucket when its key is readable.
                    let key = value.get(entity.key_field()).and_then(Value::as_i64).unwrap_or(0);
                    self.rejected.push(key, &line);
                }
            }
        }
        let store_err = |source| Attempt::Failed(FetchError::Store { entity, source });
        self.data.flush_if_full().await.map_err(store_err)?;
        self.rejected.flush_if_full().await.map_err(store_err)
    }
}

/// One [`LinePartsWriter`] per bucket of users ([`crate::buckets`]); one bucket writes the layout
/// without buckets. Rows go to their key's bucket; the objects come out bucket by bucket.
struct BucketSinks<'a> {
    sinks: Vec<LinePartsWriter<'a>>,
}

impl<'a> BucketSinks<'a> {
    fn new(writer: &'a RunWriter, partition: &Partition, role: ObjectRole, max_rows: usize, buckets: u32) -> Self {
        let sinks = Bucket::all(buckets).map(|b| LinePartsWriter::new(writer, partition.clone(), role, max_rows).in_folder(b.folder())).collect();
        Self { sinks }
    }

    fn push(&mut self, key: i64, line: &[u8]) {
        let bucket = Bucket::of_user(key, self.sinks.len() as u32);
        self.sinks[bucket.index as usize].push_json(line);
    }

    async fn flush_if_full(&mut self) -> Result<(), StoreError> {
        for sink in &mut self.sinks {
            sink.flush_if_full().await?;
        }
        Ok(())
    }

    async fn finish(self) -> Result<Vec<ObjectEntry>, StoreError> {
        let mut objects = Vec::new();
        for sink in self.sinks {
            objects.extend(sink.finish().await?);
        }
        Ok(objects)
    }
}

#[cfg(test)]
mod tests;
