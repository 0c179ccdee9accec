//! The simulated data set "as of" a date: rows generated lazily from (seed, row slot, day).
//!
//! # Model
//! Every entity (tracks, users) is a sequence of *slots* numbered by birth: the initial rows
//! are slots `0..N` (born on day 0 = `start_date`), then each day `k` appends
//! `round(added * expected_rows(k-1))` slots born that day. Each slot draws, from its own
//! hashes only, its death day (a daily Bernoulli(`removed`) process) and its change days
//! (a daily Bernoulli(`changed`) process, as geometric gaps). A row's content at day `d` is a
//! function of its slot and of the change days `<= d`, so:
//! - serving day `d` never replays earlier days: a row costs O(its own changes);
//! - day `d + 1` is day `d` plus that day's events, and untouched rows stay byte-identical.
//!
//! The only per-date state is compact: a rank/select bitmap of the live slots per entity
//! (2 bits per slot) and, for the taste model, the track slots grouped by genre with their
//! cumulative popularity (12 bytes per track slot). It is built once per date.
//!
//! # Time
//! "Now" is never the wall clock: day `k` covers `[start_date + k, start_date + k + 1)` and the
//! data set as of `date` is the state at the end of that day (`now = date + 1 day, 00:00`).
//! Initial rows have `created_at` in the two years and `updated_at` in the year before the end
//! of `start_date`, drawn independently; every later event is stamped inside its own day.
//!
//! # Ids
//! `id = 1 + P(slot)` with `P` a keyed bijection (Feistel), so ids are unique, stable across
//! days and not sequential. Entities that start with at most 10 000 rows take their first
//! 99 999 slots in `1..=99_999` like the real service; entities that start larger, and slots
//! beyond the 99 999th, take ids in `[100_000, 2^31 - 1]` (still unique, fit in an `i32`).
//!
//! # Listen histories
//! One row per live, non-cold-start user. Items are drawn on the user's birth day
//! (`listens_per_user` distinct tracks live that day), then each growth day appends
//! 1..=ceil(listens_per_user / 5) more. A draw takes, with probability `taste_strength`, a
//! track of the user's favourite genre, else any track, both weighted by a Pareto track
//! popularity (Zipf-like). When a track is removed, it also leaves every history holding it
//! and that history's `updated_at` moves to the removal (the source contract says items
//! exist in `/tracks`); a history can therefore hold fewer than `listens_per_user` items.
//! Track genres and favourite genres never change, so the taste structure is stable.
//!
//! # Files
//! `slots.rs` (births, deaths, the live bitmap `bitmap.rs`, ids `ids.rs`), `timestamps.rs`,
//! `changes.rs` (day-to-day changes), `new_hit.rs` (the "new hit" mode), one file per row kind
//! (`tracks.rs`, `users.rs`, `listens.rs`), `taste.rs` (the draw of listen items), `text.rs`
//! (names and titles), `tags.rs` (the hash purposes), `row.rs` (a generated row).

mod bitmap;
mod changes;
mod ids;
mod listens;
mod new_hit;
mod row;
mod slots;
mod tags;
mod taste;
mod text;
mod timestamps;
mod tracks;
mod users;

use std::fmt;

use chrono::{NaiveDate, NaiveDateTime};
use serde_json::Value;

use super::random::{hash, midnight_micros, unit};
use super::{Resource, NewHits, SimulatorConfig};
use bitmap::RankBitmap;
use slots::{SlotInfo, Slots};
use tags::{TAG_COLD, USERS};
use taste::GenreIndex;

pub(crate) use row::{GenRow, OrderedFields};

/// What the data set's rows depend on, copied (and sanitised) from the config.
#[derive(Debug, Clone)]
struct Params {
    seed: u64,
    listens_per_user: usize,
    cold_start_share: f64,
    taste_strength: f64,
    changed: f64,
    added: f64,
    removed: f64,
    listens_added: f64,
    new_hits: Option<NewHits>,
}

fn rate(x: f64) -> f64 {
    if x.is_nan() { 0.0 } else { x.clamp(0.0, 1.0) }
}

/// The data as of a date: `Dataset::new(&config)` serves `config.date`.
///
/// Rows are generated on demand, so a data set of millions of rows costs a few bytes per row.
/// These are the un-faulted rows (no malformed rows, no mid-run `total` change).
#[derive(Clone)]
pub struct Dataset {
    p: Params,
    date: NaiveDate,
    day: u64,
    /// Midnight of `start_date`.
    start: i64,
    tracks: Slots,
    users: Slots,
    /// User slots that have a listen-history row today (live and not cold-start).
    listens: RankBitmap,
    genres: GenreIndex,
    artist_pool: u64,
}

impl fmt::Debug for Dataset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dataset")
            .field("date", &self.date)
            .field("day", &self.day)
            .field("tracks", &self.tracks.alive.ones)
            .field("users", &self.users.alive.ones)
            .field("listen_history", &self.listens.ones)
            .finish_non_exhaustive()
    }
}

impl Dataset {
    /// Builds the data set of `config.date` (a date before `start_date` serves `start_date`).
    pub fn new(config: &SimulatorConfig) -> Self {
        let ev = &config.evolution;
        let p = Params {
            seed: config.seed,
            listens_per_user: config.listens_per_user,
            cold_start_share: rate(config.cold_start_share),
            taste_strength: rate(config.taste_strength),
            changed: rate(ev.changed),
            added: rate(ev.added),
            removed: rate(ev.removed),
            listens_added: rate(ev.listens_added),
            new_hits: config.new_hits.map(|h| NewHits { share: rate(h.share), ..h }),
        };
        let date = config.date.max(config.start_date);
        let day = (date - config.start_date).num_days() as u64;
        let tracks = Slots::new(&p, 0, config.tracks as u64, day);
        let users = Slots::new(&p, USERS, config.users as u64, day);
        let listens = RankBitmap::from_fn(users.born_by(day), |s| {
            users.alive.get(s) && unit(hash(p.seed, TAG_COLD, s, 0)) >= p.cold_start_share
        });
        let genres = GenreIndex::new(p.seed, tracks.born_by(day));
        Self {
            artist_pool: (config.tracks as u64 / 4).max(1),
            p,
            date,
            day,
            start: midnight_micros(config.start_date),
            tracks,
            users,
            listens,
            genres,
        }
    }

    /// The date this data set is as of.
    pub fn date(&self) -> NaiveDate {
        self.date
    }

    /// The simulated "now": the end of [`Dataset::date`] (next midnight). Every timestamp is
    /// earlier.
    pub fn now(&self) -> NaiveDateTime {
        chrono::DateTime::from_timestamp_micros(self.day_start(self.day + 1))
            .expect("date in range")
            .naive_utc()
    }

    /// Rows of an endpoint (`"tracks"`, `"users"`, `"listen_history"`); 0 for another name.
    pub fn len(&self, endpoint: &str) -> usize {
        Resource::from_name(endpoint).map_or(0, |e| self.count(e) as usize)
    }

    /// Whether an endpoint has no rows.
    pub fn is_empty(&self, endpoint: &str) -> bool {
        self.len(endpoint) == 0
    }

    /// The row at `index` in the served order (as a JSON value, whose map sorts keys).
    ///
    /// # Panics
    /// On an unknown endpoint or `index >= len(endpoint)`, like slice indexing.
    pub fn row(&self, endpoint: &str, index: usize) -> Value {
        let e = Resource::from_name(endpoint)
            .unwrap_or_else(|| panic!("unknown simulator endpoint {endpoint:?}"));
        let len = self.count(e);
        assert!(
            (index as u64) < len,
            "row {index} out of range: {endpoint} has {len} rows"
        );
        self.gen_row(e, index as u64).into_value()
    }

    /// Every row of an endpoint in served order (empty for an unknown endpoint).
    pub fn rows(&self, endpoint: &str) -> impl Iterator<Item = Value> + '_ {
        let e = Resource::from_name(endpoint);
        let len = e.map_or(0, |e| self.count(e));
        (0..len).map(move |i| {
            self.gen_row(e.expect("len is 0 without endpoint"), i)
                .into_value()
        })
    }

    /// The listen-history rows, in served order, of the users `keep` accepts (by `user_id`),
    /// drawing no other user's items: one bucket of a day too large to generate whole.
    pub fn listen_rows_where<'a>(&'a self, keep: impl Fn(i64) -> bool + 'a) -> impl Iterator<Item = Value> + 'a {
        (0..self.listens.ones)
            .map(|i| self.listens.select(i))
            .filter(move |&s| keep(self.users.ids.id(s) as i64))
            .map(|s| self.listen_row(self.users.info(&self.p, s)).into_value())
    }

    // ---- crate-internal serving API ----

    pub(crate) fn day(&self) -> u64 {
        self.day
    }

    pub(crate) fn count(&self, e: Resource) -> u64 {
        match e {
            Resource::Tracks => self.tracks.alive.ones,
            Resource::Users => self.users.alive.ones,
            Resource::ListenHistory => self.listens.ones,
        }
    }

    /// The row at `index < count(e)`.
    pub(crate) fn gen_row(&self, e: Resource, index: u64) -> GenRow {
        match e {
            Resource::Tracks => {
                let s = self.tracks.alive.select(index);
                self.track_row(self.tracks.info(&self.p, s))
            }
            Resource::Users => {
                let s = self.users.alive.select(index);
                self.user_row(self.users.info(&self.p, s))
            }
            Resource::ListenHistory => {
                let s = self.listens.select(index);
                self.listen_row(self.users.info(&self.p, s))
            }
        }
    }

    /// A row that does not exist in the data set: the `i`-th of a few rows "just added" today,
    /// for the mid-run `total` change fault. Its slot lies past today's slots, so its id is
    /// unused today.
    pub(crate) fn phantom_row(&self, e: Resource, i: u64) -> GenRow {
        let slots = if e == Resource::Tracks {
            &self.tracks
        } else {
            &self.users
        };
        let info = SlotInfo {
            slot: slots.born_by(self.day) + i,
            birth: self.day,
            death: u64::MAX,
        };
        match e {
            Resource::Tracks => self.track_row(info),
            Resource::Users => self.user_row(info),
            Resource::ListenHistory => self.listen_row(info),
        }
    }

    /// The id of the live row at `index` (no row generation: for cheap uniqueness checks).
    #[cfg(test)]
    pub(crate) fn id_at(&self, e: Resource, index: u64) -> u64 {
        match e {
            Resource::Tracks => self.tracks.ids.id(self.tracks.alive.select(index)),
            Resource::Users => self.users.ids.id(self.users.alive.select(index)),
            Resource::ListenHistory => self.users.ids.id(self.listens.select(index)),
        }
    }
}
