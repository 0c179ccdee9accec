//! The command line: the commands, their flags and the help text `--help` shows (clap derive).

use chrono::NaiveDate;
use clap::{Parser, Subcommand};
use moovitamix::simulator::{NewHits, SimulatorConfig};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(version, about = "The MooVitamix data pipeline, run locally.")]
pub(crate) struct Cli {
    /// Log on the terminal too (at info; `RUST_LOG` sets another level), not only in the log file.
    #[arg(short, long, global = true)]
    pub(crate) verbose: bool,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(clap::Args, Clone)]
pub(crate) struct SimulatorArgs {
    /// Seed of the simulated data set.
    #[arg(long, default_value_t = 42)]
    pub(crate) sim_seed: u64,
    /// Tracks the simulator serves on its first day.
    #[arg(long, default_value_t = 1000)]
    pub(crate) sim_tracks: usize,
    /// Users the simulator serves on its first day (one listen history each, but for cold-start users).
    #[arg(long, default_value_t = 1000)]
    pub(crate) sim_users: usize,
    /// The simulator's first day; later dates serve the data set evolved day by day (earlier
    /// dates serve the first day's). Fixed, so that re-running a date gives the same data.
    #[arg(long, default_value = "2026-11-01")]
    pub(crate) sim_start: NaiveDate,
    /// Share of listens drawn from the user's favourite genre; 0 is the random-taste mode (no
    /// taste signal beyond the tracks' popularity).
    #[arg(long, default_value_t = 0.8)]
    pub(crate) sim_taste_strength: f64,
    /// The "new hit" mode: on this day after --sim-start (at least 1) a new track is born that
    /// takes --sim-hit-share of the listens drawn from then on (off when unset).
    #[arg(long)]
    pub(crate) sim_hit_day: Option<u64>,
    /// Another new hit every this many days after the first (0: only one).
    #[arg(long, default_value_t = 0)]
    pub(crate) sim_hit_every: u64,
    /// Share of listen draws that go to the hit playing.
    #[arg(long, default_value_t = 0.3)]
    pub(crate) sim_hit_share: f64,
}

impl SimulatorArgs {
    pub(crate) fn config(&self, date: NaiveDate) -> SimulatorConfig {
        SimulatorConfig {
            seed: self.sim_seed,
            tracks: self.sim_tracks,
            users: self.sim_users,
            taste_strength: self.sim_taste_strength,
            new_hits: self.sim_hit_day.map(|first_day| NewHits { first_day, every_days: self.sim_hit_every, share: self.sim_hit_share }),
            start_date: self.sim_start,
            date,
            ..SimulatorConfig::default()
        }
    }
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Run the daily pipeline for a date (default: today, UTC) or a range of dates (a backfill).
    Run {
        /// The logical date to run.
        #[arg(long, conflicts_with_all = ["from", "to"])]
        date: Option<NaiveDate>,
        /// First date of a backfill (with --to).
        #[arg(long, requires = "to")]
        from: Option<NaiveDate>,
        /// Last date of a backfill, included.
        #[arg(long, requires = "from")]
        to: Option<NaiveDate>,
        /// Fetch dates more than FETCH_MAX_PAST_DAYS back from SOURCE_API_URL, knowing that the
        /// source serves only the present (the built-in simulator serves any date: not needed).
        #[arg(long)]
        allow_past: bool,
        /// Fan out: fetch the listen history in this many buckets of users (LISTEN_BUCKETS) and
        /// transform each bucket in a child process, the parent committing the date once.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=moovitamix::buckets::MAX_BUCKETS as i64))]
        buckets: Option<u32>,
        /// Child processes at once with --buckets (default: the machine's cores).
        #[arg(long, requires = "buckets", value_parser = clap::value_parser!(u32).range(1..=1024))]
        workers: Option<u32>,
        #[command(flatten)]
        sim: SimulatorArgs,
    },
    /// One bucket of a fanned-out transform (started by `run --buckets`; see the README's Fan-out).
    #[command(hide = true)]
    TransformBucket(BucketArgs),
    /// One bucket of a fanned-out scoring (started by `run --buckets`; see the README's Fan-out).
    #[command(hide = true)]
    ScoreBucket(BucketArgs),
    /// Train the recommender on a curated date (default: the latest), gate it, promote it if it wins.
    Train {
        #[arg(long)]
        date: Option<NaiveDate>,
    },
    /// List the stored model versions, their evaluation and the champion.
    Models,
    /// Make a stored model version the champion, pinned: automatic retraining keeps it.
    Rollback {
        /// A version id, as `moovitamix models` lists them.
        version: String,
    },
    /// Erase users' personal data (e-mail, names and their hash) from every committed date of
    /// raw, quarantine and curated under DATA_URL, each date rewritten through the commit protocol.
    Erase {
        /// A user id to erase (repeat the flag for several users).
        #[arg(long = "user-id", required = true)]
        user_ids: Vec<i64>,
    },
    /// Let automatic retraining replace the pinned champion again.
    Unpin,
    /// Write an HTML page of the data folder: runs, data quality, models and the gate, top tracks.
    Report {
        /// Where to write it (default: `report.html` in the data folder, local or S3).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Serve the source simulator over HTTP until interrupted.
    Simulate {
        #[arg(long, default_value = "127.0.0.1:8000")]
        listen: SocketAddr,
        /// The date whose data set is served.
        #[arg(long)]
        date: Option<NaiveDate>,
        #[command(flatten)]
        sim: SimulatorArgs,
    },
    /// Measure a stage's throughput, CPU time and peak memory, and print the figures.
    Bench {
        #[command(subcommand)]
        stage: crate::bench::Stage,
    },
}

/// Which bucket of which fanned run a child runs.
#[derive(Debug, clap::Args)]
pub(crate) struct BucketArgs {
    #[arg(long)]
    pub date: NaiveDate,
    #[arg(long)]
    pub run_id: String,
    #[arg(long)]
    pub bucket: u32,
    #[arg(long)]
    pub buckets: u32,
    /// 1 for the first attempt.
    #[arg(long, default_value_t = 1)]
    pub attempt: u32,
}
