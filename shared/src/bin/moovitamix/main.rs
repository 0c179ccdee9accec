//! `moovitamix`: the daily pipeline on a laptop, the source simulator, and the benchmarks.
//!
//! `moovitamix run` runs the same jobs the Lambda functions run, against `SOURCE_API_URL` when it
//! is set and otherwise against the built-in simulator, writing under `DATA_URL` (`./data`).

use chrono::{NaiveDate, Utc};
use clap::{Parser, Subcommand};
use moovitamix::config::Config;
use moovitamix::fetch::{FetchSummary, Fetcher, new_run_id};
use moovitamix::simulator::{RunningSimulator, SimulatorConfig};
use moovitamix::transform::{TransformSummary, Transformer};
use std::net::SocketAddr;
use std::process::ExitCode;

mod bench;

#[derive(Parser)]
#[command(version, about = "The MooVitamix data pipeline, run locally.")]
struct Cli {
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
}

impl SimulatorArgs {
    fn config(&self, date: NaiveDate) -> SimulatorConfig {
        SimulatorConfig {
            seed: self.sim_seed,
            tracks: self.sim_tracks,
            users: self.sim_users,
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
        #[command(flatten)]
        sim: SimulatorArgs,
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
    moovitamix::telemetry::init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { date, from, to, sim } => run(date, from.zip(to), sim).await,
        Command::Simulate { listen, date, sim } => simulate(listen, date, sim).await,
        Command::Bench { stage } => bench::run(stage).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

type AnyError = Box<dyn std::error::Error + Send + Sync>;

async fn run(date: Option<NaiveDate>, range: Option<(NaiveDate, NaiveDate)>, sim: SimulatorArgs) -> Result<(), AnyError> {
    let dates: Vec<NaiveDate> = match (date, range) {
        (_, Some((from, to))) if from > to => return Err(format!("--from {from} is after --to {to}").into()),
        (_, Some((from, to))) => from.iter_days().take_while(|d| *d <= to).collect(),
        (Some(d), None) => vec![d],
        (None, None) => vec![Utc::now().date_naive()],
    };
    let mut config = Config::from_env()?;
    // The built-in simulator stands in for the source unless SOURCE_API_URL names one.
    let simulator = match std::env::var("SOURCE_API_URL").ok().filter(|v| !v.trim().is_empty()) {
        Some(_) => None,
        None => {
            let s = RunningSimulator::start(sim.config(dates[0])).await?;
            config.source.base_url = s.url();
            println!("source: the built-in simulator at {} (seed {}, from {})", s.url(), sim.sim_seed, sim.sim_start);
            Some(s)
        }
    };
    println!("data:   {}", config.data_url);
    let fetcher = Fetcher::from_config(&config).await?;
    let transformer = Transformer::from_config(&config).await?;
    for date in dates {
        if let Some(s) = &simulator {
            s.control().set_date(date);
        }
        let summary = fetcher.run(date, &new_run_id(Utc::now())).await?;
        print_fetch(&summary);
        print_transform(&transformer.run(date, &new_run_id(Utc::now())).await?);
    }
    if let Some(s) = simulator {
        s.shutdown().await;
    }
    Ok(())
}

fn print_fetch(s: &FetchSummary) {
    println!("\n{} fetch  run {}  {} ms  -> {}", s.date, s.run_id, s.duration_ms, s.run_manifest);
    println!("  {:<16} {:>9} {:>9} {:>9} {:>7} {:>8} {:>11}", "entity", "accepted", "warned", "rejected", "pages", "retries", "bytes");
    for (entity, e) in &s.entities {
        println!(
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
    println!("\n{} transform  run {}  {} ms  (onto {after})  -> {}", s.date, s.run_id, s.duration_ms, s.run_manifest);
    println!("  {:<20} {:>9} {:>9} {:>11} {:>9} {:>9} {:>9}", "table", "rows in", "rows out", "quarantined", "warnings", "opened", "closed");
    let opt = |v: Option<u64>| v.map_or("-".to_owned(), |v| v.to_string());
    for (table, t) in &s.tables {
        println!(
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

async fn simulate(listen: SocketAddr, date: Option<NaiveDate>, sim: SimulatorArgs) -> Result<(), AnyError> {
    let date = date.unwrap_or_else(|| Utc::now().date_naive());
    let server = RunningSimulator::start_on(sim.config(date), listen).await?;
    // The first line of stdout is the URL, for scripts (and the benchmark) to read.
    println!("{}", server.url());
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    Ok(())
}
