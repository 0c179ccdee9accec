//! Scoring as the job runs it: the champion loaded, every current user scored ([`super::scoring`]),
//! `recommendations/dt=D/` written (Parquet, and the JSON-lines export) and committed.

use super::counts::TrackCounts;
use super::inputs::{InputError, Inputs};
use super::scoring::{self, ServingModel};
use super::{FUNCTION, RecommendError, Recommender, ScoreSummary, TrainSummary, als};
use crate::buckets::Bucket;
use crate::codec::{Layout, PartsWriter, TableReader};
use crate::commit::{PartitionCommit, RunSpec, RunWriter, Staged, with_run};
use crate::curated::{Recommendation, TableName, recommendations};
use crate::job::Invocation;
use crate::manifest::{ObjectEntry, ObjectRole};
use crate::metrics::Metric;
use crate::partition::{Partition, Zone, model_version_folder};
use crate::storage::Store;
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Instant;

/// Rows per Parquet row group and file of a recommendations partition.
const LAYOUT: Layout = Layout { row_group_rows: 131_072, file_rows: 2_097_152 };

impl Recommender {
    pub(super) async fn serving_model(&self) -> Result<Option<ServingModel>, RecommendError> {
        let Some((champion, _)) = self.models().champion().await? else { return Ok(None) };
        Ok(Some(self.load_serving(&champion.version).await?))
    }

    pub(super) async fn load_serving(&self, version: &str) -> Result<ServingModel, RecommendError> {
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
                let trained = self.train_if_due(&inputs, run_id, invocation.started_at).await?;
                let model = self.serving_model().await?;
                let version = model.as_ref().map(|m| m.version.clone());
                let counts = Arc::new(inputs.counts());
                let part = self.score_part(inputs, counts, model, self.config.top_k, &writer, Bucket::WHOLE).await?;
                let (partition, details, summary) = self.finish_score(date, run_id, version, trained, self.config.top_k, vec![part]);
                Ok::<_, RecommendError>(Staged { partitions: vec![partition], details, output: summary })
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

    /// Trains first when there is no champion yet, or the listens grew past
    /// `RETRAIN_NEW_LISTENS_SHARE` since it was trained ([`Recommender::needs_training`]).
    /// `inputs` are everyone's: training keeps the recipe's sample, as a training read would.
    pub(super) async fn train_if_due(&self, inputs: &Arc<Inputs>, run_id: &str, now: DateTime<Utc>) -> Result<Option<TrainSummary>, RecommendError> {
        match self.needs_training(inputs.date, now).await? {
            true => {
                tracing::info!("no champion yet, or the listens grew past RETRAIN_NEW_LISTENS_SHARE: training first");
                let hyper = self.config.hyper;
                let inputs = match hyper.train_user_share < 1.0 {
                    true => &Arc::new(inputs.of_users(|user_id| hyper.trains_on(user_id))),
                    false => inputs,
                };
                self.train_for_scoring(inputs, run_id).await
            }
            false => Ok(None),
        }
    }

    /// Scores the current users of `inputs` (`counts`: everyone's), `k` tracks each, and writes
    /// their rows into `bucket`'s folder of the run: Parquet, and the JSON-lines export.
    pub(super) async fn score_part(
        &self,
        inputs: Arc<Inputs>,
        counts: Arc<TrackCounts>,
        model: Option<ServingModel>,
        k: usize,
        writer: &RunWriter,
        bucket: Bucket,
    ) -> Result<ScoredPart, RecommendError> {
        let clock = Instant::now();
        let (date, listens) = (inputs.date, inputs.listens.len() as u64);
        let current_tracks = inputs.catalog.tracks.len() as u64;
        let scored = tokio::task::spawn_blocking(move || scoring::score_all(&inputs, &counts, model.as_ref(), k))
            .await
            .expect("scoring does not panic");
        let score_ms = clock.elapsed().as_millis() as u64;

        let partition = Partition::new(Zone::Recommendations, "", date);
        let mut parts = PartsWriter::<Recommendation>::new(writer, partition.clone(), LAYOUT).in_folder(bucket.folder());
        parts.extend(scored.rows.iter().cloned()).await?;
        let (mut objects, rows) = parts.finish().await?;
        let json = recommendations::json_lines(&scored.rows).finish();
        objects.push(writer.put_object(partition.export_jsonl_key(writer.run_id(), bucket), Bytes::from(json), rows, ObjectRole::Export).await?);
        tracing::info!(%bucket, users = scored.users, cold_start = scored.cold_start, folded_in = scored.cf_folded_in, rows, score_ms, "recommendations scored");
        let first = scored.rows.first().map(|r| r.user_id);
        Ok(ScoredPart {
            objects,
            rows,
            users: scored.users,
            cf_trained: scored.cf_trained,
            cf_folded_in: scored.cf_folded_in,
            cold_start: scored.cold_start,
            sample: scored.rows.iter().take_while(|r| Some(r.user_id) == first).cloned().collect(),
            tracks: scored.tracks,
            current_tracks,
            listens,
            score_ms,
        })
    }

    /// The partition to commit, its details and the summary of a date's scored parts (the whole
    /// date's, or every bucket's in order); records the scoring metrics.
    pub(super) fn finish_score(&self, date: NaiveDate, run_id: &str, model_version: Option<String>, trained: Option<TrainSummary>, top_k: usize, parts: Vec<ScoredPart>) -> (PartitionCommit, Value, ScoreSummary) {
        let sum = |field: fn(&ScoredPart) -> u64| parts.iter().map(field).sum::<u64>();
        let (rows, users, cf_trained, cf_folded_in, cold_start) = (sum(|p| p.rows), sum(|p| p.users), sum(|p| p.cf_trained), sum(|p| p.cf_folded_in), sum(|p| p.cold_start));
        // Scoring time: every part's, added (the work, whichever ran at once).
        let score_ms = sum(|p| p.score_ms);
        let recommended: BTreeSet<i64> = parts.iter().flat_map(|p| p.tracks.iter().copied()).collect();
        let current_tracks = parts.iter().map(|p| p.current_tracks).max().unwrap_or(0);
        let coverage = recommended.len() as f64 / current_tracks.max(1) as f64;
        let sample = parts.iter().map(|p| &p.sample).filter(|s| !s.is_empty()).min_by_key(|s| s[0].user_id).cloned().unwrap_or_default();
        let objects = parts.into_iter().flat_map(|p| p.objects).collect();

        self.metrics.record(Metric::UsersScored, users as f64);
        self.metrics.record(Metric::ColdStartUsers, cold_start as f64);
        self.metrics.record(Metric::CatalogCoverage, coverage);
        self.metrics.record(Metric::ScoreDurationMs, score_ms as f64);
        tracing::info!(users, cold_start, folded_in = cf_folded_in, rows, coverage, score_ms, model = ?model_version, "the date's recommendations scored");

        let counts = BTreeMap::from([
            ("rows".to_owned(), rows),
            ("users".to_owned(), users),
            ("cf_trained".to_owned(), cf_trained),
            ("cf_folded_in".to_owned(), cf_folded_in),
            ("cold_start".to_owned(), cold_start),
        ]);
        let partition = Partition::new(Zone::Recommendations, "", date);
        let source = format!(
            "{} + {}",
            Partition::new(Zone::Curated, TableName::ListenEvents.as_str(), date).prefix(),
            model_version.as_deref().map_or("no model (cold start)".to_owned(), model_version_folder)
        );
        let details = json!({"model_version": model_version, "top_k": top_k, "catalog_coverage": coverage,
            "trained_first": trained.as_ref().map(|t| &t.version)});
        let commit = PartitionCommit { partition, counts, objects, source, details: details.clone(), also_owns: vec![] };
        let summary = ScoreSummary {
            date,
            run_id: run_id.to_owned(),
            model_version,
            trained,
            users,
            cf_trained,
            cf_folded_in,
            cold_start,
            rows,
            catalog_coverage: coverage,
            score_ms,
            run_manifest: String::new(),
            sample,
            duration_ms: 0,
        };
        (commit, details, summary)
    }
}

/// One scored group of users as written (the whole date's, or one bucket's): what the commit
/// adds up. A fanned scoring's bucket records it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct ScoredPart {
    pub objects: Vec<ObjectEntry>,
    pub rows: u64,
    pub users: u64,
    pub cf_trained: u64,
    pub cf_folded_in: u64,
    pub cold_start: u64,
    /// The distinct tracks recommended, in id order.
    pub tracks: Vec<i64>,
    /// The date's current tracks: the coverage's denominator.
    pub current_tracks: u64,
    /// Listen items read.
    pub listens: u64,
    pub score_ms: u64,
    /// The part's first user's list.
    pub sample: Vec<Recommendation>,
}

/// A committed recommendations partition of `date`, read back through its manifest (tests, tools).
pub async fn read_recommendations(store: Arc<dyn Store>, date: NaiveDate) -> Result<Vec<Recommendation>, RecommendError> {
    let committed = crate::commit::read_committed(store.as_ref(), Zone::Recommendations, date)
        .await
        .map_err(|source| InputError::NotReadable { date, source })?;
    let objects = committed.partitions.into_iter().flat_map(|m| m.objects).filter(|o| o.role == ObjectRole::Data);
    Ok(TableReader::new(store, objects).read_all::<Recommendation>().await?)
}

