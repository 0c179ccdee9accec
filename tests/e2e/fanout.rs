//! The fanned-out run equals the whole run: for B in {1, 4, 16} buckets over several simulated
//! days (with malformed rows, so quarantine and carried-forward users are in play), fetch writes
//! the listen history in B buckets, transform and then scoring run each bucket in a child process
//! of the `moovitamix` program (the local fan-out runner, one child of each failing once and
//! retried), the parent plans and commits; tracks and users are byte-identical to the whole
//! run's, the listen tables and the recommendations hold the same rows (read back by the code and
//! by DuckDB), and the data-quality report is the same.

use chrono::{DateTime, Days, NaiveDate, Utc};
use moovitamix::buckets::Bucket;
use moovitamix::commit::{CommitSettings, ManualClock, read_committed};
use moovitamix::config::{Config, Secret};
use moovitamix::fanout::{ChildReport, FAIL_ONCE_VARIABLE, FannedRun, LocalFanout};
use moovitamix::fetch::Fetcher;
use moovitamix::manifest::{ObjectEntry, ObjectRole};
use moovitamix::metrics::{MemorySink, Metrics};
use moovitamix::partition::{Partition, Zone};
use moovitamix::recommend::request::Request;
use moovitamix::recommend::{Recommender, read_recommendations};
use moovitamix::simulator::{Evolution, Faults, RunningSimulator, SimulatorConfig};
use moovitamix::storage::{LocalStore, Store};
use moovitamix::curated::{ListenEvent, Recommendation, TableName};
use moovitamix::transform::pii::Pii;
use moovitamix::transform::{Transformer, read_curated};
use serde_json::Value;
use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

const DAYS: u64 = 3;

fn day(k: u64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 1).unwrap() + Days::new(k)
}

fn sim_config() -> SimulatorConfig {
    SimulatorConfig {
        tracks: 300,
        users: 400,
        start_date: day(0),
        date: day(0),
        evolution: Evolution { changed: 0.1, added: 0.05, removed: 0.05, listens_added: 0.3 },
        faults: Faults { malformed_rate: 0.01, ..Faults::default() },
        ..SimulatorConfig::default()
    }
}

/// The `moovitamix` program the children run, built once.
fn program() -> PathBuf {
    let root = moovitamix_tests::events::workspace_root();
    let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    build.current_dir(&root).args(["build", "-p", "moovitamix", "--bin", "moovitamix"]);
    for k in moovitamix_tests::cargo_test_variables() {
        build.env_remove(k);
    }
    assert!(build.status().unwrap().success(), "cargo build of the moovitamix program failed");
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    target.join("debug").join("moovitamix")
}

struct Jobs {
    fetcher: Fetcher,
    transformer: Transformer,
    recommender: Recommender,
}

/// The jobs on `store`, fetch writing `buckets` buckets; every clock of fetch fixed per day, so
/// that two pipelines fetch the same bytes (`ingested_at` is the fetch's start).
fn jobs(url: &str, store: Arc<dyn Store>, buckets: u32, at: DateTime<Utc>) -> Jobs {
    let b = buckets.to_string();
    let env: HashMap<&str, &str> = [("SOURCE_API_URL", url), ("FETCH_CONCURRENCY", "4"), ("DQ_MAX_ROW_COUNT_CHANGE", "1"), ("LISTEN_BUCKETS", b.as_str()), ("FETCH_PART_ROWS", "50"), ("RETRAIN_NEW_LISTENS_SHARE", "1000")].into();
    let config = Config::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap();
    let metrics = |function| Metrics::new(function, "MooVitamix/Test", Arc::new(MemorySink::default()));
    let fixed = CommitSettings { clock: Arc::new(ManualClock::new(at)), ..CommitSettings::default() };
    Jobs {
        fetcher: Fetcher {
            store: store.clone(),
            source: moovitamix::source::SourceClient::new(config.source.clone()).unwrap(),
            metrics: metrics("fetch"),
            part_rows: config.part_rows,
            limits: config.fetch,
            commit: fixed,
        },
        transformer: Transformer { store: store.clone(), metrics: metrics("transform"), pii: Pii::new(Secret::new("e2e-salt"), false), config: config.transform, commit: CommitSettings::default() },
        recommender: Recommender { store, metrics: metrics("recommend"), config: config.recommend, commit: CommitSettings::default() },
    }
}

/// Runs days 0..DAYS into `data`: whole when `fanout` is `None`, else fanned out over `buckets`.
async fn pipeline(data: &Path, buckets: u32, fanout: Option<LocalFanout>) {
    let store: Arc<dyn Store> = Arc::new(LocalStore::new(data.to_path_buf()));
    let sim = RunningSimulator::start(sim_config()).await.unwrap();
    for k in 0..DAYS {
        sim.control().set_date(day(k));
        let at = day(k).and_hms_opt(6, 0, 0).unwrap().and_utc();
        let j = jobs(&sim.url(), store.clone(), buckets, at);
        j.fetcher.run(day(k), &format!("fetch-{k}")).await.unwrap();
        match &fanout {
            None => drop(j.transformer.run(day(k), &format!("transform-{k}")).await.unwrap()),
            Some(runner) => {
                let fanned = runner.transform(&j.transformer, day(k), (&format!("transform-{k}")).into()).await.unwrap();
                children_report_what_they_read(&fanned, buckets, fanned.summary.tables[&TableName::ListenEvents].rows_in);
            }
        }
        match &fanout {
            None => drop(j.recommender.run(Request::Score { date: day(k) }, &format!("recommend-{k}")).await.unwrap()),
            Some(runner) => {
                let fanned = runner.score(&j.recommender, day(k), (&format!("recommend-{k}")).into()).await.unwrap();
                let listens = read_curated::<ListenEvent>(store.clone(), day(k), TableName::ListenEvents).await.unwrap().len() as u64;
                children_report_what_they_read(&fanned, buckets, listens);
                let s = &fanned.summary;
                assert_eq!(s.users, s.cf_trained + s.cf_folded_in + s.cold_start);
                // Trained on day 0 only (RETRAIN_NEW_LISTENS_SHARE): later days fold the users whose listens changed in.
                assert_eq!(s.trained.is_some(), k == 0, "day {k}");
                assert!(k == 0 || s.cf_folded_in > 0, "day {k}: {} folded in", s.cf_folded_in);
            }
        }
    }
    sim.shutdown().await;
}

/// Every bucket's child reported once, after its attempts (bucket 0 fails once, on purpose),
/// and the listen items the children read add up to the date's (`items`).
fn children_report_what_they_read<S>(fanned: &FannedRun<S>, buckets: u32, items: u64) {
    let seen: Vec<Bucket> = fanned.children.iter().map(|c| c.bucket).collect();
    assert_eq!(seen, Bucket::all(buckets).collect::<Vec<_>>(), "one child run per bucket, in order");
    let attempts: Vec<u32> = fanned.children.iter().map(|c| c.attempts).collect();
    assert_eq!(attempts[0], 2, "bucket 0's child failed once and was retried: {attempts:?}");
    assert!(attempts[1..].iter().all(|&a| a == 1), "{attempts:?}");
    let reports: Vec<&ChildReport> = fanned.children.iter().map(|c| c.report.as_ref().expect("every child reports")).collect();
    assert!(reports.iter().zip(&seen).all(|(r, b)| (r.bucket, r.buckets) == (b.index, b.count) && r.peak_rss_mib.is_some_and(|p| p > 0.0)), "{reports:?}");
    let read: u64 = reports.iter().map(|r| r.listen_items).sum();
    assert_eq!(read, items, "the children's listen items are the date's");
}

fn store(data: &Path) -> Arc<dyn Store> {
    Arc::new(LocalStore::new(data.to_path_buf()))
}

/// The committed data objects of a curated table: (SHA-256, rows) in order.
async fn data_objects(data: &Path, zone: Zone, table: &str, date: NaiveDate) -> Vec<(String, String, u64)> {
    let committed = read_committed(store(data).as_ref(), zone, date).await.unwrap();
    let m = committed.partition(&Partition::new(zone, table, date)).unwrap();
    m.objects.iter().filter(|o| o.role == ObjectRole::Data).map(|o| (o.key.clone(), o.sha256.clone(), o.rows)).collect()
}

async fn listen_rows(data: &Path, table: TableName, date: NaiveDate) -> Vec<String> {
    let mut rows: Vec<String> = read_curated::<ListenEvent>(store(data), date, table).await.unwrap().into_iter().map(|e| format!("{e:?}")).collect();
    rows.sort();
    rows
}

/// A recommendation without its model version (each pipeline trains its own, of another id).
fn recommendation(r: &Recommendation) -> String {
    format!("{} {} {} {} {:?}", r.user_id, r.rank, r.track_id, r.score, r.reason)
}

async fn recommendation_rows(data: &Path, date: NaiveDate) -> Vec<String> {
    let mut rows: Vec<String> = read_recommendations(store(data), date).await.unwrap().iter().map(recommendation).collect();
    rows.sort();
    rows
}

/// The rows of every JSON-lines export the recommendations manifest lists (a fanned date has
/// one per bucket) in (user, rank) order, and how many exports.
async fn exported_rows(data: &Path, date: NaiveDate) -> (Vec<Recommendation>, usize) {
    let committed = read_committed(store(data).as_ref(), Zone::Recommendations, date).await.unwrap();
    let m = committed.partition(&Partition::new(Zone::Recommendations, "", date)).unwrap();
    let exports: Vec<&ObjectEntry> = m.objects.iter().filter(|o| o.role == ObjectRole::Export).collect();
    let mut rows: Vec<Recommendation> = Vec::new();
    for o in &exports {
        let mut text = String::new();
        flate2::read::GzDecoder::new(&std::fs::read(data.join(&o.key)).unwrap()[..]).read_to_string(&mut text).unwrap();
        rows.extend(text.lines().map(|l| serde_json::from_str::<Recommendation>(l).unwrap()));
    }
    rows.sort_by_key(|r| (r.user_id, r.rank));
    (rows, exports.len())
}

/// The exports hold the rows `parquet` holds: the same lists, scores equal but for the last bit
/// that serde_json's parser (without `float_roundtrip`) may round differently.
fn same_as_exported(exported: &[Recommendation], mut parquet: Vec<Recommendation>) -> bool {
    parquet.sort_by_key(|r| (r.user_id, r.rank));
    exported.len() == parquet.len()
        && exported.iter().zip(&parquet).all(|(e, p)| {
            (e.user_id, e.rank, e.track_id, e.reason) == (p.user_id, p.rank, p.track_id, p.reason) && (e.score - p.score).abs() <= 1e-12 * p.score.abs().max(1e-300)
        })
}

/// The run manifest's data-quality report, without what depends on the run's timing.
async fn dq_report(data: &Path, date: NaiveDate) -> Value {
    let committed = read_committed(store(data).as_ref(), Zone::Curated, date).await.unwrap();
    committed.run.details["dq_report"].clone()
}

/// Every raw listen-history line of a date, and the bucket each object says it holds.
async fn raw_listen_lines(data: &Path, date: NaiveDate) -> Vec<(Bucket, Vec<String>)> {
    let committed = read_committed(store(data).as_ref(), Zone::Raw, date).await.unwrap();
    let m = committed.partition(&Partition::new(Zone::Raw, "listen_history", date)).unwrap();
    let mut out = Vec::new();
    for o in m.objects.iter().filter(|o| o.role == ObjectRole::Data) {
        let gz = std::fs::read(data.join(&o.key)).unwrap();
        let mut text = String::new();
        flate2::read::GzDecoder::new(&gz[..]).read_to_string(&mut text).unwrap();
        out.push((Bucket::of_key(&o.key), text.lines().map(str::to_owned).collect()));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fanned_out_runs_equal_the_whole_run_including_a_retried_child() {
    let program = program();
    let root = tempfile::tempdir().unwrap();
    let whole = root.path().join("whole");
    pipeline(&whole, 1, None).await;

    for (buckets, workers) in [(1, 1), (4, 2), (16, 3)] {
        let data = root.path().join(format!("b{buckets}"));
        // Bucket 0 fails once after writing everything; the runner clears it and retries.
        let env = vec![("DATA_URL".to_owned(), data.display().to_string()), (FAIL_ONCE_VARIABLE.to_owned(), "0".to_owned())];
        let runner = LocalFanout { program: program.clone(), workers, attempts: 2, env };
        pipeline(&data, buckets, Some(runner)).await;

        for k in 0..DAYS {
            let date = day(k);
            let what = format!("{buckets} buckets, {date}");
            // Raw: the same lines, each in its user's bucket; one bucket is today's layout.
            let (raw_whole, raw) = (raw_listen_lines(&whole, date).await, raw_listen_lines(&data, date).await);
            if buckets == 1 {
                assert_eq!(raw, raw_whole, "{what}: one bucket is the layout without buckets, line for line");
            }
            assert!(raw.len() as u32 >= buckets, "{what}: every bucket has a part");
            for (bucket, lines) in &raw {
                assert_eq!(bucket.count, buckets, "{what}");
                for line in lines {
                    let user = serde_json::from_str::<Value>(line).unwrap()["user_id"].as_i64().unwrap();
                    assert!(bucket.contains(user), "{what}: user {user} in {bucket}");
                }
            }
            let sorted = |r: Vec<(Bucket, Vec<String>)>| {
                let mut all: Vec<String> = r.into_iter().flat_map(|(_, l)| l).collect();
                all.sort();
                all
            };
            assert_eq!(sorted(raw), sorted(raw_whole), "{what}: the same raw lines");

            // Tracks and users: the same bytes.
            for table in [TableName::Tracks, TableName::Users] {
                let strip = |v: Vec<(String, String, u64)>| v.into_iter().map(|(_, sha, rows)| (sha, rows)).collect::<Vec<_>>();
                assert_eq!(strip(data_objects(&data, Zone::Curated, table.as_str(), date).await), strip(data_objects(&whole, Zone::Curated, table.as_str(), date).await), "{what}: {table}");
            }
            // Listen tables: the same rows; one file set per bucket.
            for table in [TableName::ListenEvents, TableName::ListenEventsDelta] {
                let rows = listen_rows(&data, table, date).await;
                assert!(!rows.is_empty() || table == TableName::ListenEventsDelta, "{what}: {table} has rows");
                assert_eq!(rows, listen_rows(&whole, table, date).await, "{what}: {table}");
                let objects = data_objects(&data, Zone::Curated, table.as_str(), date).await;
                assert_eq!(moovitamix::buckets::count_of(objects.iter().map(|o| o.0.as_str())), Ok(buckets), "{what}: {table} layout");
            }
            assert_eq!(dq_report(&data, date).await, dq_report(&whole, date).await, "{what}: the data-quality report");
            assert_eq!(recommendation_rows(&data, date).await, recommendation_rows(&whole, date).await, "{what}: recommendations");
            let objects = data_objects(&data, Zone::Recommendations, "", date).await;
            assert_eq!(moovitamix::buckets::count_of(objects.iter().map(|o| o.0.as_str())), Ok(buckets), "{what}: recommendations layout");
            let (exported, exports) = exported_rows(&data, date).await;
            assert_eq!(exports, buckets as usize, "{what}: one export per bucket");
            assert!(same_as_exported(&exported, read_recommendations(store(&whole), date).await.unwrap()), "{what}: the manifest's exports hold every row of the whole scoring");
        }
        // The state machine's plan step answers what its Choice and Map read (infra/template.yaml).
        let j = jobs("http://127.0.0.1:9", store(&data), buckets, Utc::now());
        let event = serde_json::json!({"fanout": "plan", "event": {"date": day(DAYS - 1)}});
        let answer = j.transformer.handle_step(&event, moovitamix::job::Invocation::new()).await.unwrap().unwrap();
        match buckets {
            1 => assert_eq!(answer, serde_json::json!({"date": day(DAYS - 1), "fanned": false})),
            b => {
                assert_eq!((&answer["fanned"], &answer["count"]), (&Value::Bool(true), &Value::from(b)), "{answer}");
                assert_eq!(answer["buckets"], Value::from((0..b).collect::<Vec<u32>>()));
            }
        }
        // The scoring's plan step answers the same, from the curated date's buckets.
        let scoring = j.recommender.handle_step(&event, moovitamix::job::Invocation::new()).await.unwrap().unwrap();
        assert_eq!((&scoring["fanned"], &scoring["count"], &scoring["buckets"]), (&answer["fanned"], &answer["count"], &answer["buckets"]), "{scoring}");
        // Those plans are runs that never commit: their records stay until the orphan clean-up.
        let plan_runs: Vec<&str> = [&answer, &scoring].iter().filter_map(|a| a["run_id"].as_str()).collect();
        // The fan-out's records are gone after the commits.
        let mut records = store(&data).list("curated/listen_events/").await.unwrap();
        records.extend(store(&data).list("recommendations/").await.unwrap());
        records.retain(|o| o.key.contains("_fanout/") && !plan_runs.iter().any(|r| o.key.contains(r)));
        assert!(records.is_empty(), "{records:?}");
        check_with_duckdb(&whole, &data);
    }
    let report = dq_report(&whole, day(DAYS - 1)).await;
    let listen = &report["tables"]["listen_events"];
    assert!(listen["upstream_rejected"].as_u64().unwrap() > 0 && listen["carried_forward"].as_u64().unwrap() > 0, "the days exercise rejected and carried rows: {listen}");
}

/// DuckDB, an independent reader, reads the same rows from both data folders through the symlink
/// manifests (the README's recipe), per table and date.
fn check_with_duckdb(whole: &Path, fanned: &Path) {
    let Some(python) = moovitamix_tests::duckdb_python() else { return };
    let script = r#"
import duckdb, sys
con = duckdb.connect()
def rows(root, table):
    files = con.execute(f"SELECT list(column0) FROM read_csv('{root}/{table}/_symlink_format_manifest/*/manifest', header = false, columns = {{'column0': 'VARCHAR'}})").fetchone()[0]
    drop = " EXCLUDE (model_version, run)" if table == "recommendations" else " EXCLUDE (run)"
    return con.execute(f"SELECT md5(string_agg(r, '|' ORDER BY r)), count(*) FROM (SELECT CAST(to_json(t) AS VARCHAR) AS r FROM (SELECT *{drop} FROM read_parquet({files}, hive_partitioning = true)) t)").fetchone()
for table in ["curated/tracks", "curated/users", "curated/listen_events", "curated/listen_events_delta", "recommendations"]:
    a, b = rows(sys.argv[1], table), rows(sys.argv[2], table)
    assert a == b and a[1] > 0, (table, a, b)
print("same")
"#;
    let output = Command::new(&python).args(["-c", script]).arg(whole).arg(fanned).output().unwrap();
    assert!(output.status.success(), "DuckDB: {}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "same");
}
