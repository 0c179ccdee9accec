//! The transform job end to end: the simulator evolving over several days, fetched and
//! transformed day by day; history tables and listen deltas checked against what the source
//! served; the Parquet files read back by DuckDB (an independent reader); the same run on S3.

use chrono::{DateTime, Days, NaiveDate, Utc};
use moovitamix::commit::read_committed;
use moovitamix::manifest::ObjectRole;
use moovitamix::partition::Zone;
use moovitamix::simulator::{Dataset, Evolution, RunningSimulator, SimulatorConfig};
use moovitamix::storage::{LocalStore, S3Store, Store};
use moovitamix::curated::{ListenEvent, TableName, TrackRow, UserRow, Version};
use moovitamix::transform::{as_of, read_curated};
use moovitamix_tests::{Jobs, jobs};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

/// The jobs' settings over the defaults: every day's change accepted.
const ENV: &[(&str, &str)] = &[("FETCH_CONCURRENCY", "4"), ("DQ_MAX_ROW_COUNT_CHANGE", "1")];

const DAYS: u64 = 3;

fn start() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()
}

fn day(k: u64) -> NaiveDate {
    start() + Days::new(k)
}

/// A small source that changes a lot from day to day, so three days exercise every SCD2 path.
fn sim_config() -> SimulatorConfig {
    SimulatorConfig {
        tracks: 300,
        users: 200,
        start_date: start(),
        date: start(),
        evolution: Evolution { changed: 0.1, added: 0.05, removed: 0.05, listens_added: 0.3 },
        ..SimulatorConfig::default()
    }
}

fn served(k: u64, entity: &str) -> Vec<Value> {
    Dataset::new(&SimulatorConfig { date: day(k), ..sim_config() }).rows(entity).collect()
}

/// Fetches and transforms days 0..DAYS from a simulator evolving day by day.
async fn run_days(store: Arc<dyn Store>) {
    let sim = RunningSimulator::start(sim_config()).await.unwrap();
    let Jobs { fetcher, transformer, .. } = jobs(&sim.url(), store, ENV);
    for k in 0..DAYS {
        sim.control().set_date(day(k));
        fetcher.run(day(k), &format!("fetch-{k}")).await.unwrap();
        let summary = transformer.run(day(k), &format!("transform-{k}")).await.unwrap();
        assert_eq!(summary.previous_date, k.checked_sub(1).map(day), "day {k} starts from the day before");
    }
    sim.shutdown().await;
}

fn text(v: &Value, field: &str) -> Option<String> {
    v[field].as_str().map(str::to_owned)
}

/// Checks one history table against the snapshots served: per id, versions that tile time
/// without gaps or overlaps, the current one equal to the last snapshot, and absent ids closed.
fn check_history<R>(history: &[Version<R>], k: u64, key: fn(&R) -> i64, served_ids: &dyn Fn(u64) -> BTreeSet<i64>) {
    let mut by_id: BTreeMap<i64, Vec<&Version<R>>> = BTreeMap::new();
    for v in history {
        by_id.entry(key(&v.row)).or_default().push(v);
    }
    let current: BTreeSet<i64> = by_id.iter().filter(|(_, vs)| vs.iter().any(|v| v.is_current())).map(|(id, _)| *id).collect();
    assert_eq!(current, served_ids(k), "day {k}: the current rows are exactly the ids served that day");
    for (id, versions) in &by_id {
        assert!(versions.iter().filter(|v| v.is_current()).count() <= 1, "id {id}: at most one current version");
        for pair in versions.windows(2) {
            let closed = pair[0].valid_to.unwrap_or_else(|| panic!("id {id}: a version before the last is closed"));
            assert!(closed <= pair[1].valid_from, "id {id}: versions overlap");
        }
        for v in versions {
            if let Some(to) = v.valid_to {
                assert!(v.valid_from < to, "id {id}: a version is open for some time");
                let closed_on = (0..=k).find(|d| as_of(day(*d)) == to).expect("versions close at a run's as_of");
                assert!(closed_on > 0, "id {id}: nothing closes on the first date");
            }
        }
    }
    // An id served yesterday and not today was closed today.
    if k > 0 {
        for gone in served_ids(k - 1).difference(&served_ids(k)) {
            let last = by_id[gone].last().unwrap();
            assert_eq!(last.valid_to, Some(as_of(day(k))), "id {gone} left on day {k} and is closed then");
        }
    }
}

fn ids(k: u64, entity: &str, field: &str) -> BTreeSet<i64> {
    served(k, entity).iter().filter_map(|r| r[field].as_i64()).collect()
}

fn pairs(events: &[ListenEvent]) -> BTreeSet<(i64, i64)> {
    events.iter().map(|e| (e.user_id, e.track_id)).collect()
}

#[tokio::test]
async fn three_evolving_days_give_history_tables_and_listen_deltas() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(LocalStore::new(dir.path().to_path_buf()));
    run_days(store.clone()).await;

    let mut changed_tracks = 0;
    for k in 0..DAYS {
        let tracks: Vec<Version<TrackRow>> = read_curated(store.clone(), day(k), TableName::Tracks).await.unwrap();
        check_history(&tracks, k, |r| r.id, &|d| ids(d, "tracks", "id"));
        changed_tracks += tracks.iter().filter(|v| v.valid_from == as_of(day(k)) && k > 0).count();
        // Current versions carry the served values, typed.
        let today: HashMap<i64, Value> = served(k, "tracks").into_iter().map(|r| (r["id"].as_i64().unwrap(), r)).collect();
        for v in tracks.iter().filter(|v| v.is_current()) {
            let row = &today[&v.row.id];
            assert_eq!(v.row.name.as_deref().map(str::to_owned), text(row, "name"), "track {}", v.row.id);
            let duration = text(row, "duration").unwrap();
            let (m, s) = duration.split_once(':').unwrap();
            assert_eq!(v.row.duration_seconds, Some(m.parse::<i32>().unwrap() * 60 + s.parse::<i32>().unwrap()), "{duration}");
            let updated: DateTime<Utc> = format!("{}Z", text(row, "updated_at").unwrap()).parse().unwrap();
            assert_eq!(v.row.updated_at, updated);
        }

        let users: Vec<Version<UserRow>> = read_curated(store.clone(), day(k), TableName::Users).await.unwrap();
        check_history(&users, k, |r| r.id, &|d| ids(d, "users", "id"));
        assert!(users.iter().all(|v| v.row.first_name.is_none() && v.row.email_hash.is_some()), "no names, e-mails hashed");

        // listen_events is today's history flattened; the delta is what yesterday's did not hold.
        let events: Vec<ListenEvent> = read_curated(store.clone(), day(k), TableName::ListenEvents).await.unwrap();
        let expected: BTreeSet<(i64, i64)> = served(k, "listen_history")
            .iter()
            .flat_map(|r| {
                let user = r["user_id"].as_i64().unwrap();
                r["items"].as_array().unwrap().iter().map(move |t| (user, t.as_i64().unwrap())).collect::<Vec<_>>()
            })
            .collect();
        assert_eq!(pairs(&events), expected, "day {k}: every served (user, track) pair");
        let delta: Vec<ListenEvent> = read_curated(store.clone(), day(k), TableName::ListenEventsDelta).await.unwrap();
        let yesterday = match k {
            0 => BTreeSet::new(),
            _ => pairs(&read_curated::<ListenEvent>(store.clone(), day(k - 1), TableName::ListenEvents).await.unwrap()),
        };
        assert_eq!(pairs(&delta), &expected - &yesterday, "day {k}: the delta is the pairs not seen the day before");
        assert!(delta.iter().all(|e| e.is_new) && events.iter().filter(|e| e.is_new).count() == delta.len());
        if k > 0 {
            assert!(!delta.is_empty() && delta.len() < events.len(), "day {k}: histories grew, but not all of them");
        }
    }
    assert!(changed_tracks > 10, "the evolution changed, added or re-added tracks: {changed_tracks} versions opened");
    check_with_duckdb(dir.path()).await;
}


/// DuckDB reads the curated tables with Hive partitioning: column types as documented, and row
/// counts equal to what the manifests say.
async fn check_with_duckdb(data: &Path) {
    let Some(python) = moovitamix_tests::duckdb_python() else { return };
    let script = r#"
import duckdb, json, sys
root = sys.argv[1]
con = duckdb.connect()
def committed(table):
    # The README's recipe: the committed files of every date, from the symlink manifests.
    con.execute(f"SET VARIABLE {table} = (SELECT list(column0) FROM read_csv('{root}/curated/{table}/_symlink_format_manifest/*/manifest', header = false, columns = {{'column0': 'VARCHAR'}}))")
    return f"read_parquet(getvariable('{table}'), hive_partitioning = true)"
out = {}
for table in ["tracks", "users", "listen_events", "listen_events_delta"]:
    rel = committed(table)
    types = {name: str(kind) for name, kind, *_ in con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()}
    counts = {str(dt): n for dt, n in con.execute(f"SELECT dt, count(*) FROM {rel} GROUP BY dt").fetchall()}
    out[table] = {"types": types, "counts": counts}
out["current_tracks"] = con.execute(
    f"SELECT count(*) FROM {committed('tracks')} "
    f"WHERE dt = '{sys.argv[2]}' AND is_current"
).fetchone()[0]
print(json.dumps(out))
"#;
    let output = Command::new(&python).args(["-c", script]).arg(data).arg(day(DAYS - 1).to_string()).output().unwrap();
    assert!(output.status.success(), "DuckDB failed: {}", String::from_utf8_lossy(&output.stderr));
    let got: Value = serde_json::from_slice(&output.stdout).unwrap();

    let types = &got["tracks"]["types"];
    for (column, kind) in [
        ("id", "BIGINT"),
        ("duration", "VARCHAR"),
        ("duration_seconds", "INTEGER"),
        ("created_at", "TIMESTAMP WITH TIME ZONE"),
        ("valid_from", "TIMESTAMP WITH TIME ZONE"),
        ("valid_to", "TIMESTAMP WITH TIME ZONE"),
        ("is_current", "BOOLEAN"),
        ("row_hash", "VARCHAR"),
    ] {
        assert_eq!(types[column], kind, "tracks.{column} in {types}");
    }
    assert_eq!(got["users"]["types"]["email_hash"], "VARCHAR");
    assert!(got["users"]["types"].get("email").is_none(), "no e-mail column in curated users");
    let events = &got["listen_events"]["types"];
    assert_eq!((&events["user_id"], &events["track_id"], &events["position"]), (&"BIGINT".into(), &"BIGINT".into(), &"INTEGER".into()));

    // Row counts per partition, as the manifests recorded them.
    let store = LocalStore::new(data.to_path_buf());
    for k in 0..DAYS {
        let committed = read_committed(&store, Zone::Curated, day(k)).await.unwrap();
        for m in &committed.partitions {
            let table = m.partition.split('/').nth(1).unwrap();
            let rows: u64 = m.objects.iter().filter(|o| o.role == ObjectRole::Data).map(|o| o.rows).sum();
            assert_eq!(got[table]["counts"][day(k).to_string()], rows, "{table} dt={}", day(k));
        }
    }
    assert_eq!(got["current_tracks"], served(DAYS - 1, "tracks").len());
}

/// A date's curated rows without `ingested_at` (the wall-clock start of the fetch run).
async fn curated_rows(store: &Arc<dyn Store>, k: u64) -> (Vec<(TrackRow, DateTime<Utc>, Option<DateTime<Utc>>)>, Vec<UserRow>, Vec<ListenEvent>) {
    let tracks: Vec<Version<TrackRow>> = read_curated(store.clone(), day(k), TableName::Tracks).await.unwrap();
    let users: Vec<Version<UserRow>> = read_curated(store.clone(), day(k), TableName::Users).await.unwrap();
    let events = read_curated(store.clone(), day(k), TableName::ListenEvents).await.unwrap();
    (tracks.into_iter().map(|v| (v.row, v.valid_from, v.valid_to)).collect(), users.into_iter().map(|v| v.row).collect(), events)
}

#[tokio::test]
#[cfg_attr(not(loopback_aws), ignore = "needs the loopback AWS server: AWS_ENDPOINT_URL (bash tests/run.sh starts LocalStack)")]
async fn on_s3_the_same_days_give_the_same_tables() {
    let Some(aws) = moovitamix_tests::aws::loopback_aws() else { return };
    let bucket = aws.fresh_bucket("transform").await;
    let s3: Arc<dyn Store> = Arc::new(S3Store::new(aws.s3(), bucket.clone(), "pipeline".into()));
    run_days(s3.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let local: Arc<dyn Store> = Arc::new(LocalStore::new(dir.path().to_path_buf()));
    run_days(local.clone()).await;

    let listed = aws.s3().list_objects_v2().bucket(&bucket).prefix(format!("pipeline/curated/tracks/dt={}/", day(DAYS - 1))).send().await.unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert!(keys.iter().any(|k| k.ends_with(".parquet")) && keys.iter().any(|k| k.ends_with("/_manifest.json")), "{keys:?}");
    for k in 0..DAYS {
        assert!(curated_rows(&s3, k).await == curated_rows(&local, k).await, "day {k}: S3 and the local folder hold the same rows");
    }
    let users: Vec<Version<UserRow>> = read_curated(s3.clone(), day(DAYS - 1), TableName::Users).await.unwrap();
    check_history(&users, DAYS - 1, |r| r.id, &|d| ids(d, "users", "id"));
}
