//! Cold start: the most listened tracks of a user's favourite genre, then of all genres.

use super::inputs::{Catalog, Listen};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Current tracks ranked by listens, overall and per normalised genre.
#[derive(Debug, Clone, Default)]
pub struct Popularity {
    /// (track id, listens), most listened first, ties by lower id.
    overall: Vec<(i64, u32)>,
    by_genre: HashMap<Arc<str>, Vec<(i64, u32)>>,
    total: u32,
}

fn ranked(mut counts: Vec<(i64, u32)>) -> Vec<(i64, u32)> {
    counts.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    counts
}

impl Popularity {
    /// Counts listens of the catalogue's current tracks (a removed track is never suggested).
    pub fn new(listens: &[Listen], catalog: &Catalog) -> Self {
        let mut counts: HashMap<i64, u32> = catalog.tracks.iter().map(|(id, _)| (*id, 0)).collect();
        for l in listens {
            if let Some(c) = counts.get_mut(&l.track_id) {
                *c += 1;
            }
        }
        let mut by_genre: HashMap<Arc<str>, Vec<(i64, u32)>> = HashMap::new();
        for (id, genre) in &catalog.tracks {
            if let Some(g) = genre {
                by_genre.entry(g.clone()).or_default().push((*id, counts[id]));
            }
        }
        let total = counts.values().sum();
        Self { overall: ranked(counts.into_iter().collect()), by_genre: by_genre.into_iter().map(|(g, c)| (g, ranked(c))).collect(), total }
    }

    /// Up to `k` tracks for a user of `genre`, none of `listened`: the genre's most listened,
    /// then the overall most listened. Scores are shares of all listens.
    pub fn recommend(&self, genre: Option<&str>, listened: &HashSet<i64>, k: usize) -> Vec<(i64, f64)> {
        let of_genre = genre.and_then(|g| self.by_genre.get(g)).map(Vec::as_slice).unwrap_or_default();
        let mut out: Vec<(i64, f64)> = Vec::with_capacity(k);
        for &(id, n) in of_genre.iter().chain(&self.overall) {
            if out.len() == k {
                break;
            }
            if !listened.contains(&id) && !out.iter().any(|(t, _)| *t == id) {
                out.push((id, f64::from(n) / f64::from(self.total.max(1))));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listen(user_id: i64, track_id: i64) -> Listen {
        Listen { user_id, track_id, created_at_micros: 0, position: 0 }
    }

    #[test]
    fn the_genre_first_then_overall_never_a_listened_or_removed_track() {
        let (rock, jazz): (Arc<str>, Arc<str>) = ("rock".into(), "jazz".into());
        let catalog = Catalog {
            users: vec![],
            tracks: vec![(1, Some(rock.clone())), (2, Some(rock.clone())), (3, Some(jazz.clone())), (4, Some(jazz)), (5, None)],
        };
        // Track 9 is no longer in the catalogue: counted nowhere.
        let listens: Vec<Listen> = [(1, 3), (2, 3), (3, 3), (1, 9), (2, 9), (3, 9), (4, 9), (1, 2), (2, 5), (3, 5)].map(|(u, t)| listen(u, t)).into();
        let p = Popularity::new(&listens, &catalog);
        let ids = |v: Vec<(i64, f64)>| v.into_iter().map(|(t, _)| t).collect::<Vec<_>>();
        assert_eq!(ids(p.recommend(Some("rock"), &HashSet::new(), 3)), [2, 1, 3], "rock 2 (1 listen), rock 1 (0), then overall 3");
        assert_eq!(ids(p.recommend(Some("rock"), &HashSet::from([2]), 2)), [1, 3]);
        assert_eq!(ids(p.recommend(Some("polka"), &HashSet::new(), 2)), [3, 5], "an unknown genre falls back to overall");
        assert_eq!(ids(p.recommend(None, &HashSet::from([3, 5]), 10)), [2, 1, 4], "never more than the catalogue");
        assert_eq!(p.recommend(Some("jazz"), &HashSet::new(), 1), [(3, 3.0 / 6.0)], "the share of the catalogue's listens");
    }
}
