//! The listen histories: a user's history row, drawn on their birth day, grown on growth days,
//! and thinned by the removal of its tracks.

use fastrand::Rng;
use serde_json::Value;

use super::super::random::{format_instant, hash, instant_between};
use super::row::GenRow;
use super::slots::SlotInfo;
use super::tags::{TAG_LH_CREATED, TAG_LH_DRAW, TAG_LH_GROW, TAG_LH_GROW_AT, TAG_LH_GROW_COUNT, TAG_LH_UPDATED, TAG_REMOVED_AT, USERS};
use super::taste::Chosen;
use super::users::user_genre;
use super::Dataset;

impl Dataset {
    pub(super) fn listen_row(&self, info: SlotInfo) -> GenRow {
        let (seed, s) = (self.p.seed, info.slot);
        let (user_created, _) = self.created_updated(USERS, info);
        let first_end = if info.birth == 0 {
            self.day_start(1)
        } else {
            self.day_start(info.birth + 1)
        };
        let created = instant_between(user_created, first_end, hash(seed, TAG_LH_CREATED, s, 0));
        let mut updated = if info.birth == 0 {
            instant_between(created, first_end, hash(seed, TAG_LH_UPDATED, s, 0))
        } else {
            created
        };
        let fav = user_genre(seed, s);
        let mut items = Chosen::default();
        let mut rng = Rng::with_seed(hash(seed, TAG_LH_DRAW, s, info.birth));
        self.draw_items(
            info.birth,
            fav,
            self.p.listens_per_user,
            &mut rng,
            &mut items,
        );
        let max_growth = self.p.listens_per_user.div_ceil(5).max(1) as u64;
        for g in self.events(TAG_LH_GROW, info, self.p.listens_added) {
            let n = 1 + hash(seed, TAG_LH_GROW_COUNT, s, g) % max_growth;
            let mut rng = Rng::with_seed(hash(seed, TAG_LH_DRAW, s, g));
            self.draw_items(g, fav, n as usize, &mut rng, &mut items);
            updated = updated.max(self.instant_on_day(g, hash(seed, TAG_LH_GROW_AT, s, g)));
        }
        // Removed tracks leave the history (and stamp it); the rest keep their order.
        let mut ids = Vec::with_capacity(items.list.len());
        for &t in &items.list {
            if self.tracks.alive.get(t) {
                ids.push(Value::from(self.tracks.ids.id(t)));
            } else {
                let death = self.tracks.info(&self.p, t).death;
                updated =
                    updated.max(self.instant_on_day(death, hash(seed, TAG_REMOVED_AT, t, death)));
            }
        }
        let fields = vec![
            ("user_id", Value::from(self.users.ids.id(s))),
            ("items", Value::Array(ids)),
            ("created_at", Value::from(format_instant(created))),
            ("updated_at", Value::from(format_instant(updated))),
        ];
        GenRow {
            fields,
            key: hash(seed, 2 * USERS, s, updated as u64),
        }
    }
}
