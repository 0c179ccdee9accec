//! What a recommend run reports, by mode (the function's response).

use super::evaluation::Evaluation;
use super::model_store::Champion;
use super::recipe::Recipe;
use crate::curated::Recommendation;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

/// What a train run did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainSummary {
    /// The curated date trained on.
    pub date: NaiveDate,
    pub version: String,
    pub promoted: bool,
    pub reason: String,
    pub evaluation: Evaluation,
    pub hyper: Recipe,
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

