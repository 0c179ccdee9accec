//! Benchmarks: each stage on simulator data at several sizes, printing throughput, the client's
//! CPU time and its peak memory, with the command that reproduces the figures.
//!
//! The simulator runs in a child process, so the CPU time and memory measured are the
//! pipeline's alone.

use crate::AnyError;
use crate::usage::{cpu_time, peak_memory_mib, reset_peak_memory};
use moovitamix::fetch::Fetcher;
use moovitamix::metrics::{MemorySink, Metrics};
use moovitamix::source::SourceClient;
use moovitamix::storage::LocalStore;
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

mod recommend;
mod transform;

#[derive(clap::Subcommand)]
pub enum Stage {
    /// Fetch every endpoint from a simulator serving ROWS rows per entity, into a temporary folder.
    Fetch {
        /// Rows per entity, one run per value.
        #[arg(long, value_delimiter = ',', default_value = "1000,100000")]
        rows: Vec<usize>,
        /// Pages in flight per endpoint.
        #[arg(long, default_value_t = 8)]
        concurrency: usize,
    },
    /// Transform simulator data written straight to raw partitions (no HTTP): two days per size
    /// (the first onto an empty history, the second merging onto it), then DuckDB converting the
    /// same raw files to Parquet, for comparison.
    Transform {
        #[command(flatten)]
        args: transform::Args,
    },
    /// The recommender: the configured ALS recipe against popularity on MovieLens-100k (temporal
    /// hold-out), then its training and top-10 scoring time and memory on a large synthetic set.
    Recommend {
        #[command(flatten)]
        args: recommend::Args,
    },
}

pub async fn run(stage: Stage) -> Result<(), AnyError> {
    match stage {
        Stage::Fetch { rows, concurrency } => fetch(&rows, concurrency).await,
        Stage::Transform { args } => transform::run(&args).await,
        Stage::Recommend { args } => recommend::run(&args),
    }
}

/// The simulator as a child process, killed on drop.
struct SimulatorProcess {
    child: Child,
    url: String,
}

impl SimulatorProcess {
    fn start(rows: usize) -> Result<Self, AnyError> {
        let mut child = Command::new(std::env::current_exe()?)
            .args(["simulate", "--listen", "127.0.0.1:0", "--date", "2026-01-01"])
            .args(["--sim-tracks", &rows.to_string(), "--sim-users", &rows.to_string()])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()?;
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().expect("piped stdout")).read_line(&mut line)?;
        let url = line.trim().to_owned();
        if !url.starts_with("http://") {
            let _ = child.kill();
            return Err(format!("the simulator did not print its URL (got {line:?})").into());
        }
        Ok(Self { child, url })
    }
}

impl Drop for SimulatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn fetch(sizes: &[usize], concurrency: usize) -> Result<(), AnyError> {
    let command = format!(
        "cargo run --release -p moovitamix -- bench fetch --rows {} --concurrency {concurrency}",
        sizes.iter().map(usize::to_string).collect::<Vec<_>>().join(",")
    );
    println!("fetch benchmark: {command}");
    println!("machine: {} cores", std::thread::available_parallelism().map_or(0, |n| n.get()));
    println!(
        "{:>10} {:>10} {:>9} {:>10} {:>12} {:>16} {:>14}",
        "rows/ent", "rows", "wall s", "rows/s", "client cpu s", "cpu ms/1k rows", "peak RSS MiB"
    );
    for &rows in sizes {
        let simulator = SimulatorProcess::start(rows)?;
        let dir = tempfile_dir()?;
        let mut config = moovitamix::config::Config::from_lookup(|_| None)?;
        config.source.base_url = simulator.url.clone();
        config.source.concurrency = concurrency;
        let fetcher = Fetcher {
            store: Arc::new(LocalStore::new(dir.clone())),
            source: SourceClient::new(config.source.clone())?,
            metrics: Metrics::new("fetch", "bench", Arc::new(MemorySink::default())),
            part_rows: config.part_rows,
            limits: config.fetch,
            commit: config.commit(),
        };
        reset_peak_memory();
        let (cpu0, wall0) = (cpu_time(), Instant::now());
        let summary = fetcher.run(chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("a date"), "bench").await?;
        let (wall, cpu) = (wall0.elapsed(), cpu_time() - cpu0);
        let total: u64 = summary.entities.values().map(|e| e.accepted + e.rejected).sum();
        println!(
            "{:>10} {:>10} {:>9.2} {:>10.0} {:>12.2} {:>16.3} {:>14.1}",
            rows,
            total,
            wall.as_secs_f64(),
            total as f64 / wall.as_secs_f64(),
            cpu.as_secs_f64(),
            cpu.as_secs_f64() * 1000.0 / (total as f64 / 1000.0),
            peak_memory_mib()
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

fn tempfile_dir() -> Result<std::path::PathBuf, AnyError> {
    let dir = std::env::temp_dir().join(format!("moovitamix-bench-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
