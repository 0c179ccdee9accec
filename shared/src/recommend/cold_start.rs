//! Cold start: lists for users the model cannot score, by a policy each training run chooses on
//! evidence ([`evaluate_policies`]).
//!
//! | policy | list |
//! | --- | --- |
//! | `genre` | the most listened current tracks of the user's favourite genre, then overall |
//! | `overall` | the most listened current tracks |
//! | `recent` | the tracks most listened in the last `COLD_START_RECENT_DAYS` days (listens that are new on a date, `listen_events_delta`, weighted `1 - age / days`), then overall |
//!
//! A training run hides a sample of users entirely ([`is_sampled`]): popularity is counted
//! without them, each policy lists tracks for each of them, and their own listens are the
//! relevant set. The policy with the best mean NDCG@10 is stored in the model card and served.

use super::counts::TrackCounts;
use super::inputs::{Catalog, Listen};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

/// A cold-start policy (see the module doc).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Policy {
    /// Today's behaviour before any evidence: served until a card says otherwise.
    #[default]
    Genre,
    Overall,
    Recent,
}

impl Policy {
    /// In order of preference on a tie: the simplest first.
    pub const ALL: [Policy; 3] = [Policy::Overall, Policy::Recent, Policy::Genre];

    pub fn name(self) -> &'static str {
        match self {
            Policy::Genre => "genre",
            Policy::Overall => "overall",
            Policy::Recent => "recent",
        }
    }
}

/// A listen that was new on a date `age_days` before the scored date (0 = that date).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecentListen {
    pub user_id: i64,
    pub track_id: i64,
    pub age_days: u32,
}

/// Current tracks ranked by listens: overall, per normalised genre, and recency-weighted.
#[derive(Debug, Clone, Default)]
pub struct Popularity {
    /// (track id, listens), most listened first, ties by lower id.
    overall: Vec<(i64, f64)>,
    by_genre: HashMap<Arc<str>, Vec<(i64, f64)>>,
    recent: Vec<(i64, f64)>,
    total: f64,
    recent_total: f64,
}

fn ranked(counts: impl IntoIterator<Item = (i64, f64)>) -> Vec<(i64, f64)> {
    let mut counts: Vec<(i64, f64)> = counts.into_iter().collect();
    counts.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    counts
}

impl Popularity {
    /// Counts listens of the catalogue's current tracks (a removed track is never suggested);
    /// `recent` listens weigh `1 - age / recent_days` (none older than `recent_days`).
    pub fn new(listens: &[Listen], catalog: &Catalog, recent: &[RecentListen], recent_days: u32) -> Self {
        Self::of(&TrackCounts::new(listens, recent), catalog, recent_days)
    }

    /// [`Popularity::new`] from counts already made (a fanned scoring's, added over its buckets).
    pub fn of(counts: &TrackCounts, catalog: &Catalog, recent_days: u32) -> Self {
        let listens = |id: &i64| counts.listens.get(id).copied().unwrap_or(0) as f64;
        let current: HashMap<i64, f64> = catalog.tracks.iter().map(|(id, _)| (*id, listens(id))).collect();
        let recent: Vec<(i64, f64)> = counts
            .recent
            .weighted(recent_days, |age| 1.0 - f64::from(age) / f64::from(recent_days))
            .into_iter()
            .filter(|(t, _)| current.contains_key(t))
            .collect();
        let mut by_genre: HashMap<Arc<str>, Vec<(i64, f64)>> = HashMap::new();
        for (id, genre) in &catalog.tracks {
            if let Some(g) = genre {
                by_genre.entry(g.clone()).or_default().push((*id, current[id]));
            }
        }
        // Sums in id order (whole counts, and the recent weights), never a hash map's order.
        Self {
            total: counts.listens.iter().filter(|(t, _)| current.contains_key(t)).map(|(_, &n)| n as f64).sum(),
            recent_total: recent.iter().map(|(_, w)| w).sum(),
            overall: ranked(current),
            by_genre: by_genre.into_iter().map(|(g, c)| (g, ranked(c))).collect(),
            recent: ranked(recent),
        }
    }

    /// Up to `k` tracks by `policy` for a user of `genre`, none of `listened`. Scores are shares
    /// of all listens (of the recent weight for the recent part).
    pub fn recommend(&self, policy: Policy, genre: Option<&str>, listened: &HashSet<i64>, k: usize) -> Vec<(i64, f64)> {
        let first: &[(i64, f64)] = match policy {
            Policy::Genre => genre.and_then(|g| self.by_genre.get(g)).map(Vec::as_slice).unwrap_or_default(),
            Policy::Overall => &[],
            Policy::Recent => &self.recent,
        };
        let first_total = if policy == Policy::Recent { self.recent_total } else { self.total };
        let shares = first.iter().map(|&(id, n)| (id, n / first_total.max(1.0))).chain(self.overall.iter().map(|&(id, n)| (id, n / self.total.max(1.0))));
        let mut out: Vec<(i64, f64)> = Vec::with_capacity(k);
        for (id, share) in shares {
            if out.len() == k {
                break;
            }
            if !listened.contains(&id) && !out.iter().any(|(t, _)| *t == id) {
                out.push((id, share));
            }
        }
        out
    }
}

/// Whether a user is in the sample a training run hides (about `share` of users, by a hash of
/// the id: the same users on every run, whatever the data's order).
pub fn is_sampled(user_id: i64, share: f64) -> bool {
    let mut z = (user_id as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    ((z >> 11) as f64 / (1u64 << 53) as f64) < share
}

/// NDCG@k of a list against a relevant set (binary gains, as [`super::evaluate`]).
pub fn ndcg(list: &[i64], relevant: &HashSet<i64>, k: usize) -> f64 {
    let gain = |rank: usize| 1.0 / ((rank + 2) as f64).log2();
    let idcg: f64 = (0..k.min(relevant.len())).map(gain).sum();
    let dcg: f64 = list.iter().take(k).enumerate().filter(|(_, t)| relevant.contains(t)).map(|(r, _)| gain(r)).sum();
    if idcg == 0.0 { 0.0 } else { dcg / idcg }
}

/// The policies compared on the hidden users.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyEvaluation {
    /// Hidden users with at least one listen.
    pub users: u64,
    /// Mean NDCG@10 per policy name.
    pub ndcg_at_10: BTreeMap<String, f64>,
    pub winner: Policy,
}

/// Lists `k` tracks by each policy for every hidden user (popularity counted without them) and
/// scores them against the user's listened tracks; the best mean NDCG wins (ties: the simpler).
pub fn evaluate_policies(listens: &[Listen], catalog: &Catalog, recent: &[RecentListen], recent_days: u32, hidden: impl Fn(i64) -> bool, k: usize) -> (PolicyEvaluation, Popularity) {
    let visible: Vec<Listen> = listens.iter().filter(|l| !hidden(l.user_id)).copied().collect();
    let recent_visible: Vec<RecentListen> = recent.iter().filter(|r| !hidden(r.user_id)).copied().collect();
    let popularity = Popularity::new(&visible, catalog, &recent_visible, recent_days);
    let mut relevant: BTreeMap<i64, HashSet<i64>> = BTreeMap::new();
    for l in listens.iter().filter(|l| hidden(l.user_id)) {
        relevant.entry(l.user_id).or_default().insert(l.track_id);
    }
    let genres: HashMap<i64, Option<&str>> = catalog.users.iter().map(|(u, g)| (*u, g.as_deref())).collect();
    let empty = HashSet::new();
    let mut ndcg_at_10 = BTreeMap::new();
    let mut winner: Option<(Policy, f64)> = None;
    for policy in Policy::ALL {
        let sum: f64 = relevant
            .iter()
            .map(|(user, rel)| {
                let list: Vec<i64> = popularity.recommend(policy, genres.get(user).copied().flatten(), &empty, k).into_iter().map(|t| t.0).collect();
                ndcg(&list, rel, k)
            })
            .sum();
        let mean = if relevant.is_empty() { 0.0 } else { sum / relevant.len() as f64 };
        ndcg_at_10.insert(policy.name().to_owned(), mean);
        if winner.is_none_or(|(_, best)| mean > best) {
            winner = Some((policy, mean));
        }
    }
    let winner = winner.map_or(Policy::default(), |w| w.0);
    (PolicyEvaluation { users: relevant.len() as u64, ndcg_at_10, winner }, popularity)
}

/// How the model does, against cold start, for hidden users of whom only the first `known`
/// listens are known (folded in), on their other listens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FewListens {
    pub known: u32,
    pub users: u64,
    pub cf_ndcg_at_10: f64,
    pub cold_start_ndcg_at_10: f64,
}

/// Folded-in users with this few known listens are compared; more known listens: the model.
pub const FEW_LISTENS: [u32; 5] = [1, 2, 3, 5, 8];

/// What a training run chose for cold start, stored in the model card and served with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColdStartChoice {
    pub policy: Policy,
    pub recent_days: u32,
    pub sample_share: f64,
    pub policies: PolicyEvaluation,
    pub few_listens: Vec<FewListens>,
    /// Users with fewer listens the model knows get cold start: the smallest `known` of
    /// [`FEW_LISTENS`] from which the model beats cold start (and stays ahead), 1 without
    /// evidence, one past the largest when the model never wins.
    pub fold_in_min_listens: u32,
}

/// How scoring serves cold start: a model card's choice, or (no model, or a card from before
/// the choice) the genre policy for users with no listen the model knows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Serving {
    pub policy: Policy,
    pub fold_in_min_listens: u32,
    pub recent_days: u32,
}

impl Default for Serving {
    fn default() -> Self {
        Self { policy: Policy::Genre, fold_in_min_listens: 1, recent_days: 7 }
    }
}

impl From<&ColdStartChoice> for Serving {
    fn from(c: &ColdStartChoice) -> Self {
        Self { policy: c.policy, fold_in_min_listens: c.fold_in_min_listens.max(1), recent_days: c.recent_days }
    }
}

/// The threshold [`ColdStartChoice::fold_in_min_listens`] from the few-listens comparison.
pub fn fold_in_threshold(few: &[FewListens]) -> u32 {
    let measured: Vec<&FewListens> = few.iter().filter(|f| f.users > 0).collect();
    let Some(last) = measured.last() else { return 1 };
    // The first point from which CF wins at every measured point after it.
    let mut threshold = last.known + 1;
    for f in measured.iter().rev() {
        if f.cf_ndcg_at_10 > f.cold_start_ndcg_at_10 {
            threshold = f.known;
        } else {
            break;
        }
    }
    if threshold == measured[0].known { 1 } else { threshold }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listen(user_id: i64, track_id: i64) -> Listen {
        Listen { user_id, track_id, created_at_micros: 0, position: 0 }
    }

    #[test]
    fn each_policy_fills_from_overall_and_never_a_listened_or_removed_track() {
        let (rock, jazz): (Arc<str>, Arc<str>) = ("rock".into(), "jazz".into());
        let catalog = Catalog {
            users: vec![],
            tracks: vec![(1, Some(rock.clone())), (2, Some(rock.clone())), (3, Some(jazz.clone())), (4, Some(jazz)), (5, None)],
        };
        // Track 9 is no longer in the catalogue: counted nowhere.
        let listens: Vec<Listen> = [(1, 3), (2, 3), (3, 3), (1, 9), (2, 9), (3, 9), (4, 9), (1, 2), (2, 5), (3, 5)].map(|(u, t)| listen(u, t)).into();
        // Recent: track 4 twice today, track 1 once 3 days ago (weight 1 - 3/7), track 9 (gone),
        // track 2 eight days ago (too old).
        let recent = [(1, 4, 0), (2, 4, 0), (1, 1, 3), (3, 9, 0), (1, 2, 8)].map(|(user_id, track_id, age_days)| RecentListen { user_id, track_id, age_days });
        let p = Popularity::new(&listens, &catalog, &recent, 7);
        let ids = |v: Vec<(i64, f64)>| v.into_iter().map(|(t, _)| t).collect::<Vec<_>>();
        let none = HashSet::new();
        assert_eq!(ids(p.recommend(Policy::Genre, Some("rock"), &none, 3)), [2, 1, 3], "rock 2 (1 listen), rock 1 (0), then overall 3");
        assert_eq!(ids(p.recommend(Policy::Genre, Some("rock"), &HashSet::from([2]), 2)), [1, 3]);
        assert_eq!(ids(p.recommend(Policy::Genre, Some("polka"), &none, 2)), [3, 5], "an unknown genre falls back to overall");
        assert_eq!(ids(p.recommend(Policy::Overall, Some("rock"), &none, 3)), [3, 5, 2], "overall ignores the genre");
        assert_eq!(ids(p.recommend(Policy::Recent, None, &none, 4)), [4, 1, 3, 5], "recent first, then overall");
        assert_eq!(ids(p.recommend(Policy::Genre, None, &HashSet::from([3, 5]), 10)), [2, 1, 4], "never more than the catalogue");
        assert_eq!(p.recommend(Policy::Genre, Some("jazz"), &none, 1), [(3, 3.0 / 6.0)], "the share of the catalogue's listens");
        let recent_total = 2.0 + (1.0 - 3.0 / 7.0);
        assert_eq!(p.recommend(Policy::Recent, None, &none, 1), [(4, 2.0 / recent_total)]);
    }

    #[test]
    fn the_fold_in_threshold_is_where_the_model_starts_winning_for_good() {
        let f = |known, cf, cold| FewListens { known, users: 10, cf_ndcg_at_10: cf, cold_start_ndcg_at_10: cold };
        assert_eq!(fold_in_threshold(&[f(1, 0.2, 0.1), f(2, 0.3, 0.1)]), 1, "the model wins from one listen");
        assert_eq!(fold_in_threshold(&[f(1, 0.1, 0.2), f(2, 0.3, 0.2), f(3, 0.1, 0.2), f(5, 0.3, 0.2)]), 5);
        assert_eq!(fold_in_threshold(&[f(1, 0.1, 0.2), f(8, 0.1, 0.2)]), 9, "never: past the largest");
        assert_eq!(fold_in_threshold(&[]), 1, "no evidence: every known listen counts");
        let none = FewListens { users: 0, ..f(3, 0.0, 0.9) };
        assert_eq!(fold_in_threshold(&[f(1, 0.1, 0.2), f(2, 0.3, 0.2), none]), 2, "unmeasured points are skipped");
    }

    #[test]
    fn the_sample_is_stable_and_about_the_share() {
        let sampled = (0..10_000).filter(|&u| is_sampled(u, 0.1)).count();
        assert!((900..1100).contains(&sampled), "{sampled}");
        assert!((0..100).all(|u| is_sampled(u, 0.1) == is_sampled(u, 0.1) && !is_sampled(u, 0.0) && is_sampled(u, 1.0)));
    }

    /// 200 users: the "rock" half listens to rock tracks 0..10, the other half to jazz tracks
    /// 10..20, and everyone to the hit, track 20. With true favourite genres the genre policy
    /// wins; when the declared genres are misleading (each user declares the other genre),
    /// global popularity wins.
    #[test]
    fn the_evidence_picks_the_policy_and_a_misleading_genre_loses() {
        let (rock, jazz): (Arc<str>, Arc<str>) = ("rock".into(), "jazz".into());
        let tracks = (0..21).map(|t| (t, Some(if t < 10 { rock.clone() } else { jazz.clone() }))).collect();
        let mut listens = Vec::new();
        for u in 0..200i64 {
            let base = if u < 100 { 0 } else { 10 };
            listens.push(listen(u, 20));
            listens.extend((0..4).map(|j| listen(u, base + (u * 3 + j * 7) % 10)));
        }
        let declared = |truthful: bool| -> Vec<(i64, Option<Arc<str>>)> {
            (0..200).map(|u| (u, Some(if (u < 100) == truthful { rock.clone() } else { jazz.clone() }))).collect()
        };
        let hidden = |u: i64| is_sampled(u, 0.2);
        let truthful = Catalog { users: declared(true), tracks: Vec::clone(&tracks) };
        let (e, _) = evaluate_policies(&listens, &truthful, &[], 7, hidden, 10);
        assert!(e.users > 20 && e.winner == Policy::Genre, "{e:?}");
        assert!(e.ndcg_at_10["genre"] > e.ndcg_at_10["overall"] + 0.1, "{e:?}");

        let misleading = Catalog { users: declared(false), tracks };
        let (e, _) = evaluate_policies(&listens, &misleading, &[], 7, hidden, 10);
        assert_eq!(e.winner, Policy::Overall, "{e:?}");
        assert!(e.ndcg_at_10["overall"] > e.ndcg_at_10["genre"] + 0.05, "{e:?}");
        assert_eq!(e.ndcg_at_10["recent"], e.ndcg_at_10["overall"], "no recent listens: recent is overall, and the simpler wins the tie");
    }
}
