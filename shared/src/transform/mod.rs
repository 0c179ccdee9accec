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

mod bucketed;
pub mod curated;
pub mod fanout;
pub mod listen_events;
pub mod parquet_io;
pub mod pii;
pub mod quality;
pub mod raw;
pub mod scd2;

use crate::commit::{CommitError, CommitSettings, PartitionCommit, ReadError, RunSpec, RunWriter, Staged, read_committed, with_run};
use crate::config::{Config, TransformConfig};
use crate::job::{Classified, Invocation, observed};
use crate::manifest::{Manifest, ObjectEntry, ObjectRole};
use crate::metrics::{Metric, Metrics};
use crate::partition::{MANIFEST_FILE, Partition, RUN_DATASET, Zone};
use crate::records::{Check, Entity, Issue, ListenHistory, Record, Track, User, Validated};
use crate::storage::{Store, StoreError};
use crate::trigger::{DateError, Trigger, TriggerError, check_logical_date};
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, NaiveTime, Utc};
use curated::{Interner, TrackRow, UserRow};
use listen_events::{Item, ListenEvent, ListenRows, PairsError};
use parquet_io::{Layout, ParquetIoError, PartsWriter, Table, TableReader};
use pii::{Pii, PiiError};
use quality::{
    CurrentRowsDropped, DqReport, QuarantineBuffer, QuarantineExceeded, Reason, Rule, TableQuality,
    current_drop,
};
use raw::{RawDate, RawError};
use scd2::{MergeAt, MergeError, MergeStats, Merger, Version, Versioned};
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

pub const FUNCTION: &str = "transform";

/// The curated tables, by folder name.
pub const TRACKS: &str = "tracks";
pub const USERS: &str = "users";
pub const LISTEN_EVENTS: &str = "listen_events";
pub const LISTEN_EVENTS_DELTA: &str = "listen_events_delta";

/// The quarantine dataset of a curated table, `curated_<table>`: fetch already owns
/// `quarantine/<entity>/dt=D/` (and cleans it on every run), so transform's refusals live apart.
pub fn quarantine_dataset(table: &str) -> String {
    format!("curated_{table}")
}

/// The merge time of a logical date: D at 00:00 UTC, the same on every run of D.
pub fn as_of(date: NaiveDate) -> DateTime<Utc> {
    date.and_time(NaiveTime::MIN).and_utc()
}

#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    #[error(transparent)]
    Pii(#[from] PiiError),
    #[error(transparent)]
    Trigger(#[from] TriggerError),
    #[error(transparent)]
    Date(#[from] DateError),
    #[error(
        "transform runs on fetch's commits (raw/_run/dt=.../_manifest.json), but this event is for {zone}: `{key}`"
    )]
    WrongZone { zone: Zone, key: String },
    #[error(transparent)]
    Raw(#[from] RawError),
    #[error(
        "transform {date} needs curated {previous} first ({previous} is the latest earlier date fetch committed, and its curated tables are {date}'s starting history): run transform for {previous}, then {date}"
    )]
    OutOfOrder { date: NaiveDate, previous: NaiveDate },
    #[error("curated {previous} (the starting history): {source}")]
    PreviousUnreadable { previous: NaiveDate, source: ReadError },
    #[error("curated {previous} (the starting history) has no {table} partition; re-run transform for {previous}")]
    PreviousIncomplete { previous: NaiveDate, table: &'static str },
    #[error("reading the previous {table}: {source}")]
    Previous { table: &'static str, source: ParquetIoError },
    #[error("{table}: {source}; re-run the previous date")]
    Merge { table: &'static str, source: MergeError },
    #[error(transparent)]
    Pairs(#[from] PairsError),
    #[error("writing {table}: {source}")]
    Write { table: &'static str, source: ParquetIoError },
    #[error(transparent)]
    Quality(#[from] QuarantineExceeded),
    #[error(transparent)]
    Dropped(#[from] CurrentRowsDropped),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Commit(#[from] CommitError),
    #[error(transparent)]
    Fanout(#[from] fanout::FanoutError),
}

impl Classified for TransformError {
    /// A stable class for the Lambda error type and alarms: retrying helps `Retryable.*` only.
    fn error_type(&self) -> &'static str {
        use TransformError as E;
        match self {
            E::Pii(PiiError::SsmUnavailable { .. }) => "Retryable.SaltUnavailable",
            E::Pii(_) => "Permanent.Configuration",
            E::Trigger(_) | E::WrongZone { .. } => "Permanent.BadEvent",
            E::Date(_) => "Permanent.BadDate",
            E::Raw(RawError::NotReadable(ReadError::NotCommitted { .. })) => {
                "Permanent.RawNotCommitted"
            }
            E::Raw(RawError::NotReadable(ReadError::Mixed { .. })) => "Retryable.RawMidCommit",
            E::Raw(RawError::Incomplete { .. } | RawError::Corrupt { .. }) => "Permanent.RawCorrupt",
            E::Raw(_) => "Retryable.Storage",
            E::OutOfOrder { .. } => "Retryable.OutOfOrder",
            E::PreviousUnreadable { source: ReadError::Commit(CommitError::Store(_)), .. } => "Retryable.Storage",
            // The previous date was being re-committed while this run read it: read it again.
            E::PreviousUnreadable { source: ReadError::Mixed { .. }, .. } => "Retryable.CuratedMidCommit",
            E::Previous { source: ParquetIoError::Store(_), .. } | E::Pairs(PairsError::Read(ParquetIoError::Store(_))) => "Retryable.Storage",
            E::PreviousUnreadable { .. } | E::PreviousIncomplete { .. } | E::Previous { .. } | E::Merge { .. } | E::Pairs(_) => {
                "Permanent.CuratedCorrupt"
            }
            E::Write { source: ParquetIoError::Store(_), .. } => "Retryable.Storage",
            E::Write { .. } => "Permanent.Internal",
            E::Quality(_) | E::Dropped(_) => "Permanent.DataQuality",
            E::Store(_) => "Retryable.Storage",
            E::Commit(e) => e.error_type(),
            E::Fanout(e) => e.error_type(),
        }
    }

    fn record_failure(&self, metrics: &Metrics) {
        if let TransformError::Quality(q) = self {
            // The quarantine alarm watches this even when the run fails because of it.
            metrics.record(Metric::QuarantineShare, q.share);
            metrics.record_for(Metric::RowsQuarantined, q.table, q.quarantined as f64);
        }
    }
}

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
    pub tables: BTreeMap<&'static str, TableSummary>,
    /// The largest quarantined share of one table's input.
    pub quarantine_share: f64,
    pub warnings: u64,
    pub run_manifest: String,
    pub manifests: Vec<String>,
    pub removed_stale_objects: usize,
    pub duration_ms: u64,
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

/// The curated tables of the date a run starts from.
struct Previous {
    date: NaiveDate,
    tables: BTreeMap<String, Manifest>,
}

/// A run's inputs, fixed before any row is read.
struct Context<'a> {
    date: NaiveDate,
    writer: &'a RunWriter,
    raw: RawDate,
    previous: Option<Previous>,
    at: MergeAt,
    layout: Layout,
    /// The bucket of users whose listen tables this run writes ([`fanout`]); whole otherwise.
    bucket: crate::buckets::Bucket,
}

impl Context<'_> {
    /// A reader of the previous date's table (nothing on the first date).
    fn previous_reader(&self, store: &Arc<dyn Store>, table: &'static str) -> Result<TableReader, TransformError> {
        match &self.previous {
            None => Ok(TableReader::empty(store.clone())),
            Some(p) => {
                let m = p.tables.get(table).ok_or(TransformError::PreviousIncomplete { previous: p.date, table })?;
                Ok(TableReader::new(store.clone(), m.objects.iter().filter(|o| o.role == ObjectRole::Data).cloned()))
            }
        }
    }

    /// A count of the previous date's table manifest.
    fn previous_count(&self, table: &str, count: &str) -> Option<u64> {
        self.previous.as_ref().and_then(|p| p.tables.get(table)).map(|m| m.count(count))
    }

    fn curated(&self, table: &str) -> Partition {
        Partition::new(Zone::Curated, table, self.date)
    }

    fn source(&self, entity: Entity, table: &str) -> String {
        let raw = Partition::new(Zone::Raw, entity.as_str(), self.date).prefix();
        match &self.previous {
            Some(p) => format!("{raw} + {}", Partition::new(Zone::Curated, table, p.date).prefix()),
            None => raw,
        }
    }
}

/// One table's finished output, before the commit.
struct Output {
    table: &'static str,
    objects: Vec<ObjectEntry>,
    rows: u64,
    quality: TableQuality,
    quarantine: QuarantineBuffer,
    stats: Option<MergeStats>,
    source: String,
}

/// Everything a successful build hands to the commit.
struct Built {
    outputs: Vec<Output>,
    report: DqReport,
    /// When fetch started reading the source for this date (recommend's freshness starts there).
    fetch_started_at: DateTime<Utc>,
}

/// The keys whose row was rejected today (at fetch or here): their previous state is carried.
#[derive(Debug, Default)]
struct Rejected {
    keys: Vec<i64>,
}

impl Rejected {
    /// Notes a rejected row: its key when it has a readable one, else it is uncarriable.
    fn row(&mut self, row: &Value, key_field: &str, quality: &mut TableQuality) {
        match row.get(key_field).and_then(Value::as_i64) {
            Some(key) => self.keys.push(key),
            None => quality.uncarriable += 1,
        }
    }
}

/// Parses, validates and de-duplicates one raw row; quarantines it (returning `None`) when it is
/// not JSON, fails validation, or repeats a key already seen today.
#[allow(clippy::too_many_arguments)]
fn classify<R: Record>(
    seen: &mut HashSet<i64>,
    rejected: &mut Rejected,
    quality: &mut TableQuality,
    quarantine: &mut QuarantineBuffer,
    source: &str,
    line: u64,
    text: &[u8],
    units: fn(&Value) -> u64,
    redact: &dyn Fn(&Value) -> Value,
) -> Option<(R, Vec<Issue>, Value)> {
    let value: Value = match serde_json::from_slice(text) {
        Ok(v) => v,
        Err(e) => {
            quality.count_in(1);
            quality.quarantine(Rule::InvalidRow, 1);
            quality.uncarriable += 1;
            let row = redact(&Value::String(String::from_utf8_lossy(text).into_owned()));
            quarantine.push(source, line, &[Reason::new(Rule::InvalidRow, "", format!("not JSON: {e}"))], &row);
            return None;
        }
    };
    let units = units(&value);
    quality.count_in(units);
    match R::validate(&value) {
        Validated::Rejected { reasons } => {
            quality.quarantine(Rule::InvalidRow, units);
            rejected.row(&value, R::ENTITY.key_field(), quality);
            quarantine.push(
                source,
                line,
                &reasons.iter().map(Reason::from_issue).collect::<Vec<_>>(),
                &redact(&value),
            );
            None
        }
        Validated::Accepted { record, warnings } => {
            let key = record.key();
            if !seen.insert(key) {
                let field = R::ENTITY.key_field();
                quality.quarantine(Rule::DuplicateKey, units);
                let reason = Reason::new(Rule::DuplicateKey, field, format!("{field} {key} appears again today; the first row is kept"));
                quarantine.push(source, line, &[reason], &redact(&value));
                return None;
            }
            Some((record, warnings, value))
        }
    }
}

fn one_unit(_: &Value) -> u64 {
    1
}

/// A listen-history row counts its items, and one when it has none.
fn listen_units(row: &Value) -> u64 {
    row.get("items").and_then(Value::as_array).map_or(1, |items| items.len().max(1) as u64)
}

fn as_is(row: &Value) -> Value {
    row.clone()
}

impl Transformer {
    pub async fn from_config(config: &Config) -> Result<Self, TransformError> {
        Ok(Self {
            store: crate::storage::open(&config.data_url).await,
            metrics: Metrics::from_config(FUNCTION, config).await,
            pii: Pii::from_config(&config.transform).await?,
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
            let details = json!({ "dq_report": built.report, "fetch_started_at": built.fetch_started_at });
            Ok::<_, TransformError>(Staged { partitions, details, output: built })
        })
        .await?;
        Ok(self.summarize(date, invocation.run_id.to_string(), committed, &built, clock))
    }

    /// Records a committed run's metrics and describes it (the function's response).
    fn summarize(&self, date: NaiveDate, run_id: String, committed: crate::commit::Committed, built: &Built, clock: Instant) -> TransformSummary {
        let report = &built.report;
        let mut tables = BTreeMap::new();
        for o in &built.outputs {
            let (q, s) = (&o.quality, o.stats.as_ref());
            self.metrics
                .record_for(Metric::RowsIn, o.table, q.rows_in as f64);
            self.metrics
                .record_for(Metric::RowsOut, o.table, o.rows as f64);
            self.metrics
                .record_for(Metric::RowsQuarantined, o.table, q.quarantined as f64);
            if o.table != LISTEN_EVENTS_DELTA {
                self.metrics
                    .record_for(Metric::CarriedForward, o.table, q.carried_forward as f64);
            }
            if let Some(s) = s {
                self.metrics.record_for(Metric::NewVersions, o.table, s.new_versions() as f64);
                self.metrics.record_for(Metric::ClosedVersions, o.table, s.closed_versions() as f64);
            }
            tracing::info!(table = o.table, rows_in = q.rows_in, rows_out = o.rows, quarantined = q.quarantined, warnings = q.warnings(),
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

    /// The latest date before `date` that fetch committed, if any.
    async fn previous_raw_date(&self, date: NaiveDate) -> Result<Option<NaiveDate>, StoreError> {
        let runs = self.store.list(&Partition::dataset_prefix(Zone::Raw, RUN_DATASET)).await?;
        Ok(runs
            .iter()
            .filter_map(|o| Partition::parse_key(&o.key).ok())
            .filter(|(p, file)| file == MANIFEST_FILE && p.date < date)
            .map(|(p, _)| p.date)
            .max())
    }

    /// The curated tables D starts from, or a refusal naming the date to transform first.
    async fn previous(&self, date: NaiveDate) -> Result<Option<Previous>, TransformError> {
        let Some(previous) = self.previous_raw_date(date).await? else { return Ok(None) };
        let committed = match read_committed(self.store.as_ref(), Zone::Curated, previous).await {
            Ok(c) => c,
            Err(ReadError::NotCommitted { .. }) => return Err(TransformError::OutOfOrder { date, previous }),
            Err(source) => return Err(TransformError::PreviousUnreadable { previous, source }),
        };
        let tables = committed
            .partitions
            .into_iter()
            .filter_map(|m| {
                let table = [TRACKS, USERS, LISTEN_EVENTS, LISTEN_EVENTS_DELTA]
                    .into_iter()
                    .find(|t| m.partition == Partition::new(Zone::Curated, *t, previous).prefix())?;
                Some((table.to_owned(), m))
            })
            .collect();
        Ok(Some(Previous { date: previous, tables }))
    }

    async fn build(&self, date: NaiveDate, writer: &RunWriter) -> Result<Built, TransformError> {
        let raw = RawDate::open(self.store.as_ref(), date).await?;
        let previous = self.previous(date).await?;
        let fetch_started_at = crate::erase::fetch_started_at(&raw.run);
        let at = MergeAt { as_of: as_of(date), ingested_at: fetch_started_at };
        let layout = Layout { row_group_rows: self.config.row_group_rows, file_rows: self.config.file_rows };
        tracing::info!(store = %self.store.location(), previous = ?previous.as_ref().map(|p| p.date), raw_run = %raw.run.run_id, "transform started");
        let cx = Context { date, writer, raw, previous, at, layout, bucket: crate::buckets::Bucket::WHOLE };

        let mut interner = Interner::default();
        // Today's known keys: those served, and those carried forward.
        let (tracks, track_ids) = self.tracks(&cx, &mut interner).await?;
        let (users, user_ids) = self.users(&cx, &mut interner).await?;
        drop(interner);
        let (events, delta) = self.listen_events(&cx, &track_ids, &user_ids).await?;
        self.assess(&cx, vec![tracks, users, events, delta], fetch_started_at)
    }

    /// Compares the tables with the previous date's (row counts, the fall of current rows) and
    /// writes the data-quality report; refuses a fall beyond `DQ_MAX_CURRENT_DROP`.
    fn assess(&self, cx: &Context<'_>, mut outputs: Vec<Output>, fetch_started_at: DateTime<Utc>) -> Result<Built, TransformError> {
        let max = self.config.max_row_count_change;
        let (mut largest_drop, mut dropped) = (0.0, None);
        for o in &mut outputs {
            let (today, previous) = match &o.stats {
                Some(s) => (s.current, cx.previous_count(o.table, "current")),
                None => (o.rows, cx.previous_count(o.table, "rows")),
            };
            if o.table != LISTEN_EVENTS_DELTA {
                o.quality.compare_rows(today, previous, max);
                let drop = current_drop(today, previous);
                largest_drop = f64::max(largest_drop, drop);
                if drop > self.config.max_current_drop && dropped.is_none() {
                    let (table, previous, max) =
                        (o.table, previous.unwrap_or(0), self.config.max_current_drop);
                    dropped = Some(CurrentRowsDropped {
                        table,
                        today,
                        previous,
                        drop,
                        max,
                    });
                }
            }
        }
        // Recorded before the check, so that the alarm sees the fall that fails a run too.
        self.metrics.record(Metric::CurrentRowsDrop, largest_drop);
        if let Some(d) = dropped {
            return Err(d.into());
        }
        let tables: BTreeMap<&'static str, TableQuality> = outputs
            .iter()
            .filter(|o| o.table != LISTEN_EVENTS_DELTA)
            .map(|o| (o.table, o.quality.clone()))
            .collect();
        let report = DqReport {
            date: cx.date,
            previous_date: cx.previous.as_ref().map(|p| p.date),
            as_of: cx.at.as_of,
            max_quarantine_share: self.config.max_quarantine_share,
            max_row_count_change: max,
            max_current_drop: self.config.max_current_drop,
            current_drop: largest_drop,
            upstream_rejected: cx.raw.rejected(),
            quarantine_share: tables.values().map(|t| t.quarantine_share).fold(0.0, f64::max),
            warnings: tables.values().map(TableQuality::warnings).sum(),
            history: outputs.iter().filter_map(|o| o.stats.clone().map(|s| (o.table, s))).collect(),
            tables,
        };
        Ok(Built { outputs, report, fetch_started_at })
    }

    /// Reads the rows fetch rejected for an entity (its quarantine): counts their units into
    /// `quality.upstream_rejected` and notes their keys, to carry their previous state.
    async fn upstream_rejected(
        &self,
        cx: &Context<'_>,
        entity: Entity,
        units: fn(&Value) -> u64,
        quality: &mut TableQuality,
    ) -> Result<Rejected, TransformError> {
        let mut rejected = Rejected::default();
        for object in cx.raw.quarantine_objects(entity) {
            raw::for_each_line(self.store.as_ref(), &object, |_, text| {
                // A line fetch wrote: {"page", "reasons", "row"}; anything else has no readable key.
                let line: Value = serde_json::from_slice(text).unwrap_or(Value::Null);
                let row = line.get("row").unwrap_or(&Value::Null);
                quality.upstream_rejected += units(row);
                rejected.row(row, entity.key_field(), quality);
            })
            .await?;
        }
        Ok(rejected)
    }

    /// Reads an entity's raw rows through [`classify`], handing each kept one to `keep`.
    #[allow(clippy::too_many_arguments)]
    async fn read_rows<R: Record>(
        &self,
        cx: &Context<'_>,
        rejected: &mut Rejected,
        quality: &mut TableQuality,
        quarantine: &mut QuarantineBuffer,
        units: fn(&Value) -> u64,
        redact: &dyn Fn(&Value) -> Value,
        mut keep: impl FnMut(&str, u64, R, Vec<Issue>, Value, &mut TableQuality, &mut QuarantineBuffer),
    ) -> Result<(), TransformError> {
        let mut seen = HashSet::new();
        for object in cx.raw.data_objects(R::ENTITY) {
            raw::for_each_line(self.store.as_ref(), &object, |line, text| {
                if let Some((record, warnings, value)) = classify::<R>(
                    &mut seen,
                    rejected,
                    quality,
                    quarantine,
                    &object.key,
                    line,
                    text,
                    units,
                    redact,
                ) {
                    keep(
                        &object.key,
                        line,
                        record,
                        warnings,
                        value,
                        quality,
                        quarantine,
                    );
                }
            })
            .await?;
        }
        Ok(())
    }

    async fn tracks(
        &self,
        cx: &Context<'_>,
        interner: &mut Interner,
    ) -> Result<(Output, Vec<i64>), TransformError> {
        let (mut quality, mut quarantine, mut rows) = (
            TableQuality::default(),
            QuarantineBuffer::default(),
            Vec::new(),
        );
        let mut rejected = self
            .upstream_rejected(cx, Entity::Tracks, one_unit, &mut quality)
            .await?;
        self.read_rows::<Track>(
            cx,
            &mut rejected,
            &mut quality,
            &mut quarantine,
            one_unit,
            &as_is,
            |_, _, track, warnings, _, quality, _| {
                quality.warn_row(&warnings);
                rows.push(TrackRow::from_record(track, interner));
            },
        )
        .await?;
        quality.check_share(TRACKS, self.config.max_quarantine_share)?;
        rows.sort_unstable_by_key(|r| r.id);
        self.history(
            cx,
            TRACKS,
            Entity::Tracks,
            rows,
            rejected,
            quality,
            quarantine,
            interner,
        )
        .await
    }

    async fn users(
        &self,
        cx: &Context<'_>,
        interner: &mut Interner,
    ) -> Result<(Output, Vec<i64>), TransformError> {
        let (mut quality, mut quarantine, mut rows) = (
            TableQuality::default(),
            QuarantineBuffer::default(),
            Vec::new(),
        );
        let mut rejected = self
            .upstream_rejected(cx, Entity::Users, one_unit, &mut quality)
            .await?;
        let redact = |row: &Value| self.pii.redact_user_row(row);
        self.read_rows::<User>(
            cx,
            &mut rejected,
            &mut quality,
            &mut quarantine,
            one_unit,
            &redact,
            |_, _, user, warnings, _, quality, _| {
                quality.warn_row(&warnings);
                rows.push(UserRow::from_record(user, &self.pii, interner));
            },
        )
        .await?;
        quality.check_share(USERS, self.config.max_quarantine_share)?;
        rows.sort_unstable_by_key(|r| r.id);
        self.history(
            cx,
            USERS,
            Entity::Users,
            rows,
            rejected,
            quality,
            quarantine,
            interner,
        )
        .await
    }

    /// Merges a sorted snapshot onto the previous history, streaming both into today's table;
    /// returns it with today's current keys (served, or carried forward), sorted.
    #[allow(clippy::too_many_arguments)]
    async fn history<R>(
        &self,
        cx: &Context<'_>,
        table: &'static str,
        entity: Entity,
        snapshot: Vec<R>,
        rejected: Rejected,
        mut quality: TableQuality,
        quarantine: QuarantineBuffer,
        interner: &mut Interner,
    ) -> Result<(Output, Vec<i64>), TransformError>
    where
        R: Versioned,
        Version<R>: Table,
    {
        let mut current: Vec<i64> = snapshot.iter().map(R::key).collect();
        let mut merger = Merger::new(snapshot, rejected.keys, cx.at)
            .map_err(|source| TransformError::Merge { table, source })?;
        let mut previous = cx.previous_reader(&self.store, table)?;
        let mut writer = PartsWriter::<Version<R>>::new(cx.writer, cx.curated(table), cx.layout);
        let mut out = Vec::new();
        let write_err = |source| TransformError::Write { table, source };
        while let Some(batch) = previous.next_batch::<Version<R>>(interner).await.map_err(|source| TransformError::Previous { table, source })? {
            for version in batch {
                merger.push(version, &mut out).map_err(|source| TransformError::Merge { table, source })?;
            }
            current.extend(
                out.iter()
                    .filter(|v| v.carried_forward)
                    .map(|v| v.row.key()),
            );
            writer.extend(out.drain(..)).await.map_err(write_err)?;
        }
        let stats = merger.finish(&mut out);
        current.extend(
            out.iter()
                .filter(|v| v.carried_forward)
                .map(|v| v.row.key()),
        );
        writer.extend(out.drain(..)).await.map_err(write_err)?;
        let (objects, rows) = writer.finish().await.map_err(write_err)?;
        current.sort_unstable();
        quality.carried_forward = stats.carried;
        Ok((
            Output {
                table,
                objects,
                rows,
                quality,
                quarantine,
                stats: Some(stats),
                source: cx.source(entity, table),
            },
            current,
        ))
    }

    /// Listen history into `listen_events` and `listen_events_delta`.
    async fn listen_events(
        &self,
        cx: &Context<'_>,
        track_ids: &[i64],
        user_ids: &[i64],
    ) -> Result<(Output, Output), TransformError> {
        let (mut quality, mut quarantine, mut rows) = (
            TableQuality::default(),
            QuarantineBuffer::default(),
            ListenRows::default(),
        );
        let mut rejected = self
            .upstream_rejected(cx, Entity::ListenHistory, listen_units, &mut quality)
            .await?;
        let keep = |source: &str,
                    line: u64,
                    h: ListenHistory,
                    mut warnings: Vec<Issue>,
                    value: Value,
                    quality: &mut TableQuality,
                    quarantine: &mut QuarantineBuffer| {
            if user_ids.binary_search(&h.user_id).is_err() {
                let units = h.items.len().max(1) as u64;
                quality.quarantine(Rule::UnknownUser, units);
                let reason = Reason::new(Rule::UnknownUser, "user_id", format!("user {} is not in today's users", h.user_id));
                quarantine.push(source, line, &[reason], &value);
                return;
            }
            let mut items = Vec::with_capacity(h.items.len());
            for (position, &track_id) in h.items.iter().enumerate() {
                let position = position as i32;
                if track_ids.binary_search(&track_id).is_ok() {
                    items.push(Item { track_id, position });
                    continue;
                }
                quality.quarantine(Rule::UnknownTrack, 1);
                let reason = Reason::new(Rule::UnknownTrack, "items", format!("track {track_id} (position {position}) is not in today's tracks"));
                let item = json!({"user_id": h.user_id, "track_id": track_id, "position": position,
                    "created_at": h.created_at, "updated_at": h.updated_at});
                quarantine.push(source, line, &[reason], &item);
            }
            if h.items.is_empty() && !warnings.iter().any(|w| w.field == "items") {
                warnings.push(Issue { field: "items".into(), check: Check::EmptyField, detail: "no items".into() });
            }
            quality.warn_row(&warnings);
            rows.push(h.user_id, h.created_at, h.updated_at, items);
        };
        self.read_rows::<ListenHistory>(
            cx,
            &mut rejected,
            &mut quality,
            &mut quarantine,
            listen_units,
            &as_is,
            keep,
        )
        .await?;
        quality.check_share(LISTEN_EVENTS, self.config.max_quarantine_share)?;
        rows.sort_by_user();
        // Users whose row was rejected today keep yesterday's events, if they are still users.
        let today: Vec<i64> = (0..rows.len()).map(|i| rows.user_id(i)).collect();
        let mut carried = rejected.keys;
        carried.sort_unstable();
        carried.dedup();
        carried.retain(|u| today.binary_search(u).is_err() && user_ids.binary_search(u).is_ok());
        let mut carried = carried.into_iter().peekable();

        let mut pairs = bucketed::PreviousListens::of(cx, &self.store)?;
        let mut events = PartsWriter::<ListenEvent>::new(cx.writer, cx.curated(LISTEN_EVENTS), cx.layout).in_folder(cx.bucket.folder());
        let mut delta = PartsWriter::<ListenEvent>::new(cx.writer, cx.curated(LISTEN_EVENTS_DELTA), cx.layout).in_folder(cx.bucket.folder());
        let (mut previous_tracks, mut out) = (Vec::new(), Vec::new());
        let write_err = |table| move |source| TransformError::Write { table, source };
        for i in 0..=rows.len() {
            let user = (i < rows.len()).then(|| rows.user_id(i));
            while let Some(c) = carried.next_if(|c| user.is_none_or(|u| *c < u)) {
                pairs.events_of(c, &mut out).await?;
                // A track gone today leaves the carried history, as it leaves served ones.
                out.retain(|e| track_ids.binary_search(&e.track_id).is_ok());
                quality.carried_forward += u64::from(!out.is_empty());
                for e in out.drain(..) {
                    events
                        .push(ListenEvent {
                            is_new: false,
                            carried_forward: true,
                            ..e
                        })
                        .await
                        .map_err(write_err(LISTEN_EVENTS))?;
                }
            }
            let Some(user) = user else { break };
            pairs.tracks_of(user, &mut previous_tracks).await?;
            rows.events_of(i, &previous_tracks, &mut out);
            for e in out.drain(..) {
                if e.is_new {
                    delta
                        .push(e.clone())
                        .await
                        .map_err(write_err(LISTEN_EVENTS_DELTA))?;
                }
                events.push(e).await.map_err(write_err(LISTEN_EVENTS))?;
            }
        }
        let (objects, written) = events.finish().await.map_err(|source| TransformError::Write { table: LISTEN_EVENTS, source })?;
        let (delta_objects, delta_rows) = delta.finish().await.map_err(|source| TransformError::Write { table: LISTEN_EVENTS_DELTA, source })?;
        let source = cx.source(Entity::ListenHistory, LISTEN_EVENTS);
        let events = Output { table: LISTEN_EVENTS, objects, rows: written, quality, quarantine, stats: None, source: source.clone() };
        let delta = Output {
            table: LISTEN_EVENTS_DELTA,
            objects: delta_objects,
            rows: delta_rows,
            quality: TableQuality::default(),
            quarantine: QuarantineBuffer::default(),
            stats: None,
            source,
        };
        Ok((events, delta))
    }

    /// Writes the quarantined rows and describes every partition for the commit.
    async fn partitions(&self, date: NaiveDate, writer: &RunWriter, built: &mut Built) -> Result<Vec<PartitionCommit>, TransformError> {
        let mut out = Vec::new();
        for o in &mut built.outputs {
            let mut objects = o.objects.clone();
            let quarantine = Partition::new(Zone::Quarantine, quarantine_dataset(o.table), date);
            let lines = o.quarantine.rows;
            if let Some(gz) = std::mem::take(&mut o.quarantine).finish() {
                let key = quarantine.part_key(0, writer.run_id(), "jsonl.gz");
                objects.push(writer.put_object(key, Bytes::from(gz), lines, ObjectRole::Quarantine).await?);
            }
            let q = &o.quality;
            let mut counts = BTreeMap::from([
                ("rows".to_owned(), o.rows),
                ("rows_in".to_owned(), q.rows_in),
                ("quarantined".to_owned(), q.quarantined),
                ("warned".to_owned(), q.warned_rows),
                ("carried_forward".to_owned(), q.carried_forward),
            ]);
            if let Some(s) = &o.stats {
                counts.extend([
                    ("current".to_owned(), s.current),
                    ("new_versions".to_owned(), s.new_versions()),
                    ("closed_versions".to_owned(), s.closed_versions()),
                ]);
            }
            let details = json!({"quality": q, "scd2": o.stats});
            let also_owns = if o.table == LISTEN_EVENTS_DELTA { vec![] } else { vec![quarantine] };
            out.push(PartitionCommit { partition: Partition::new(Zone::Curated, o.table, date), counts, objects, source: o.source.clone(), details, also_owns });
        }
        Ok(out)
    }
}

/// A committed curated table of `date` (one of [`TRACKS`], [`USERS`], [`LISTEN_EVENTS`],
/// [`LISTEN_EVENTS_DELTA`]), read whole through its manifest: for tests and tools (the job streams).
pub async fn read_curated<T: Table>(store: Arc<dyn Store>, date: NaiveDate, table: &'static str) -> Result<Vec<T>, TransformError> {
    let committed = read_committed(store.as_ref(), Zone::Curated, date)
        .await
        .map_err(|source| TransformError::PreviousUnreadable { previous: date, source })?;
    let prefix = Partition::new(Zone::Curated, table, date).prefix();
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
