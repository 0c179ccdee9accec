//! Benchmarks: each stage on simulator data at several sizes, printing throughput, the client's
//! CPU time and its peak memory, with the command that reproduces the figures.
//!
//! The simulator runs in a child process, so the CPU time and memory measured are the
//! pipeline's alone.

use crate::AnyError;
use moovitamix::fetch::Fetcher;
use moovitamix::metrics::{MemorySink, Metrics};
use moovitamix::source::SourceClient;
use moovitamix::storage::LocalStore;
use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
        /// Users, one pair of runs per value; tracks are a tenth of that, at least 1000.
        #[arg(long, value_delimiter = ',', default_value = "1000,1000000")]
        users: Vec<usize>,
        /// Listen items per user (the simulator's `listens_per_user`).
        #[arg(long, default_value_t = 10)]
        listens_per_user: usize,
        /// Skip the DuckDB comparison.
        #[arg(long)]
        no_duckdb: bool,
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
        Stage::Transform { users, listens_per_user, no_duckdb } => transform::run(&users, listens_per_user, !no_duckdb).await,
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

/// This process's user + system CPU time.
fn cpu_time() -> Duration {
    // SAFETY: getrusage only writes into the struct we own.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Peak resident memory since the last [`reset_peak_memory`], in MiB (Linux `VmHWM`).
fn peak_memory_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(f64::NAN);
    kib / 1024.0
}

/// Resets the kernel's peak-RSS mark so each size is measured on its own.
fn reset_peak_memory() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
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
