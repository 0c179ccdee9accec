//! The "new hit" evolution mode: which track is the hit on a day. The hit's slot is added by
//! `Slots::new`, its share of the draws is taken in `Dataset::draw_items`.

use super::super::NewHits;
use super::Dataset;

impl Dataset {
    /// The hit track playing on day `k` ("new hit" mode): its slot and the mode.
    pub(super) fn hit_playing(&self, k: u64) -> Option<(u64, NewHits)> {
        let h = self.p.new_hits?;
        let day = h.hit_day(k)?;
        // The hit is the first slot born on its day (`Slots::new` adds it).
        Some((self.tracks.born_by(day - 1), h))
    }

    /// The id of the hit track playing on this data set's day ("new hit" mode), if any.
    pub fn hit_track_id(&self) -> Option<u64> {
        self.hit_playing(self.day).map(|(slot, _)| self.tracks.ids.id(slot))
    }
}
