//! What scoring takes from everyone's listens, whoever it scores: each track's listens and
//! listeners, and the recent listens by age. Counts add up exactly, so a scoring fanned out over
//! buckets of users ([`super::fanout`]) sums the buckets' counts and then ranks and blends as a
//! whole scoring does, to the last bit: every weighted sum below runs in one fixed order (track
//! id, then age), never a hash map's.

use super::cold_start::RecentListen;
use super::inputs::Listen;
use crate::buckets::Bucket;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// The listens that were new on the last days, counted per track and age in days.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RecentCounts(BTreeMap<i64, BTreeMap<u32, u64>>);

impl RecentCounts {
    pub fn of<'a>(recent: impl IntoIterator<Item = &'a RecentListen>) -> Self {
        let mut counts = Self::default();
        counts.count(recent);
        counts
    }

    /// Counts more recent listens.
    pub fn count<'a>(&mut self, recent: impl IntoIterator<Item = &'a RecentListen>) {
        for r in recent {
            *self.0.entry(r.track_id).or_default().entry(r.age_days).or_default() += 1;
        }
    }

    pub fn add(&mut self, other: RecentCounts) {
        for (track, ages) in other.0 {
            let into = self.0.entry(track).or_default();
            for (age, n) in ages {
                *into.entry(age).or_default() += n;
            }
        }
    }

    /// Each track's recent weight, in id order: the sum, youngest age first, of its listens
    /// younger than `days`, each weighing `weight(age)`. Tracks with none are left out.
    pub fn weighted(&self, days: u32, weight: impl Fn(u32) -> f64) -> Vec<(i64, f64)> {
        self.0
            .iter()
            .filter_map(|(&track, ages)| {
                let mut young = ages.range(..days).peekable();
                young.peek()?;
                Some((track, young.fold(0.0, |sum, (&age, &n)| sum + n as f64 * weight(age))))
            })
            .collect()
    }
}

/// Everyone's listens as scoring needs them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrackCounts {
    /// Listen rows per track id (what popularity ranks by).
    pub listens: BTreeMap<i64, u64>,
    /// Distinct listeners per track id (the share of all listens drift compares with).
    pub listeners: BTreeMap<i64, u64>,
    pub recent: RecentCounts,
}

impl TrackCounts {
    /// The counts of `listens` (any users' whole histories: a user's listens are never split
    /// between two counts that are added) and of `recent`.
    pub fn new(listens: &[Listen], recent: &[RecentListen]) -> Self {
        let mut counts = Self { recent: RecentCounts::of(recent), ..Self::default() };
        let mut pairs: Vec<(i64, i64)> = listens.iter().map(|l| (l.track_id, l.user_id)).collect();
        pairs.sort_unstable();
        for same_track in pairs.chunk_by(|a, b| a.0 == b.0) {
            let track = same_track[0].0;
            counts.listens.insert(track, same_track.len() as u64);
            let listeners = same_track.chunk_by(|a, b| a.1 == b.1).count();
            counts.listeners.insert(track, listeners as u64);
        }
        counts
    }

    /// Adds the counts of other users' listens (another bucket's).
    pub fn add(&mut self, other: TrackCounts) {
        for (into, from) in [(&mut self.listens, other.listens), (&mut self.listeners, other.listeners)] {
            for (track, n) in from {
                *into.entry(track).or_default() += n;
            }
        }
        self.recent.add(other.recent);
    }
}

/// Everyone's listens and listeners per track, counted as a read streams past them, so that a
/// fanned plan that reads the date for training does not read it a second time for the counts.
/// It relies on the curated files' order: each bucket's users by increasing id, a user's rows
/// together ([`crate::buckets`]; buckets may interleave). Rows out of that order (files not
/// written by transform) stop the count, and [`ListenCounter::finish`] gives `None`: the caller
/// then counts by reading again, never with a user counted twice.
pub struct ListenCounter {
    buckets: u32,
    /// Per bucket: the user whose rows are coming, with their tracks so far.
    open: Vec<Option<(i64, Vec<i64>)>>,
    by_track: HashMap<i64, (u64, u64)>,
    in_order: bool,
}

impl ListenCounter {
    /// A counter for a date whose listen events are in `buckets` buckets.
    pub fn new(buckets: u32) -> Self {
        Self { buckets, open: vec![None; buckets as usize], by_track: HashMap::new(), in_order: true }
    }

    /// Counts one listen row.
    pub fn count(&mut self, user_id: i64, track_id: i64) {
        if !self.in_order {
            return;
        }
        let slot = Bucket::of_user(user_id, self.buckets).index as usize;
        match &mut self.open[slot] {
            Some((user, tracks)) if *user == user_id => tracks.push(track_id),
            Some((user, _)) if *user > user_id => self.in_order = false,
            open => {
                if let Some((_, tracks)) = open.replace((user_id, vec![track_id])) {
                    Self::close(&mut self.by_track, tracks);
                }
            }
        }
    }

    /// Adds a user's tracks: one listen each, one listener per distinct track.
    fn close(by_track: &mut HashMap<i64, (u64, u64)>, mut tracks: Vec<i64>) {
        tracks.sort_unstable();
        for same in tracks.chunk_by(|a, b| a == b) {
            let (listens, listeners) = by_track.entry(same[0]).or_default();
            *listens += same.len() as u64;
            *listeners += 1;
        }
    }

    /// The counts (no recent listens), or `None` when rows came out of order.
    pub fn finish(mut self) -> Option<TrackCounts> {
        if !self.in_order {
            return None;
        }
        for (_, tracks) in self.open.iter_mut().filter_map(Option::take) {
            Self::close(&mut self.by_track, tracks);
        }
        let mut counts = TrackCounts::default();
        for (track, (listens, listeners)) in self.by_track {
            counts.listens.insert(track, listens);
            counts.listeners.insert(track, listeners);
        }
        Some(counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listen(user_id: i64, track_id: i64) -> Listen {
        Listen { user_id, track_id, created_at_micros: 0, position: 0 }
    }

    #[test]
    fn counts_of_two_groups_of_users_add_up_to_the_counts_of_all() {
        let listens = [listen(1, 10), listen(1, 10), listen(2, 10), listen(2, 11), listen(3, 11), listen(3, 12)];
        let recent = [(1, 10, 0), (2, 10, 3), (3, 10, 3), (3, 12, 9)].map(|(user_id, track_id, age_days)| RecentListen { user_id, track_id, age_days });
        let all = TrackCounts::new(&listens, &recent);
        assert_eq!(all.listens, BTreeMap::from([(10, 3), (11, 2), (12, 1)]));
        assert_eq!(all.listeners, BTreeMap::from([(10, 2), (11, 2), (12, 1)]), "user 1's two listens of 10 are one listener");
        let (first, second): (Vec<Listen>, Vec<Listen>) = listens.iter().partition(|l| l.user_id == 2);
        let (recent_first, recent_second): (Vec<RecentListen>, Vec<RecentListen>) = recent.iter().partition(|r| r.user_id == 2);
        let mut sum = TrackCounts::new(&first, &recent_first);
        sum.add(TrackCounts::new(&second, &recent_second));
        assert_eq!(sum, all);
        // Weighted: track 10 once today and twice 3 days ago; track 12 only 9 days ago, too old.
        assert_eq!(all.recent.weighted(7, |age| 1.0 - f64::from(age) / 7.0), [(10, 1.0 + 2.0 * (1.0 - 3.0 / 7.0))]);
        let round_trip: TrackCounts = serde_json::from_slice(&serde_json::to_vec(&all).unwrap()).unwrap();
        assert_eq!(round_trip, all, "the plan of a fanned scoring carries them as JSON");
    }

    /// Users -30..=30, user u listening to tracks u % 7, u % 5, u % 7 again and 100.
    fn histories() -> Vec<Listen> {
        (-30..=30).flat_map(|u| [u % 7, u % 5, u % 7, 100].map(|t| listen(u, t))).collect()
    }

    #[test]
    fn counting_while_streaming_gives_the_counts_of_a_second_read_whatever_the_buckets_interleave() {
        let listens = histories();
        let all = TrackCounts::new(&listens, &[]);
        for buckets in [1, 4, 16] {
            // Each bucket's rows in user order, the buckets taking turns row by row: a user's rows
            // are never next to each other when several buckets are read at once.
            let mut by_bucket: Vec<Vec<&Listen>> = vec![Vec::new(); buckets as usize];
            for l in &listens {
                by_bucket[Bucket::of_user(l.user_id, buckets).index as usize].push(l);
            }
            let mut counter = ListenCounter::new(buckets);
            for i in 0..listens.len() {
                for rows in &by_bucket {
                    if let Some(l) = rows.get(i) {
                        counter.count(l.user_id, l.track_id);
                    }
                }
            }
            assert_eq!(counter.finish(), Some(all.clone()), "{buckets} buckets");
        }
    }

    #[test]
    fn rows_out_of_user_order_give_no_count_rather_than_a_listener_twice() {
        let listens = histories();
        // User 3's rows split by user 4's (one bucket): counted so, 3 would be two listeners.
        let mut split = listens.clone();
        let at = split.iter().position(|l| l.user_id == 4).unwrap();
        split.swap(at - 1, at);
        // User 9 before user 8.
        let mut descending = listens.clone();
        let (eight, nine) = (descending.iter().position(|l| l.user_id == 8).unwrap(), descending.iter().position(|l| l.user_id == 9).unwrap());
        descending[eight..nine + 4].rotate_left(4);
        for rows in [split, descending] {
            let mut counter = ListenCounter::new(1);
            rows.iter().for_each(|l| counter.count(l.user_id, l.track_id));
            assert_eq!(counter.finish(), None);
        }
    }
}
