//! The catalogue: a track's row, and its stable genre and popularity.

use fastrand::Rng;
use serde_json::Value;

use super::super::random::{format_instant, hash, unit, weighted_index};
use super::super::words::{GENRE_WEIGHTS, GENRES};
use super::row::GenRow;
use super::slots::SlotInfo;
use super::tags::{TAG_ARTIST, TAG_ARTIST_PICK, TAG_CHANGE, TAG_CHANGE_AT, TAG_CHANGE_FIELD, TAG_GENRE_CASE, TAG_POPULARITY, TAG_TEXT, TAG_TRACK_GENRE};
use super::text::{album, artist_name, duration, songwriters, title};
use super::Dataset;

/// Tail index of the Pareto track popularity: lower is more skewed (1.2 ~ Zipf s = 0.83).
const POPULARITY_ALPHA: f64 = 1.2;

impl Dataset {
    pub(super) fn track_row(&self, info: SlotInfo) -> GenRow {
        let (seed, s) = (self.p.seed, info.slot);
        // name, album, songwriters, duration: the fields a change may touch.
        let mut versions = [info.birth; 4];
        let mut last_change = None;
        for c in self.events(TAG_CHANGE, info, self.p.changed) {
            versions[weighted_index(&[35, 25, 20, 20], hash(seed, TAG_CHANGE_FIELD, s, c))] = c;
            last_change = Some(c);
        }
        let (created, first_updated) = self.created_updated(0, info);
        let updated = last_change.map_or(first_updated, |c| {
            self.instant_on_day(c, hash(seed, TAG_CHANGE_AT, s, c))
        });
        let text = |field: u64, v: u64| Rng::with_seed(hash(seed, TAG_TEXT + (field << 40), s, v));
        let artist = hash(seed, TAG_ARTIST_PICK, s, 0) % self.artist_pool;
        let fields = vec![
            ("id", Value::from(self.tracks.ids.id(s))),
            ("name", Value::from(title(&mut text(1, versions[0])))),
            (
                "artist",
                Value::from(artist_name(&mut Rng::with_seed(hash(
                    seed, TAG_ARTIST, artist, 0,
                )))),
            ),
            (
                "songwriters",
                Value::from(songwriters(&mut text(2, versions[2]))),
            ),
            ("duration", Value::from(duration(&mut text(3, versions[3])))),
            ("genres", Value::from(genre_label(seed, s))),
            ("album", Value::from(album(&mut text(4, versions[1])))),
            ("created_at", Value::from(format_instant(created))),
            ("updated_at", Value::from(format_instant(updated))),
        ];
        GenRow {
            fields,
            key: hash(seed, 0, s, updated as u64),
        }
    }
}

pub(super) fn track_genre(seed: u64, slot: u64) -> usize {
    weighted_index(&GENRE_WEIGHTS, hash(seed, TAG_TRACK_GENRE, slot, 0))
}

/// A heavy-tailed (Pareto) popularity weight, capped so one track cannot dominate.
pub(super) fn popularity(seed: u64, slot: u64) -> f64 {
    let u = 1.0 - unit(hash(seed, TAG_POPULARITY, slot, 0)); // (0, 1]
    u.powf(-1.0 / POPULARITY_ALPHA).min(1e4)
}

/// The track's genre word: one of the 17 genres, usually capitalised as documented, sometimes
/// lower or upper case (a free-text field upstream).
fn genre_label(seed: u64, slot: u64) -> String {
    let g = GENRES[track_genre(seed, slot)];
    match hash(seed, TAG_GENRE_CASE, slot, 0) % 10 {
        0..=5 => g.to_owned(),
        6..=8 => g.to_lowercase(),
        _ => g.to_uppercase(),
    }
}
