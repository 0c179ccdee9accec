//! An entity's slots: how many are born each day, when each dies, which are live today.

use super::super::random::{geometric, hash, stochastic_round};
use super::Params;
use super::bitmap::RankBitmap;
use super::ids::IdSpace;
use super::tags::{TAG_ADDED, TAG_DEATH};

/// Rows ever born per entity: track slots are stored as `u32`, and ids must stay unique in
/// `[1, 2^31 - 1]`.
const MAX_SLOTS: u64 = 2_000_000_000;

/// Where a row's slot sits in time.
#[derive(Debug, Clone, Copy)]
pub(super) struct SlotInfo {
    pub(super) slot: u64,
    pub(super) birth: u64,
    pub(super) death: u64,
}

/// One entity's population of slots as of the data set's day.
#[derive(Clone)]
pub(super) struct Slots {
    tag: u64,
    /// `cum[k]`: slots born on days `0..=k`.
    cum: Vec<u64>,
    pub(super) ids: IdSpace,
    /// Live slots at the data set's day.
    pub(super) alive: RankBitmap,
    /// The hits' slots (tracks of the "new hit" mode): the first slot born on each hit day.
    hits: Vec<u64>,
}

impl Slots {
    pub(super) fn new(p: &Params, tag: u64, initial: u64, day: u64) -> Self {
        let mut cum = Vec::with_capacity(day as usize + 1);
        cum.push(initial);
        let mut expected = initial as f64;
        let mut hits = Vec::new();
        for k in 1..=day {
            let mut added = stochastic_round(expected * p.added, hash(p.seed, TAG_ADDED + tag, k, 0));
            if tag == 0 && p.new_hits.is_some_and(|h| h.hit_day(k) == Some(k)) {
                hits.push(cum[cum.len() - 1]);
                added += 1;
            }
            cum.push(cum[cum.len() - 1].saturating_add(added));
            expected *= (1.0 + p.added - p.removed).max(0.0);
        }
        assert!(
            cum[day as usize] <= MAX_SLOTS,
            "the simulator would hold {} rows ever born: lower the rows, the `added` rate, or the \
             distance from start_date to date",
            cum[day as usize]
        );
        let mut slots = Self {
            tag,
            cum,
            ids: IdSpace::new(p.seed, tag, initial),
            alive: RankBitmap::default(),
            hits,
        };
        let total = slots.cum[day as usize];
        let mut birth = 0u64;
        slots.alive = RankBitmap::from_fn(total, |s| {
            while s >= slots.cum[birth as usize] {
                birth += 1;
            }
            slots.death(p, s, birth) > day
        });
        slots
    }

    /// Slots ever born up to day `k` (`k` <= the data set's day).
    #[inline]
    pub(super) fn born_by(&self, k: u64) -> u64 {
        self.cum[k as usize]
    }

    #[inline]
    fn birth(&self, slot: u64) -> u64 {
        self.cum.partition_point(|&c| c <= slot) as u64
    }

    #[inline]
    fn death(&self, p: &Params, slot: u64, birth: u64) -> u64 {
        if self.hits.binary_search(&slot).is_ok() {
            return u64::MAX;
        }
        let gap = geometric(p.removed, hash(p.seed, TAG_DEATH + self.tag, slot, 0));
        birth.saturating_add(1).saturating_add(gap)
    }

    #[inline]
    pub(super) fn info(&self, p: &Params, slot: u64) -> SlotInfo {
        let birth = self.birth(slot);
        SlotInfo {
            slot,
            birth,
            death: self.death(p, slot, birth),
        }
    }
}
