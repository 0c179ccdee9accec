//! Recommend's settings: the model's recipe, the evaluation, the gate, cold start, retraining
//! and retention, with the table that documents them.

use super::als::AlsParams;
use super::gate::GateSettings;
use super::recipe::Recipe;
use crate::config::{ConfigError, Env, Range::*, Variable};

pub const VARIABLES: &[Variable] = &[
    Variable { name: "RECOMMEND_TOP_K", default: "10", range: Whole(1, 1000), meaning: "recommend: tracks recommended per user." },
    Variable { name: "ALS_FACTORS", default: "64", range: Whole(1, 1024), meaning: "recommend: latent factors of the ALS model." },
    Variable { name: "ALS_REGULARIZATION", default: "40", range: Real(0.0, 1e6), meaning: "recommend: L2 regularisation (lambda) of every user and track vector." },
    Variable { name: "ALS_ALPHA", default: "0.3", range: Real(0.0, 1e6), meaning: "recommend: confidence slope, c = 1 + alpha * w, w the pair's recency-weighted listens." },
    Variable { name: "ALS_RECENCY_BETA", default: "300", range: Real(0.0, 1e6), meaning: "recommend: recency weighting of listens, w = listens * (1 + beta * (rank / n)^power) with rank 1..n the listen's place in the user's history (0: no weighting)." },
    Variable { name: "ALS_RECENCY_POWER", default: "10", range: Real(0.0, 100.0), meaning: "recommend: the exponent of that recency weighting." },
    Variable { name: "ALS_ITERATIONS", default: "15", range: Whole(1, 500), meaning: "recommend: ALS iterations (users then tracks)." },
    Variable { name: "ALS_CG_STEPS", default: "2", range: Whole(1, 64), meaning: "recommend: conjugate-gradient steps per vector per half-iteration." },
    Variable { name: "ALS_MAX_TRACKS_PER_USER", default: "0", range: Whole(0, 1_000_000_000), meaning: "recommend: bounded training: each user's row of the training matrix keeps at most this many distinct tracks, their latest (0: all). Users are still scored on, and never recommended, everything they heard." },
    Variable { name: "ALS_TRAIN_USER_SHARE", default: "1", range: Real(0.001, 1.0), meaning: "recommend: bounded reading: training reads the listens of about this share of users, a stable sample by a hash of the user id (1: everyone). Item vectors are learnt from them; scoring folds every other user in from their listens." },
    Variable { name: "ALS_SEED", default: "42", range: Whole(0, u64::MAX), meaning: "recommend: seed of the initial factors (training is reproducible)." },
    Variable { name: "EVAL_HOLDOUT_SHARE", default: "0.2", range: Real(0.01, 0.9), meaning: "recommend: share of each user's most recent listens held out to evaluate a trained model." },
    Variable { name: "GATE_NDCG_TOLERANCE", default: "0.01", range: Real(0.0, 1.0), meaning: "recommend: a candidate whose mean per-user NDCG@10 trails the champion's by more than this is refused." },
    Variable { name: "GATE_CONFIDENCE", default: "0.95", range: Real(0.5, 0.999), meaning: "recommend: confidence level of the gate's paired bootstrap intervals (0.5..=0.999): the candidate must beat popularity with the whole interval above zero." },
    Variable { name: "GATE_MIN_USERS", default: "100", range: Whole(1, 1_000_000_000), meaning: "recommend: the gate refuses, for lack of evidence, when fewer users have held-out listens." },
    Variable { name: "GATE_MIN_LISTENS", default: "200", range: Whole(1, 1_000_000_000), meaning: "recommend: the gate refuses, for lack of evidence, when fewer listens are held out." },
    Variable { name: "COLD_START_SAMPLE_SHARE", default: "0.1", range: Real(0.0, 0.5), meaning: "recommend: share of users a training run hides entirely (from the candidate and from popularity) to choose the cold-start policy and the fold-in threshold on (0..=0.5; 0: no choice, the genre policy)." },
    Variable { name: "COLD_START_RECENT_DAYS", default: "7", range: Whole(1, 365), meaning: "recommend: the recent-popularity policy counts the listens new on the last this many dates, weighted 1 - age / days (1..=365)." },
    Variable { name: "RETRAIN_NEW_LISTENS_SHARE", default: "0.2", range: Real(0.0, 1e6), meaning: "recommend: a score run trains first when the listen events added since the champion's data date (the days' listen_events_delta) exceed this share of the listens it was trained on, or when there is no champion." },
    Variable { name: "MODEL_KEEP_VERSIONS", default: "10", range: Whole(1, 10_000), meaning: "recommend: newest model versions kept (the champion is always kept)." },
];

/// The recommend job's settings: the model's recipe, the evaluation and the gate.
#[derive(Debug, Clone, PartialEq)]
pub struct RecommendConfig {
    pub top_k: usize,
    /// The hyper-parameters new models are trained with (`ALS_*`).
    pub hyper: Recipe,
    pub holdout_share: f64,
    pub gate: GateSettings,
    pub cold_start_sample_share: f64,
    pub cold_start_recent_days: u32,
    pub retrain_share: f64,
    pub keep_versions: usize,
}

impl RecommendConfig {
    pub(crate) fn load(env: &Env<'_>) -> Result<Self, ConfigError> {
        Ok(Self {
            top_k: env.whole("RECOMMEND_TOP_K")?,
            hyper: Recipe {
                als: AlsParams {
                    factors: env.whole("ALS_FACTORS")?,
                    regularization: env.real("ALS_REGULARIZATION")? as f32,
                    alpha: env.real("ALS_ALPHA")? as f32,
                    iterations: env.whole("ALS_ITERATIONS")?,
                    cg_steps: env.whole("ALS_CG_STEPS")?,
                    seed: env.whole("ALS_SEED")?,
                },
                recency_beta: env.real("ALS_RECENCY_BETA")? as f32,
                recency_power: env.real("ALS_RECENCY_POWER")? as f32,
                max_tracks_per_user: env.whole("ALS_MAX_TRACKS_PER_USER")?,
                train_user_share: env.real("ALS_TRAIN_USER_SHARE")?,
            },
            holdout_share: env.real("EVAL_HOLDOUT_SHARE")?,
            gate: GateSettings {
                confidence: env.real("GATE_CONFIDENCE")?,
                min_users: env.whole("GATE_MIN_USERS")?,
                min_listens: env.whole("GATE_MIN_LISTENS")?,
                tolerance: env.real("GATE_NDCG_TOLERANCE")?,
            },
            cold_start_sample_share: env.real("COLD_START_SAMPLE_SHARE")?,
            cold_start_recent_days: env.whole("COLD_START_RECENT_DAYS")?,
            retrain_share: env.real("RETRAIN_NEW_LISTENS_SHARE")?,
            keep_versions: env.whole("MODEL_KEEP_VERSIONS")?,
        })
    }
}
