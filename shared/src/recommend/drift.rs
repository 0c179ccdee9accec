//! Drift: a recency-weighted popularity term blended into the model's scores, so that the daily
//! lists follow a shift in popularity (a new hit) without waiting for the weekly retraining.
//!
//! `score(user, track) = x_user . y_track + weight * trend(track)`, where `trend` is how much the
//! track's share of the recent listens exceeds its share of all listens (0 if it does not): the
//! recent listens are those new on the last `recent_days` dates (`listen_events_delta`, as cold
//! start's `recent` policy reads them), each weighted `2^-age` (age in days: a half-life of one
//! day, so a hit weighs as much on its first day as a week of calm listening); all listens are
//! the distinct (user, track) pairs the model's data holds. A track as popular lately as always,
//! which the model knows already, gets (almost) nothing; a new hit gets about its recent share.
//! A current track the model does not know (new since it was trained) has no factors: its model
//! score is 0 (what ALS gives a track nobody listened to), so only its trend can bring it in. The weight is chosen by each training run among
//! [`WEIGHTS`], 0 included, on the held-out listens ([`choose`]), stored in the model card and
//! served with the model: scoring is a function of the card and the date's listens.

use super::als::AlsModel;
use super::cold_start::{self, RecentListen};
use super::counts::RecentCounts;
use super::evaluate;
use super::gate::Comparison;
use super::interactions::{Csr, IdMap};
use super::recipe::TrainMatrix;
use super::topk;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// The weights a training run compares; 0 (the model alone) wins ties. A trend is a share (a
/// hit: 0.1 to 0.5; in a calm week: below 0.01) and a model score about 0 to 1.
pub const WEIGHTS: [f32; 8] = [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0];

/// Held-out users the weights are compared on, at most (evenly spaced): the comparison costs a
/// top-K pass per weight.
const MAX_USERS: usize = 20_000;

/// Each track's trend (see the module doc), above 0 only: its share of the weighted `recent`
/// listens, minus its share of all listens (`pairs`: track id and distinct listeners). Empty
/// when there is no recent listen.
pub fn trend(recent: &RecentCounts, recent_days: u32, pairs: &BTreeMap<i64, u64>) -> HashMap<i64, f32> {
    let weights = recent.weighted(recent_days, |age| 0.5f64.powi(age as i32));
    let recent_total: f64 = weights.iter().map(|(_, w)| w).sum();
    let total = pairs.values().sum::<u64>().max(1) as f64;
    weights
        .into_iter()
        .map(|(t, w)| (t, w / recent_total - pairs.get(&t).copied().unwrap_or(0) as f64 / total))
        .filter(|(_, excess)| *excess > 0.0)
        .map(|(t, excess)| (t, excess as f32))
        .collect()
}

/// What a training run chose, stored in the model card (`evaluation.drift`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DriftChoice {
    pub weight: f32,
    pub recent_days: u32,
    /// Held-out users the weights were compared on.
    pub users: u64,
    /// Mean NDCG@10 of the held-out users for each weight of [`WEIGHTS`].
    pub ndcg_at_10: Vec<WeightScore>,
    /// The best weight against 0, paired over the users: chosen only when the whole interval
    /// lies above 0 (as the gate's: a gain that is not noise).
    pub versus_none: Comparison,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WeightScore {
    pub weight: f32,
    pub ndcg: f64,
}

/// How scoring blends: a card's choice, or (no model, a card from before drift) weight 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Serving {
    pub weight: f32,
    pub recent_days: u32,
}

impl Default for Serving {
    fn default() -> Self {
        Self { weight: 0.0, recent_days: 7 }
    }
}

impl From<&DriftChoice> for Serving {
    fn from(c: &DriftChoice) -> Self {
        Self { weight: c.weight, recent_days: c.recent_days }
    }
}

/// Chooses the weight on the held-out listens `test` of a model trained on `train` ([`ndcg_by_weight`]
/// over [`WEIGHTS`]): the best mean NDCG@10 (ties: the smaller weight), if it beats weight 0
/// significantly (paired bootstrap at `confidence`, as the gate); else 0.
#[allow(clippy::too_many_arguments)]
pub fn choose(model: &AlsModel, train: &TrainMatrix, test: &Csr, users: &IdMap, tracks: &IdMap, recent: &[RecentListen], recent_days: u32, confidence: f64, k: usize) -> DriftChoice {
    let per_user = per_user_ndcg_by_weight(model, train, test, users, tracks, recent, recent_days, &WEIGHTS, k);
    let ndcg_at_10: Vec<WeightScore> = WEIGHTS.iter().zip(&per_user).map(|(&weight, v)| WeightScore { weight, ndcg: v.iter().sum::<f64>() / v.len().max(1) as f64 }).collect();
    let best = (0..WEIGHTS.len()).fold(0, |best, w| if ndcg_at_10[w].ndcg > ndcg_at_10[best].ndcg { w } else { best });
    let versus_none = Comparison::paired(&per_user[best], &per_user[0], confidence);
    let weight = if versus_none.lower > 0.0 { WEIGHTS[best] } else { 0.0 };
    DriftChoice { weight, recent_days, users: per_user[0].len() as u64, ndcg_at_10, versus_none }
}

/// Mean NDCG@`k` of the blended lists for each of `weights`, on the users with held-out listens in
/// `test` (at most [`MAX_USERS`], evenly spaced), and how many. The users are split in two halves
/// by a hash of their id; each half is scored with the trend counted on the other half's recent
/// listens only, so a user's own (held-out) listens never lift their own list. With a weight
/// above 0, tracks without training listens score by their trend alone, as when served; weight
/// 0 gives exactly the model's lists.
#[allow(clippy::too_many_arguments)]
pub fn ndcg_by_weight(model: &AlsModel, train: &TrainMatrix, test: &Csr, users: &IdMap, tracks: &IdMap, recent: &[RecentListen], recent_days: u32, weights: &[f32], k: usize) -> (u64, Vec<WeightScore>) {
    let per_user = per_user_ndcg_by_weight(model, train, test, users, tracks, recent, recent_days, weights, k);
    let n = per_user.first().map_or(0, Vec::len);
    (n as u64, weights.iter().zip(&per_user).map(|(&weight, v)| WeightScore { weight, ndcg: v.iter().sum::<f64>() / n.max(1) as f64 }).collect())
}

/// [`ndcg_by_weight`]'s users' NDCG@`k`, per weight (the users in the same order for every weight).
#[allow(clippy::too_many_arguments)]
fn per_user_ndcg_by_weight(model: &AlsModel, train: &TrainMatrix, test: &Csr, users: &IdMap, tracks: &IdMap, recent: &[RecentListen], recent_days: u32, weights: &[f32], k: usize) -> Vec<Vec<f64>> {
    let f = model.factors();
    let held_out: Vec<u32> = (0..test.n_rows() as u32).filter(|&u| test.row_len(u as usize) > 0).collect();
    let step = held_out.len().div_ceil(MAX_USERS).max(1);
    let held_out: Vec<u32> = held_out.into_iter().step_by(step).collect();
    let known: Vec<bool> = (0..train.fit.n_items()).map(|i| train.fit.by_item.row_len(i) > 0).collect();
    // A track the model never saw keeps no factors (the solver's leftovers are noise).
    let mut items = model.item_factors.clone();
    for (i, _) in known.iter().enumerate().filter(|(_, k)| !**k) {
        items[i * f..(i + 1) * f].fill(0.0);
    }
    let heard = train.heard();
    let pairs: BTreeMap<i64, u64> = (0..heard.n_items()).map(|i| (tracks.id(i as u32), heard.by_item.row_len(i) as u64)).collect();
    let half = |user: u32| cold_start::is_sampled(users.id(user), 0.5);
    let mut per_user: Vec<Vec<f64>> = vec![Vec::with_capacity(held_out.len()); weights.len()];
    for side in [true, false] {
        let rows: Vec<u32> = held_out.iter().copied().filter(|&u| half(u) == side).collect();
        let other_half = |user_id: i64| users.index(user_id).is_some_and(|u| half(u) != side);
        let counted = RecentCounts::of(recent.iter().filter(|r| other_half(r.user_id)));
        let by_id = trend(&counted, recent_days, &pairs);
        let t: Vec<f32> = tracks.ids().iter().map(|id| by_id.get(id).copied().unwrap_or(0.0)).collect();
        for (&w, values) in weights.iter().zip(&mut per_user) {
            let eligible: Vec<bool> = known.iter().zip(&t).map(|(&k, &t)| k || (w > 0.0 && t > 0.0)).collect();
            let bias: Vec<f32> = t.iter().map(|t| w * t).collect();
            let ranked = topk::top_k_blended(&model.user_factors, &items, f, &rows, &heard.by_user, &eligible, &bias, k);
            values.extend(rows.iter().zip(&ranked).map(|(&u, r)| evaluate::ndcg_of(r, test.row(u as usize).0, k)));
        }
    }
    per_user
}

/// Current tracks the model does not know, with a trend, best first (ties by lower id): what
/// the blend can add to a model list, scored `weight * trend`.
pub fn unknown_trending(trend: &HashMap<i64, f32>, known: impl Fn(i64) -> bool, current: impl Fn(i64) -> bool) -> Vec<(i64, f32)> {
    let mut out: Vec<(i64, f32)> = trend.iter().filter(|(t, _)| !known(**t) && current(**t)).map(|(t, s)| (*t, *s)).collect();
    out.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trend_is_the_excess_of_the_recent_share_over_the_share_of_all_listens() {
        let r = |user_id, track_id, age_days| RecentListen { user_id, track_id, age_days };
        // Recent: track 1 twice today (2), track 2 four times 2 days ago (4 / 4 = 1), track 3
        // too old: shares 2/3 and 1/3. All listens: track 2 holds half, track 1 an eighth.
        let recent = [r(1, 1, 0), r(2, 1, 0), r(1, 2, 2), r(2, 2, 2), r(3, 2, 2), r(4, 2, 2), r(1, 3, 8)];
        let pairs = BTreeMap::from([(1, 1), (2, 4), (3, 3)]);
        let t = trend(&RecentCounts::of(&recent), 8, &pairs);
        assert_eq!(t, HashMap::from([(1, (2.0 / 3.0 - 1.0 / 8.0) as f32)]), "track 2 is less popular lately than overall");
        let t = trend(&RecentCounts::of(recent.iter().filter(|r| r.user_id == 3)), 8, &BTreeMap::new());
        assert_eq!(t, HashMap::from([(2, 1.0)]), "only the counted users' listens");
        assert!(trend(&RecentCounts::default(), 7, &pairs).is_empty());
        let unknown = unknown_trending(&HashMap::from([(5, 0.5), (4, 0.5), (6, 1.0), (7, 0.9)]), |t| t == 6, |t| t != 7);
        assert_eq!(unknown, [(4, 0.5), (5, 0.5)]);
    }
}
