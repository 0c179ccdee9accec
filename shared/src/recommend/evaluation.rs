//! What a training run measured: ranking quality on held-out listens, per model, as the gate and the model card record it.

use serde::{Deserialize, Serialize};

/// Ranking quality on held-out listens.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Scores {
    pub precision_at_10: f64,
    pub recall_at_10: f64,
    pub ndcg_at_10: f64,
    pub map_at_10: f64,
    pub coverage: f64,
}

/// The evaluation the gate decided on. Up to two comparisons with the champion:
/// - `champion` (the "recipe" comparison): the champion's hyper-parameters trained on the same
///   split as the candidate, scored on the same held-out listens (the candidate itself when the
///   recipe is the same; another recipe only when `served` lacks the gate's evidence);
/// - `served`: the stored champion model itself, as scoring serves it (each user folded in from
///   their training-side listens), on the held-out listens it never saw in training.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub candidate: Scores,
    pub baseline: Scores,
    /// The champion's recipe trained on the same split; none on the first training, nor when
    /// another recipe was not trained because the served comparison decided.
    pub champion: Option<Scores>,
    pub champion_version: Option<String>,
    pub test_users: u64,
    pub test_listens: u64,
    /// The stored champion as served, beside the candidate on the same listens.
    #[serde(default)]
    pub served: Option<ServedEvaluation>,
    /// Why there is no served evaluation although there is a champion.
    #[serde(default)]
    pub served_unavailable: Option<String>,
    /// The paired statistics the gate decided on (cards written before the gate had them: none).
    #[serde(default)]
    pub gate: Option<super::gate::GateEvidence>,
    /// The cold-start policies compared on hidden users, and the model for users with few listens.
    #[serde(default)]
    pub cold_start: Option<super::cold_start::ColdStartChoice>,
    /// The drift weight compared on the held-out listens (cards from before drift: none, weight 0).
    #[serde(default)]
    pub drift: Option<super::drift::DriftChoice>,
}

impl Evaluation {
    /// The champion's figures as the listings show them: the stored model as served when it was
    /// measured on listens it had not seen, else its recipe trained on the same split.
    pub fn champion_shown(&self) -> Option<Scores> {
        self.served.as_ref().filter(|s| s.users > 0).map(|s| s.champion).or(self.champion)
    }
}

/// The stored champion evaluated as it is served, on the held-out listens of the new split
/// that were not among the listens it was trained on, with the candidate on the same listens.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServedEvaluation {
    /// Users with at least one such listen, and those listens.
    pub users: u64,
    pub listens: u64,
    pub champion: Scores,
    pub candidate: Scores,
    /// Users the champion knew none of the training-side listens of (served by cold start).
    pub cold_start_users: u64,
    pub versus_champion: super::gate::Comparison,
}
