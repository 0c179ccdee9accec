//! Every crash point of every stage, on a local folder and on S3 (the loopback server): each
//! stage re-runs a committed date and is crashed before each of its store operations in turn,
//! then restarted (see `moovitamix_tests::crash`). Small data: the point is the count of cases.

use chrono::{Duration as Days, NaiveDate};
use moovitamix::commit::CommitSettings;
use moovitamix::config::Config;
use moovitamix::fetch::Fetcher;
use moovitamix::metrics::{MemorySink, Metrics};
use moovitamix::partition::Zone;
use moovitamix::recommend::Recommender;
use moovitamix::recommend::request::Request;
use moovitamix::records::Entity;
use moovitamix::simulator::{Dataset, RunningSimulator, SimulatorConfig};
use moovitamix::commit::{CommittedRun, read_committed};
use moovitamix::manifest::ObjectRole;
use moovitamix::partition::Partition;
use moovitamix::storage::{LocalStore, S3Store, ScriptedStore, Store};
use moovitamix::transform::Transformer;
use moovitamix::transform::raw_date::RawWriter;
use moovitamix_tests::crash::{Stage, enumerate};
use std::collections::HashMap;
use std::sync::Arc;

fn date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 21).unwrap()
}

fn sim() -> SimulatorConfig {
    SimulatorConfig { tracks: 40, users: 25, listens_per_user: 6, start_date: date(), date: date(), ..SimulatorConfig::default() }
}

/// Small parts and files, so that a run has many store operations to crash at.
const ENV: &[(&str, &str)] = &[("FETCH_PART_ROWS", "20"), ("TRANSFORM_ROW_GROUP_ROWS", "1024"), ("TRANSFORM_FILE_ROWS", "1024"), ("PII_SALT", "crash-salt")];

fn config(url: &str) -> Config {
    let env: HashMap<&str, &str> = ENV.iter().copied().chain([("SOURCE_API_URL", url)]).collect();
    Config::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap()
}

fn metrics(function: &'static str) -> Metrics {
    Metrics::new(function, "MooVitamix/Test", Arc::new(MemorySink::default()))
}

fn transformer(store: Arc<dyn Store>, commit: CommitSettings) -> Transformer {
    Transformer { commit, ..moovitamix_tests::jobs("http://127.0.0.1:1", store, ENV).transformer }
}

/// The date's raw commit, as fetch would write it.
async fn raw(store: Arc<dyn Store>) {
    let dataset = Dataset::new(&sim());
    // A fixed fetch time: transform's `ingested_at` comes from it, and the bytes are compared.
    let fetched_at = moovitamix::transform::as_of(date()) + Days::hours(6);
    let mut w = RawWriter::new(store, date(), "fetch-seed", fetched_at, 20).await.unwrap();
    for entity in Entity::ALL {
        w.entity(entity, dataset.rows(entity.as_str())).await.unwrap();
    }
    w.commit(fetched_at + Days::minutes(5)).await.unwrap();
}

async fn local() -> Arc<dyn Store> {
    Arc::new(LocalStore::new(tempfile::tempdir().unwrap().keep()))
}

fn owned(prefixes: &[&str]) -> Vec<String> {
    prefixes.iter().map(|p| p.to_string()).collect()
}

async fn transform_crash_points(fresh: impl AsyncFn() -> Arc<dyn Store>) {
    let stage = Stage { name: "transform", zone: Zone::Curated, date: date(), owned: owned(&["curated/", "quarantine/curated_"]) };
    let seed = async |store: Arc<dyn Store>| {
        raw(store.clone()).await;
        transformer(store, moovitamix_tests::crash::settings(std::time::Duration::ZERO)).run(date(), "previous").await.unwrap();
    };
    let run = async |store: Arc<dyn Store>, run_id: String, commit: CommitSettings| {
        transformer(store, commit).run(date(), &run_id).await.map(drop).map_err(|e| e.to_string())
    };
    let report = enumerate(&stage, fresh, seed, run).await;
    println!("transform: {} store operations, {} crash points enumerated and restarted", report.operations, report.crashes);
}

async fn fetch_crash_points(fresh: impl AsyncFn() -> Arc<dyn Store>) {
    let sim = RunningSimulator::start(sim()).await.unwrap();
    let fetcher = |store: Arc<dyn Store>, commit: CommitSettings| Fetcher { commit, ..moovitamix_tests::jobs(&sim.url(), store, ENV).fetcher };
    let stage = Stage { name: "fetch", zone: Zone::Raw, date: date(), owned: owned(&["raw/", "quarantine/tracks/", "quarantine/users/", "quarantine/listen_history/"]) };
    let seed = async |store: Arc<dyn Store>| {
        fetcher(store, moovitamix_tests::crash::settings(std::time::Duration::ZERO)).run(date(), "previous").await.unwrap();
    };
    let run = async |store: Arc<dyn Store>, run_id: String, commit: CommitSettings| fetcher(store, commit).run(date(), &run_id).await.map(drop).map_err(|e| e.to_string());
    let report = enumerate(&stage, fresh, seed, run).await;
    println!("fetch: {} store operations, {} crash points enumerated and restarted", report.operations, report.crashes);
    sim.shutdown().await;
}

async fn recommend_crash_points(fresh: impl AsyncFn() -> Arc<dyn Store>) {
    let recommender = |store: Arc<dyn Store>, commit: CommitSettings| Recommender { store, metrics: metrics("recommend"), config: config("http://127.0.0.1:1").recommend, commit };
    let stage = Stage { name: "recommend (score)", zone: Zone::Recommendations, date: date(), owned: owned(&["recommendations/"]) };
    let seed = async |store: Arc<dyn Store>| {
        raw(store.clone()).await;
        let zero = moovitamix_tests::crash::settings(std::time::Duration::ZERO);
        transformer(store.clone(), zero.clone()).run(date(), "transform-seed").await.unwrap();
        recommender(store, zero).run(Request::Score { date: date() }, "previous").await.unwrap();
    };
    let run = async |store: Arc<dyn Store>, run_id: String, commit: CommitSettings| {
        recommender(store, commit).run(Request::Score { date: date() }, &run_id).await.map(drop).map_err(|e| e.to_string())
    };
    let report = enumerate(&stage, fresh, seed, run).await;
    println!("recommend: {} store operations, {} crash points enumerated and restarted", report.operations, report.crashes);
}

#[tokio::test]
async fn transform_survives_every_crash_point_on_a_local_folder() {
    transform_crash_points(local).await;
}

#[tokio::test]
async fn fetch_survives_every_crash_point_on_a_local_folder() {
    fetch_crash_points(local).await;
}

#[tokio::test]
async fn recommend_survives_every_crash_point_on_a_local_folder() {
    recommend_crash_points(local).await;
}

#[tokio::test]
#[cfg_attr(not(loopback_aws), ignore = "needs the loopback AWS server: AWS_ENDPOINT_URL (bash tests/run.sh starts LocalStack)")]
async fn every_stage_survives_every_crash_point_on_s3() {
    let Some(aws) = moovitamix_tests::aws::loopback_aws() else { return };
    let bucket = aws.fresh_bucket("crash").await;
    let counter = std::sync::atomic::AtomicU64::new(0);
    let fresh = async || -> Arc<dyn Store> {
        let n = counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let store: Arc<dyn Store> = Arc::new(S3Store::new(aws.s3(), bucket.clone(), format!("case-{n}")));
        store
    };
    transform_crash_points(&fresh).await;
    fetch_crash_points(&fresh).await;
    recommend_crash_points(&fresh).await;
}

/// The query layer after a crash mid-re-run: transform re-runs a committed date and is crashed
/// before each of its store operations in turn; DuckDB then reads each table the README's way
/// (the symlink manifests) and must see exactly one commit's files, whole: the previous one, or
/// the crashed run's when it got past its switch. A double count of old and new parts, a missing
/// file or a partial set fails.
#[tokio::test]
async fn the_documented_duckdb_query_sees_one_whole_commit_after_every_crash() {
    let Some(python) = moovitamix_tests::duckdb_python() else { return };
    let seed = async |store: Arc<dyn Store>| {
        raw(store.clone()).await;
        transformer(store, moovitamix_tests::crash::settings(std::time::Duration::ZERO)).run(date(), "previous").await.unwrap();
    };
    let counting = Arc::new(ScriptedStore::new(local().await));
    seed(counting.clone()).await;
    counting.reset();
    transformer(counting.clone(), moovitamix_tests::crash::settings(std::time::Duration::from_secs(3600))).run(date(), "reference").await.unwrap();
    let operations = counting.ops();

    let mut cases = Vec::new();
    for k in 1..=operations {
        let dir = tempfile::tempdir().unwrap();
        let inner: Arc<dyn Store> = Arc::new(LocalStore::new(dir.path().to_path_buf()));
        seed(inner.clone()).await;
        let previous = read_committed(inner.as_ref(), Zone::Curated, date()).await.unwrap();
        let scripted = Arc::new(ScriptedStore::new(inner.clone()));
        scripted.crash_before(k);
        let _ = transformer(scripted, moovitamix_tests::crash::settings(std::time::Duration::from_secs(3600))).run(date(), &format!("crash-{k}")).await;
        let now = read_committed(inner.as_ref(), Zone::Curated, date()).await.unwrap();
        cases.push((k, dir, previous, now));
    }

    let script = r#"
import duckdb, json, sys
out = []
for root in sys.argv[1:]:
    con = duckdb.connect()
    seen = {}
    for table in ["tracks", "users", "listen_events", "listen_events_delta"]:
        con.execute(f"SET VARIABLE t = (SELECT list(column0) FROM read_csv('{root}/curated/{table}/_symlink_format_manifest/*/manifest', header = false, columns = {{'column0': 'VARCHAR'}}))")
        rows = con.execute("SELECT filename, count(*) FROM read_parquet(getvariable('t'), hive_partitioning = true, filename = true) GROUP BY filename").fetchall()
        seen[table] = {f: n for f, n in rows}
    out.append(seen)
print(json.dumps(out))
"#;
    let output = std::process::Command::new(&python)
        .args(["-c", script])
        .args(cases.iter().map(|(_, dir, ..)| dir.path().to_owned()))
        .output()
        .unwrap();
    assert!(output.status.success(), "DuckDB failed: {}", String::from_utf8_lossy(&output.stderr));
    let seen: Vec<HashMap<String, HashMap<String, u64>>> = serde_json::from_slice(&output.stdout).unwrap();

    for ((k, dir, previous, now), seen) in cases.iter().zip(seen) {
        let local = LocalStore::new(dir.path().to_path_buf());
        // The files and row counts of a table's partition in one commit, as DuckDB names them.
        let files = |run: &CommittedRun, table: &str| -> Option<HashMap<String, u64>> {
            let m = run.partition(&Partition::new(Zone::Curated, table, date()))?;
            Some(m.objects.iter().filter(|o| o.role == ObjectRole::Data).map(|o| (local.url_of(&o.key), o.rows)).collect())
        };
        for (table, got) in &seen {
            let candidates: Vec<HashMap<String, u64>> = [Some(previous), (now.run.run_id != previous.run.run_id).then_some(now)].into_iter().flatten().filter_map(|run| files(run, table)).collect();
            assert!(candidates.contains(got), "crash before operation {k} of {operations}: DuckDB read {table} as {got:?}, not one commit's files {candidates:?}");
        }
    }
    println!("query layer: {operations} crash points of transform, each read back by DuckDB through the symlink manifests");
}
