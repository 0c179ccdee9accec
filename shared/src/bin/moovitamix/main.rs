//! `moovitamix`: the daily pipeline on a laptop, the source simulator, and the benchmarks.
//!
//! `moovitamix run` runs the same jobs the Lambda functions run, against `SOURCE_API_URL` when it
//! is set and otherwise against the built-in simulator, writing under `DATA_URL` (`./data`).

use chrono::{NaiveDate, Utc};
use clap::{Parser, Subcommand};
use moovitamix::aws::AwsConfig;
use moovitamix::config::Config;
use moovitamix::fetch::{FetchSummary, Fetcher};
use moovitamix::simulator::{NewHits, RunningSimulator, SimulatorConfig};
use moovitamix::recommend::model_store::ModelStore;
use moovitamix::recommend::request::Request;
use moovitamix::recommend::{Outcome, Recommender, ScoreSummary, TrainSummary};
use moovitamix::transform::{TransformSummary, Transformer};
use console::say;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

mod bench;
mod console;

#[derive(Parser)]
#[command(version, about = "The MooVitamix data pipeline, run locally.")]
struct Cli {
    /// Log on the terminal too (at info; `RUST_LOG` sets another level), not only in the log file.
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
struct SimulatorArgs {
    /// Seed of the simulated data set.
    #[arg(long, default_value_t = 42)]
    sim_seed: u64,
    /// Tracks the simulator serves on its first day.
    #[arg(long, default_value_t = 1000)]
    sim_tracks: usize,
    /// Users the simulator serves on its first day (one listen history each, but for cold-start users).
    #[arg(long, default_value_t = 1000)]
    sim_users: usize,
    /// The simulator's first day; later dates serve the data set evolved day by day (earlier
    /// dates serve the first day's). Fixed, so that re-running a date gives the same data.
    #[arg(long, default_value = "2026-11-01")]
    sim_start: NaiveDate,
    /// Share of listens drawn from the user's favourite genre; 0 is the random-taste mode (no
    /// taste signal beyond the tracks' popularity).
    #[arg(long, default_value_t = 0.8)]
    sim_taste_strength: f64,
    /// The "new hit" mode: on this day after --sim-start (at least 1) a new track is born that
    /// takes --sim-hit-share of the listens drawn from then on (off when unset).
    #[arg(long)]
    sim_hit_day: Option<u64>,
    /// Another new hit every this many days after the first (0: only one).
    #[arg(long, default_value_t = 0)]
    sim_hit_every: u64,
    /// Share of listen draws that go to the hit playing.
    #[arg(long, default_value_t = 0.3)]
    sim_hit_share: f64,
}

impl SimulatorArgs {
    fn config(&self, date: NaiveDate) -> SimulatorConfig {
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
enum Command {
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
    TransformBucket {
        #[arg(long)]
        date: NaiveDate,
        #[arg(long)]
        run_id: String,
        #[arg(long)]
        bucket: u32,
        #[arg(long)]
        buckets: u32,
        /// 1 for the first attempt.
        #[arg(long, default_value_t = 1)]
        attempt: u32,
    },
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
        stage: bench::Stage,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // The commands that work on the data folder log to a file in it; the simulator and the
    // benchmarks log on the terminal, as before.
    let log_file = match cli.command {
        Command::Simulate { .. } | Command::Bench { .. } | Command::TransformBucket { .. } => None,
        _ => Some(log_file_path(&cli.command)),
    };
    match console::init(log_file, cli.verbose) {
        Ok(Some(path)) if !cli.verbose => say!("log:    {}", path.display()),
        Ok(_) => {}
        Err(e) => eprintln!("warning: no log file ({e}); logging on the terminal"),
    }
    let result = match cli.command {
        Command::Run {
            date,
            from,
            to,
            allow_past,
            buckets,
            workers,
            sim,
        } => run(date, from.zip(to), allow_past, buckets.map(|b| (b, workers)), sim).await,
        Command::TransformBucket { date, run_id, bucket, buckets, attempt } => transform_bucket(date, &run_id, bucket, buckets, attempt).await,
        Command::Simulate { listen, date, sim } => simulate(listen, date, sim).await,
        Command::Bench { stage } => bench::run(stage).await,
        Command::Train { date } => recommend(Request::Train { date, scheduled: false }).await,
        Command::Models => models().await,
        Command::Rollback { version } => recommend(Request::Rollback { version }).await,
        Command::Erase { user_ids } => erase(user_ids).await,
        Command::Unpin => recommend(Request::Unpin).await,
        Command::Report { out } => report(out).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            console::suspend(|| eprintln!("error: {e}"));
            ExitCode::FAILURE
        }
    }
}

type AnyError = Box<dyn std::error::Error + Send + Sync>;

/// `<data folder>/_logs/<UTC time>-<command>.log`; for data on S3, the same under the system's
/// temporary folder.
fn log_file_path(command: &Command) -> PathBuf {
    let name = match command {
        Command::Run { .. } => "run",
        Command::Train { .. } => "train",
        Command::Models => "models",
        Command::Rollback { .. } => "rollback",
        Command::Unpin => "unpin",
        Command::Erase { .. } => "erase",
        Command::Report { .. } => "report",
        Command::Simulate { .. } => "simulate",
        Command::Bench { .. } => "bench",
        Command::TransformBucket { .. } => "transform-bucket",
    };
    let data = std::env::var("DATA_URL").ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| "./data".to_owned());
    let folder = match moovitamix::storage::DataUrl::parse(&data) {
        Ok(moovitamix::storage::DataUrl::Local(path)) => path,
        _ => std::env::temp_dir().join("moovitamix"),
    };
    folder.join("_logs").join(format!("{}-{name}.log", Utc::now().format("%Y%m%dT%H%M%SZ")))
}

async fn run(date: Option<NaiveDate>, range: Option<(NaiveDate, NaiveDate)>, allow_past: bool, fanout: Option<(u32, Option<u32>)>, sim: SimulatorArgs) -> Result<(), AnyError> {
    let now = Utc::now();
    let dates: Vec<NaiveDate> = match (date, range) {
        (_, Some((from, to))) if from > to => return Err(format!("--from {from} is after --to {to}").into()),
        (_, Some((from, to))) => from.iter_days().take_while(|d| *d <= to).collect(),
        (Some(d), None) => vec![d],
        (None, None) => vec![now.date_naive()],
    };
    let mut config = Config::from_env()?;
    // The built-in simulator stands in for the source unless SOURCE_API_URL names one.
    let real_source = std::env::var("SOURCE_API_URL").ok().filter(|v| !v.trim().is_empty());
    // Every date is checked before anything runs. The simulator serves each date's own data
    // set, so an old date is honest there; a real source serves only the present.
    for date in &dates {
        let allowed = allow_past || real_source.is_none();
        moovitamix::trigger::check_logical_date(*date, now, Some(config.fetch.max_past_days), allowed)?;
    }
    let simulator = match real_source {
        Some(_) => None,
        None => {
            let s = RunningSimulator::start(sim.config(dates[0])).await?;
            config.source.base_url = s.url();
            say!("source: the built-in simulator at {} (seed {}, from {})", s.url(), sim.sim_seed, sim.sim_start);
            Some(s)
        }
    };
    say!("data:   {}", config.data_url);
    let fanout = match fanout {
        None => None,
        Some((buckets, workers)) => {
            config.fetch.listen_buckets = buckets;
            let workers = workers.map_or_else(|| std::thread::available_parallelism().map_or(1, usize::from), |w| w as usize);
            say!("fan-out: {buckets} bucket(s), {workers} child process(es) at once");
            Some(moovitamix::fanout::LocalFanout { program: std::env::current_exe()?, workers, attempts: 2, env: Vec::new() })
        }
    };
    // One AWS configuration for the three jobs, as one per Lambda container.
    let aws = AwsConfig::new();
    let fetcher = Fetcher::from_config(&config, &aws).await?;
    let transformer = Transformer::from_config(&config, &aws).await?;
    let recommender = Recommender::from_config(&config, &aws).await;
    let backfill = (dates.len() > 1).then(|| moovitamix::progress::Task::start("backfill: dates", dates.len() as u64));
    let mut rows_so_far = 0;
    for date in dates {
        if let Some(s) = &simulator {
            s.control().set_date(date);
        }
        let summary = fetcher.run(date, moovitamix::job::Invocation::new()).await?;
        print_fetch(&summary);
        let transformed = match &fanout {
            Some(runner) => runner.transform(&transformer, date, moovitamix::job::Invocation::new()).await?,
            None => transformer.run(date, moovitamix::job::Invocation::new()).await?,
        };
        print_transform(&transformed);
        match recommender.run(Request::Score { date }, moovitamix::job::Invocation::new()).await? {
            Outcome::Score(s) => print_score(&s),
            other => unreachable!("a score request answers a score: {other:?}"),
        }
        if let Some(task) = &backfill {
            rows_so_far += summary.entities.values().map(|e| e.accepted).sum::<u64>();
            task.advance(1);
            task.describe(|| format!("{date} done, {rows_so_far} rows fetched so far"));
        }
    }
    if let Some(s) = simulator {
        s.shutdown().await;
    }
    Ok(())
}

fn print_fetch(s: &FetchSummary) {
    say!("\n{} fetch  run {}  {} ms  -> {}", s.date, s.run_id, s.duration_ms, s.run_manifest);
    say!("  {:<16} {:>9} {:>9} {:>9} {:>7} {:>8} {:>11}", "entity", "accepted", "warned", "rejected", "pages", "retries", "bytes");
    for (entity, e) in &s.entities {
        say!(
            "  {:<16} {:>9} {:>9} {:>9} {:>7} {:>8} {:>11}",
            entity.as_str(),
            e.accepted,
            e.warned,
            e.rejected,
            e.pages,
            e.retries,
            e.bytes_written
        );
    }
}

fn print_transform(s: &TransformSummary) {
    let after = s.previous_date.map_or("an empty history".to_owned(), |d| d.to_string());
    say!("\n{} transform  run {}  {} ms  (onto {after})  -> {}", s.date, s.run_id, s.duration_ms, s.run_manifest);
    say!("  {:<20} {:>9} {:>9} {:>11} {:>9} {:>9} {:>9}", "table", "rows in", "rows out", "quarantined", "warnings", "opened", "closed");
    let opt = |v: Option<u64>| v.map_or("-".to_owned(), |v| v.to_string());
    for (table, t) in &s.tables {
        say!(
            "  {:<20} {:>9} {:>9} {:>11} {:>9} {:>9} {:>9}",
            table,
            t.rows_in,
            t.rows_out,
            t.quarantined,
            t.warnings,
            opt(t.new_versions),
            opt(t.closed_versions)
        );
    }
}

/// `text` in lines of at most `width` characters, broken between words.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_owned()),
        }
    }
    lines
}

/// A gate reason without its parenthesised statistics (the model card and the report keep them):
/// one listing line per version.
fn without_parentheses(text: &str) -> String {
    let mut depth = 0usize;
    let kept: String = text
        .chars()
        .filter(|c| {
            match c {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                _ => return depth == 0,
            }
            false
        })
        .collect();
    kept.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn print_train(t: &TrainSummary) {
    let verdict = if t.promoted { "promoted" } else { "refused" };
    say!("\n  trained {} on curated {}: {} users, {} tracks, {} listens, {} ms; {verdict}:", t.version, t.date, t.users, t.tracks, t.listens, t.train_ms);
    // The gate's reason carries its statistics: wrapped, so the console stays readable.
    for line in wrap(&t.reason, 100) {
        say!("    {line}");
    }
    say!("  {:<10} {:>8} {:>8} {:>8} {:>8} {:>9}", "model", "ndcg@10", "prec@10", "rec@10", "map@10", "coverage");
    let e = &t.evaluation;
    for (name, s) in [("candidate", Some(e.candidate)), ("champion", e.champion), ("baseline", Some(e.baseline))] {
        if let Some(s) = s {
            say!("  {name:<10} {:>8.4} {:>8.4} {:>8.4} {:>8.4} {:>9.3}", s.ndcg_at_10, s.precision_at_10, s.recall_at_10, s.map_at_10, s.coverage);
        }
    }
    println!("  (champion = its recipe trained on the same split)");
    if let Some(s) = e.served.as_ref().filter(|s| s.users > 0) {
        println!(
            "  served champion on the {} held-out listens of {} users it never saw: NDCG@10 {:.4}, candidate {:.4}",
            s.listens, s.users, s.champion.ndcg_at_10, s.candidate.ndcg_at_10
        );
    }
}

fn print_score(s: &ScoreSummary) {
    let model = s.model_version.as_deref().unwrap_or("none (cold start only)");
    say!("\n{} recommend  run {}  {} ms  model {model}  -> {}", s.date, s.run_id, s.duration_ms, s.run_manifest);
    if let Some(t) = &s.trained {
        print_train(t);
    }
    say!(
        "  users {}  (model: {} as trained, {} folded in; cold start: {})  rows {}  catalogue coverage {:.3}",
        s.users, s.cf_trained, s.cf_folded_in, s.cold_start, s.rows, s.catalog_coverage
    );
    if let Some(first) = s.sample.first() {
        let tracks: Vec<String> = s.sample.iter().map(|r| format!("{} ({:.3}, {})", r.track_id, r.score, r.reason.as_str())).collect();
        say!("  user {}: {}", first.user_id, tracks.join(", "));
    }
}

async fn recommend(request: Request) -> Result<(), AnyError> {
    let recommender = Recommender::from_config(&Config::from_env()?, &AwsConfig::new()).await;
    match recommender.run(request, moovitamix::job::Invocation::new()).await? {
        Outcome::Score(s) => print_score(&s),
        Outcome::Train(t) => print_train(&t),
        Outcome::Rollback(r) => {
            say!("champion: {} (was {}), pinned until `unpin` or an explicit `train`", r.champion.version, r.champion.previous.as_deref().unwrap_or("none"))
        }
        Outcome::Unpin(u) => match (&u.champion, u.was_pinned) {
            (None, _) => say!("there is no champion yet: nothing to unpin"),
            (Some(c), true) => say!("champion {} unpinned: automatic retraining may replace it", c.version),
            (Some(c), false) => say!("champion {} was not pinned: nothing changed", c.version),
        },
    }
    Ok(())
}

async fn models() -> Result<(), AnyError> {
    let config = Config::from_env()?;
    let models = ModelStore::new(moovitamix::storage::open(&config.data_url, &AwsConfig::new()).await);
    let champion = models.champion().await?.map(|(c, _)| c);
    say!("{:<28} {:<10} {:>9} {:>9} {:>9}  decision", "version", "data date", "ndcg@10", "champion", "baseline");
    for version in models.versions().await? {
        let Some(card) = models.card(&version).await? else { continue };
        let e = &card.evaluation;
        let mark = match &champion {
            Some(c) if c.version == version && c.pinned => "  <- champion (pinned by rollback: `unpin` or an explicit `train` replaces it)",
            Some(c) if c.version == version => "  <- champion",
            _ => "",
        };
        let champ = e.champion_shown().map_or("-".to_owned(), |s| format!("{:.4}", s.ndcg_at_10));
        let held = card.held().map(|h| format!(" ({h})")).unwrap_or_default();
        say!("{version:<28} {:<10} {:>9.4} {champ:>9} {:>9.4}  {}{held}{mark}", card.data_date, e.candidate.ndcg_at_10, e.baseline.ndcg_at_10, without_parentheses(card.decision.reason()));
    }
    Ok(())
}

async fn erase(user_ids: Vec<i64>) -> Result<(), AnyError> {
    if let Some(bad) = user_ids.iter().find(|id| **id <= 0) {
        return Err(format!("--user-id {bad}: user ids are positive integers").into());
    }
    let transformer = Transformer::from_config(&Config::from_env()?, &AwsConfig::new()).await?;
    let summary = transformer.eraser().erase(&user_ids, moovitamix::job::Invocation::new()).await?;
    say!("erased users {:?} (run {}): {} date(s) rewritten, {} held nothing of them", summary.user_ids, summary.run_id, summary.rewritten.len(), summary.untouched);
    for d in &summary.rewritten {
        say!("  {:<8} {}  {} row(s)  replaced run {}  -> {}", d.zone, d.date, d.rows, d.replaced_run, d.run_manifest);
    }
    Ok(())
}

async fn report(out: Option<PathBuf>) -> Result<(), AnyError> {
    let config = Config::from_env()?;
    let store = moovitamix::storage::open(&config.data_url, &AwsConfig::new()).await;
    let to = out.map_or(moovitamix::report::Destination::DataFolder, moovitamix::report::Destination::File);
    let (location, report) = moovitamix::report::write(store, &to, Utc::now()).await?;
    say!(
        "report: {location}  ({} runs, {} model versions{})",
        report.runs.len(),
        report.models.len(),
        if report.problems.is_empty() { String::new() } else { format!(", {} parts unreadable: see the page", report.problems.len()) }
    );
    Ok(())
}

/// One bucket of a fanned-out transform, as a child of `run --buckets` (see `moovitamix::fanout`).
async fn transform_bucket(date: NaiveDate, run_id: &str, index: u32, count: u32, attempt: u32) -> Result<(), AnyError> {
    if count == 0 || index >= count {
        return Err(format!("--bucket {index} is not one of --buckets {count}").into());
    }
    if run_id.is_empty() || run_id.contains(['/', '\\']) {
        return Err(format!("--run-id {run_id:?}: a run id is one path segment").into());
    }
    let transformer = Transformer::from_config(&Config::from_env()?, &AwsConfig::new()).await?;
    let bucket = moovitamix::buckets::Bucket::new(index, count);
    transformer.transform_bucket(date, &moovitamix::commit::RunId::from(run_id), bucket).await?;
    let fail_once = std::env::var(moovitamix::fanout::FAIL_ONCE_VARIABLE).ok().and_then(|v| v.parse::<u32>().ok());
    if attempt == 1 && fail_once == Some(index) {
        return Err(format!("{bucket}: failed on purpose ({}) after writing its parts", moovitamix::fanout::FAIL_ONCE_VARIABLE).into());
    }
    Ok(())
}

async fn simulate(listen: SocketAddr, date: Option<NaiveDate>, sim: SimulatorArgs) -> Result<(), AnyError> {
    let date = date.unwrap_or_else(|| Utc::now().date_naive());
    let server = RunningSimulator::start_on(sim.config(date), listen).await?;
    // The first line of stdout is the URL, for scripts (and the benchmark) to read.
    say!("{}", server.url());
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    Ok(())
}
