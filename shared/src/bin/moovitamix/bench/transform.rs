//! `bench transform`: the transform job's throughput, CPU time and peak memory at several sizes, and DuckDB's on the same raw files.
//!
//! Raw data comes straight from the simulator's [`Dataset`] rows, written and committed the way
//! fetch writes them ([`RawWriter`]), so generation costs seconds rather than an HTTP crawl. Each
//! size runs two days: day 1 onto an empty history, day 2 merging onto day 1 (the daily case).
//! DuckDB (PyPI `duckdb`, run by the Python of `MOOVITAMIX_PYTHON`, default
//! `.tools/venv-readers/bin/python`) then converts day 1's raw JSON lines to Parquet with the same
//! derived columns (no SCD2, no data-quality checks, no quarantine): a yardstick, not a twin.
//!
//! With `--buckets B` the raw listen history is written in B buckets of users, as fetch writes it
//! with `LISTEN_BUCKETS`, and transform runs fanned out as `run --buckets` runs it
//! ([`LocalFanout`]: the children are this program's `transform-bucket`, each reporting its
//! wall time, CPU time and peak memory). `--sample-buckets K` keeps the listen histories of
//! the users of the first K buckets only: one child of a day too large for this machine, run at
//! its true size, from which the whole day is extrapolated.
//!
//! `--score` then trains on day 1 (not counted) and day 2 (measured apart) and scores day 2, whole or fanned out as the
//! transform was (the children are `score-bucket`): what scoring uses, per child and in all.

use super::tempfile_dir;
use crate::summaries::print_fanout;
use crate::usage::{children_cpu_time, cpu_time, peak_memory_mib, reset_peak_memory};
use crate::AnyError;
use chrono::{NaiveDate, Utc};
use moovitamix::buckets::Bucket;
use moovitamix::config::{Config, Secret};
use moovitamix::curated::TableName;
use moovitamix::fanout::{ChildReport, FannedRun, LocalFanout};
use moovitamix::metrics::{MemorySink, Metrics};
use moovitamix::partition::{Partition, Zone};
use moovitamix::recommend::request::Request;
use moovitamix::recommend::{Outcome, Recommender};
use moovitamix::records::Entity;
use moovitamix::simulator::{Dataset, SimulatorConfig};
use moovitamix::storage::{LocalStore, Store};
use moovitamix::transform::pii::Pii;
use moovitamix::transform::raw_date::RawWriter;
use moovitamix::transform::{FUNCTION, TransformSummary, Transformer, as_of};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SALT: &str = "bench-salt";

fn day(k: u64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, 1).expect("a date") + chrono::Days::new(k)
}

/// Gives freed heap back to the kernel, so a peak measured next is the next step's own.
fn trim_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[derive(clap::Args)]
pub struct Args {
    /// Users, one pair of runs per value; tracks are a tenth of that, at least 1000.
    #[arg(long, value_delimiter = ',', default_value = "1000,1000000")]
    users: Vec<usize>,
    /// Listen items per user (the simulator's `listens_per_user`).
    #[arg(long, default_value_t = 10)]
    listens_per_user: usize,
    /// Skip the DuckDB comparison.
    #[arg(long)]
    no_duckdb: bool,
    /// Write the raw listen history in this many buckets of users and transform it fanned out,
    /// one child process per bucket (1: the whole run, in this process).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=moovitamix::buckets::MAX_BUCKETS as i64))]
    buckets: u32,
    /// Children at once with --buckets (default: the machine's cores).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1024))]
    workers: Option<u32>,
    /// Keep only the listen histories of the users of the first K buckets (default: all): one
    /// child of a larger day at its true size.
    #[arg(long)]
    sample_buckets: Option<u32>,
    /// Then train on days 1 (not counted) and 2 (measured apart) and score day 2, as the transform ran (whole or fanned out).
    #[arg(long)]
    score: bool,
    /// With --score: day 2's scoring trains first, as on a retraining day (in its plan when fanned
    /// out), instead of a train request before it.
    #[arg(long, requires = "score")]
    score_trains: bool,
}

/// How a size is transformed: whole in this process, or fanned out over child processes.
struct Layout {
    buckets: u32,
    workers: usize,
    /// Buckets whose users have listen histories: `buckets` unless sampling one of a larger day.
    sampled: u32,
}

impl Layout {
    fn of(args: &Args) -> Result<Self, AnyError> {
        let buckets = args.buckets;
        if buckets == 1 && (args.workers.is_some() || args.sample_buckets.is_some()) {
            return Err("--workers and --sample-buckets need --buckets above 1".into());
        }
        if args.score && args.sample_buckets.is_some() {
            return Err("--score scores a whole day: not with --sample-buckets".into());
        }
        let workers = args.workers.map_or_else(LocalFanout::default_workers, |w| w as usize);
        let sampled = args.sample_buckets.unwrap_or(buckets);
        if !(1..=buckets).contains(&sampled) {
            return Err(format!("--sample-buckets {sampled} is not one of 1..={buckets} (--buckets)").into());
        }
        Ok(Self { buckets, workers, sampled })
    }

    fn is_sample(&self) -> bool {
        self.sampled < self.buckets
    }

    /// The flags that reproduce it.
    fn flags(&self) -> String {
        match (self.buckets, self.is_sample()) {
            (1, _) => String::new(),
            (b, false) => format!(" --buckets {b} --workers {}", self.workers),
            (b, true) => format!(" --buckets {b} --workers {} --sample-buckets {}", self.workers, self.sampled),
        }
    }
}

pub async fn run(args: &Args) -> Result<(), AnyError> {
    let layout = Layout::of(args)?;
    let list = args.users.iter().map(usize::to_string).collect::<Vec<_>>().join(",");
    let no_duckdb = if args.no_duckdb { " --no-duckdb" } else { "" };
    let score = match (args.score, args.score_trains) {
        (true, true) => " --score --score-trains",
        (true, false) => " --score",
        _ => "",
    };
    println!("transform benchmark: cargo run --release -p moovitamix -- bench transform --users {list} --listens-per-user {}{no_duckdb}{}{score}", args.listens_per_user, layout.flags());
    let base = settings(Path::new("."))?.transform;
    println!(
        "machine: {} cores; raw parts of 200000 rows; curated row groups of {} rows (the listen tables: one a file), files of {} rows, Snappy",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        base.row_group_rows,
        base.file_rows
    );
    if layout.buckets > 1 {
        println!(
            "fanned out: {} buckets, {} child process(es) at once; cpu s = this process + its children (the kernel's count), peak MiB = the largest of this process and each child",
            layout.buckets, layout.workers
        );
    }
    if layout.is_sample() {
        println!("sampled: only the users of buckets 0..{} have listen histories, so a row's rates mix a full day's tracks and users with part of its listens; the children and the line after them are the figures", layout.sampled);
    }
    println!(
        "{:>9} {:>8} {:>4} {:>10} {:>11} {:>8} {:>11} {:>11} {:>8} {:>9} {:>10}",
        "users", "tracks", "day", "raw rows", "listen items", "wall s", "raw rows/s", "items/s", "cpu s", "peak MiB", "curated MB"
    );
    for &users in &args.users {
        let tracks = (users / 10).max(1000);
        let dir = tempfile_dir()?;
        let store: Arc<dyn Store> = Arc::new(LocalStore::new(dir.clone()));
        let generated = Instant::now();
        let mut raw_rows = Vec::new();
        for k in 0..2 {
            let config = SimulatorConfig { tracks, users, listens_per_user: args.listens_per_user, start_date: day(0), date: day(k), ..SimulatorConfig::default() };
            raw_rows.push(write_raw(&store, &Dataset::new(&config), k, &layout).await?);
        }
        let generated = generated.elapsed();
        let config = settings(&dir)?;
        let transformer = Transformer {
            store: store.clone(),
            metrics: Metrics::new(FUNCTION, "bench", Arc::new(MemorySink::default())),
            pii: Pii::new(Secret::new(SALT), false),
            config: config.transform.clone(),
            commit: config.commit(),
        };
        let env = CHILD_SETTINGS.iter().map(|&(k, v)| (k.to_owned(), v.to_owned())).chain([("DATA_URL".to_owned(), dir.display().to_string())]).collect();
        let runner = LocalFanout { program: std::env::current_exe()?, workers: layout.workers, attempts: 1, env };
        let mut first_wall = Duration::ZERO;
        let mut first_items = 0;
        for k in 0..2 {
            trim_heap();
            reset_peak_memory();
            let (cpu0, children0, wall0) = (cpu_time(), children_cpu_time(), Instant::now());
            let run_id = format!("bench-{k}");
            let (summary, fanned): (TransformSummary, Option<FannedRun>) = match layout.buckets {
                1 => (transformer.run(day(k), &run_id).await?, None),
                _ => {
                    let f = runner.transform(&transformer, day(k), (&run_id).into()).await?;
                    if f.children.len() != layout.buckets as usize {
                        return Err(format!("the date was transformed in {} bucket(s), not {}: no listen history landed in a bucket folder", f.children.len(), layout.buckets).into());
                    }
                    (f.summary.clone(), Some(f))
                }
            };
            let wall = wall0.elapsed();
            let (own_cpu, own_peak) = (cpu_time() - cpu0, peak_memory_mib());
            let cpu = own_cpu + (children_cpu_time() - children0);
            let child_peaks = fanned.iter().flat_map(|f| &f.children).map(|c| c.report.as_ref().and_then(|r| r.peak_rss_mib));
            let peak = child_peaks.clone().flatten().fold(own_peak, f64::max);
            let items = summary.tables[&TableName::ListenEvents].rows_in;
            let curated: u64 = store.list("curated/").await?.iter().filter(|o| o.key.contains(&format!("dt={}", day(k)))).map(|o| o.size).sum();
            let secs = wall.as_secs_f64();
            println!(
                "{:>9} {:>8} {:>4} {:>10} {:>11} {:>8.2} {:>11.0} {:>11.0} {:>8.2} {:>9.1} {:>10.1}",
                users,
                tracks,
                k + 1,
                raw_rows[k as usize],
                items,
                secs,
                raw_rows[k as usize] as f64 / secs,
                items as f64 / secs,
                cpu.as_secs_f64(),
                peak,
                curated as f64 / 1e6
            );
            print_table_sizes(store.as_ref(), day(k), items).await?;
            if let Some(f) = &fanned {
                if child_peaks.clone().any(|p| p.is_none()) {
                    println!("{:>9} a child printed no report or no peak memory: the peak above leaves it out", "");
                }
                println!("{:>9} this process (prepare, then commit): {:.2} s cpu, peak {:.1} MiB", "", own_cpu.as_secs_f64(), own_peak);
                print_fanout(f);
                if layout.is_sample() {
                    print_whole_day(f, layout.sampled);
                }
            }
            if k == 0 {
                (first_wall, first_items) = (wall, items);
            }
        }
        println!("{:>9} (raw data for both days generated and committed in {:.1} s, not counted)", "", generated.as_secs_f64());
        if args.score {
            score_day(&store, &config, &runner, &layout, day(1), args.score_trains).await?;
        }
        if layout.is_sample() {
            println!("{:>9} duckdb comparison skipped: a sampled day is not a day", "");
        } else if !args.no_duckdb {
            match run_duckdb(&dir, day(0), base.row_group_rows, base.file_rows) {
                Ok(d) => println!(
                    "{:>9} duckdb {} day 1, JSON lines -> Parquet only: {:.2} s ({:.0} items/s, {} threads), peak {:.1} MiB (Python included); transform/duckdb time = {:.2}",
                    "",
                    d.version,
                    d.seconds,
                    first_items as f64 / d.seconds,
                    d.threads,
                    d.peak_rss_mib,
                    first_wall.as_secs_f64() / d.seconds
                ),
                Err(why) => println!("{:>9} duckdb comparison skipped: {why}", ""),
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
    Ok(())
}

/// Trains on the day before `date` (not counted) and on `date` (measured apart; with `trains`,
/// the scoring trains first instead), then scores it whole or fanned out as `layout` says and
/// prints what scoring used: wall, CPU (this process and its children), peak memory, per child too.
async fn score_day(store: &Arc<dyn Store>, config: &Config, runner: &LocalFanout, layout: &Layout, date: NaiveDate, trains: bool) -> Result<(), AnyError> {
    let mut recommender = Recommender {
        store: store.clone(),
        metrics: Metrics::new("recommend", "bench", Arc::new(MemorySink::default())),
        config: config.recommend.clone(),
        commit: config.commit(),
    };
    // A champion of the day before first (not counted), as a daily retraining finds one: its
    // date is re-read for the served comparison.
    let day_before = date.pred_opt().expect("a date after the first");
    let champion = match recommender.run(Request::Train { date: Some(day_before), scheduled: false }, "bench-train-0").await? {
        Outcome::Train(t) if t.promoted => "day 1's model the champion",
        _ => "no champion: day 1's model was refused",
    };
    if trains {
        // Any listen added since day 1's model makes training due.
        recommender.config.retrain_share = 0.0;
    } else {
        train_day(&recommender, config, champion, date).await?;
    }
    trim_heap();
    reset_peak_memory();
    let (cpu0, children0, wall0) = (cpu_time(), children_cpu_time(), Instant::now());
    let (summary, fanned) = match layout.buckets {
        1 => match recommender.run(Request::Score { date }, "bench-score").await? {
            Outcome::Score(s) => (s, None),
            other => return Err(format!("a score request answered {other:?}").into()),
        },
        _ => {
            let f = runner.score(&recommender, date, "bench-score".into()).await?;
            (f.summary.clone(), Some(f))
        }
    };
    let wall = wall0.elapsed().as_secs_f64();
    let (own_cpu, own_peak) = (cpu_time() - cpu0, peak_memory_mib());
    let cpu = own_cpu + (children_cpu_time() - children0);
    let peak = fanned.iter().flat_map(|f| &f.children).filter_map(|c| c.report.as_ref()?.peak_rss_mib).fold(own_peak, f64::max);
    let trained = match &summary.trained {
        Some(t) => format!(", trained first ({} listen items kept, {:.2} s in the solver and gate)", t.listens, t.train_ms as f64 / 1000.0),
        None if trains => return Err("--score-trains: day 2's scoring did not train (no listens added since day 1's model)".into()),
        None => String::new(),
    };
    println!(
        "{:>9} scoring day 2{trained}: {} users ({} cold start), {} rows, {wall:.2} s wall, {:.2} s cpu, peak {peak:.1} MiB; this process {:.2} s cpu, peak {own_peak:.1} MiB",
        "",
        summary.users,
        summary.cold_start,
        summary.rows,
        cpu.as_secs_f64(),
        own_cpu.as_secs_f64()
    );
    if let Some(f) = &fanned {
        print_fanout(f);
    }
    Ok(())
}

/// Day 2's training as a train request, measured.
async fn train_day(recommender: &Recommender, config: &Config, champion: &str, date: NaiveDate) -> Result<(), AnyError> {
    trim_heap();
    reset_peak_memory();
    let (cpu0, wall0) = (cpu_time(), Instant::now());
    let trained = match recommender.run(Request::Train { date: Some(date), scheduled: false }, "bench-train").await? {
        Outcome::Train(t) => t,
        other => return Err(format!("a train request answered {other:?}").into()),
    };
    println!(
        "{:>9} training on day 2, {champion} (ALS_TRAIN_USER_SHARE {}, ALS_MAX_TRACKS_PER_USER {}): {} users, {} listen items kept, {:.2} s wall ({:.2} s in the solver and gate), {:.2} s cpu, peak {:.1} MiB",
        "",
        config.recommend.hyper.train_user_share,
        config.recommend.hyper.max_tracks_per_user,
        trained.users,
        trained.listens,
        wall0.elapsed().as_secs_f64(),
        trained.train_ms as f64 / 1000.0,
        (cpu_time() - cpu0).as_secs_f64(),
        peak_memory_mib()
    );
    Ok(())
}

/// What the children get beside `DATA_URL`, and this process reads too: the bench's salt (not
/// one from SSM) and metrics to the log, whatever the caller's environment says.
const CHILD_SETTINGS: [(&str, &str); 3] = [("PII_SALT", SALT), ("PII_SALT_PARAMETER", ""), ("METRICS_BACKEND", "log")];

/// The settings of this process and of the children alike: the environment, with the data
/// folder and [`CHILD_SETTINGS`] over it.
fn settings(dir: &Path) -> Result<Config, AnyError> {
    Ok(Config::from_lookup(|name| match (name, CHILD_SETTINGS.iter().find(|(k, _)| *k == name)) {
        ("DATA_URL", _) => Some(dir.display().to_string()),
        (_, Some((_, v))) => Some((*v).to_owned()),
        _ => std::env::var(name).ok(),
    })?)
}

/// Writes day `k`'s raw date as fetch would, the listen history in the layout's buckets.
async fn write_raw(store: &Arc<dyn Store>, dataset: &Dataset, k: u64, layout: &Layout) -> Result<u64, AnyError> {
    let mut w = RawWriter::new(store.clone(), day(k), &format!("bench-fetch-{k}"), as_of(day(k)) + chrono::Duration::hours(6), 200_000).await?;
    let user_of = |row: &serde_json::Value| row["user_id"].as_i64().unwrap_or_default();
    let mut rows = 0;
    for entity in Entity::ALL {
        rows += match entity {
            Entity::ListenHistory => {
                let kept = dataset.listen_rows_where(|u| Bucket::of_user(u, layout.buckets).index < layout.sampled);
                w.entity_in_buckets(entity, kept, layout.buckets, user_of).await?
            }
            _ => w.entity(entity, dataset.rows(entity.as_str())).await?,
        };
    }
    w.commit(Utc::now()).await?;
    Ok(rows)
}

/// What a date's full copy weighs, table by table: the case for storing daily deltas.
async fn print_table_sizes(store: &dyn Store, date: NaiveDate, items: u64) -> Result<(), AnyError> {
    let (mut by_table, mut events_bytes) = (Vec::new(), 0);
    for table in TableName::CURATED {
        let bytes: u64 = store.list(&Partition::new(Zone::Curated, table.as_str(), date).prefix()).await?.iter().map(|o| o.size).sum();
        if table == TableName::ListenEvents {
            events_bytes = bytes;
        }
        by_table.push(format!("{} {:.1}", table.as_str(), bytes as f64 / 1e6));
    }
    let per_item = events_bytes as f64 / items.max(1) as f64;
    println!("{:>9} curated MB by table: {} ({per_item:.2} bytes per listen item in listen_events)", "", by_table.join(", "));
    Ok(())
}

/// The whole day, every bucket like the sampled ones (their mean per child, their largest peak),
/// from the children's own figures; prepare and commit are this process's, measured. Its wall
/// time is given both ways: one child at a time, and every child at once (as a Distributed Map
/// with room for them all runs them).
fn print_whole_day(f: &FannedRun, sampled: u32) {
    let reports: Vec<_> = f.children.iter().filter(|c| c.bucket.index < sampled).filter_map(|c| c.report.as_ref()).collect();
    if reports.len() < sampled as usize {
        println!("{:>9} no extrapolation: a sampled child printed no report", "");
        return;
    }
    let (n, buckets) = (reports.len() as f64, f.children.len() as f64);
    let mean = |x: &dyn Fn(&ChildReport) -> f64| reports.iter().map(|r| x(r)).sum::<f64>() / n;
    let (items, wall, cpu) = (mean(&|r| r.listen_items as f64), mean(&|r| r.wall_ms as f64 / 1e3), mean(&|r| r.cpu_ms as f64 / 1e3));
    let peak = match reports.iter().filter_map(|r| r.peak_rss_mib).reduce(f64::max) {
        Some(p) => format!("{p:.0} MiB"),
        None => "unknown".to_owned(),
    };
    let parent = (f.prepare + f.commit).as_secs_f64();
    println!(
        "{:>9} the whole day, {buckets} buckets like the sampled {sampled}: {:.0} listen items; per child {items:.0} items, {wall:.2} s wall, {cpu:.2} s cpu, {peak} peak; {:.1} child cpu s in all; prepare + commit {parent:.2} s; wall {:.1} s with one child at a time, {:.1} s with all at once",
        "",
        items * buckets,
        cpu * buckets,
        parent + wall * buckets,
        parent + wall
    );
}

struct DuckDbRun {
    version: String,
    seconds: f64,
    peak_rss_mib: f64,
    threads: String,
}

/// The Python that has `duckdb`: `MOOVITAMIX_PYTHON`, else the workspace's reader venv.
fn python() -> PathBuf {
    std::env::var_os("MOOVITAMIX_PYTHON").map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/venv-readers/bin/python")
    })
}

/// Times the statements inside the interpreter, so Python's start-up is not counted.
const DRIVER: &str = r#"
import duckdb, json, resource, sys, time
statements = [s for s in sys.stdin.read().split(";\n") if s.strip()]
# No progress bar: it would print to stdout, which carries the answer.
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")
t0 = time.perf_counter()
for s in statements:
    con.execute(s)
seconds = time.perf_counter() - t0
print(json.dumps({"version": duckdb.__version__, "seconds": seconds,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "threads": str(con.execute("select current_setting('threads')").fetchone()[0])}))
"#;

/// DuckDB writes the row groups transform writes: `row_group_rows` for tracks and users, one
/// group per file of `file_rows` for the listen events.
fn run_duckdb(dir: &Path, date: NaiveDate, row_group_rows: usize, file_rows: usize) -> Result<DuckDbRun, String> {
    let python = python();
    if !python.exists() {
        return Err(format!("no Python at {} (set MOOVITAMIX_PYTHON, or: python3 -m venv .tools/venv-readers && .tools/venv-readers/bin/pip install duckdb)", python.display()));
    }
    let out = dir.join("duckdb-out");
    std::fs::create_dir_all(&out).map_err(|e| e.to_string())?;
    // Every committed part, under its run folder (`dt=D/run=<id>/`); the bench commits one run a date.
    let raw = |entity: &str| format!("{}/raw/{entity}/dt={date}/**/*.jsonl.gz", dir.display());
    let out = out.display();
    let sql = format!(
        "COPY (SELECT id, name, artist, songwriters, duration,
    CASE WHEN regexp_full_match(duration, '[0-9]{{2,}}:[0-5][0-9]') THEN CAST(split_part(duration, ':', 1) AS INTEGER) * 60 + CAST(split_part(duration, ':', 2) AS INTEGER) END AS duration_seconds,
    genres, nullif(lower(trim(genres)), '') AS genres_normalized, album,
    CAST(created_at AS TIMESTAMP) AS created_at, CAST(updated_at AS TIMESTAMP) AS updated_at,
    sha256(concat_ws('|', id, name, artist, songwriters, duration, genres, album, created_at, updated_at)) AS row_hash
  FROM read_json('{tracks}', format = 'newline_delimited', columns = {{id: 'BIGINT', name: 'VARCHAR', artist: 'VARCHAR', songwriters: 'VARCHAR', duration: 'VARCHAR', genres: 'VARCHAR', album: 'VARCHAR', created_at: 'VARCHAR', updated_at: 'VARCHAR'}})
  ORDER BY id) TO '{out}/tracks.parquet' (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE {row_group_rows});
COPY (SELECT id, NULL::VARCHAR AS first_name, NULL::VARCHAR AS last_name, sha256('{SALT}' || lower(trim(email))) AS email_hash,
    gender, favorite_genres, nullif(lower(trim(favorite_genres)), '') AS favorite_genres_normalized,
    CAST(created_at AS TIMESTAMP) AS created_at, CAST(updated_at AS TIMESTAMP) AS updated_at,
    sha256(concat_ws('|', id, email, gender, favorite_genres, created_at, updated_at)) AS row_hash
  FROM read_json('{users}', format = 'newline_delimited', columns = {{id: 'BIGINT', first_name: 'VARCHAR', last_name: 'VARCHAR', email: 'VARCHAR', gender: 'VARCHAR', favorite_genres: 'VARCHAR', created_at: 'VARCHAR', updated_at: 'VARCHAR'}})
  ORDER BY id) TO '{out}/users.parquet' (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE {row_group_rows});
COPY (SELECT * FROM (SELECT user_id, unnest(items) AS track_id, CAST(generate_subscripts(items, 1) - 1 AS INTEGER) AS position,
    CAST(created_at AS TIMESTAMP) AS created_at, CAST(updated_at AS TIMESTAMP) AS updated_at
  FROM read_json('{listens}', format = 'newline_delimited', columns = {{user_id: 'BIGINT', items: 'BIGINT[]', created_at: 'VARCHAR', updated_at: 'VARCHAR'}}))
  ORDER BY user_id, position) TO '{out}/listen_events.parquet' (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE {file_rows});
",
        tracks = raw("tracks"),
        users = raw("users"),
        listens = raw("listen_history"),
    );
    let mut child = Command::new(&python)
        .args(["-c", DRIVER])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", python.display()))?;
    child.stdin.take().expect("piped stdin").write_all(sql.as_bytes()).map_err(|e| e.to_string())?;
    let output = child.wait_with_output().map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(format!("{} failed: {}", python.display(), String::from_utf8_lossy(&output.stderr).trim()));
    }
    let v: serde_json::Value = serde_json::from_slice(&output.stdout).map_err(|e| format!("unreadable answer from DuckDB's driver: {e}"))?;
    Ok(DuckDbRun {
        version: v["version"].as_str().unwrap_or("?").to_owned(),
        seconds: v["seconds"].as_f64().unwrap_or(f64::NAN),
        peak_rss_mib: v["peak_rss_mib"].as_f64().unwrap_or(f64::NAN),
        threads: v["threads"].as_str().unwrap_or("?").to_owned(),
    })
}
