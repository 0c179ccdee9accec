//! The recipe of a model: what the docs call the recipe, recorded on each model card (as `hyper`),
//! and how it turns listens into the matrix a model trains on.

use super::interactions::Interactions;
use super::split::{self, WeightedListen};
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
    /// Bounded training: each user's row holds at most this many tracks, their latest (0: all).
    /// Cards written before the setting existed read as 0, which is what they were trained with.
    #[serde(default)]
    pub max_tracks_per_user: u32,
    /// Bounded reading: training reads the listens of about this share of users, a sample by a
    /// hash of the id ([`Recipe::trains_on`]); scoring folds the others in (1: everyone). Cards
    /// written before the setting existed read as 1.
    #[serde(default = "everyone")]
    pub train_user_share: f64,
}

fn everyone() -> f64 {
    1.0
}

impl Recipe {
    /// The matrix a model of this recipe trains on, from distinct `(user, track)` listens in
    /// dense indices: recency-weighted over each user's whole history, then cut to the user's
    /// latest `max_tracks_per_user` (so the tracks kept weigh what they would without the cap).
    pub fn matrix(&self, n_users: usize, n_items: usize, listens: &[WeightedListen]) -> TrainMatrix {
        let weighted = self.weighted(listens);
        let fit = Interactions::from_triples(n_users, n_items, &weighted);
        let capped = weighted.len() < listens.len();
        TrainMatrix { all: capped.then(|| Interactions::from_triples(n_users, n_items, &split::triples(listens))), fit }
    }

    /// Whether a model of this recipe and one of `other` fit the same listens the same way: all
    /// but the share of users read, which chooses the listens, not how they are fitted.
    pub fn fits_like(&self, other: &Recipe) -> bool {
        Recipe { train_user_share: other.train_user_share, ..*self } == *other
    }

    /// Whether training reads `user_id`'s listens: about `train_user_share` of users, the same
    /// ones on every run and every reader, by a hash of the id drawn apart from the cold-start
    /// sample's (so that sample is the same share of the users trained on).
    pub fn trains_on(&self, user_id: i64) -> bool {
        const APART_FROM_COLD_START: i64 = 0x5DEE_CE66_D1CE_4E5B;
        self.train_user_share >= 1.0 || super::cold_start::is_sampled(user_id ^ APART_FROM_COLD_START, self.train_user_share)
    }

    /// The `(user, item, weight)` triples this recipe keeps of `listens`: recency-weighted, then
    /// each user's latest `max_tracks_per_user`.
    pub fn weighted(&self, listens: &[WeightedListen]) -> Vec<(u32, u32, f32)> {
        split::latest_per_user(split::recency_weighted(listens, self.recency_beta, self.recency_power), self.max_tracks_per_user as usize)
    }
}

/// Listens as a model trains on them and as they were heard; the two differ only where the
/// recipe's cap dropped a user's older tracks.
#[derive(Debug, Clone, Default)]
pub struct TrainMatrix {
    /// What ALS fits: recency-weighted, each user's row capped.
    pub fit: Interactions,
    /// Every listen (weights unused), when the cap dropped some.
    all: Option<Interactions>,
}

impl TrainMatrix {
    /// Every listen: what a user's lists exclude, and what popularity counts.
    pub fn heard(&self) -> &Interactions {
        self.all.as_ref().unwrap_or(&self.fit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recommend::als::AlsParams;

    fn l(user: u32, item: u32, timestamp: i64) -> WeightedListen {
        WeightedListen { user, item, weight: 1.0, timestamp }
    }

    fn recipe(max_tracks_per_user: u32) -> Recipe {
        Recipe { als: AlsParams::default(), recency_beta: 2.0, recency_power: 1.0, max_tracks_per_user, train_user_share: 1.0 }
    }

    #[test]
    fn the_cap_keeps_each_users_latest_tracks_and_every_listen_stays_heard() {
        // User 0 heard 6, 7, 5 in that order; user 1 heard 8.
        let listens = [l(0, 5, 3), l(0, 6, 1), l(0, 7, 2), l(1, 8, 0)];
        let m = recipe(2).matrix(2, 9, &listens);
        // Weights 1 + 2 * rank / 3 over the whole history: the kept tracks weigh what they did uncapped.
        assert_eq!(m.fit.by_user.row(0), (&[5u32, 7][..], &[3.0f32, 1.0 + 2.0 * 2.0 / 3.0][..]));
        assert_eq!(m.fit.by_user.row(1), (&[8u32][..], &[3.0f32][..]));
        assert_eq!(m.heard().by_user.row(0).0, &[5, 6, 7]);
        assert_eq!(m.fit.by_item.row_len(6), 0);
        // Nothing dropped: one matrix serves both.
        for cap in [0, 3] {
            let m = recipe(cap).matrix(2, 9, &listens);
            assert_eq!(m.fit.nnz(), 4);
            assert!(std::ptr::eq(m.heard(), &m.fit));
        }
    }

    #[test]
    fn cards_written_before_the_cap_read_as_uncapped() {
        let mut card = serde_json::to_value(recipe(7)).unwrap();
        assert_eq!(card["max_tracks_per_user"], 7);
        card.as_object_mut().unwrap().remove("max_tracks_per_user");
        card.as_object_mut().unwrap().remove("train_user_share");
        assert_eq!(serde_json::from_value::<Recipe>(card).unwrap(), recipe(0));
    }

    #[test]
    fn training_reads_a_stable_share_of_users_drawn_apart_from_the_cold_start_sample() {
        let share = |s: f64| Recipe { train_user_share: s, ..recipe(0) };
        assert!((0..10_000).all(|u| share(1.0).trains_on(u)));
        let half: Vec<i64> = (0..10_000).filter(|&u| share(0.5).trains_on(u)).collect();
        assert!((4_800..5_200).contains(&half.len()), "{}", half.len());
        assert!(half.iter().all(|&u| share(0.5).trains_on(u)), "the same users on every call");
        let tenth = (0..10_000).filter(|&u| share(0.1).trains_on(u)).count();
        assert!(tenth.abs_diff(1_000) < 100 && (0..10_000).filter(|&u| share(0.1).trains_on(u)).all(|u| share(0.5).trains_on(u)), "a smaller share is inside a larger one");
        // The share chooses the listens, not how they are fitted.
        assert!(share(0.1).fits_like(&share(1.0)) && !recipe(3).fits_like(&recipe(0)));
        // Apart from the cold-start sample: about a tenth of the users trained on are hidden.
        let hidden = half.iter().filter(|&&u| crate::recommend::cold_start::is_sampled(u, 0.1)).count();
        assert!((400..600).contains(&hidden), "{hidden}");
    }
}
