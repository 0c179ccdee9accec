//! Transform fanned out over the buckets of users ([`crate::buckets`]), committed once.
//!
//! A fanned run of date D has one run id and three phases:
//!
//! 1. [`Transformer::prepare`]: tracks and users (whole: millions of rows, not billions) into the
//!    run's folders, and the plan, `curated/listen_events/dt=D/run=<id>/_fanout/plan.json`: the
//!    raw run and the previous curated run it read, today's track and user keys, the buckets.
//! 2. [`Transformer::transform_bucket`], once per bucket k (in any order, in parallel, retried):
//!    bucket k of D's raw listen history merged onto the previous date's events of the same
//!    users, into `run=<id>/bucket-k-of-B/` of `listen_events` and `listen_events_delta`, and
//!    the bucket's record `_fanout/bucket-k-of-B.json` (its parts, counts, quality). A bucket
//!    writes the same keys and bytes on every attempt.
//! 3. [`Transformer::commit_fanned`]: under the date's lease ([`with_run`], the one commit path),
//!    checks that the raw and previous curated commits are still the ones the plan read, adds
//!    the buckets' quality up, applies the run's data-quality checks to the whole, and commits
//!    every table of the date with one run manifest. Nothing is visible before that write.
//!
//! Phases 1 and 2 take no lease: they write only under the run's own `run=<id>/` folders, which
//! no reader sees; a fanned run that never commits leaves objects that the orphan clean-up of a
//! later commit removes, as a crashed run's. The committed tables hold the same rows as a whole
//! run of D: tracks and users byte for byte; the listen tables split by bucket (each bucket in
//! user order), which every reader of the code takes as it takes a whole table.

use super::build::{RunInputs, TableOutput};
use super::previous::PreviousDate;
use super::quality::{QuarantineBuffer, TableQuality};
use super::raw_date::RawDate;
use super::scd2::{MergeAt, MergeStats};
use super::{FUNCTION, RunDetails, TransformError, TransformSummary, Transformer, as_of};
use crate::buckets::Bucket;
use crate::fanout::{self, FanoutError, Step, bucket_of, run_id_of};
use crate::codec::Layout;
use crate::commit::{RunId, RunSpec, RunWriter, Staged, with_run};
use crate::curated::TableName;
use crate::job::{Invocation, observed};
use crate::manifest::{FetchStarted, ObjectEntry, ObjectRole};
use crate::partition::{FANOUT_PLAN_FILE, Partition, Zone, fanout_bucket_file, quarantine_dataset};
use crate::records::Entity;
use crate::trigger::{Trigger, check_logical_date};
use bytes::Bytes;
use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Instant;

/// What the layout errors name.
const RAW_LISTENS: &str = "raw listen history";

/// One table's output as a phase records it for the commit (its quarantine already written).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Recorded {
    table: TableName,
    objects: Vec<ObjectEntry>,
    rows: u64,
    quality: TableQuality,
    stats: Option<MergeStats>,
    source: String,
}

/// What phase 1 decided; every bucket and the commit read it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Plan {
    pub date: NaiveDate,
    pub run_id: String,
    /// The raw listen history's buckets: one bucket phase each.
    pub buckets: u32,
    raw_run: String,
    /// The previous curated date and its run, if any.
    previous: Option<(NaiveDate, String)>,
    tracks: Recorded,
    users: Recorded,
    track_ids: Vec<i64>,
    user_ids: Vec<i64>,
}

/// What one bucket wrote.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct BucketRecord {
    index: u32,
    count: u32,
    events: Recorded,
    delta: Recorded,
}

/// Where a fanned run's records live: beside the listen events, in the run's folder, so that
/// the orphan clean-up of the partition removes those of a run that never committed.
fn record_key(date: NaiveDate, run_id: &str, file: &str) -> String {
    Partition::new(Zone::Curated, TableName::ListenEvents.as_str(), date).run_file(run_id, file)
}

/// The prefixes a bucket's phase writes under: cleared before a retry of the bucket.
pub fn bucket_prefixes(date: NaiveDate, run_id: &str, bucket: Bucket) -> Vec<String> {
    let mut prefixes: Vec<String> = [
        Partition::new(Zone::Curated, TableName::ListenEvents.as_str(), date),
        Partition::new(Zone::Curated, TableName::ListenEventsDelta.as_str(), date),
        Partition::new(Zone::Quarantine, quarantine_dataset(TableName::ListenEvents.as_str()), date),
    ]
    .iter()
    .map(|p| p.bucket_parts_prefix(run_id, bucket))
    .collect();
    prefixes.push(record_key(date, run_id, &fanout_bucket_file(bucket)));
    prefixes
}

impl Recorded {
    async fn of(o: TableOutput) -> Result<Self, TransformError> {
        let objects = o.objects.uploaded().await.map_err(|source| TransformError::Write { table: o.table, source })?;
        Ok(Self { table: o.table, objects, rows: o.rows, quality: o.quality, stats: o.stats, source: o.source })
    }

    fn output(self) -> TableOutput {
        let Recorded { table, objects, rows, quality, stats, source } = self;
        TableOutput { table, objects: objects.into(), rows, quality, quarantine: QuarantineBuffer::default(), stats, source }
    }

    /// Adds another bucket's output of the same table: its parts after these, its counts.
    fn add(&mut self, other: Recorded) {
        let TableQuality {
            rows_in,
            upstream_rejected,
            carried_forward,
            uncarriable,
            quarantined,
            quarantine_share: _,
            quarantined_by_check,
            warned_rows,
            warnings_by_check,
            unknown_fields,
            row_count: _,
        } = other.quality;
        let q = &mut self.quality;
        q.rows_in += rows_in;
        q.upstream_rejected += upstream_rejected;
        q.carried_forward += carried_forward;
        q.uncarriable += uncarriable;
        q.quarantined += quarantined;
        q.warned_rows += warned_rows;
        for (into, from) in [(&mut q.quarantined_by_check, quarantined_by_check), (&mut q.warnings_by_check, warnings_by_check)] {
            for (rule, n) in from {
                *into.entry(rule).or_default() += n;
            }
        }
        for (field, n) in unknown_fields {
            *q.unknown_fields.entry(field).or_default() += n;
        }
        self.objects.extend(other.objects);
        self.rows += other.rows;
    }
}

/// Writes an output's quarantined rows (into `folder` of the run's folder) and lists them with
/// its objects, as [`Transformer::partitions`] does for a whole run.
async fn write_quarantine(writer: &RunWriter, date: NaiveDate, folder: &str, o: &mut TableOutput) -> Result<(), TransformError> {
    let lines = o.quarantine.rows();
    if let Some(gz) = std::mem::take(&mut o.quarantine).finish() {
        let partition = Partition::new(Zone::Quarantine, quarantine_dataset(o.table.as_str()), date);
        let key = partition.part_key_in(writer.run_id(), folder, 0, "jsonl.gz");
        let mut objects = std::mem::take(&mut o.objects).uploaded().await.map_err(|source| TransformError::Write { table: o.table, source })?;
        objects.push(writer.put_object(key, Bytes::from(gz), lines, ObjectRole::Quarantine).await?);
        o.objects = objects.into();
    }
    Ok(())
}

impl Transformer {
    /// Runs a step of the fan-out state machine; `None` when the event is not one (no `fanout`).
    ///
    /// - `plan` answers `{"date", "fanned": false}` when the raw date is in one bucket (the state
    ///   machine then runs the whole transform in one invocation, as without fan-out), else runs
    ///   phase 1 and answers `{"date", "run_id", "fanned": true, "count": B, "buckets": [0, ..,
    ///   B-1]}`, the Map state's items;
    /// - `bucket` runs phase 2 for one bucket and answers `{"bucket", "buckets", "listen_items"}`;
    /// - `commit` runs phase 3 under the plan's run id and answers the transform summary (or,
    ///   retried after its run committed, `{"date", "run_id", "already_committed": true}`).
    pub async fn handle_step(&self, event: &Value, invocation: Invocation) -> Option<Result<Value, TransformError>> {
        let step = Step::parse(event)?;
        Some(async move { self.step(step?, invocation).await }.await)
    }

    async fn step(&self, step: Step, invocation: Invocation) -> Result<Value, TransformError> {
        match step {
            Step::Plan { event } => {
                let trigger = Trigger::parse(&event)?;
                if let Trigger::Committed { zone, key, .. } = &trigger
                    && *zone != Zone::Raw
                {
                    return Err(TransformError::WrongZone { zone: *zone, key: key.clone() });
                }
                let date = trigger.logical_date();
                check_logical_date(date, invocation.started_at, None, true)?;
                let raw = RawDate::open(self.store.as_ref(), date).await?;
                let keys = raw.partitions[&Entity::ListenHistory].objects.iter().map(|o| o.key.as_str());
                let buckets = crate::buckets::count_of(keys).map_err(|detail| FanoutError::Layout { what: RAW_LISTENS, date, detail })?;
                if buckets == 1 {
                    return Ok(json!({"date": date, "fanned": false}));
                }
                let plan = self.prepare(date, &invocation.run_id).await?;
                // The Map's items are the bucket indexes (a few bytes each: 4,096 stay far inside a
                // state's 256 KiB); its ItemSelector makes each a bucket step event.
                let items: Vec<u32> = (0..plan.buckets).collect();
                Ok(json!({"date": date, "run_id": plan.run_id, "fanned": true, "count": plan.buckets, "buckets": items}))
            }
            Step::Bucket { date, run_id, bucket, buckets } => {
                let listen_items = self.transform_bucket(date, &run_id_of(&run_id)?, bucket_of(bucket, buckets)?).await?;
                Ok(json!({"bucket": bucket, "buckets": buckets, "listen_items": listen_items}))
            }
            Step::Commit { date, run_id } => {
                if let Some(done) = fanout::already_committed(self.store.as_ref(), Zone::Curated, date, &run_id).await {
                    return Ok(done);
                }
                let invocation = Invocation { run_id: run_id_of(&run_id)?, ..invocation };
                let summary = self.commit_fanned(date, invocation).await?;
                Ok(serde_json::to_value(summary).expect("a summary serialises"))
            }
        }
    }

    async fn put_record<T: Serialize>(&self, writer: &RunWriter, file: &str, record: &T) -> Result<(), TransformError> {
        Ok(fanout::put_record(writer, record_key(writer.date(), writer.run_id(), file), record).await?)
    }

    async fn get_record<T: for<'de> Deserialize<'de>>(&self, date: NaiveDate, run_id: &str, file: &str, what: &str) -> Result<T, TransformError> {
        Ok(fanout::get_record(self.store.as_ref(), record_key(date, run_id, file), what, date, run_id).await?)
    }

    /// The raw date and the previous curated date, checked against what the plan read.
    async fn inputs(&self, plan: &Plan) -> Result<(RawDate, Option<PreviousDate>), TransformError> {
        let raw = RawDate::open(self.store.as_ref(), plan.date).await?;
        let changed = |input: &str, planned: &str, now: &str| FanoutError::InputChanged { date: plan.date, input: input.to_owned(), planned: planned.to_owned(), now: now.to_owned() };
        if raw.run.run_id != plan.raw_run {
            return Err(changed("raw", &plan.raw_run, &raw.run.run_id).into());
        }
        let previous = self.previous(plan.date).await?;
        let now = previous_run(&previous);
        if now != plan.previous {
            let show = |p: &Option<(NaiveDate, String)>| p.as_ref().map_or("none".to_owned(), |(d, r)| format!("{r} of {d}"));
            return Err(changed("the previous curated date", &show(&plan.previous), &show(&now)).into());
        }
        Ok((raw, previous))
    }

    fn layout(&self) -> Layout {
        Layout { row_group_rows: self.config.row_group_rows, file_rows: self.config.file_rows }
    }

    /// Phase 1: tracks and users, and the plan of the buckets.
    pub async fn prepare(&self, date: NaiveDate, run_id: &RunId) -> Result<Plan, TransformError> {
        let raw = RawDate::open(self.store.as_ref(), date).await?;
        let previous = self.previous(date).await?;
        let listen_keys = raw.partitions[&Entity::ListenHistory].objects.iter().map(|o| o.key.as_str());
        let buckets = crate::buckets::count_of(listen_keys).map_err(|detail| FanoutError::Layout { what: RAW_LISTENS, date, detail })?;
        let fetch_started_at = crate::erase::fetch_started_at(&raw.run);
        let at = MergeAt { as_of: as_of(date), ingested_at: fetch_started_at };
        let writer = RunWriter::new(self.store.clone(), FUNCTION, Zone::Curated, date, run_id.clone(), Utc::now());
        let (raw_run, previous_run) = (raw.run.run_id.clone(), previous_run(&previous));
        tracing::info!(%date, %run_id, buckets, previous = ?previous_run, "fanned transform: preparing");
        let cx = RunInputs { date, writer: &writer, raw, previous, at, layout: self.layout(), bucket: Bucket::WHOLE };
        let [(mut tracks, track_ids), (mut users, user_ids)] = self.history_tables(&cx).await?;
        for o in [&mut tracks, &mut users] {
            write_quarantine(&writer, date, "", o).await?;
        }
        let plan = Plan {
            date,
            run_id: run_id.to_string(),
            buckets,
            raw_run,
            previous: previous_run,
            tracks: Recorded::of(tracks).await?,
            users: Recorded::of(users).await?,
            track_ids,
            user_ids,
        };
        self.put_record(&writer, FANOUT_PLAN_FILE, &plan).await?;
        Ok(plan)
    }

    /// Phase 2: the listen tables of one bucket of users. Returns the listen items read (the
    /// bucket's `rows_in` of the listen events).
    pub async fn transform_bucket(&self, date: NaiveDate, run_id: &RunId, bucket: Bucket) -> Result<u64, TransformError> {
        let plan: Plan = self.get_record(date, run_id.as_str(), FANOUT_PLAN_FILE, "the plan").await?;
        if bucket.count != plan.buckets {
            return Err(FanoutError::WrongBucket { bucket, count: plan.buckets }.into());
        }
        let (mut raw, previous) = self.inputs(&plan).await?;
        if let Some(m) = raw.partitions.get_mut(&Entity::ListenHistory) {
            m.objects.retain(|o| Bucket::of_key(&o.key) == bucket);
        }
        let fetch_started_at = crate::erase::fetch_started_at(&raw.run);
        let at = MergeAt { as_of: as_of(date), ingested_at: fetch_started_at };
        let writer = RunWriter::new(self.store.clone(), FUNCTION, Zone::Curated, date, run_id.clone(), Utc::now());
        let cx = RunInputs { date, writer: &writer, raw, previous, at, layout: self.layout(), bucket };
        let user_ids: Vec<i64> = plan.user_ids.iter().copied().filter(|u| bucket.contains(*u)).collect();
        // The quarantine share is a property of the whole table: the commit checks it.
        let mut config = self.config.clone();
        config.max_quarantine_share = f64::INFINITY;
        let job = Transformer { config, ..self.clone() };
        let (mut events, mut delta) = job.listen_events(&cx, &plan.track_ids, &user_ids).await?;
        for o in [&mut events, &mut delta] {
            write_quarantine(&writer, date, &bucket.folder(), o).await?;
        }
        let listen_items = events.quality.rows_in;
        let record = BucketRecord { index: bucket.index, count: bucket.count, events: Recorded::of(events).await?, delta: Recorded::of(delta).await? };
        self.put_record(&writer, &fanout_bucket_file(bucket), &record).await?;
        Ok(listen_items)
    }

    /// Phase 3: every bucket's tables and the plan's, checked as a whole and committed.
    pub async fn commit_fanned(&self, date: NaiveDate, invocation: impl Into<Invocation>) -> Result<TransformSummary, TransformError> {
        let invocation = invocation.into();
        let run_id = invocation.run_id.clone();
        observed(FUNCTION, &self.metrics, &run_id, date, self.commit_fanned_run(date, invocation)).await
    }

    async fn commit_fanned_run(&self, date: NaiveDate, invocation: Invocation) -> Result<TransformSummary, TransformError> {
        let clock = Instant::now();
        let run_id = invocation.run_id.clone();
        let spec = RunSpec { store: self.store.clone(), stage: FUNCTION, zone: Zone::Curated, date, run_id: run_id.clone(), deadline: invocation.deadline };
        let (committed, built) = with_run(spec, &self.commit, |writer| async move {
            let plan: Plan = self.get_record(date, run_id.as_str(), FANOUT_PLAN_FILE, "the plan").await?;
            let (raw, previous) = self.inputs(&plan).await?;
            let mut records = Vec::new();
            for bucket in Bucket::all(plan.buckets) {
                let what = format!("the record of {bucket}");
                records.push(self.get_record::<BucketRecord>(date, run_id.as_str(), &fanout_bucket_file(bucket), &what).await?);
            }
            let mut records = records.into_iter();
            let first = records.next().expect("at least one bucket");
            let (mut events, mut delta) = (first.events, first.delta);
            for r in records {
                events.add(r.events);
                delta.add(r.delta);
            }
            events.quality.check_share(TableName::ListenEvents, self.config.max_quarantine_share)?;
            let fetch_started_at = crate::erase::fetch_started_at(&raw.run);
            let at = MergeAt { as_of: as_of(date), ingested_at: fetch_started_at };
            let cx = RunInputs { date, writer: &writer, raw, previous, at, layout: self.layout(), bucket: Bucket::WHOLE };
            let outputs = [plan.tracks, plan.users, events, delta].map(Recorded::output).into();
            let mut built = self.assess(&cx, outputs, fetch_started_at)?;
            let partitions = self.partitions(date, &writer, &mut built).await?;
            let fetch = FetchStarted { fetch_started_at: built.fetch_started_at };
            let details = RunDetails { dq_report: &built.report, fetch, buckets: Some(plan.buckets) };
            let details = serde_json::to_value(details).expect("the run details serialise");
            Ok::<_, TransformError>(Staged { partitions, details, output: (built, plan.buckets) })
        })
        .await?;
        let (built, buckets) = built;
        fanout::delete_records(self.store.as_ref(), buckets, |file| record_key(date, invocation.run_id.as_str(), file)).await;
        Ok(self.summarize(date, invocation.run_id.to_string(), committed, &built, clock))
    }
}

/// The previous curated date and the run that committed it.
fn previous_run(previous: &Option<PreviousDate>) -> Option<(NaiveDate, String)> {
    previous.as_ref().map(|p| (p.date, p.tables.values().next().map(|m| m.run_id.clone()).unwrap_or_default()))
}
