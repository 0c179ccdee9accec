//! `moovitamix`: the daily pipeline on a laptop, the source simulator, and the benchmarks.
//!
//! `moovitamix run` runs the same jobs the Lambda functions run, against `SOURCE_API_URL` when it
//! is set and otherwise against the built-in simulator, writing under `DATA_URL` (`./data`).

use chrono::Utc;
use clap::Parser;
use cli::{Cli, Command};
use console::say;
use moovitamix::fanout::Stage;
use moovitamix::recommend::request::Request;
use std::path::PathBuf;
use std::process::ExitCode;

mod bench;
mod cli;
mod commands;
mod console;
mod daily_run;
mod summaries;
mod usage;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // The commands that work on the data folder log to a file in it; the simulator and the
    // benchmarks log on the terminal, as before.
    let log_file = match cli.command {
        Command::Simulate { .. } | Command::Bench { .. } | Command::TransformBucket(_) | Command::ScoreBucket(_) => None,
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
        } => daily_run::run(date, from.zip(to), allow_past, buckets.map(|b| (b, workers)), sim).await,
        Command::TransformBucket(args) => commands::bucket_child(Stage::Transform, args).await,
        Command::ScoreBucket(args) => commands::bucket_child(Stage::Score, args).await,
        Command::Simulate { listen, date, sim } => commands::simulate(listen, date, sim).await,
        Command::Bench { stage } => bench::run(stage).await,
        Command::Train { date } => commands::recommend(Request::Train { date, scheduled: false }).await,
        Command::Models => commands::models().await,
        Command::Rollback { version } => commands::recommend(Request::Rollback { version }).await,
        Command::Erase { user_ids } => commands::erase(user_ids).await,
        Command::Unpin => commands::recommend(Request::Unpin).await,
        Command::Report { out } => commands::report(out).await,
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
        Command::TransformBucket(_) => Stage::Transform.command(),
        Command::ScoreBucket(_) => Stage::Score.command(),
    };
    let data = std::env::var("DATA_URL").ok().filter(|v| !v.trim().is_empty()).unwrap_or_else(|| "./data".to_owned());
    let folder = match moovitamix::storage::DataUrl::parse(&data) {
        Ok(moovitamix::storage::DataUrl::Local(path)) => path,
        _ => std::env::temp_dir().join("moovitamix"),
    };
    folder.join("_logs").join(format!("{}-{name}.log", Utc::now().format("%Y%m%dT%H%M%SZ")))
}
