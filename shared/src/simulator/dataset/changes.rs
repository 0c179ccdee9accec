//! Day-to-day changes: the days on which a daily Bernoulli event (a field change, a history's
//! growth) happens to a slot, drawn as geometric gaps so a row costs O(its own events).

use super::super::random::{geometric, hash};
use super::Dataset;
use super::slots::SlotInfo;

impl Dataset {
    /// Days after birth, up to today and before death, on which a daily Bernoulli(`rate`)
    /// event of purpose `tag` happens to the slot.
    pub(super) fn events(&self, tag: u64, info: SlotInfo, rate: f64) -> EventDays {
        EventDays {
            seed: self.p.seed,
            tag,
            slot: info.slot,
            rate,
            last: info.birth,
            end: info.death.min(self.day + 1),
            n: 0,
        }
    }
}

/// Event days of one slot: geometric gaps from its birth, stopping at today or its death.
pub(super) struct EventDays {
    seed: u64,
    tag: u64,
    slot: u64,
    rate: f64,
    last: u64,
    end: u64,
    n: u64,
}

impl Iterator for EventDays {
    type Item = u64;

    fn next(&mut self) -> Option<u64> {
        let gap = geometric(self.rate, hash(self.seed, self.tag, self.slot, self.n));
        let day = self.last.saturating_add(1).saturating_add(gap);
        if day >= self.end {
            self.end = 0;
            return None;
        }
        self.last = day;
        self.n += 1;
        Some(day)
    }
}
