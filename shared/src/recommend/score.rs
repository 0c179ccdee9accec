//! Scoring as the job runs it: the champion loaded, every current user scored ([`super::scoring`]),
//! `recommendations/dt=D/` written (Parquet, and the JSON-lines export) and committed.

use super::inputs::{InputError, Inputs};
use super::scoring::{self, ServingModel};
use super::{FUNCTION, RecommendError, Recommender, ScoreSummary, als};
use crate::codec::{Layout, PartsWriter, TableReader};
use crate::commit::{PartitionCommit, RunSpec, RunWriter, Staged, with_run};
use crate::curated::{Recommendation, TableName, recommendations};
use crate::job::Invocation;
use crate::manifest::ObjectRole;
use crate::metrics::Metric;
use crate::partition::{Partition, Zone, model_version_folder};
use crate::storage::Store;
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};
use std::collections::BTreeMap;
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
                let (partition, details, summary) = self
                    .score_partition(&inputs, &writer, run_id, invocation.started_at)
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

    async fn score_partition(
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
        let json_key = partition.export_jsonl_key(run_id);
        let json = recommendations::json_lines(&scored.rows).finish();
        objects.push(writer.put_object(json_key, Bytes::from(json), rows, ObjectRole::Export).await?);

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
            Partition::new(Zone::Curated, TableName::ListenEvents.as_str(), inputs.date).prefix(),
            model_version.as_deref().map_or("no model (cold start)".to_owned(), model_version_folder)
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
    let committed = crate::commit::read_committed(store.as_ref(), Zone::Recommendations, date)
        .await
        .map_err(|source| InputError::NotReadable { date, source })?;
    let objects = committed.partitions.into_iter().flat_map(|m| m.objects).filter(|o| o.role == ObjectRole::Data);
    Ok(TableReader::new(store, objects).read_all::<Recommendation>().await?)
}

