//! Scoring every current user of a date with the champion, as a pure function of its inputs.
//!
//! A user whose listens are what the model was trained on (the row its recipe kept: with a cap,
//! their latest tracks) uses their trained factors; a user whose listens changed since (or who is
//! new) is folded in: their factors are solved from that row with the tracks' factors fixed, no
//! retraining. Only current tracks the model knows
//! (listened to in training) are scored, never one the user already listened to. A user with no
//! listen the model knows, or to be folded in from fewer than the card's `fold_in_min_listens`
//! (1 by default), gets cold start ([`Popularity`], by the card's policy), as does everyone when
//! there is no model yet; a model list shorter than `k` (a tiny catalogue) is completed the same way.
//! With the card's drift weight above 0, the model's scores are blended with the tracks' recent
//! trend, and current tracks the model does not know can enter by their trend ([`drift`]).

use super::als::AlsModel;
use super::cold_start::{self, Popularity};
use super::counts::TrackCounts;
use super::drift;
use super::inputs::Inputs;
use super::interactions::Csr;
use super::ids::{IdTable, listens_hash};
use super::recipe::Recipe;
use super::training::TrainingData;
use crate::curated::{Reason, Recommendation};
use super::topk;
use rayon::prelude::*;
use std::collections::{BTreeSet, HashMap, HashSet};

/// The champion, ready to score.
#[derive(Debug, Clone)]
pub struct ServingModel {
    pub version: String,
    pub als: AlsModel,
    pub ids: IdTable,
    /// The recipe it was trained with: fold-in weighs listens the same way.
    pub hyper: Recipe,
    /// The cold-start policy and fold-in threshold its training chose.
    pub cold_start: cold_start::Serving,
    /// The drift weight its training chose.
    pub drift: drift::Serving,
}

/// What scoring a date gave.
#[derive(Debug, Clone, Default)]
pub struct Scored {
    /// Sorted by (user_id, rank).
    pub rows: Vec<Recommendation>,
    pub users: u64,
    /// Users scored by the model with their trained factors.
    pub cf_trained: u64,
    /// Users scored by the model after folding their changed or new listens in.
    pub cf_folded_in: u64,
    pub cold_start: u64,
    /// Distinct tracks recommended over the date's current tracks.
    pub coverage: f64,
    /// The distinct tracks recommended, in id order (a fanned scoring's coverage is their union's).
    pub tracks: Vec<i64>,
}

/// A user the model scores: their factors and the model's indices of what they listened to.
struct CfUser {
    user_id: i64,
    factors: Vec<f32>,
    listened: Vec<u32>,
}

/// Recommends `k` tracks to every current user of `inputs`, whose listens are those users'
/// whole histories; `counts` are everyone's ([`TrackCounts::new`] of the same inputs when they
/// hold every user, the sum of the buckets' when a fanned scoring scores one bucket).
pub fn score_all(inputs: &Inputs, counts: &TrackCounts, model: Option<&ServingModel>, k: usize) -> Scored {
    let mut listened: HashMap<i64, Vec<i64>> = HashMap::new();
    for l in &inputs.listens {
        listened.entry(l.user_id).or_default().push(l.track_id);
    }
    let cold = model.map_or_else(cold_start::Serving::default, |m| m.cold_start);
    let popularity = Popularity::of(counts, &inputs.catalog, cold.recent_days);
    let version = model.map_or("none".to_owned(), |m| m.version.clone());
    let yty = model.map(|m| m.als.item_gramian());
    // Today's listens weighted as in training, per user, in today's dense indices.
    let today = TrainingData::new(&inputs.listens);
    let weighted = model.map(|m| today.matrix(&today.pairs, &m.hyper)).unwrap_or_default();

    // Which users the model scores, and with which factors (fold-in runs in parallel).
    let cf: Vec<Option<(CfUser, bool)>> = inputs
        .catalog
        .users
        .par_iter()
        .map(|(user_id, _)| {
            let (m, yty) = (model?, yty.as_ref()?);
            let row = today.users.index(*user_id)? as usize;
            // The row the model's recipe keeps (fold-in reads it) and every track heard (excluded).
            let (items, weights) = weighted.fit.by_user.row(row);
            let known = |i: u32| m.ids.tracks.binary_search(&today.tracks.id(i)).ok().map(|j| j as u32);
            // The model's indices of the tracks it knows (both id lists are sorted, so in order).
            let (idx, weights): (Vec<u32>, Vec<f32>) = items.iter().zip(weights).filter_map(|(&i, &w)| known(i).map(|j| (j, w))).unzip();
            if idx.is_empty() {
                return None;
            }
            // Trained on exactly this row (as the model's id table hashed it): its own factors.
            let row_tracks: Vec<i64> = items.iter().map(|&i| today.tracks.id(i)).collect();
            let trained = m.ids.users.binary_search(user_id).ok().filter(|&u| m.ids.user_hashes[u] == listens_hash(&row_tracks));
            let listened: Vec<u32> = weighted.heard().by_user.row(row).0.iter().filter_map(|&i| known(i)).collect();
            // Folding in from too few listens does worse than cold start (the card's evidence,
            // measured on a user's first known listens, before any cap): the user must have heard
            // that many, and the capped row must hold that many (or the whole cap).
            let needed = cold.fold_in_min_listens as usize;
            let from_row = match m.hyper.max_tracks_per_user as usize {
                0 => needed,
                cap => needed.min(cap),
            };
            if trained.is_none() && (listened.len() < needed || idx.len() < from_row) {
                return None;
            }
            let factors = match trained {
                Some(u) => m.als.user(u).to_vec(),
                None => m.als.fold_in(yty, &idx, &weights),
            };
            Some((CfUser { user_id: *user_id, factors, listened }, trained.is_some()))
        })
        .collect();

    let mut by_user: HashMap<i64, Vec<(i64, f32, Reason)>> = HashMap::new();
    let mut scored = Scored { users: inputs.catalog.users.len() as u64, ..Scored::default() };
    if let Some(m) = model {
        let cf_users: Vec<&CfUser> = cf.iter().flatten().map(|(u, _)| u).collect();
        scored.cf_trained = cf.iter().flatten().filter(|(_, trained)| *trained).count() as u64;
        scored.cf_folded_in = cf_users.len() as u64 - scored.cf_trained;
        let f = m.als.factors();
        let factors: Vec<f32> = cf_users.iter().flat_map(|u| u.factors.iter().copied()).collect();
        let triples: Vec<(u32, u32, f32)> =
            cf_users.iter().enumerate().flat_map(|(row, u)| u.listened.iter().map(move |&i| (row as u32, i, 1.0))).collect();
        let exclude = Csr::from_triples(cf_users.len(), m.ids.tracks.len(), &triples);
        let current: Vec<bool> = m.ids.tracks.iter().map(|t| inputs.catalog.tracks.binary_search_by_key(t, |c| c.0).is_ok()).collect();
        let rows: Vec<u32> = (0..cf_users.len() as u32).collect();
        let blend = match m.drift.weight > 0.0 {
            true => drift::trend(&counts.recent, m.drift.recent_days, &counts.listeners),
            false => HashMap::new(),
        };
        let bias: Vec<f32> = match blend.is_empty() {
            true => Vec::new(),
            false => m.ids.tracks.iter().map(|t| m.drift.weight * blend.get(t).copied().unwrap_or(0.0)).collect(),
        };
        let ranked = topk::top_k_blended(&factors, &m.als.item_factors, f, &rows, &exclude, &current, &bias, k);
        // Trending current tracks the model does not know score by their trend alone.
        let is_current = |t: i64| inputs.catalog.tracks.binary_search_by_key(&t, |c| c.0).is_ok();
        let unknown = drift::unknown_trending(&blend, |t| m.ids.tracks.binary_search(&t).is_ok(), is_current);
        by_user = cf_users
            .iter()
            .zip(ranked)
            .map(|(u, r)| {
                let mut list: Vec<(i64, f32, Reason)> = r.into_iter().map(|(i, s)| (m.ids.tracks[i as usize], s, Reason::Cf)).collect();
                let heard = listened.get(&u.user_id);
                let fresh = unknown.iter().filter(|(t, _)| heard.is_none_or(|h| !h.contains(t))).take(k);
                list.extend(fresh.map(|&(t, trend)| (t, m.drift.weight * trend, Reason::Trend)));
                // Stable: on a tie the model's track stays first.
                list.sort_by(|a, b| b.1.total_cmp(&a.1));
                list.truncate(k);
                (u.user_id, list)
            })
            .collect();
    }

    for (user_id, genre) in &inputs.catalog.users {
        let mut rows: Vec<(i64, f64, Reason)> = Vec::with_capacity(k);
        if let Some(ranked) = by_user.get(user_id) {
            rows.extend(ranked.iter().map(|&(t, s, reason)| (t, f64::from(s), reason)));
        }
        if rows.len() < k {
            let mut skip: HashSet<i64> = listened.get(user_id).map(|t| t.iter().copied().collect()).unwrap_or_default();
            skip.extend(rows.iter().map(|r| r.0));
            if rows.is_empty() {
                scored.cold_start += 1;
            }
            let fill = popularity.recommend(cold.policy, genre.as_deref(), &skip, k - rows.len());
            rows.extend(fill.into_iter().map(|(t, s)| (t, s, Reason::ColdStart)));
        }
        scored.rows.extend(rows.into_iter().enumerate().map(|(rank, (track_id, score, reason))| Recommendation {
            user_id: *user_id,
            rank: rank as i32 + 1,
            track_id,
            score,
            model_version: version.clone(),
            reason,
        }));
    }
    scored.tracks = scored.rows.iter().map(|r| r.track_id).collect::<BTreeSet<i64>>().into_iter().collect();
    scored.coverage = scored.tracks.len() as f64 / inputs.catalog.tracks.len().max(1) as f64;
    scored
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recommend::inputs::{Catalog, Listen};
    use std::sync::Arc;

    fn listen(user_id: i64, track_id: i64, position: i32) -> Listen {
        Listen { user_id, track_id, created_at_micros: 0, position }
    }

    /// Users 1..=30 like tracks 100..110, users 31..=60 tracks 200..210: each listened to 4
    /// tracks of their group, drawn pseudo-randomly.
    fn history() -> Vec<Listen> {
        let mut out = Vec::new();
        let mut state: u64 = 12345;
        for u in 1..=60i64 {
            let base = if u <= 30 { 100 } else { 200 };
            let mut picked = Vec::new();
            while picked.len() < 4 {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                let t = base + ((state >> 33) % 10) as i64;
                if !picked.contains(&t) {
                    picked.push(t);
                }
            }
            out.extend(picked.into_iter().enumerate().map(|(j, t)| listen(u, t, j as i32)));
        }
        out
    }

    fn catalog(users: impl IntoIterator<Item = i64>) -> Catalog {
        let genre = |t: i64| -> Option<Arc<str>> { Some(if t < 200 { "rock".into() } else { "jazz".into() }) };
        Catalog {
            users: users.into_iter().map(|u| (u, Some(if u <= 30 || u == 99 { "rock".into() } else { "jazz".into() }))).collect(),
            tracks: (100..110).chain(200..210).map(|t| (t, genre(t))).collect(),
        }
    }

    fn model(listens: &[Listen], max_tracks_per_user: u32) -> ServingModel {
        let data = TrainingData::new(listens);
        // Two taste groups, two factors: more would fit each user's few listens' noise.
        let als = crate::recommend::als::AlsParams { factors: 2, regularization: 0.1, alpha: 10.0, iterations: 30, cg_steps: 3, seed: 3 };
        let hyper = Recipe { als, recency_beta: 0.0, recency_power: 1.0, max_tracks_per_user, train_user_share: 1.0 };
        let matrix = data.matrix(&data.pairs, &hyper);
        ServingModel { version: "v1".into(), als: AlsModel::train(&hyper.als, &matrix.fit), ids: data.id_table(&matrix), hyper, cold_start: Default::default(), drift: Default::default() }
    }

    fn of(s: &Scored, user: i64) -> Vec<(i64, Reason)> {
        s.rows.iter().filter(|r| r.user_id == user).map(|r| (r.track_id, r.reason)).collect()
    }

    #[test]
    fn trained_folded_in_and_cold_start_users_each_get_what_fits() {
        let trained_on = history();
        let m = model(&trained_on, 0);
        // Today: user 5 listened to one more rock track, user 61 is new (jazz listens), user 99
        // (rock fan) and user 98 (jazz fan) have no listens; track 209 was removed.
        let mut today = trained_on.clone();
        today.push(listen(5, 109, 9));
        today.extend([listen(61, 200, 0), listen(61, 203, 1)]);
        let mut cat = catalog((1..=61).chain([98, 99]));
        cat.tracks.retain(|t| t.0 != 209);
        let inputs = Inputs { listens: today.clone(), catalog: cat, ..Inputs::default() };
        let s = score_all(&inputs, &inputs.counts(), Some(&m), 5);

        assert_eq!((s.users, s.cf_trained, s.cf_folded_in, s.cold_start), (63, 59, 2, 2));
        for user in [1, 5, 40, 61] {
            let recs = of(&s, user);
            assert_eq!(recs.len(), 5, "user {user}");
            let seen: HashSet<i64> = today.iter().filter(|l| l.user_id == user).map(|l| l.track_id).collect();
            assert!(recs.iter().all(|(t, _)| !seen.contains(t) && *t != 209), "user {user}: never a listened or removed track: {recs:?}");
            let own = if user <= 30 { 100..110 } else { 200..210 };
            let in_taste = recs.iter().take(3).filter(|(t, r)| own.contains(t) && *r == Reason::Cf).count();
            assert_eq!(in_taste, 3, "user {user}: the top 3 come from their taste group: {recs:?}");
        }
        let rock: Vec<(i64, Reason)> = of(&s, 99);
        assert!(rock.iter().all(|(t, r)| (100..110).contains(t) && *r == Reason::ColdStart), "{rock:?}");
        assert!(of(&s, 98).iter().all(|(t, _)| (200..209).contains(t)));
        let ranks: Vec<i32> = s.rows.iter().filter(|r| r.user_id == 1).map(|r| r.rank).collect();
        assert_eq!(ranks, [1, 2, 3, 4, 5]);
        assert!(s.coverage > 0.5 && s.coverage <= 1.0, "{}", s.coverage);
        assert!(s.rows.iter().all(|r| r.model_version == "v1"));
    }

    #[test]
    fn a_capped_model_keeps_its_users_trained_and_never_recommends_what_they_heard_before_the_cap() {
        let listens = history();
        let m = model(&listens, 2);
        let inputs = Inputs { listens: listens.clone(), catalog: catalog(1..=60), ..Inputs::default() };
        let s = score_all(&inputs, &inputs.counts(), Some(&m), 5);
        // Nobody's listens changed: everyone keeps their trained factors, none is folded in again.
        assert_eq!((s.cf_trained, s.cf_folded_in, s.cold_start), (60, 0, 0));
        for user in 1..=60 {
            let heard: HashSet<i64> = listens.iter().filter(|l| l.user_id == user).map(|l| l.track_id).collect();
            assert!(of(&s, user).iter().all(|(t, _)| !heard.contains(t)), "user {user}: {:?} against {heard:?}", of(&s, user));
        }
        // One more listen changes user 5's latest two: folded in.
        let mut today = listens;
        today.push(listen(5, (100..110).find(|t| !today.iter().any(|l| l.user_id == 5 && l.track_id == *t)).unwrap(), 9));
        let inputs = Inputs { listens: today, catalog: catalog(1..=60), ..Inputs::default() };
        let s = score_all(&inputs, &inputs.counts(), Some(&m), 5);
        assert_eq!((s.cf_trained, s.cf_folded_in), (59, 1));
    }

    #[test]
    fn each_bucket_of_users_scored_with_everyones_counts_gets_the_whole_scorings_lists() {
        use crate::buckets::Bucket;
        use crate::recommend::cold_start::RecentListen;
        use crate::recommend::counts::{RecentCounts, TrackCounts};
        let trained_on = history();
        let mut m = model(&trained_on, 0);
        // Blend a trend in, and fill by recent popularity: both read everyone's counts.
        m.drift = drift::Serving { weight: 4.0, recent_days: 7 };
        m.cold_start = cold_start::Serving { policy: cold_start::Policy::Recent, fold_in_min_listens: 2, recent_days: 7 };
        // Today: a new user and more listens (folded in), users without listens (cold start), a
        // track new since training (211) that is a hit lately, recent listens of several ages.
        let mut today = trained_on.clone();
        today.extend([listen(5, 109, 9), listen(61, 200, 0), listen(61, 203, 1), listen(62, 211, 0), listen(63, 107, 0)]);
        let mut cat = catalog((1..=63).chain([98, 99]));
        cat.tracks.push((211, Some("jazz".into())));
        let recent: Vec<RecentListen> = [(61, 211, 0), (62, 211, 0), (40, 211, 1), (7, 104, 2), (8, 104, 5), (61, 200, 0), (3, 101, 9)]
            .map(|(user_id, track_id, age_days)| RecentListen { user_id, track_id, age_days })
            .into();
        let inputs = Inputs { listens: today.clone(), catalog: cat.clone(), recent: recent.clone(), ..Inputs::default() };
        let whole = score_all(&inputs, &inputs.counts(), Some(&m), 5);
        assert!(whole.rows.iter().any(|r| r.reason == Reason::Trend) && whole.cold_start > 0 && whole.cf_folded_in > 0, "the case exercises every path");

        for count in [2, 4, 16] {
            let part = |b: Bucket| Inputs {
                listens: today.iter().filter(|l| b.contains(l.user_id)).copied().collect(),
                catalog: Catalog { users: cat.users.iter().filter(|u| b.contains(u.0)).cloned().collect(), tracks: cat.tracks.clone() },
                ..Inputs::default()
            };
            // As a fanned scoring's plan counts: bucket by bucket, the recent listens apart.
            let mut counts = TrackCounts { recent: RecentCounts::of(&recent), ..TrackCounts::default() };
            Bucket::all(count).for_each(|b| counts.add(TrackCounts::new(&part(b).listens, &[])));
            assert_eq!(counts, inputs.counts(), "{count} buckets: the counts add up to the whole's");
            let parts: Vec<Scored> = Bucket::all(count).map(|b| score_all(&part(b), &counts, Some(&m), 5)).collect();
            let mut rows: Vec<Recommendation> = parts.iter().flat_map(|p| p.rows.clone()).collect();
            rows.sort_by_key(|r| (r.user_id, r.rank));
            assert_eq!(rows, whole.rows, "{count} buckets: every list, score and reason as the whole's");
            let sum = |f: fn(&Scored) -> u64| parts.iter().map(f).sum::<u64>();
            assert_eq!((sum(|p| p.users), sum(|p| p.cf_trained), sum(|p| p.cf_folded_in), sum(|p| p.cold_start)), (whole.users, whole.cf_trained, whole.cf_folded_in, whole.cold_start));
            let union: BTreeSet<i64> = parts.iter().flat_map(|p| p.tracks.iter().copied()).collect();
            assert_eq!(union.into_iter().collect::<Vec<_>>(), whole.tracks);
        }
    }

    #[test]
    fn without_a_model_everyone_gets_cold_start() {
        let inputs = Inputs { listens: history(), catalog: catalog(1..=60), ..Inputs::default() };
        let s = score_all(&inputs, &inputs.counts(), None, 3);
        assert_eq!((s.cold_start, s.cf_trained + s.cf_folded_in), (60, 0));
        assert!(s.rows.iter().all(|r| r.reason == Reason::ColdStart && r.model_version == "none"));
        assert_eq!(s.rows.len(), 180);
    }
}
