//! Per-user chronology: temporal hold-out (latest listens to test/validation) and recency weights.

/// One timestamped interaction, in dense indices.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeightedListen {
    pub user: u32,
    pub item: u32,
    pub weight: f32,
    pub timestamp: i64,
}

/// Splits `listens` per user into (train, test).
///
/// Each user's listens are ordered by `(timestamp, item)` (ties broken by item index, i.e. by
/// item id when indices come from an [`IdMap`](super::interactions::IdMap)) and the last
/// `floor(fraction * n)` of them, but at least 1, are held out, where `n` is the user's listen
/// count. Users with fewer than `min_listens` listens (use at least 2) keep everything in train,
/// so no user loses their whole history. Both outputs are sorted by (user, timestamp, item).
pub fn temporal_split(listens: &[WeightedListen], fraction: f64, min_listens: usize) -> (Vec<WeightedListen>, Vec<WeightedListen>) {
    assert!((0.0..1.0).contains(&fraction), "fraction must be in [0, 1)");
    let mut sorted = listens.to_vec();
    sorted.sort_by_key(|l| (l.user, l.timestamp, l.item));
    let (mut train, mut test) = (Vec::with_capacity(sorted.len()), Vec::new());
    for user in sorted.chunk_by(|a, b| a.user == b.user) {
        let n = user.len();
        // The epsilon keeps e.g. 0.2 * 35 = 7.000000000000001 and 0.3 * 10 = 2.9999999999999996 exact.
        let held = if n < min_listens.max(2) || fraction == 0.0 { 0 } else { ((fraction * n as f64 + 1e-9).floor() as usize).clamp(1, n - 1) };
        train.extend_from_slice(&user[..n - held]);
        test.extend_from_slice(&user[n - held..]);
    }
    (train, test)
}

/// Carves a validation slice out of training listens the same way (for tuning, so the test
/// listens are never looked at): returns (fit, validation).
pub fn validation_split(train: &[WeightedListen], fraction: f64, min_listens: usize) -> (Vec<WeightedListen>, Vec<WeightedListen>) {
    temporal_split(train, fraction, min_listens)
}

/// `(user, item, weight)` triples with each listen's weight multiplied by a per-user recency
/// factor `1 + beta * (rank / n)^power`, where `rank` is 1 for the user's oldest listen and `n`
/// for their latest (same `(timestamp, item)` order as [`temporal_split`]).
///
/// Why: the next listens resemble the latest ones far more than the oldest; on MovieLens-100k
/// (temporal split, tuned on validation) `beta = 300, power = 10` lifts ALS NDCG@10 from ~0.19
/// to ~0.22. `beta = 0` gives plain [`triples`]. Relative rank (not time) keeps it scale-free
/// across users who listen at very different rates.
pub fn recency_weighted(listens: &[WeightedListen], beta: f32, power: f32) -> Vec<(u32, u32, f32)> {
    let mut sorted = listens.to_vec();
    sorted.sort_by_key(|l| (l.user, l.timestamp, l.item));
    let mut out = Vec::with_capacity(sorted.len());
    for user in sorted.chunk_by(|a, b| a.user == b.user) {
        let n = user.len() as f32;
        for (j, l) in user.iter().enumerate() {
            out.push((l.user, l.item, l.weight * (1.0 + beta * ((j + 1) as f32 / n).powf(power))));
        }
    }
    out
}

/// Keeps each user's latest `cap` entries of `weighted` (all when `cap` is 0). `weighted` must be
/// in [`recency_weighted`]'s order: by user, each user's entries oldest first.
pub fn latest_per_user(weighted: Vec<(u32, u32, f32)>, cap: usize) -> Vec<(u32, u32, f32)> {
    if cap == 0 {
        return weighted;
    }
    let mut out = Vec::with_capacity(weighted.len());
    for user in weighted.chunk_by(|a, b| a.0 == b.0) {
        out.extend_from_slice(&user[user.len().saturating_sub(cap)..]);
    }
    out
}

/// The `(user, item, weight)` triples of `listens`, for [`Interactions::from_triples`](super::interactions::Interactions::from_triples).
pub fn triples(listens: &[WeightedListen]) -> Vec<(u32, u32, f32)> {
    listens.iter().map(|l| (l.user, l.item, l.weight)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(user: u32, item: u32, timestamp: i64) -> WeightedListen {
        WeightedListen { user, item, weight: 1.0, timestamp }
    }

    #[test]
    fn holds_out_the_most_recent_fifth_per_user() {
        let mut v = Vec::new();
        // user 0: 10 listens at t = 0..10 -> 2 held out (t = 8, 9).
        for t in 0..10 {
            v.push(l(0, t as u32, 100 - t)); // items descending in time: item 0 is the latest
        }
        // user 1: 4 listens -> floor(0.8) = 0, at least 1: the latest; ties at t=5 broken by item.
        v.extend([l(1, 9, 5), l(1, 3, 5), l(1, 4, 1), l(1, 5, 2)]);
        // user 2: a single listen stays in train.
        v.push(l(2, 1, 7));
        let (train, test) = temporal_split(&v, 0.2, 2);
        assert_eq!(test, vec![l(0, 1, 99), l(0, 0, 100), l(1, 9, 5)]);
        assert_eq!(train.len(), 8 + 3 + 1);
        assert!(train.contains(&l(1, 3, 5)) && train.contains(&l(2, 1, 7)));
        // Input order does not matter.
        v.reverse();
        assert_eq!(temporal_split(&v, 0.2, 2), (train.clone(), test));
        // Validation: the same rule applied to train only: user 0 has 8 left -> floor(1.6) = 1,
        // user 1 has 3 -> 1 (the tie at t=5 put item 3 before item 9, so item 3 is now latest).
        let (fit, val) = validation_split(&train, 0.2, 2);
        assert_eq!(val, vec![l(0, 2, 98), l(1, 3, 5)]);
        assert_eq!(fit.len() + val.len(), train.len());
    }

    #[test]
    fn recency_weights_grow_towards_the_latest_listen() {
        // user 0: 4 listens, out of order; weights 1 + 2 * (r/4)^1 for rank r = 1..4.
        let v = vec![l(0, 7, 30), l(0, 8, 10), l(1, 1, 5), l(0, 9, 20), l(0, 6, 40)];
        let w = recency_weighted(&v, 2.0, 1.0);
        assert_eq!(w, vec![(0, 8, 1.5), (0, 9, 2.0), (0, 7, 2.5), (0, 6, 3.0), (1, 1, 3.0)]);
        assert_eq!(recency_weighted(&v, 0.0, 10.0).iter().map(|t| t.2).sum::<f32>(), 5.0);
    }

    #[test]
    fn the_cap_keeps_each_users_latest_entries_with_their_weights() {
        // user 0: 4 listens, user 1: 1; weights as above, so the kept ones weigh what they did.
        let v = vec![l(0, 7, 30), l(0, 8, 10), l(1, 1, 5), l(0, 9, 20), l(0, 6, 40)];
        let w = recency_weighted(&v, 2.0, 1.0);
        assert_eq!(latest_per_user(w.clone(), 2), vec![(0, 7, 2.5), (0, 6, 3.0), (1, 1, 3.0)]);
        assert_eq!(latest_per_user(w.clone(), 0), w);
        assert_eq!(latest_per_user(w.clone(), 4), w);
    }

    #[test]
    fn rounding_floors_with_float_noise_guard() {
        let v: Vec<WeightedListen> = (0..35).map(|t| l(0, t, t as i64)).collect();
        assert_eq!(temporal_split(&v, 0.2, 2).1.len(), 7);
        let v: Vec<WeightedListen> = (0..10).map(|t| l(0, t, t as i64)).collect();
        assert_eq!(temporal_split(&v, 0.3, 2).1.len(), 3);
        assert_eq!(temporal_split(&v[..2], 0.2, 2).1.len(), 1);
        assert_eq!(temporal_split(&v[..2], 0.2, 3).1.len(), 0);
    }
}
