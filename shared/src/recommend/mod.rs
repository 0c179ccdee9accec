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
//! [`evaluate`], [`topk`], [`cold_start`], [`inputs`] (what is read from curated), [`crate::curated::recommendations`]
//! (the rows written), [`request`] (the events).

pub mod als;
pub mod cold_start;
pub mod config;
pub mod counts;
pub mod drift;
mod error;
pub mod fanout;
pub mod evaluate;
pub mod evaluation;
pub mod gate;
pub mod ids;
pub mod inputs;
pub mod interactions;
pub mod model_store;
pub mod recipe;
pub mod request;
mod score;
pub mod scoring;
pub mod seen;
pub mod split;
mod summary;
pub mod topk;
mod train;
pub mod training;

pub use error::RecommendError;
pub use score::read_recommendations;
pub use summary::{Outcome, RollbackSummary, ScoreSummary, TrainSummary, UnpinSummary};

use crate::commit::{CommitSettings, CommittedRun};
use crate::aws::AwsConfig;
use crate::config::Config;
use config::RecommendConfig;
use crate::job::{Invocation, observed};
use crate::metrics::Metrics;
use crate::storage::Store;
use crate::trigger::check_logical_date;
use chrono::{NaiveDate, Utc};
use counts::ListenCounter;
use inputs::{Inputs, read_committed_inputs};
use model_store::ModelStore;
use request::Request;
use serde_json::Value;
use std::sync::Arc;

pub const FUNCTION: &str = "recommend";

/// The recommend job and what it needs, built once per container.
#[derive(Debug, Clone)]
pub struct Recommender {
    pub store: Arc<dyn Store>,
    pub metrics: Metrics,
    pub config: RecommendConfig,
    pub commit: CommitSettings,
}

impl Recommender {
    pub async fn from_config(config: &Config, aws: &AwsConfig) -> Self {
        Self {
            store: crate::storage::open_for(FUNCTION, &config.data_url, aws).await,
            metrics: Metrics::from_config(FUNCTION, config, aws).await,
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

    /// A date's inputs with the listens new on the last `COLD_START_RECENT_DAYS` dates: everyone's.
    async fn read_with_recent(&self, date: NaiveDate) -> Result<Inputs, RecommendError> {
        let committed = inputs::read_committed_date(self.store.as_ref(), date).await?;
        self.read_with_recent_of(date, &committed, &|_| true, None).await
    }

    /// [`Self::read_with_recent`] of the users training reads ([`recipe::Recipe::trains_on`]): the
    /// others' listens are dropped as they are read, so a sample bounds training's memory.
    async fn read_for_training(&self, date: NaiveDate) -> Result<Inputs, RecommendError> {
        let committed = inputs::read_committed_date(self.store.as_ref(), date).await?;
        self.read_for_training_from(date, &committed, None).await
    }

    /// [`Self::read_for_training`] of a curated commit, counting everyone's listens on the way
    /// into `everyone` when given (a fanned plan's counts, without a second read of the date).
    async fn read_for_training_from(&self, date: NaiveDate, committed: &CommittedRun, everyone: Option<&mut ListenCounter>) -> Result<Inputs, RecommendError> {
        let hyper = self.config.hyper;
        self.read_with_recent_of(date, committed, &|user_id| hyper.trains_on(user_id), everyone).await
    }

    async fn read_with_recent_of(&self, date: NaiveDate, committed: &CommittedRun, keep: &dyn Fn(i64) -> bool, everyone: Option<&mut ListenCounter>) -> Result<Inputs, RecommendError> {
        let mut inputs = read_committed_inputs(&self.store, date, committed, None, keep, everyone).await?;
        inputs.recent = inputs::read_recent(&self.store, date, self.config.cold_start_recent_days, keep).await?;
        Ok(inputs)
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
}

#[cfg(all(test, feature = "simulator"))]
mod tests;
