//! Days and instants: day `k` of the simulation, and the stamps of a row's birth.

use super::super::random::{DAY_MICROS, hash, instant_between};
use super::Dataset;
use super::slots::SlotInfo;
use super::tags::{TAG_CREATED, TAG_UPDATED};

impl Dataset {
    #[inline]
    pub(super) fn day_start(&self, k: u64) -> i64 {
        self.start + k as i64 * DAY_MICROS
    }

    #[inline]
    pub(super) fn instant_on_day(&self, k: u64, h: u64) -> i64 {
        instant_between(self.day_start(k), self.day_start(k + 1), h)
    }

    /// `created_at` and first `updated_at` of a track or user slot.
    pub(super) fn created_updated(&self, tag: u64, info: SlotInfo) -> (i64, i64) {
        let seed = self.p.seed;
        if info.birth == 0 {
            let now0 = self.day_start(1);
            let created = instant_between(
                now0 - 730 * DAY_MICROS,
                now0,
                hash(seed, TAG_CREATED + tag, info.slot, 0),
            );
            let updated = instant_between(
                now0 - 365 * DAY_MICROS,
                now0,
                hash(seed, TAG_UPDATED + tag, info.slot, 0),
            );
            (created, updated)
        } else {
            let created =
                self.instant_on_day(info.birth, hash(seed, TAG_CREATED + tag, info.slot, 0));
            (created, created)
        }
    }

}
