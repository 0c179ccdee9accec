//! Scoring fanned out over the buckets of users ([`crate::fanout`]), committed once.
//!
//! The buckets are those of the date's curated listen events (transform's fan-out writes them
//! by bucket; a date transformed whole is one bucket). A fanned scoring of date D has one run id
//! and three steps:
//!
//! 1. [`Recommender::plan_score`]: trains first if due (as a whole scoring does; training reads
//!    the date whole), fixes the model every bucket scores with, and counts everyone's listens
//!    ([`TrackCounts`]: popularity, cold start and drift need them, whoever is scored), during
//!    training's read when it trained, else one bucket at a time: the plan,
//!    `recommendations/dt=D/run=<id>/_fanout/plan.json`.
//! 2. [`Recommender::score_bucket`], once per bucket k: the users of bucket k, with their own
//!    listens and the plan's counts and model, into `run=<id>/bucket-k-of-B/` (Parquet) and
//!    `run=<id>/_jsonl/bucket-k-of-B/` (the export), and the bucket's record. A bucket writes
//!    the same keys and bytes on every attempt.
//! 3. [`Recommender::commit_score`]: under the date's lease ([`with_run`]), checks that the
//!    curated commit is still the one the plan read, adds the buckets up and commits the
//!    partition with one run manifest.
//!
//! A user's list depends only on their own listens, the counts and the model, so the committed
//! rows are those of a whole scoring of D (each bucket's files in user order).

use super::counts::{ListenCounter, TrackCounts};
use super::inputs::{InputError, for_each_recent, read_committed_inputs, read_listens};
use super::score::ScoredPart;
use super::{FUNCTION, RecommendError, Recommender, ScoreSummary, TrainSummary};
use crate::buckets::Bucket;
use crate::commit::{CommittedRun, RunId, RunSpec, RunWriter, Staged, read_committed, with_run};
use crate::curated::TableName;
use crate::fanout::{self, FanoutError, Step, bucket_of, run_id_of};
use crate::job::{Invocation, observed};
use crate::manifest::ObjectRole;
use crate::metrics::Metric;
use crate::partition::{FANOUT_PLAN_FILE, Partition, Zone, fanout_bucket_file};
use crate::trigger::check_logical_date;
use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Instant;

/// What the layout errors name.
const CURATED_LISTENS: &str = "curated listen events";

/// What the plan decided; every bucket and the commit read it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScorePlan {
    pub date: NaiveDate,
    pub run_id: String,
    /// The curated listen events' buckets: one bucket step each.
    pub buckets: u32,
    /// The curated run scored: every step checks it is still the date's.
    curated_run: String,
    /// The model every bucket scores with (`None`: cold start for everyone).
    model_version: Option<String>,
    /// Tracks per user, as configured when planned: every bucket lists as many.
    top_k: usize,
    /// The training the plan ran first, if it was due.
    pub(super) trained: Option<TrainSummary>,
    pub(super) counts: TrackCounts,
    /// The counts came from training's read, not a second read of the date.
    #[serde(default)]
    pub(super) counts_read_with_training: bool,
}

/// Where a fanned scoring's records live: in the run's folder of the date's recommendations,
/// so that the orphan clean-up removes those of a run that never committed.
fn record_key(date: NaiveDate, run_id: &str, file: &str) -> String {
    Partition::new(Zone::Recommendations, "", date).run_file(run_id, file)
}

/// The prefixes a bucket's step writes under: cleared before a retry of the bucket.
pub fn bucket_prefixes(date: NaiveDate, run_id: &str, bucket: Bucket) -> Vec<String> {
    let partition = Partition::new(Zone::Recommendations, "", date);
    let export = partition.export_jsonl_key(run_id, bucket);
    let export_folder = &export[..=export.rfind('/').expect("a key with folders")];
    vec![partition.bucket_parts_prefix(run_id, bucket), export_folder.to_owned(), record_key(date, run_id, &fanout_bucket_file(bucket))]
}

impl Recommender {
    /// Runs a step of the scoring state machine; `None` when the event is not one (no `fanout`).
    ///
    /// - `plan` answers `{"date", "fanned": false}` when the curated date is in one bucket (the
    ///   state machine then scores it in one invocation, as without fan-out), else plans and
    ///   answers `{"date", "run_id", "fanned": true, "count": B, "buckets": [0, .., B-1]}`;
    /// - `bucket` scores one bucket and answers `{"bucket", "buckets", "listen_items"}`;
    /// - `commit` commits under the plan's run id and answers the score summary (or, retried
    ///   after its run committed, `{"date", "run_id", "already_committed": true}`).
    pub async fn handle_step(&self, event: &Value, invocation: Invocation) -> Option<Result<Value, RecommendError>> {
        let step = Step::parse(event)?;
        Some(async move { self.step(step?, invocation).await }.await)
    }

    async fn step(&self, step: Step, invocation: Invocation) -> Result<Value, RecommendError> {
        match step {
            Step::Plan { event } => {
                let date = match super::request::Request::parse(&event)? {
                    super::request::Request::Score { date } => date,
                    other => return Err(FanoutError::BadStep(format!("a scoring plan's event asks for {other:?}, not a score")).into()),
                };
                check_logical_date(date, invocation.started_at, None, true)?;
                let committed = self.curated(date).await?;
                if listen_buckets(&committed, date)? == 1 {
                    return Ok(json!({"date": date, "fanned": false}));
                }
                let planned = self.plan_score(date, &invocation).await;
                // The training it may have run recorded its metrics (the gate's alarm reads them).
                self.metrics.flush().await;
                let plan = planned?;
                let items: Vec<u32> = (0..plan.buckets).collect();
                Ok(json!({"date": date, "run_id": plan.run_id, "fanned": true, "count": plan.buckets, "buckets": items}))
            }
            Step::Bucket { date, run_id, bucket, buckets } => {
                let listen_items = self.score_bucket(date, &run_id_of(&run_id)?, bucket_of(bucket, buckets)?).await?;
                Ok(json!({"bucket": bucket, "buckets": buckets, "listen_items": listen_items}))
            }
            Step::Commit { date, run_id } => {
                if let Some(done) = fanout::already_committed(self.store.as_ref(), Zone::Recommendations, date, &run_id).await {
                    return Ok(done);
                }
                let invocation = Invocation { run_id: run_id_of(&run_id)?, ..invocation };
                Ok(serde_json::to_value(self.commit_score(date, invocation).await?).expect("a summary serialises"))
            }
        }
    }

    async fn curated(&self, date: NaiveDate) -> Result<CommittedRun, RecommendError> {
        Ok(read_committed(self.store.as_ref(), Zone::Curated, date).await.map_err(|source| InputError::NotReadable { date, source })?)
    }

    /// The curated commit of the plan's date, refused if it is no longer the one the plan read.
    async fn planned_curated(&self, plan: &ScorePlan) -> Result<CommittedRun, RecommendError> {
        let committed = self.curated(plan.date).await?;
        if committed.run.run_id != plan.curated_run {
            let (planned, now) = (plan.curated_run.clone(), committed.run.run_id.clone());
            return Err(FanoutError::InputChanged { date: plan.date, input: "the curated date".to_owned(), planned, now }.into());
        }
        Ok(committed)
    }

    /// Refuses to commit lists of a model that a rollback has replaced since the plan: a pinned
    /// champion other than the plan's model is an operator's decision that this run predates.
    /// (A champion promoted by training meanwhile is not: the lists of the model that was the
    /// champion when planned stand, as a whole scoring's that started before it would.)
    async fn check_no_rollback_since(&self, plan: &ScorePlan) -> Result<(), RecommendError> {
        let Some((champion, _)) = self.models().champion().await? else { return Ok(()) };
        if champion.pinned && plan.model_version.as_deref() != Some(champion.version.as_str()) {
            let planned = plan.model_version.clone().unwrap_or_else(|| "no model".to_owned());
            return Err(FanoutError::InputChanged { date: plan.date, input: "the champion (pinned by a rollback)".to_owned(), planned, now: champion.version }.into());
        }
        Ok(())
    }

    fn writer(&self, date: NaiveDate, run_id: RunId) -> RunWriter {
        RunWriter::new(self.store.clone(), FUNCTION, Zone::Recommendations, date, run_id, Utc::now())
    }

    async fn plan(&self, date: NaiveDate, run_id: &str) -> Result<ScorePlan, RecommendError> {
        Ok(fanout::get_record(self.store.as_ref(), record_key(date, run_id, FANOUT_PLAN_FILE), "the scoring plan", date, run_id).await?)
    }

    /// Step 1: training if due, the model, and everyone's counts, recorded as the plan.
    pub async fn plan_score(&self, date: NaiveDate, invocation: &Invocation) -> Result<ScorePlan, RecommendError> {
        let run_id = invocation.run_id.as_str();
        let committed = self.curated(date).await?;
        let buckets = listen_buckets(&committed, date)?;
        tracing::info!(%date, run_id, buckets, curated = %committed.run.run_id, "fanned scoring: planning");
        // Training reads the date (its users, or the recipe's sample of them) only when it is
        // due, and then counts everyone's listens as they stream past.
        let (trained, counted) = match self.needs_training(date, invocation.started_at).await? {
            true => {
                let mut everyone = ListenCounter::new(buckets);
                let inputs = self.read_for_training_from(date, &committed, Some(&mut everyone)).await?;
                let counted = everyone.finish();
                if counted.is_none() {
                    tracing::warn!(%date, "curated listen events out of user order: counted by a second read");
                }
                (self.train_for_scoring(&Arc::new(inputs), run_id).await?, counted)
            }
            false => (None, None),
        };
        let model_version = self.models().champion().await?.map(|(c, _)| c.version);
        // Otherwise one bucket's listens in memory at a time, and the recent listens batch by
        // batch: the plan holds no more than a bucket does.
        let counts_read_with_training = counted.is_some();
        let mut counts = match counted {
            Some(counts) => counts,
            None => {
                let mut counts = TrackCounts::default();
                for bucket in Bucket::all(buckets) {
                    counts.add(TrackCounts::new(&read_listens(&self.store, date, &committed, Some(bucket), &|_| true, None).await?, &[]));
                }
                counts
            }
        };
        for_each_recent(&self.store, date, self.config.cold_start_recent_days, |batch| counts.recent.count(&batch)).await?;
        let plan = ScorePlan { date, run_id: run_id.to_owned(), buckets, curated_run: committed.run.run_id.clone(), model_version, top_k: self.config.top_k, trained, counts, counts_read_with_training };
        let writer = self.writer(date, invocation.run_id.clone());
        fanout::put_record(&writer, record_key(date, run_id, FANOUT_PLAN_FILE), &plan).await?;
        Ok(plan)
    }

    /// Step 2: the users of one bucket scored and written. Returns the listen items read.
    pub async fn score_bucket(&self, date: NaiveDate, run_id: &RunId, bucket: Bucket) -> Result<u64, RecommendError> {
        let plan = self.plan(date, run_id.as_str()).await?;
        if bucket.count != plan.buckets {
            return Err(FanoutError::WrongBucket { bucket, count: plan.buckets }.into());
        }
        let committed = self.planned_curated(&plan).await?;
        let inputs = Arc::new(read_committed_inputs(&self.store, date, &committed, Some(bucket), &|_| true, None).await?);
        let model = match &plan.model_version {
            Some(version) => Some(self.load_serving(version).await?),
            None => None,
        };
        let writer = self.writer(date, run_id.clone());
        let part = self.score_part(inputs, Arc::new(plan.counts), model, plan.top_k, &writer, bucket).await?;
        let listens = part.listens;
        fanout::put_record(&writer, record_key(date, run_id.as_str(), &fanout_bucket_file(bucket)), &part).await?;
        Ok(listens)
    }

    /// Step 3: every bucket's part, checked and committed once.
    pub async fn commit_score(&self, date: NaiveDate, invocation: impl Into<Invocation>) -> Result<ScoreSummary, RecommendError> {
        let invocation = invocation.into();
        let run_id = invocation.run_id.clone();
        observed(FUNCTION, &self.metrics, &run_id, date, self.commit_score_run(date, invocation)).await
    }

    async fn commit_score_run(&self, date: NaiveDate, invocation: Invocation) -> Result<ScoreSummary, RecommendError> {
        let clock = Instant::now();
        let run_id = invocation.run_id.clone();
        let spec = RunSpec { store: self.store.clone(), stage: FUNCTION, zone: Zone::Recommendations, date, run_id: run_id.clone(), deadline: invocation.deadline };
        let (committed, (mut summary, buckets, fetched)) = with_run(spec, &self.commit, |_writer| async move {
            let plan = self.plan(date, run_id.as_str()).await?;
            let curated = self.planned_curated(&plan).await?;
            self.check_no_rollback_since(&plan).await?;
            let mut parts: Vec<ScoredPart> = Vec::new();
            for bucket in Bucket::all(plan.buckets) {
                let key = record_key(date, run_id.as_str(), &fanout_bucket_file(bucket));
                parts.push(fanout::get_record(self.store.as_ref(), key, &format!("the record of {bucket}"), date, run_id.as_str()).await?);
            }
            let (partition, mut details, summary) = self.finish_score(date, run_id.as_str(), plan.model_version, plan.trained, plan.top_k, parts);
            details["buckets"] = json!(plan.buckets);
            let fetched = crate::manifest::FetchStarted::recorded(&curated.run);
            Ok::<_, RecommendError>(Staged { partitions: vec![partition], details, output: (summary, plan.buckets, fetched) })
        })
        .await?;
        summary.run_manifest = committed.run_manifest;
        summary.duration_ms = clock.elapsed().as_millis() as u64;
        self.metrics.record(Metric::CleanupFailures, committed.cleanup_failures as f64);
        if let Some(fetched) = fetched {
            self.metrics.record(Metric::FreshnessSeconds, (Utc::now() - fetched).num_milliseconds() as f64 / 1000.0);
        }
        fanout::delete_records(self.store.as_ref(), buckets, |file| record_key(date, invocation.run_id.as_str(), file)).await;
        Ok(summary)
    }
}

/// How many buckets a committed curated date's listen events are in.
fn listen_buckets(committed: &CommittedRun, date: NaiveDate) -> Result<u32, FanoutError> {
    let prefix = Partition::new(Zone::Curated, TableName::ListenEvents.as_str(), date).prefix();
    let keys = committed.partitions.iter().filter(|m| m.partition == prefix).flat_map(|m| m.objects.iter().filter(|o| o.role == ObjectRole::Data)).map(|o| o.key.as_str());
    crate::buckets::count_of(keys).map_err(|detail| FanoutError::Layout { what: CURATED_LISTENS, date, detail })
}
