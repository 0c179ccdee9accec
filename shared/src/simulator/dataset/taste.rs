//! The taste model: listen items drawn from the favourite genre with probability
//! `taste_strength`, else from any genre, both weighted by the tracks' popularity.

use std::collections::HashSet;

use fastrand::Rng;

use super::Dataset;
use super::tracks::{popularity, track_genre};

/// Draws tried before a listen item falls back to a linear scan of the catalogue.
const DRAW_ATTEMPTS: usize = 64;

/// Track slots grouped by genre, with cumulative popularity, for weighted draws.
#[derive(Clone, Default)]
pub(super) struct GenreIndex {
    slots: [Vec<u32>; 17],
    cum_weight: [Vec<f64>; 17],
}

impl GenreIndex {
    /// The index of the first `track_slots` track slots.
    pub(super) fn new(seed: u64, track_slots: u64) -> Self {
        let mut genres = Self::default();
        for s in 0..track_slots {
            let g = track_genre(seed, s);
            let w = popularity(seed, s);
            let prev = genres.cum_weight[g].last().copied().unwrap_or(0.0);
            genres.slots[g].push(s as u32);
            genres.cum_weight[g].push(prev + w);
        }
        genres
    }
}

impl Dataset {
    /// Appends up to `count` distinct tracks live on day `k` to `chosen`.
    pub(super) fn draw_items(&self, k: u64, fav: usize, count: usize, rng: &mut Rng, chosen: &mut Chosen) {
        let born = self.tracks.born_by(k);
        if born == 0 || count == 0 {
            return;
        }
        let mut prefix = [0usize; 17];
        let mut totals = [0f64; 17];
        for g in 0..17 {
            prefix[g] = self.genres.slots[g].partition_point(|&t| u64::from(t) < born);
            totals[g] = if prefix[g] == 0 {
                0.0
            } else {
                self.genres.cum_weight[g][prefix[g] - 1]
            };
        }
        let grand: f64 = totals.iter().sum();
        let live = |t: u64| self.tracks.info(&self.p, t).death > k;
        let hit = self.hit_playing(k).map(|h| (h.0, h.1.share));
        'items: for _ in 0..count {
            if let Some((slot, share)) = hit
                && rng.f64() < share
                && !chosen.contains(slot)
            {
                chosen.push(slot);
                continue 'items;
            }
            // Taste is decided once per item, so that retries after a duplicate do not leak
            // items out of the favourite genre; half the attempts, then any genre.
            let taste = rng.f64() < self.p.taste_strength && prefix[fav] > 0;
            for attempt in 0..DRAW_ATTEMPTS {
                let g = if taste && attempt < DRAW_ATTEMPTS / 2 {
                    fav
                } else {
                    let mut x = rng.f64() * grand;
                    let mut g = 16;
                    for (i, &t) in totals.iter().enumerate() {
                        if x < t {
                            g = i;
                            break;
                        }
                        x -= t;
                    }
                    g
                };
                if prefix[g] == 0 {
                    continue;
                }
                let cum = &self.genres.cum_weight[g][..prefix[g]];
                let x = rng.f64() * totals[g];
                let i = cum.partition_point(|&c| c <= x).min(prefix[g] - 1);
                let t = u64::from(self.genres.slots[g][i]);
                if live(t) && !chosen.contains(t) {
                    chosen.push(t);
                    continue 'items;
                }
            }
            // A tiny or exhausted catalogue: take the next free live track, if any.
            let from = rng.u64(..born);
            match (0..born)
                .map(|j| (from + j) % born)
                .find(|&t| live(t) && !chosen.contains(t))
            {
                Some(t) => chosen.push(t),
                None => return,
            }
        }
    }
}

/// The items of one history, in order, with a set once it is long.
#[derive(Default)]
pub(super) struct Chosen {
    pub(super) list: Vec<u64>,
    set: Option<HashSet<u64>>,
}

impl Chosen {
    fn contains(&self, t: u64) -> bool {
        match &self.set {
            Some(set) => set.contains(&t),
            None => self.list.contains(&t),
        }
    }

    fn push(&mut self, t: u64) {
        self.list.push(t);
        if let Some(set) = &mut self.set {
            set.insert(t);
        } else if self.list.len() > 32 {
            self.set = Some(self.list.iter().copied().collect());
        }
    }
}
