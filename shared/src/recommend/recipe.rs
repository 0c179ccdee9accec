//! The recipe of a model: what the docs call the recipe, recorded on each model card (as `hyper`).

use serde::{Deserialize, Serialize};

/// The recipe of a model, as recorded: ALS's hyper-parameters and the listens' weighting.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Recipe {
    #[serde(flatten)]
    pub als: super::als::AlsParams,
    /// Confidence grows with recency: each listen's weight is `1 + beta * (rank / n)^power`,
    /// rank 1 for the user's oldest listen and n for the latest ([`super::split::recency_weighted`]).
    pub recency_beta: f32,
    pub recency_power: f32,
}
