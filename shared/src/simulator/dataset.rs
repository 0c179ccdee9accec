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

use std::collections::HashSet;
use std::fmt;

use chrono::{NaiveDate, NaiveDateTime};
use fastrand::Rng;
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::Value;

use super::random::{
    DAY_MICROS, Permutation, format_instant, geometric, hash, instant_between, midnight_micros,
    stochastic_round, unit, weighted_index,
};
use super::words::{
    ADJECTIVES, EMAIL_DOMAINS, FIRST_NAMES, GENDER_WEIGHTS, GENDERS, GENRE_WEIGHTS, GENRES,
    LAST_NAMES, NOUNS, VERBS,
};
use super::{Endpoint, NewHits, SimulatorConfig};

// Hash purposes; each draw of the simulator has its own tag so draws stay independent.
const TAG_IDS: u64 = 1;
const TAG_ADDED: u64 = 2;
const TAG_DEATH: u64 = 3;
const TAG_CHANGE: u64 = 4;
const TAG_CHANGE_FIELD: u64 = 5;
const TAG_CHANGE_AT: u64 = 6;
const TAG_CREATED: u64 = 7;
const TAG_UPDATED: u64 = 8;
const TAG_TRACK_GENRE: u64 = 9;
const TAG_GENRE_CASE: u64 = 10;
const TAG_POPULARITY: u64 = 11;
const TAG_ARTIST_PICK: u64 = 12;
const TAG_ARTIST: u64 = 13;
const TAG_TEXT: u64 = 14;
const TAG_USER_GENRE: u64 = 15;
const TAG_COLD: u64 = 16;
const TAG_LH_CREATED: u64 = 17;
const TAG_LH_UPDATED: u64 = 18;
const TAG_LH_GROW: u64 = 19;
const TAG_LH_GROW_COUNT: u64 = 20;
const TAG_LH_GROW_AT: u64 = 21;
const TAG_LH_DRAW: u64 = 22;
const TAG_REMOVED_AT: u64 = 23;
/// Added to a tag to separate the two slot entities.
const USERS: u64 = 1 << 32;

/// Entities that start with at most this many rows use the service's small id range.
const SMALL_ENTITY_ROWS: u64 = 10_000;
/// Ids `1..=SMALL_ID_SPACE` (the real service draws in 1..100000).
const SMALL_ID_SPACE: u64 = 99_999;
/// The largest id of the wide range (`i32::MAX`).
const MAX_ID: u64 = i32::MAX as u64;
/// Rows ever born per entity: track slots are stored as `u32`, and ids must stay unique in
/// `[1, 2^31 - 1]`.
const MAX_SLOTS: u64 = 2_000_000_000;
/// Tail index of the Pareto track popularity: lower is more skewed (1.2 ~ Zipf s = 0.83).
const POPULARITY_ALPHA: f64 = 1.2;
/// Draws tried before a listen item falls back to a linear scan of the catalogue.
const DRAW_ATTEMPTS: usize = 64;

/// A generated row: ordered fields (served in this order, like the source) and a key that
/// identifies the row's current version (stable across requests and days while unchanged).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct GenRow {
    pub(crate) fields: Vec<(&'static str, Value)>,
    pub(crate) key: u64,
}

impl GenRow {
    pub(crate) fn into_value(self) -> Value {
        Value::Object(
            self.fields
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect(),
        )
    }
}

/// Serialises fields in their order (a `serde_json::Map` would sort them).
pub(crate) struct OrderedFields<'a>(pub(crate) &'a [(&'static str, Value)]);

impl Serialize for OrderedFields<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// A rank/select bitmap: which slots are live, and the `i`-th live slot in O(log n).
#[derive(Clone, Default)]
struct RankBitmap {
    words: Vec<u64>,
    /// Number of set bits before each word.
    before: Vec<u64>,
    ones: u64,
}

impl RankBitmap {
    fn from_fn(n: u64, mut f: impl FnMut(u64) -> bool) -> Self {
        let mut words = vec![0u64; n.div_ceil(64) as usize];
        for i in 0..n {
            if f(i) {
                words[(i / 64) as usize] |= 1 << (i % 64);
            }
        }
        let mut before = Vec::with_capacity(words.len());
        let mut ones = 0u64;
        for w in &words {
            before.push(ones);
            ones += u64::from(w.count_ones());
        }
        Self {
            words,
            before,
            ones,
        }
    }

    #[inline]
    fn get(&self, i: u64) -> bool {
        self.words
            .get((i / 64) as usize)
            .is_some_and(|w| w >> (i % 64) & 1 == 1)
    }

    /// The position of the `rank`-th set bit (0-based); `rank < self.ones`.
    fn select(&self, rank: u64) -> u64 {
        debug_assert!(rank < self.ones);
        let w = self.before.partition_point(|&b| b <= rank) - 1;
        let mut word = self.words[w];
        for _ in 0..rank - self.before[w] {
            word &= word - 1;
        }
        w as u64 * 64 + u64::from(word.trailing_zeros())
    }
}

/// Where a row's slot sits in time.
#[derive(Debug, Clone, Copy)]
struct SlotInfo {
    slot: u64,
    birth: u64,
    death: u64,
}

/// Unique, stable, non-sequential ids for an entity's slots.
#[derive(Debug, Clone)]
struct IdSpace {
    small: u64,
    small_perm: Permutation,
    wide_perm: Permutation,
}

impl IdSpace {
    fn new(seed: u64, tag: u64, initial_rows: u64) -> Self {
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
    fn id(&self, slot: u64) -> u64 {
        if slot < self.small {
            1 + self.small_perm.apply(slot)
        } else {
            SMALL_ID_SPACE + 1 + self.wide_perm.apply(slot - self.small)
        }
    }
}

/// One entity's population of slots as of the data set's day.
#[derive(Clone)]
struct Slots {
    tag: u64,
    /// `cum[k]`: slots born on days `0..=k`.
    cum: Vec<u64>,
    ids: IdSpace,
    /// Live slots at the data set's day.
    alive: RankBitmap,
    /// The hits' slots (tracks of the "new hit" mode): the first slot born on each hit day.
    hits: Vec<u64>,
}

impl Slots {
    fn new(p: &Params, tag: u64, initial: u64, day: u64) -> Self {
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
    fn born_by(&self, k: u64) -> u64 {
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
    fn info(&self, p: &Params, slot: u64) -> SlotInfo {
        let birth = self.birth(slot);
        SlotInfo {
            slot,
            birth,
            death: self.death(p, slot, birth),
        }
    }
}

/// Track slots grouped by genre, with cumulative popularity, for weighted draws.
#[derive(Clone, Default)]
struct GenreIndex {
    slots: [Vec<u32>; 17],
    cum_weight: [Vec<f64>; 17],
}

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
        let track_slots = tracks.born_by(day);
        let mut genres = GenreIndex::default();
        for s in 0..track_slots {
            let g = track_genre(p.seed, s);
            let w = popularity(p.seed, s);
            let prev = genres.cum_weight[g].last().copied().unwrap_or(0.0);
            genres.slots[g].push(s as u32);
            genres.cum_weight[g].push(prev + w);
        }
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
        Endpoint::from_name(endpoint).map_or(0, |e| self.count(e) as usize)
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
        let e = Endpoint::from_name(endpoint)
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
        let e = Endpoint::from_name(endpoint);
        let len = e.map_or(0, |e| self.count(e));
        (0..len).map(move |i| {
            self.gen_row(e.expect("len is 0 without endpoint"), i)
                .into_value()
        })
    }

    // ---- crate-internal serving API ----

    pub(crate) fn day(&self) -> u64 {
        self.day
    }

    pub(crate) fn count(&self, e: Endpoint) -> u64 {
        match e {
            Endpoint::Tracks => self.tracks.alive.ones,
            Endpoint::Users => self.users.alive.ones,
            Endpoint::ListenHistory => self.listens.ones,
        }
    }

    /// The row at `index < count(e)`.
    pub(crate) fn gen_row(&self, e: Endpoint, index: u64) -> GenRow {
        match e {
            Endpoint::Tracks => {
                let s = self.tracks.alive.select(index);
                self.track_row(self.tracks.info(&self.p, s))
            }
            Endpoint::Users => {
                let s = self.users.alive.select(index);
                self.user_row(self.users.info(&self.p, s))
            }
            Endpoint::ListenHistory => {
                let s = self.listens.select(index);
                self.listen_row(self.users.info(&self.p, s))
            }
        }
    }

    /// A row that does not exist in the data set: the `i`-th of a few rows "just added" today,
    /// for the mid-run `total` change fault. Its slot lies past today's slots, so its id is
    /// unused today.
    pub(crate) fn phantom_row(&self, e: Endpoint, i: u64) -> GenRow {
        let slots = if e == Endpoint::Tracks {
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
            Endpoint::Tracks => self.track_row(info),
            Endpoint::Users => self.user_row(info),
            Endpoint::ListenHistory => self.listen_row(info),
        }
    }

    /// The id of the live row at `index` (no row generation: for cheap uniqueness checks).
    #[cfg(test)]
    pub(crate) fn id_at(&self, e: Endpoint, index: u64) -> u64 {
        match e {
            Endpoint::Tracks => self.tracks.ids.id(self.tracks.alive.select(index)),
            Endpoint::Users => self.users.ids.id(self.users.alive.select(index)),
            Endpoint::ListenHistory => self.users.ids.id(self.listens.select(index)),
        }
    }

    // ---- time ----

    #[inline]
    fn day_start(&self, k: u64) -> i64 {
        self.start + k as i64 * DAY_MICROS
    }

    #[inline]
    fn instant_on_day(&self, k: u64, h: u64) -> i64 {
        instant_between(self.day_start(k), self.day_start(k + 1), h)
    }

    /// `created_at` and first `updated_at` of a track or user slot.
    fn created_updated(&self, tag: u64, info: SlotInfo) -> (i64, i64) {
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

    /// Days after birth, up to today and before death, on which a daily Bernoulli(`rate`)
    /// event of purpose `tag` happens to the slot.
    fn events(&self, tag: u64, info: SlotInfo, rate: f64) -> EventDays {
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

    // ---- rows ----

    fn track_row(&self, info: SlotInfo) -> GenRow {
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

    fn user_row(&self, info: SlotInfo) -> GenRow {
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

    fn listen_row(&self, info: SlotInfo) -> GenRow {
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

    /// The hit track playing on day `k` ("new hit" mode): its slot and the mode.
    fn hit_playing(&self, k: u64) -> Option<(u64, NewHits)> {
        let h = self.p.new_hits?;
        let day = h.hit_day(k)?;
        // The hit is the first slot born on its day (`Slots::new` adds it).
        Some((self.tracks.born_by(day - 1), h))
    }

    /// The id of the hit track playing on this data set's day ("new hit" mode), if any.
    pub fn hit_track_id(&self) -> Option<u64> {
        self.hit_playing(self.day).map(|(slot, _)| self.tracks.ids.id(slot))
    }

    /// Appends up to `count` distinct tracks live on day `k` to `chosen`.
    fn draw_items(&self, k: u64, fav: usize, count: usize, rng: &mut Rng, chosen: &mut Chosen) {
        let born = self.tracks.born_by(k);
        if born == 0 || count == 0 {
            return;
        }
        let mut prefix = [0usize; 17];
        let mut totals = [0f64; 17];
        for g in 0..17 {
            prefix[g] = self.genres.slots[g].partition_point(|&t| u64::from(t) < born);
            totals[g] = if prefix[g] == 0 {
                0.0
            } else {
                self.genres.cum_weight[g][prefix[g] - 1]
            };
        }
        let grand: f64 = totals.iter().sum();
        let live = |t: u64| self.tracks.info(&self.p, t).death > k;
        let hit = self.hit_playing(k).map(|h| (h.0, h.1.share));
        'items: for _ in 0..count {
            if let Some((slot, share)) = hit
                && rng.f64() < share
                && !chosen.contains(slot)
            {
                chosen.push(slot);
                continue 'items;
            }
            // Taste is decided once per item, so that retries after a duplicate do not leak
            // items out of the favourite genre; half the attempts, then any genre.
            let taste = rng.f64() < self.p.taste_strength && prefix[fav] > 0;
            for attempt in 0..DRAW_ATTEMPTS {
                let g = if taste && attempt < DRAW_ATTEMPTS / 2 {
                    fav
                } else {
                    let mut x = rng.f64() * grand;
                    let mut g = 16;
                    for (i, &t) in totals.iter().enumerate() {
                        if x < t {
                            g = i;
                            break;
                        }
                        x -= t;
                    }
                    g
                };
                if prefix[g] == 0 {
                    continue;
                }
                let cum = &self.genres.cum_weight[g][..prefix[g]];
                let x = rng.f64() * totals[g];
                let i = cum.partition_point(|&c| c <= x).min(prefix[g] - 1);
                let t = u64::from(self.genres.slots[g][i]);
                if live(t) && !chosen.contains(t) {
                    chosen.push(t);
                    continue 'items;
                }
            }
            // A tiny or exhausted catalogue: take the next free live track, if any.
            let from = rng.u64(..born);
            match (0..born)
                .map(|j| (from + j) % born)
                .find(|&t| live(t) && !chosen.contains(t))
            {
                Some(t) => chosen.push(t),
                None => return,
            }
        }
    }
}

/// Event days of one slot: geometric gaps from its birth, stopping at today or its death.
struct EventDays {
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

/// The items of one history, in order, with a set once it is long.
#[derive(Default)]
struct Chosen {
    list: Vec<u64>,
    set: Option<HashSet<u64>>,
}

impl Chosen {
    fn contains(&self, t: u64) -> bool {
        match &self.set {
            Some(set) => set.contains(&t),
            None => self.list.contains(&t),
        }
    }

    fn push(&mut self, t: u64) {
        self.list.push(t);
        if let Some(set) = &mut self.set {
            set.insert(t);
        } else if self.list.len() > 32 {
            self.set = Some(self.list.iter().copied().collect());
        }
    }
}

// ---- stable per-slot attributes ----

fn track_genre(seed: u64, slot: u64) -> usize {
    weighted_index(&GENRE_WEIGHTS, hash(seed, TAG_TRACK_GENRE, slot, 0))
}

fn user_genre(seed: u64, slot: u64) -> usize {
    weighted_index(&GENRE_WEIGHTS, hash(seed, TAG_USER_GENRE, slot, 0))
}

/// A heavy-tailed (Pareto) popularity weight, capped so one track cannot dominate.
fn popularity(seed: u64, slot: u64) -> f64 {
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

// ---- text ----

fn pick<'a>(rng: &mut Rng, words: &[&'a str]) -> &'a str {
    words[rng.usize(..words.len())]
}

fn person(rng: &mut Rng) -> String {
    format!("{} {}", pick(rng, &FIRST_NAMES), pick(rng, &LAST_NAMES))
}

fn title(rng: &mut Rng) -> String {
    match rng.u32(..6) {
        0 => format!("{} {}", pick(rng, &ADJECTIVES), pick(rng, &NOUNS)),
        1 => pick(rng, &NOUNS).to_owned(),
        2 => format!("The {} {}", pick(rng, &ADJECTIVES), pick(rng, &NOUNS)),
        3 => format!("{} the {}", pick(rng, &VERBS), pick(rng, &NOUNS)),
        4 => format!("{} of the {}", pick(rng, &NOUNS), pick(rng, &NOUNS)),
        _ => format!("{} Me", pick(rng, &VERBS)),
    }
}

fn album(rng: &mut Rng) -> String {
    match rng.u32(..4) {
        0 => format!("{} {}s", pick(rng, &ADJECTIVES), pick(rng, &NOUNS)),
        1 => pick(rng, &NOUNS).to_owned(),
        2 => format!("The {} Sessions", pick(rng, &NOUNS)),
        _ => format!("{} {}", pick(rng, &ADJECTIVES), pick(rng, &NOUNS)),
    }
}

fn artist_name(rng: &mut Rng) -> String {
    match rng.u32(..4) {
        0 | 1 => person(rng),
        2 => format!("The {} {}s", pick(rng, &ADJECTIVES), pick(rng, &NOUNS)),
        _ => format!("{} {}", pick(rng, &ADJECTIVES), pick(rng, &NOUNS)),
    }
}

fn songwriters(rng: &mut Rng) -> String {
    let n = rng.usize(1..=3);
    (0..n).map(|_| person(rng)).collect::<Vec<_>>().join(", ")
}

fn duration(rng: &mut Rng) -> String {
    let secs = 90 + rng.u32(..=180) + rng.u32(..=150);
    format!("{:02}:{:02}", secs / 60, secs % 60)
}

fn email(rng: &mut Rng, first: &str, last: &str) -> String {
    let (f, l) = (first.to_lowercase(), last.to_lowercase());
    let local = match rng.u32(..4) {
        0 => format!("{f}.{l}"),
        1 => format!("{}{l}", &f[..1]),
        2 => format!("{f}{}", rng.u32(1..100)),
        _ => format!("{f}.{l}{}", rng.u32(1..1000)),
    };
    format!("{local}@{}", pick(rng, &EMAIL_DOMAINS))
}
