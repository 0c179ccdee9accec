//! The referential checks of listen history against the day's users and tracks.
//!
//! A row of a user not in today's users is quarantined whole (`unknown_user`); an item of a track
//! not in today's tracks is quarantined alone (`unknown_track`), leaving a gap in the positions.

use super::listen_events::Item;
use super::quality::{QuarantineBuffer, TableQuality};
use crate::quarantine::QuarantineReason;
use crate::records::{Check, ListenHistory};
use serde_json::{Value, json};

/// Today's known keys: those served, and those carried forward.
pub(super) struct Known {
    tracks: KeySet,
    users: KeySet,
}

/// A set of keys asked about once per listen item (tens of millions a day): one bit per key of
/// their range when the range is dense enough to cost no more than the keys themselves (64 bits a
/// key), else a hash set. A binary search per item was 7% of transform with dense keys, and 6%
/// with the simulator's ten-digit ones (a search of 100,000 keys misses the cache at every step).
enum KeySet {
    Bits { min: i64, bits: Vec<u64> },
    Hashed(foldhash::HashSet<i64>),
}

impl KeySet {
    /// `keys` sorted ascending.
    fn new(keys: &[i64]) -> Self {
        let hashed = || Self::Hashed(keys.iter().copied().collect());
        let (Some(&min), Some(&max)) = (keys.first(), keys.last()) else { return hashed() };
        let span = max.abs_diff(min).saturating_add(1);
        // Unsorted keys (a damaged fan-out plan) must not index past the bitmap: they are hashed.
        if span > 64 * keys.len() as u64 || !keys.is_sorted() {
            return hashed();
        }
        let mut bits = vec![0u64; span.div_ceil(64) as usize];
        for &k in keys {
            let at = k.abs_diff(min);
            bits[(at / 64) as usize] |= 1 << (at % 64);
        }
        Self::Bits { min, bits }
    }

    fn contains(&self, key: i64) -> bool {
        match self {
            Self::Hashed(keys) => keys.contains(&key),
            Self::Bits { min, bits } => {
                let Some(at) = key.checked_sub(*min).and_then(|d| u64::try_from(d).ok()) else { return false };
                bits.get((at / 64) as usize).is_some_and(|w| w & (1 << (at % 64)) != 0)
            }
        }
    }
}

/// Where a raw row was read: its object and 1-based line.
pub(super) struct At<'a> {
    pub source: &'a str,
    pub line: u64,
}

impl Known {
    /// From today's track and user keys, each sorted ascending.
    pub(super) fn new(tracks: &[i64], users: &[i64]) -> Self {
        Self { tracks: KeySet::new(tracks), users: KeySet::new(users) }
    }

    pub(super) fn has_track(&self, id: i64) -> bool {
        self.tracks.contains(id)
    }

    pub(super) fn has_user(&self, id: i64) -> bool {
        self.users.contains(id)
    }

    /// The row's items of known tracks, or `None` when its user is unknown; what is refused goes
    /// to `quarantine` with its reason (a whole row as `row()` gives it).
    pub(super) fn items(&self, h: &ListenHistory, row: impl FnOnce() -> Value, at: At<'_>, quality: &mut TableQuality, quarantine: &mut QuarantineBuffer) -> Option<Vec<Item>> {
        if !self.has_user(h.user_id) {
            let units = h.items.len().max(1) as u64;
            quality.quarantine(Check::UnknownUser, units);
            let reason = QuarantineReason::new(Check::UnknownUser, "user_id", format!("user {} is not in today's users", h.user_id));
            quarantine.push(at.source, at.line, &[reason], &row());
            return None;
        }
        let mut items = Vec::with_capacity(h.items.len());
        for (position, &track_id) in h.items.iter().enumerate() {
            let position = position as i32;
            if self.has_track(track_id) {
                items.push(Item { track_id, position });
                continue;
            }
            quality.quarantine(Check::UnknownTrack, 1);
            let reason = QuarantineReason::new(Check::UnknownTrack, "items", format!("track {track_id} (position {position}) is not in today's tracks"));
            let item = json!({"user_id": h.user_id, "track_id": track_id, "position": position,
                "created_at": h.created_at, "updated_at": h.updated_at});
            quarantine.push(at.source, at.line, &[reason], &item);
        }
        Some(items)
    }
}

#[cfg(test)]
mod tests {
    use super::KeySet;

    #[test]
    fn a_key_set_answers_as_a_binary_search_does_dense_or_sparse() {
        let dense: Vec<i64> = (-70..300).filter(|k| k % 3 != 0).collect();
        let sparse = vec![i64::MIN, -5, 0, 7, 1 << 40, i64::MAX];
        for keys in [dense, sparse, vec![], vec![42]] {
            let set = KeySet::new(&keys);
            let probes = keys.iter().flat_map(|&k| [k.saturating_sub(1), k, k.saturating_add(1)]).chain([i64::MIN, 0, i64::MAX, 400, -71]);
            for p in probes {
                assert_eq!(set.contains(p), keys.binary_search(&p).is_ok(), "key {p} in {:?}", &keys[..keys.len().min(5)]);
            }
        }
        assert!(matches!(KeySet::new(&(0..1000).collect::<Vec<_>>()), KeySet::Bits { .. }), "dense keys take the bitmap");
        assert!(matches!(KeySet::new(&[0, 1 << 40]), KeySet::Hashed(_)), "sparse keys are hashed");
        assert!(matches!(KeySet::new(&[5, 100, 3, 7]), KeySet::Hashed(_)), "unsorted keys are hashed");
    }
}
