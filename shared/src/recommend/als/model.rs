//! The factor model: its hyper-parameters, training loop and the accessors scoring reads.

use super::kernels::{fold_in, gramian, init_factors, loss, regularized_gramian, solve_side};
use crate::recommend::interactions::Interactions;

/// Hyper-parameters of [`AlsModel::train`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AlsParams {
    /// Latent dimensions; multiples of 16 vectorise best.
    pub factors: usize,
    /// L2 penalty `lambda` on every user and item vector (not scaled by counts).
    pub regularization: f32,
    /// Confidence slope: `c = 1 + alpha * weight`.
    pub alpha: f32,
    /// Full iterations (users then items).
    pub iterations: usize,
    /// CG steps per row per half-iteration (warm-started, so 2-4 suffice).
    pub cg_steps: usize,
    /// Seed of the initial factors.
    pub seed: u64,
}

impl Default for AlsParams {
    /// Tuned on a temporal validation slice of MovieLens-100k, with weights from
    /// `split::recency_weighted(.., 300.0, 10.0)` (confidence up to ~1 + 0.3 * 301 for a user's latest).
    fn default() -> Self {
        Self { factors: 64, regularization: 40.0, alpha: 0.3, iterations: 15, cg_steps: 2, seed: 42 }
    }
}

/// A trained model: row-major factor matrices, `n_users x factors` and `n_items x factors`.
#[derive(Debug, Clone, PartialEq)]
pub struct AlsModel {
    pub params: AlsParams,
    pub user_factors: Vec<f32>,
    pub item_factors: Vec<f32>,
}

impl AlsModel {
    /// Trains on `data` (weights = raw listen weights; the confidence is in the `als` module doc).
    pub fn train(params: &AlsParams, data: &Interactions) -> Self {
        let k = params.factors;
        assert!(k > 0, "factors must be positive");
        let user_factors = init_factors(data.n_users(), k, params.seed, 0);
        let item_factors = init_factors(data.n_items(), k, params.seed, 1);
        let mut model = Self { params: *params, user_factors, item_factors };
        let progress = crate::progress::Task::start("training: iterations", params.iterations as u64);
        for _ in 0..params.iterations {
            let g = regularized_gramian(&model.item_factors, k, params.regularization);
            solve_side(&mut model.user_factors, &model.item_factors, &g, &data.by_user, params);
            let g = regularized_gramian(&model.user_factors, k, params.regularization);
            solve_side(&mut model.item_factors, &model.user_factors, &g, &data.by_item, params);
            progress.advance(1);
            // The loss costs about a tenth of an iteration: computed only for a person watching.
            progress.describe(|| format!("loss {:.5e}", loss(&model, data)));
        }
        model
    }

    pub fn factors(&self) -> usize {
        self.params.factors
    }

    pub fn n_users(&self) -> usize {
        self.user_factors.len() / self.params.factors
    }

    pub fn n_items(&self) -> usize {
        self.item_factors.len() / self.params.factors
    }

    pub fn user(&self, u: usize) -> &[f32] {
        let k = self.params.factors;
        &self.user_factors[u * k..(u + 1) * k]
    }

    pub fn item(&self, i: usize) -> &[f32] {
        let k = self.params.factors;
        &self.item_factors[i * k..(i + 1) * k]
    }

    /// `YtY` of the item factors, to pass to [`AlsModel::fold_in`] (compute once, reuse for many users).
    pub fn item_gramian(&self) -> Vec<f32> {
        gramian(&self.item_factors, self.params.factors)
    }

    /// Factors for a user from their listens with the items fixed (zero-started CG to convergence).
    pub fn fold_in(&self, yty: &[f32], items: &[u32], weights: &[f32]) -> Vec<f32> {
        fold_in(&self.params, &self.item_factors, yty, items, weights)
    }
}
