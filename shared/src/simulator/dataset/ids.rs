//! Row ids: a keyed bijection of the slot numbers, so ids are unique, stable across days and
//! not sequential (see the module's "Ids" section).

use super::super::random::{Permutation, hash};
use super::tags::TAG_IDS;

/// Entities that start with at most this many rows use the service's small id range.
const SMALL_ENTITY_ROWS: u64 = 10_000;
/// Ids `1..=SMALL_ID_SPACE` (the real service draws in 1..100000).
const SMALL_ID_SPACE: u64 = 99_999;
/// The largest id of the wide range (`i32::MAX`).
const MAX_ID: u64 = i32::MAX as u64;

/// Unique, stable, non-sequential ids for an entity's slots.
#[derive(Debug, Clone)]
pub(super) struct IdSpace {
    small: u64,
    small_perm: Permutation,
    wide_perm: Permutation,
}

impl IdSpace {
    pub(super) fn new(seed: u64, tag: u64, initial_rows: u64) -> Self {
        let small = if initial_rows <= SMALL_ENTITY_ROWS {
            SMALL_ID_SPACE
        } else {
            0
        };
        Self {
            small,
            small_perm: Permutation::new(SMALL_ID_SPACE, hash(seed, TAG_IDS + tag, 0, 0)),
            wide_perm: Permutation::new(MAX_ID - SMALL_ID_SPACE, hash(seed, TAG_IDS + tag, 1, 0)),
        }
    }

    #[inline]
    pub(super) fn id(&self, slot: u64) -> u64 {
        if slot < self.small {
            1 + self.small_perm.apply(slot)
        } else {
            SMALL_ID_SPACE + 1 + self.wide_perm.apply(slot - self.small)
        }
    }
}
