//! The users: a user's row, and their stable favourite genre.

use fastrand::Rng;
use serde_json::Value;

use super::super::random::{format_instant, hash, weighted_index};
use super::super::words::{FIRST_NAMES, GENDER_WEIGHTS, GENDERS, GENRE_WEIGHTS, GENRES, LAST_NAMES};
use super::row::GenRow;
use super::slots::SlotInfo;
use super::tags::{TAG_CHANGE, TAG_CHANGE_AT, TAG_CHANGE_FIELD, TAG_TEXT, TAG_USER_GENRE, USERS};
use super::text::email;
use super::Dataset;

impl Dataset {
    pub(super) fn user_row(&self, info: SlotInfo) -> GenRow {
        let (seed, s) = (self.p.seed, info.slot);
        // email, last_name, gender: the fields a change may touch.
        let mut versions = [info.birth; 3];
        let mut last_change = None;
        for c in self.events(TAG_CHANGE + USERS, info, self.p.changed) {
            versions[weighted_index(&[50, 30, 20], hash(seed, TAG_CHANGE_FIELD + USERS, s, c))] = c;
            last_change = Some(c);
        }
        let (created, first_updated) = self.created_updated(USERS, info);
        let updated = last_change.map_or(first_updated, |c| {
            self.instant_on_day(c, hash(seed, TAG_CHANGE_AT + USERS, s, c))
        });
        let text =
            |field: u64, v: u64| Rng::with_seed(hash(seed, TAG_TEXT + USERS + (field << 40), s, v));
        let first = FIRST_NAMES[text(1, 0).usize(..FIRST_NAMES.len())];
        let last_at = |v: u64| LAST_NAMES[text(2, v).usize(..LAST_NAMES.len())];
        let gender = GENDERS[weighted_index(
            &GENDER_WEIGHTS,
            hash(seed, TAG_TEXT + USERS + (3 << 40), s, versions[2]),
        )];
        let fields = vec![
            ("id", Value::from(self.users.ids.id(s))),
            ("first_name", Value::from(first)),
            ("last_name", Value::from(last_at(versions[1]))),
            (
                "email",
                Value::from(email(&mut text(4, versions[0]), first, last_at(info.birth))),
            ),
            ("gender", Value::from(gender)),
            ("favorite_genres", Value::from(GENRES[user_genre(seed, s)])),
            ("created_at", Value::from(format_instant(created))),
            ("updated_at", Value::from(format_instant(updated))),
        ];
        GenRow {
            fields,
            key: hash(seed, USERS, s, updated as u64),
        }
    }
}

pub(super) fn user_genre(seed: u64, slot: u64) -> usize {
    weighted_index(&GENRE_WEIGHTS, hash(seed, TAG_USER_GENRE, slot, 0))
}
