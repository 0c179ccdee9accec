//! A deterministic simulator of the source API (SOURCE_API.md), for tests, local runs and benchmarks.
//!
//! It serves `/tracks`, `/users` and `/listen_history` with the source's pagination contract,
//! rows generated lazily from a seed and a simulated date (so millions of rows cost little
//! memory), a day-by-day evolution (changes, additions, removals, growing histories), a taste
//! structure for the recommender, and injectable faults (5xx, 429, latency, timeouts,
//! truncated bodies, HTML pages, malformed rows, a `total` that changes mid-run, rows served
//! twice, a listing that shifts mid-run, pages of the wrong shape).
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use moovitamix::simulator::{RunningSimulator, SimulatorConfig};
//! let sim = RunningSimulator::start(SimulatorConfig::default()).await?;
//! let url = format!("{}/tracks?page=1&size=100", sim.url());
//! # let _ = url;
//! sim.control().set_date(chrono::NaiveDate::from_ymd_opt(2026, 1, 2).unwrap());
//! sim.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! Same seed and date give byte-identical responses; see [`dataset`] for the data model and
//! [`faults`] for the fault model.

pub mod dataset;
pub mod faults;
mod random;
mod server;
mod words;

#[cfg(test)]
mod tests;

use std::time::Duration;

use chrono::NaiveDate;

pub use dataset::Dataset;
pub use faults::FaultKind;
pub use server::{RunningSimulator, SimulatorControl, SimulatorStats, router};
pub use words::{GENDERS, GENRES};

/// What the simulator serves. `Default`: seed 42, 1000 tracks, 1000 users, 5 listens per user,
/// 5% cold-start users, taste strength 0.8, `start_date = date = 2026-01-01`, default
/// [`Evolution`], no faults.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatorConfig {
    /// Seed of every draw: same seed and date, same bytes.
    pub seed: u64,
    /// Tracks on `start_date`.
    pub tracks: usize,
    /// Users on `start_date`.
    pub users: usize,
    /// Distinct items in a new listen history (the real service: 5).
    pub listens_per_user: usize,
    /// Share of users without a listen-history row (cold start).
    pub cold_start_share: f64,
    /// Share of listen items drawn from the user's favourite genre (the rest: any track).
    /// 0 is the random-taste mode: listens carry no taste signal beyond the tracks' popularity,
    /// so no model can honestly beat the popularity baseline (the recommender's gate must refuse).
    pub taste_strength: f64,
    /// Day 0 of the evolution: the data set as first generated.
    pub start_date: NaiveDate,
    /// The date served (a date before `start_date` serves `start_date`).
    pub date: NaiveDate,
    /// Daily rates of change after `start_date`.
    pub evolution: Evolution,
    /// The "new hit" evolution mode (off by default).
    pub new_hits: Option<NewHits>,
    /// Injected faults.
    pub faults: Faults,
}

impl Default for SimulatorConfig {
    fn default() -> Self {
        let day = NaiveDate::from_ymd_opt(2026, 1, 1).expect("valid date");
        Self {
            seed: 42,
            tracks: 1000,
            users: 1000,
            listens_per_user: 5,
            cold_start_share: 0.05,
            taste_strength: 0.8,
            start_date: day,
            date: day,
            evolution: Evolution::default(),
            new_hits: None,
            faults: Faults::default(),
        }
    }
}

/// Daily evolution rates (probabilities per row and day, each in `[0, 1]`).
/// `Default`: 2% changed, 1% added, 0.5% removed, 5% of histories grow.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evolution {
    /// Share of live tracks and users whose business field changes each day (`updated_at`
    /// moves to that day).
    pub changed: f64,
    /// New tracks and users each day, as a share of the expected live rows.
    pub added: f64,
    /// Share of live tracks and users removed each day (removed tracks also leave histories).
    pub removed: f64,
    /// Share of listen histories that grow each day (1..=ceil(listens_per_user/5) new items).
    pub listens_added: f64,
}

impl Default for Evolution {
    fn default() -> Self {
        Self {
            changed: 0.02,
            added: 0.01,
            removed: 0.005,
            listens_added: 0.05,
        }
    }
}

impl Evolution {
    /// No evolution: every date serves the `start_date` rows (with a later "now").
    pub fn frozen() -> Self {
        Self {
            changed: 0.0,
            added: 0.0,
            removed: 0.0,
            listens_added: 0.0,
        }
    }
}

/// The "new hit" evolution mode: on day `first_day` after `start_date` (at least 1), and again
/// every `every_days` days (0: only once), one new track is born that becomes the hit: until the
/// next hit, each item a listen history draws (a new user's first items, a growing history's new
/// ones) is the hit with probability `share`, unless the history holds it already. A hit is
/// never removed. Popularity shifts overnight, the way a recommender trained before the hit
/// cannot know.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NewHits {
    pub first_day: u64,
    pub every_days: u64,
    pub share: f64,
}

impl NewHits {
    /// Day of the hit playing on day `k`, if any.
    pub fn hit_day(&self, k: u64) -> Option<u64> {
        let first = self.first_day.max(1);
        match k.checked_sub(first) {
            None => None,
            Some(_) if self.every_days == 0 => Some(first),
            Some(since) => Some(first + since / self.every_days * self.every_days),
        }
    }
}

/// Injected faults, all off by default. Transient faults are drawn per request from the seed,
/// the date and the endpoint's request counter (reset by `set_date`/`set_faults`); the rates
/// are exclusive bands in the order error, rate limit, HTML, timeout, truncation (their sum
/// is capped at 1).
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// Share of requests answered 500, 502 or 503.
    pub error_rate: f64,
    /// Latency added to every endpoint request.
    pub latency: Duration,
    /// Extra latency, uniform in `[0, latency_jitter)`, added per request.
    pub latency_jitter: Duration,
    /// Share of requests answered 429 with `Retry-After`.
    pub rate_limit_rate: f64,
    /// The `Retry-After` value, in seconds (default 1).
    pub retry_after_secs: u64,
    /// Share of 200 responses whose body is cut mid-JSON (the `content-length` matches the
    /// bytes sent).
    pub truncate_rate: f64,
    /// Share of requests answered with an HTML page (status 200 or 502).
    pub html_rate: f64,
    /// Share of requests that hang for `timeout`, then answer 504.
    pub timeout_rate: f64,
    /// How long a timed-out request hangs (default 30 s).
    pub timeout: Duration,
    /// Share of rows served malformed (chosen per row version, stable across retries).
    pub malformed_rate: f64,
    /// Share of rows whose `created_at`/`updated_at` are served in another ISO-8601 form (a
    /// space for the `T`, a `Z`, or an offset; the same instant), chosen per row version.
    pub datetime_form_rate: f64,
    /// After this many requests to an endpoint (since the last `set_date`/`set_faults`), its
    /// `total` changes by a few rows and stays changed.
    pub total_change_after: Option<u64>,
    /// An endpoint (`"tracks"`, `"users"` or `"listen_history"`) that always answers 503.
    pub fail_endpoint: Option<String>,
    /// The first this-many rows of every endpoint are served a second time at the end of the
    /// listing, on every request, and `total` counts them: a duplicate the source really holds.
    pub duplicate_rows: u64,
    /// After this many requests to an endpoint (since the last `set_date`/`set_faults`), its
    /// first row is gone and a new one is appended: `total` stays, every page shifts by one (a
    /// listing that moved while it was read).
    pub shift_after: Option<u64>,
    /// An endpoint whose pages answer `200` with valid JSON of another shape
    /// (`{"data": [...], "meta": {...}}`): a changed API.
    pub wrong_shape_endpoint: Option<String>,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            error_rate: 0.0,
            latency: Duration::ZERO,
            latency_jitter: Duration::ZERO,
            rate_limit_rate: 0.0,
            retry_after_secs: 1,
            truncate_rate: 0.0,
            html_rate: 0.0,
            timeout_rate: 0.0,
            timeout: Duration::from_secs(30),
            malformed_rate: 0.0,
            datetime_form_rate: 0.0,
            total_change_after: None,
            fail_endpoint: None,
            duplicate_rows: 0,
            shift_after: None,
            wrong_shape_endpoint: None,
        }
    }
}

/// The three data resources the simulator serves, one listing endpoint each (not to be confused
/// with fetch's `Endpoint`, the client's description of one such endpoint).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    /// `/tracks`
    Tracks,
    /// `/users`
    Users,
    /// `/listen_history`
    ListenHistory,
}

impl Resource {
    /// Every resource.
    pub const ALL: [Resource; 3] = [Resource::Tracks, Resource::Users, Resource::ListenHistory];

    /// The resource's name: its endpoint's path without the slash.
    pub fn name(self) -> &'static str {
        match self {
            Resource::Tracks => "tracks",
            Resource::Users => "users",
            Resource::ListenHistory => "listen_history",
        }
    }

    /// The resource of a name, with or without the leading slash.
    pub fn from_name(name: &str) -> Option<Self> {
        let name = name.strip_prefix('/').unwrap_or(name);
        Self::ALL.into_iter().find(|e| e.name() == name)
    }

    fn index(self) -> usize {
        self as usize
    }
}
