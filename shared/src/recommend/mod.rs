//! The recommend job: daily per-user playlists from the champion ALS model, and gated retraining.
//!
//! | mode | what it does |
//! | --- | --- |
//! | score (daily, on transform's commit) | trains first when there is no champion or the listens grew by more than `RETRAIN_NEW_LISTENS_SHARE` since it was trained; scores every current user ([`scoring`]); commits `recommendations/dt=D/` (Parquet, and JSON lines under `_jsonl/`), manifest last |
//! | train (weekly, or on demand) | temporal split, candidate, baseline and champion evaluated on the same held-out listens, the gate ([`gate`]), a final fit on all listens when promoted ([`training`]); stores the version ([`model_store`]) and moves the champion pointer by a conditional write |
//! | rollback | points the champion at a stored version and pins it: a score run's automatic training stores candidates but does not replace it |
//! | unpin | lets automatic training replace the champion again |
//!
//! The pieces: [`als`] (the factorisation), [`interactions`] (the sparse matrix), [`split`],
//! [`evaluate`], [`topk`], [`cold_start`], [`inputs`] (what is read from curated), [`output`]
//! (the rows written), [`request`] (the events).

pub mod als;
pub mod cold_start;
pub mod drift;
pub mod evaluate;
pub mod gate;
pub mod inputs;
pub mod interactions;
pub mod model_store;
pub mod output;
pub mod request;
pub mod scoring;
pub mod split;
pub mod topk;
pub mod training;

use crate::commit::{CommitError, CommitSettings, PartitionCommit, RunSpec, RunWriter, Staged, with_run};
use crate::config::{Config, RecommendConfig};
use crate::job::{Classified, Invocation, observed};
use crate::manifest::ObjectRole;
use crate::metrics::{Metric, Metrics};
use crate::partition::{Partition, Zone};
use crate::storage::{Store, StoreError};
use crate::transform::parquet_io::{Layout, ParquetIoError, PartsWriter};
use crate::trigger::{DateError, check_logical_date, latest_plausible_date};
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use inputs::{InputError, Inputs, latest_curated_date, read_inputs};
use model_store::{Champion, Evaluation, Hyper, ModelCard, ModelStore, ModelStoreError};
use output::Recommendation;
use request::{Request, RequestError};
use scoring::ServingModel;
use serde::Serialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Instant;
use training::TrainingData;

pub const FUNCTION: &str = "recommend";

/// Rows per Parquet row group and file of a recommendations partition.
const LAYOUT: Layout = Layout { row_group_rows: 131_072, file_rows: 2_097_152 };

#[derive(Debug, thiserror::Error)]
pub enum RecommendError {
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error(transparent)]
    Date(#[from] DateError),
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Models(#[from] ModelStoreError),
    #[error("model version {version}: {detail}")]
    Model { version: String, detail: String },
    #[error("curated {date} has no listen events to train on")]
    NoListens { date: NaiveDate },
    #[error("writing recommendations: {0}")]
    Write(#[from] ParquetIoError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Commit(#[from] CommitError),
}

impl Classified for RecommendError {
    /// A stable class for the Lambda error type and alarms: retrying helps `Retryable.*` only.
    fn error_type(&self) -> &'static str {
        use crate::commit::ReadError;
        use RecommendError as E;
        match self {
            E::Request(_) => "Permanent.BadEvent",
            E::Date(_) => "Permanent.BadDate",
            E::Input(InputError::NotReadable {
                source: ReadError::NotCommitted { .. },
                ..
            }) => "Permanent.CuratedNotCommitted",
            E::Input(InputError::NotReadable {
                source: ReadError::Mixed { .. },
                ..
            }) => "Retryable.CuratedMidCommit",
            E::Input(InputError::NoCuratedDate) => "Permanent.CuratedNotCommitted",
            E::Input(InputError::Store(_) | InputError::Table { source: ParquetIoError::Store(_), .. }) => "Retryable.Storage",
            E::Input(InputError::NotReadable { source: ReadError::Commit(_), .. }) => "Retryable.Storage",
            E::Input(_) => "Permanent.CuratedCorrupt",
            E::Models(ModelStoreError::NoSuchVersion { .. }) => "Permanent.NoSuchVersion",
            E::Models(ModelStoreError::ChampionMoved) => "Retryable.ChampionMoved",
            E::Models(ModelStoreError::Corrupt { .. }) | E::Model { .. } => "Permanent.ModelCorrupt",
            E::Models(ModelStoreError::Store(_)) => "Retryable.Storage",
            E::NoListens { .. } => "Permanent.NoListens",
            E::Write(ParquetIoError::Store(_)) | E::Store(_) => "Retryable.Storage",
            E::Write(_) => "Permanent.Internal",
            E::Commit(e) => e.error_type(),
        }
    }
}

/// What a train run did.
#[derive(Debug, Clone, Serialize)]
pub struct TrainSummary {
    /// The curated date trained on.
    pub date: NaiveDate,
    pub version: String,
    pub promoted: bool,
    pub reason: String,
    pub evaluation: Evaluation,
    pub hyper: Hyper,
    pub users: u64,
    pub tracks: u64,
    pub listens: u64,
    pub train_ms: u64,
    /// The champion after this run.
    pub champion: Option<String>,
    pub refused_streak: u32,
    pub pruned_versions: Vec<String>,
}

/// What a score run did.
#[derive(Debug, Clone, Serialize)]
pub struct ScoreSummary {
    pub date: NaiveDate,
    pub run_id: String,
    pub model_version: Option<String>,
    /// The training this run did first, if it needed one.
    pub trained: Option<TrainSummary>,
    pub users: u64,
    pub cf_trained: u64,
    pub cf_folded_in: u64,
    pub cold_start: u64,
    pub rows: u64,
    pub catalog_coverage: f64,
    pub score_ms: u64,
    pub run_manifest: String,
    /// The first scored user's list, to eyeball.
    pub sample: Vec<Recommendation>,
    pub duration_ms: u64,
}

/// A rollback's result.
#[derive(Debug, Clone, Serialize)]
pub struct RollbackSummary {
    pub champion: Champion,
}

/// An unpin's result: the champion after it (none when there is no champion).
#[derive(Debug, Clone, Serialize)]
pub struct UnpinSummary {
    pub champion: Option<Champion>,
    pub was_pinned: bool,
}

/// The function's response, by mode.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Outcome {
    Score(ScoreSummary),
    Train(TrainSummary),
    Rollback(RollbackSummary),
    Unpin(UnpinSummary),
}

/// The recommend job and what it needs, built once per container.
#[derive(Debug, Clone)]
pub struct Recommender {
    pub store: Arc<dyn Store>,
    pub metrics: Metrics,
    pub config: RecommendConfig,
    pub commit: CommitSettings,
}

impl Recommender {
    pub async fn from_config(config: &Config) -> Self {
        Self {
            store: crate::storage::open(&config.data_url).await,
            metrics: Metrics::from_config(FUNCTION, config).await,
            config: config.recommend.clone(),
            commit: config.commit(),
        }
    }

    fn models(&self) -> ModelStore {
        ModelStore::new(self.store.clone())
    }

    /// Runs what an event asks for.
    pub async fn handle(
        &self,
        event: &Value,
        invocation: Invocation,
    ) -> Result<Outcome, RecommendError> {
        let request = Request::parse(event)
            .inspect_err(|e| tracing::error!(error = %e, "refused the event"))?;
        if let Request::Score { date } | Request::Train { date: Some(date), .. } = &request {
            // A date after tomorrow cannot have real data; past dates are re-runs, allowed.
            check_logical_date(*date, invocation.started_at, None, true)
                .inspect_err(|e| tracing::error!(error = %e, "refused the date"))?;
        }
        self.run(request, invocation).await
    }

    /// Runs one request, emits and flushes its metrics.
    pub async fn run(&self, request: Request, invocation: impl Into<Invocation>) -> Result<Outcome, RecommendError> {
        let invocation = invocation.into();
        let date = match &request {
            Request::Score { date } | Request::Train { date: Some(date), .. } => *date,
            _ => invocation.started_at.date_naive(),
        };
        let run_id = invocation.run_id.clone();
        let work = async {
            match request {
                Request::Score { date } => self.score(date, &invocation).await.map(Outcome::Score),
                Request::Train { date, scheduled } => self.train(date, !scheduled, run_id.as_str(), invocation.started_at).await.map(Outcome::Train),
                Request::Rollback { version } => self.rollback(&version).await.map(Outcome::Rollback),
                Request::Unpin => self.unpin().await.map(Outcome::Unpin),
            }
        };
        observed(FUNCTION, &self.metrics, &run_id, date, work).await
    }

    /// Trains on a curated date (default: the latest one transform committed, up to tomorrow by
    /// `now`: a date after it cannot be real, and must not steer training). An `explicit` train (a
    /// person's, not the schedule's): a promoted model replaces the champion even when it is pinned.
    pub async fn train(&self, date: Option<NaiveDate>, explicit: bool, run_id: &str, now: DateTime<Utc>) -> Result<TrainSummary, RecommendError> {
        let date = match date {
            Some(d) => d,
            None => {
                latest_curated_date(self.store.as_ref(), Some(latest_plausible_date(now))).await?
            }
        };
        let inputs = Arc::new(self.read_with_recent(date).await?);
        self.train_on(&inputs, run_id, explicit).await
    }

    /// A date's inputs with the listens new on the last `COLD_START_RECENT_DAYS` dates.
    async fn read_with_recent(&self, date: NaiveDate) -> Result<Inputs, RecommendError> {
        let mut inputs = read_inputs(&self.store, date).await?;
        inputs.recent = inputs::read_recent(&self.store, date, self.config.cold_start_recent_days).await?;
        Ok(inputs)
    }

    /// The champion as the candidate is compared with it: its recipe, and the stored model with
    /// the listens it was trained on (their curated date re-read), or why they cannot be read.
    async fn champion_input(&self, version: &str, inputs: &Arc<Inputs>) -> Result<Option<training::ChampionInput>, RecommendError> {
        let Some(card) = self.models().card(version).await? else { return Ok(None) };
        let served = async {
            let model = self.load_serving(version).await.map_err(|e| format!("the stored champion is not readable: {e}"))?;
            let seen_inputs = match card.data_date == inputs.date {
                true => inputs.clone(),
                false => Arc::new(read_inputs(&self.store, card.data_date).await.map_err(|e| format!("the champion's training listens are not readable: {e}"))?),
            };
            let mut seen: Vec<(i64, i64)> = seen_inputs.listens.iter().map(|l| (l.user_id, l.track_id)).collect();
            seen.sort_unstable();
            seen.dedup();
            Ok(training::ServedChampion { model, seen })
        }
        .await;
        if let Err(why) = &served {
            tracing::warn!(champion = version, why, "the champion is compared as its recipe only");
        }
        Ok(Some(training::ChampionInput { version: version.to_owned(), data_date: card.data_date, hyper: card.hyper, served }))
    }

    /// Trains, gates and stores a model; `explicit` (a train request, not a score run's
    /// automatic training) may replace a pinned champion.
    async fn train_on(&self, inputs: &Arc<Inputs>, run_id: &str, explicit: bool) -> Result<TrainSummary, RecommendError> {
        let models = self.models();
        let champion = models.champion().await?;
        let champion_input = match &champion {
            Some((c, _)) => self.champion_input(&c.version, inputs).await?,
            None => None,
        };
        let champion_data_date = champion_input.as_ref().map(|c| c.data_date);
        let hyper = self.config.hyper;
        let settings = training::TrainSettings { holdout_share: self.config.holdout_share, gate: self.config.gate };
        let (listens, config) = (inputs.clone(), self.config.clone());
        let (data, trained) = tokio::task::spawn_blocking(move || {
            let data = TrainingData::new(&listens.listens);
            let cold = training::ColdStartInputs {
                listens: &listens.listens,
                catalog: &listens.catalog,
                recent: &listens.recent,
                recent_days: config.cold_start_recent_days,
                sample_share: config.cold_start_sample_share,
            };
            let cold = (config.cold_start_sample_share > 0.0).then_some(&cold);
            let drift = training::DriftInputs { recent: &listens.recent, recent_days: config.cold_start_recent_days };
            let trained = (!data.pairs.is_empty()).then(|| training::train(&data, hyper, champion_input.as_ref(), &settings, cold, Some(&drift)));
            (data, trained)
        })
        .await
        .expect("training does not panic");
        let trained = trained.ok_or(RecommendError::NoListens { date: inputs.date })?;
        let e = &trained.evaluation;
        tracing::info!(version = run_id, candidate_ndcg10 = e.candidate.ndcg_at_10, baseline_ndcg10 = e.baseline.ndcg_at_10,
            champion_ndcg10 = e.champion.map(|s| s.ndcg_at_10), promoted = trained.decision.promoted(), reason = trained.decision.reason(),
            train_ms = trained.train_ms, "model trained and gated");

        // A pinned champion (set by rollback) stays until an explicit train or an unpin.
        let held_by_pin = champion.as_ref().filter(|(c, _)| c.pinned && !explicit && trained.decision.promoted()).map(|(c, _)| c.version.clone());
        // A model of older data never replaces a newer one, explicit or not: a rollback is the way back.
        let newer_champion = champion_data_date.filter(|d| *d > inputs.date && trained.decision.promoted());
        let promoted = trained.decision.promoted() && held_by_pin.is_none() && newer_champion.is_none();
        let reason = match (&held_by_pin, newer_champion) {
            (Some(v), _) => format!("{}; kept as a candidate: the champion {v} is pinned by a rollback (an explicit train or unpin replaces it)", trained.decision.reason()),
            (None, Some(d)) => format!(
                "{}; kept as a candidate: it is trained on curated {}, older than the champion's {d} (`rollback` makes an older model the champion)",
                trained.decision.reason(),
                inputs.date
            ),
            (None, None) => trained.decision.reason().to_owned(),
        };
        let now = Utc::now();
        let micros = |m: Option<i64>| m.and_then(DateTime::from_timestamp_micros);
        let card = ModelCard {
            version: run_id.to_owned(),
            trained_at: now,
            data_date: inputs.date,
            hyper,
            users: data.users.len() as u64,
            tracks: data.tracks.len() as u64,
            listens: inputs.listens.len() as u64,
            first_listen: micros(data.first_listen_micros),
            last_listen: micros(data.last_listen_micros),
            evaluation: trained.evaluation.clone(),
            decision: trained.decision.clone(),
            held_by_pin: held_by_pin.clone(),
            held_by_newer_champion: newer_champion,
            train_ms: trained.train_ms,
            code_version: crate::manifest::code_version(),
        };
        models.save(&card, trained.model.to_bytes(), &trained.ids).await?;
        let champion_now = match promoted {
            true => Some(models.set_champion(run_id, "promoted", champion, now).await?.version),
            false => champion.map(|(c, _)| c.version),
        };
        let refused_streak = models.refused_streak().await?;
        let pruned_versions = models.prune(self.config.keep_versions, champion_now.as_deref()).await?;

        self.metrics.record(Metric::TrainDurationMs, trained.train_ms as f64);
        let served = e.served.as_ref().map(|s| s.champion).filter(|_| e.served.as_ref().is_some_and(|s| s.users > 0));
        for (name, scores) in [("candidate", Some(e.candidate)), ("baseline", Some(e.baseline)), ("champion", e.champion), ("champion_served", served)] {
            let Some(s) = scores else { continue };
            self.metrics.record_with(Metric::Ndcg10, &[("Model", name)], s.ndcg_at_10);
            self.metrics.record_with(Metric::Precision10, &[("Model", name)], s.precision_at_10);
            self.metrics.record_with(Metric::Recall10, &[("Model", name)], s.recall_at_10);
        }
        if let Some(gate) = &e.gate {
            self.metrics.record(Metric::GateEvaluatedUsers, gate.test_users as f64);
            self.metrics.record_with(Metric::GateDifferenceLower, &[("Versus", "baseline")], gate.versus_baseline.lower);
            if let Some((_, c)) = &gate.versus_champion {
                self.metrics.record_with(Metric::GateDifferenceLower, &[("Versus", "champion")], c.lower);
            }
        }
        self.metrics.record(Metric::Promoted, promoted as u8 as f64);
        self.metrics.record(Metric::GateRefusedStreak, f64::from(refused_streak));
        Ok(TrainSummary {
            date: inputs.date,
            version: run_id.to_owned(),
            promoted,
            reason,
            evaluation: trained.evaluation,
            hyper,
            users: card.users,
            tracks: card.tracks,
            listens: card.listens,
            train_ms: trained.train_ms,
            champion: champion_now,
            refused_streak,
            pruned_versions,
        })
    }

    /// Makes a stored version the champion, pinned.
    pub async fn rollback(&self, version: &str) -> Result<RollbackSummary, RecommendError> {
        let models = self.models();
        let read = models.champion().await?;
        let champion = models.set_champion(version, "rollback", read, Utc::now()).await?;
        tracing::info!(version, previous = ?champion.previous, "champion rolled back and pinned");
        Ok(RollbackSummary { champion })
    }

    /// Clears the champion's pin, so that automatic training may replace it again.
    pub async fn unpin(&self) -> Result<UnpinSummary, RecommendError> {
        let models = self.models();
        let Some(read) = models.champion().await? else { return Ok(UnpinSummary { champion: None, was_pinned: false }) };
        let was_pinned = read.0.pinned;
        let champion = match was_pinned {
            true => models.unpin(read).await?,
            false => read.0,
        };
        tracing::info!(version = %champion.version, was_pinned, "champion unpinned");
        Ok(UnpinSummary { champion: Some(champion), was_pinned })
    }

    /// Whether a score run of `date` must train first: no champion, or more listen events added
    /// since the champion's data date (the days' `listen_events_delta`) than `retrain_share` of
    /// the listens it was trained on. With a pinned champion, since the newest stored version's
    /// (the candidates it keeps are not retrained every day). A reference model trained on a date
    /// after tomorrow (by `now`) cannot be judged by dates: it trains.
    async fn needs_training(&self, date: NaiveDate, now: DateTime<Utc>) -> Result<bool, RecommendError> {
        let models = self.models();
        let Some((champion, _)) = models.champion().await? else { return Ok(true) };
        let reference = match champion.pinned {
            true => models.versions().await?.pop().unwrap_or_else(|| champion.version.clone()),
            false => champion.version.clone(),
        };
        let Some(card) = models.card(&reference).await? else { return Ok(true) };
        if card.data_date > latest_plausible_date(now) {
            tracing::warn!(champion = %champion.version, trained_on = %card.data_date, "the reference model's data date is in the future: training");
            return Ok(true);
        }
        let added = inputs::listens_added(self.store.as_ref(), card.data_date, date).await?;
        let needed = added as f64 > card.listens as f64 * self.config.retrain_share;
        tracing::info!(champion = %champion.version, trained_on = %card.data_date, added, trained_listens = card.listens, needed, "retraining check");
        Ok(needed)
    }

    async fn serving_model(&self) -> Result<Option<ServingModel>, RecommendError> {
        let Some((champion, _)) = self.models().champion().await? else { return Ok(None) };
        Ok(Some(self.load_serving(&champion.version).await?))
    }

    async fn load_serving(&self, version: &str) -> Result<ServingModel, RecommendError> {
        let stored = self.models().load(version).await?;
        let als = als::AlsModel::from_bytes(&stored.factors).map_err(|e| RecommendError::Model { version: version.to_owned(), detail: e.to_string() })?;
        if als.n_users() != stored.ids.users.len() || als.n_items() != stored.ids.tracks.len() {
            let detail = format!("{} x {} factors but {} users and {} tracks in ids.bin", als.n_users(), als.n_items(), stored.ids.users.len(), stored.ids.tracks.len());
            return Err(RecommendError::Model { version: version.to_owned(), detail });
        }
        let cold_start = stored.card.evaluation.cold_start.as_ref().map_or_else(Default::default, Into::into);
        let drift = stored.card.evaluation.drift.as_ref().map_or_else(Default::default, Into::into);
        Ok(ServingModel { version: version.to_owned(), als, ids: stored.ids, hyper: stored.card.hyper, cold_start, drift })
    }

    /// Scores every current user of `date` and commits `recommendations/dt=D/`.
    pub async fn score(&self, date: NaiveDate, invocation: &Invocation) -> Result<ScoreSummary, RecommendError> {
        let clock = Instant::now();
        let inputs = Arc::new(self.read_with_recent(date).await?);
        let run_id = invocation.run_id.as_str();
        let spec = RunSpec { store: self.store.clone(), stage: FUNCTION, zone: Zone::Recommendations, date, run_id: invocation.run_id.clone(), deadline: invocation.deadline };
        let (committed, mut summary) = with_run(spec, &self.commit, |writer| {
            let inputs = inputs.clone();
            async move {
                let (partition, details, summary) = self
                    .score_inner(&inputs, &writer, run_id, invocation.started_at)
                    .await?;
                Ok::<_, RecommendError>(Staged {
                    partitions: vec![partition],
                    details,
                    output: summary,
                })
            }
        })
        .await?;
        summary.run_manifest = committed.run_manifest;
        summary.duration_ms = clock.elapsed().as_millis() as u64;
        self.metrics.record(Metric::CleanupFailures, committed.cleanup_failures as f64);
        if let Some(fetched) = inputs.fetch_started_at {
            self.metrics.record(Metric::FreshnessSeconds, (Utc::now() - fetched).num_milliseconds() as f64 / 1000.0);
        }
        Ok(summary)
    }

    async fn score_inner(
        &self,
        inputs: &Arc<Inputs>,
        writer: &RunWriter,
        run_id: &str,
        now: DateTime<Utc>,
    ) -> Result<(PartitionCommit, Value, ScoreSummary), RecommendError> {
        let trained = match self.needs_training(inputs.date, now).await? {
            true => {
                tracing::info!("no champion yet, or the listens grew past RETRAIN_NEW_LISTENS_SHARE: training first");
                Some(self.train_on(inputs, run_id, false).await?)
            }
            false => None,
        };
        let model = self.serving_model().await?;
        let clock = Instant::now();
        let (scoring_inputs, k) = (inputs.clone(), self.config.top_k);
        let (scored, model) = tokio::task::spawn_blocking(move || (scoring::score_all(&scoring_inputs, model.as_ref(), k), model))
            .await
            .expect("scoring does not panic");
        let score_ms = clock.elapsed().as_millis() as u64;
        let model_version = model.map(|m| m.version);

        let partition = Partition::new(Zone::Recommendations, "", inputs.date);
        let mut parts = PartsWriter::<Recommendation>::new(writer, partition.clone(), LAYOUT);
        parts.extend(scored.rows.iter().cloned()).await?;
        let (mut objects, rows) = parts.finish().await?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&output::json_lines(&scored.rows)).expect("in-memory write");
        let json_key = partition.run_file(run_id, "_jsonl/part-00000.jsonl.gz");
        objects.push(writer.put_object(json_key, Bytes::from(gz.finish().expect("in-memory write")), rows, ObjectRole::Export).await?);

        self.metrics.record(Metric::UsersScored, scored.users as f64);
        self.metrics.record(Metric::ColdStartUsers, scored.cold_start as f64);
        self.metrics.record(Metric::CatalogCoverage, scored.coverage);
        self.metrics.record(Metric::ScoreDurationMs, score_ms as f64);
        tracing::info!(users = scored.users, cold_start = scored.cold_start, folded_in = scored.cf_folded_in, rows, coverage = scored.coverage,
            score_ms, model = ?model_version, "recommendations scored");

        let counts = BTreeMap::from([
            ("rows".to_owned(), rows),
            ("users".to_owned(), scored.users),
            ("cf_trained".to_owned(), scored.cf_trained),
            ("cf_folded_in".to_owned(), scored.cf_folded_in),
            ("cold_start".to_owned(), scored.cold_start),
        ]);
        let source = format!(
            "{} + {}",
            Partition::new(Zone::Curated, crate::transform::LISTEN_EVENTS, inputs.date).prefix(),
            model_version.as_deref().map_or("no model (cold start)".to_owned(), |v| format!("models/als/version={v}/"))
        );
        let details = json!({"model_version": model_version, "top_k": self.config.top_k, "catalog_coverage": scored.coverage,
            "trained_first": trained.as_ref().map(|t| &t.version)});
        let commit = PartitionCommit { partition, counts, objects, source, details: details.clone(), also_owns: vec![] };
        let first = scored.rows.first().map(|r| r.user_id);
        let summary = ScoreSummary {
            date: inputs.date,
            run_id: run_id.to_owned(),
            model_version,
            trained,
            users: scored.users,
            cf_trained: scored.cf_trained,
            cf_folded_in: scored.cf_folded_in,
            cold_start: scored.cold_start,
            rows,
            catalog_coverage: scored.coverage,
            score_ms,
            run_manifest: String::new(),
            sample: scored.rows.iter().take_while(|r| Some(r.user_id) == first).cloned().collect(),
            duration_ms: 0,
        };
        Ok((commit, details, summary))
    }
}

/// A committed recommendations partition of `date`, read back through its manifest (tests, tools).
pub async fn read_recommendations(store: Arc<dyn Store>, date: NaiveDate) -> Result<Vec<Recommendation>, RecommendError> {
    use crate::transform::parquet_io::TableReader;
    let committed = crate::commit::read_committed(store.as_ref(), Zone::Recommendations, date)
        .await
        .map_err(|source| InputError::NotReadable { date, source })?;
    let objects = committed.partitions.into_iter().flat_map(|m| m.objects).filter(|o| o.role == ObjectRole::Data);
    Ok(TableReader::new(store, objects).read_all::<Recommendation>().await?)
}

#[cfg(all(test, feature = "simulator"))]
mod tests;
