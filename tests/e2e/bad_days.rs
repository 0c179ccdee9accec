//! Bad days never fake history: the simulator over several days, one of them bad, fetched and
//! transformed day by day, compared with the same days all good; DuckDB (an independent reader)
//! checks the history tables after the bad day. Also the gates that stop the line (fetch's
//! rejected share, transform's fall of current rows) and the logical date's checks.

use chrono::{DateTime, Days, NaiveDate, Utc};
use moovitamix::commit::read_committed;
use moovitamix::job::{Classified, Invocation};
use moovitamix::metrics::Metric;
use moovitamix::partition::Zone;
use moovitamix::simulator::{Dataset, Evolution, Faults, RunningSimulator, SimulatorConfig};
use moovitamix::storage::{LocalStore, Store};
use moovitamix::curated::{ListenEvent, TableName, TrackRow, UserRow, Version};
use moovitamix::transform::read_curated;
use moovitamix_tests::Jobs;
use serde_json::{Value, json};
use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

fn start() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()
}

fn day(k: u64) -> NaiveDate {
    start() + Days::new(k)
}

fn sim_config(evolution: Evolution) -> SimulatorConfig {
    SimulatorConfig { tracks: 400, users: 300, start_date: start(), date: start(), evolution, ..SimulatorConfig::default() }
}

/// The jobs over `store`, four pages in flight, with `overrides`.
fn jobs(url: &str, store: Arc<dyn Store>, overrides: &[(&str, &str)]) -> Jobs {
    moovitamix_tests::jobs(url, store, &[&[("FETCH_CONCURRENCY", "4")], overrides].concat())
}

/// Fetches and transforms days 0..faults.len(), day k served with `faults[k]`.
async fn run_days(store: Arc<dyn Store>, evolution: Evolution, faults: &[Faults]) {
    let sim = RunningSimulator::start(sim_config(evolution)).await.unwrap();
    let j = jobs(&sim.url(), store, &[]);
    for (k, f) in faults.iter().enumerate() {
        let k = k as u64;
        sim.control().set_date(day(k));
        sim.control().set_faults(f.clone());
        j.fetcher.run(day(k), &format!("fetch-{k}")).await.unwrap();
        j.transformer.run(day(k), &format!("transform-{k}")).await.unwrap();
    }
    sim.shutdown().await;
}

fn local() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(LocalStore::new(dir.path().to_path_buf()));
    (dir, store)
}

/// A date's history tables without `ingested_at` (the wall-clock start of each fetch run) and
/// without the carried-forward markers, each version as (key, valid_from, valid_to, row hash).
type Versions = Vec<(i64, DateTime<Utc>, Option<DateTime<Utc>>, String)>;

async fn history<R: Clone>(store: &Arc<dyn Store>, k: u64, table: TableName, key: fn(&R) -> i64, hash: fn(&R) -> String) -> (Versions, BTreeSet<i64>)
where
    Version<R>: moovitamix::codec::Table,
{
    let versions: Vec<Version<R>> = read_curated(store.clone(), day(k), table).await.unwrap();
    let carried = versions.iter().filter(|v| v.carried_forward).map(|v| key(&v.row)).collect();
    (versions.iter().map(|v| (key(&v.row), v.valid_from, v.valid_to, hash(&v.row))).collect(), carried)
}

async fn tracks(store: &Arc<dyn Store>, k: u64) -> (Versions, BTreeSet<i64>) {
    history::<TrackRow>(store, k, TableName::Tracks, |r| r.id, |r| r.row_hash.to_hex()).await
}

async fn users(store: &Arc<dyn Store>, k: u64) -> (Versions, BTreeSet<i64>) {
    history::<UserRow>(store, k, TableName::Users, |r| r.id, |r| r.row_hash.to_hex()).await
}

/// (user, track, position, created_at, is_new) of a date's events, and the carried ones.
async fn events(store: &Arc<dyn Store>, k: u64, table: TableName) -> (Vec<(i64, i64, i32, DateTime<Utc>, bool)>, usize) {
    let events: Vec<ListenEvent> = read_curated(store.clone(), day(k), table).await.unwrap();
    let carried = events.iter().filter(|e| e.carried_forward).count();
    (events.into_iter().map(|e| (e.user_id, e.track_id, e.position, e.created_at, e.is_new)).collect(), carried)
}

async fn dq_report(store: &Arc<dyn Store>, k: u64) -> Value {
    read_committed(store.as_ref(), Zone::Curated, day(k)).await.unwrap().run.details["dq_report"].clone()
}

fn without(rows: &Versions, keys: &BTreeSet<i64>) -> Versions {
    rows.iter().filter(|r| !keys.contains(&r.0)).cloned().collect()
}

/// The keys whose versions differ between two histories (short messages, not whole tables).
fn differing(a: &Versions, b: &Versions) -> BTreeSet<i64> {
    let (a, b): (BTreeSet<_>, BTreeSet<_>) = (a.iter().cloned().collect(), b.iter().cloned().collect());
    a.symmetric_difference(&b).map(|v| v.0).collect()
}

#[tokio::test]
async fn a_day_of_datetimes_in_other_forms_gives_the_history_of_a_good_day_with_warnings() {
    let bad = Faults { datetime_form_rate: 0.05, ..Faults::default() };
    let evolving = Evolution { changed: 0.1, added: 0.05, removed: 0.05, listens_added: 0.3 };
    let ((_a, with_bad), (_b, all_good)) = (local(), local());
    run_days(with_bad.clone(), evolving, &[Faults::default(), bad, Faults::default()]).await;
    run_days(all_good.clone(), evolving, &[Faults::default(), Faults::default(), Faults::default()]).await;

    for k in 1..3 {
        let (a, b) = (tracks(&with_bad, k).await, tracks(&all_good, k).await);
        assert!(a == b, "day {k}: tracks differ for ids {:?}", differing(&a.0, &b.0));
        let (a, b) = (users(&with_bad, k).await, users(&all_good, k).await);
        assert!(a == b, "day {k}: users differ for ids {:?}", differing(&a.0, &b.0));
        for table in [TableName::ListenEvents, TableName::ListenEventsDelta] {
            assert!(events(&with_bad, k, table).await == events(&all_good, k, table).await, "day {k}: {table} differ");
        }
    }
    // Only the warnings tell the bad day apart: every table's rows, none quarantined.
    let report = dq_report(&with_bad, 1).await;
    for table in [TableName::Tracks, TableName::Users, TableName::ListenEvents] {
        let t = &report["tables"][table.as_str()];
        let warned = t["warnings_by_check"]["datetime_form"].as_u64().unwrap_or(0);
        assert!(warned > 0, "{table}: the other forms are counted: {t}");
        assert_eq!((t["quarantined"].as_u64(), t["upstream_rejected"].as_u64(), t["carried_forward"].as_u64()), (Some(0), Some(0), Some(0)), "{table}");
    }
    assert!(dq_report(&all_good, 1).await["tables"][TableName::Users.as_str()]["warnings_by_check"].get("datetime_form").is_none());
}

#[tokio::test]
async fn a_bad_day_carries_rejected_keys_forward_and_the_next_good_day_restores_the_history() {
    // A source that does not change, so that two good days are the same day twice, and a bad day
    // (rows with an unparsable datetime, a mistyped field, items as text, or no readable key) in
    // the middle: about 2% of rows, under FETCH_MAX_REJECTED_SHARE.
    let bad = Faults { malformed_rate: 0.03, ..Faults::default() };
    let ((a_dir, with_bad), (_b, all_good)) = (local(), local());
    run_days(with_bad.clone(), Evolution::frozen(), &[Faults::default(), bad, Faults::default()]).await;
    run_days(all_good.clone(), Evolution::frozen(), &[Faults::default(), Faults::default(), Faults::default()]).await;

    let served = |entity: &str, field: &str| -> BTreeSet<i64> {
        Dataset::new(&sim_config(Evolution::frozen())).rows(entity).filter_map(|r| r[field].as_i64()).collect()
    };
    let report = dq_report(&with_bad, 1).await;
    let (mut uncarriable, mut served_changed) = (HashMap::new(), HashMap::new());
    for (table, rows, entity, field) in [
        (TableName::Tracks, tracks(&with_bad, 1).await, "tracks", "id"),
        (TableName::Users, users(&with_bad, 1).await, "users", "id"),
    ] {
        let t = &report["tables"][table.as_str()];
        let (rejected, carried, lost) = (t["upstream_rejected"].as_u64().unwrap(), t["carried_forward"].as_u64().unwrap(), t["uncarriable"].as_u64().unwrap());
        assert!(rejected > 0 && carried > 0, "{table}: the bad day rejected rows and carried keys: {t}");
        assert_eq!(carried + lost, rejected, "{table}: every rejected row is carried, or said to be uncarriable");
        assert_eq!(rows.1.len() as u64, carried, "{table}: the carried_forward column marks the carried keys");
        // Keys served but not current after the bad day are exactly the uncarriable ones.
        let current: BTreeSet<i64> = rows.0.iter().filter(|v| v.2.is_none()).map(|v| v.0).collect();
        let gone: BTreeSet<i64> = served(entity, field).difference(&current).copied().collect();
        assert_eq!(gone.len() as u64, lost, "{table}: only keys that could not be read were closed");
        // A row served with a null business field (a warning, not a rejection) is a change as
        // served: it opens a version on the bad day and another when the field comes back.
        let changed: BTreeSet<i64> = rows.0.iter().filter(|v| v.1 == moovitamix::transform::as_of(day(1))).map(|v| v.0).collect();
        let nulls = t["warnings_by_check"]["null_field"].as_u64().unwrap_or(0);
        assert!(changed.len() as u64 <= nulls, "{table}: only rows served differently open versions: {changed:?}");
        assert!(changed.is_disjoint(&gone));
        uncarriable.insert(table, gone);
        served_changed.insert(table, changed);
    }
    let listen = &report["tables"][TableName::ListenEvents.as_str()];
    assert!(listen["carried_forward"].as_u64().unwrap() > 0, "users' listens carried: {listen}");
    let (bad_day_events, carried_events) = events(&with_bad, 1, TableName::ListenEvents).await;
    assert!(carried_events > 0 && bad_day_events.len() > carried_events);
    let (bad_delta, carried_delta) = events(&with_bad, 1, TableName::ListenEventsDelta).await;
    assert_eq!(carried_delta, 0, "a carried pair is never new");
    // Every new pair of the bad day belongs to a key that could not be carried (the source did not change).
    let lost_tracks = &uncarriable[&TableName::Tracks];
    assert!(bad_delta.iter().all(|e| lost_tracks.contains(&e.1)) || bad_delta.is_empty(), "{bad_delta:?}");

    // After the good day, the history is that of two good days, but for the uncarriable keys.
    for (table, a, b) in [(TableName::Tracks, tracks(&with_bad, 2).await, tracks(&all_good, 2).await), (TableName::Users, users(&with_bad, 2).await, users(&all_good, 2).await)] {
        assert!(a.1.is_empty(), "{table}: nothing is carried after a good day");
        let excluded: BTreeSet<i64> = uncarriable[&table].union(&served_changed[&table]).copied().collect();
        let (a, b) = (without(&a.0, &excluded), without(&b.0, &excluded));
        assert!(a == b, "{table}: day 2 differs for ids {:?}", differing(&a, &b));
    }
    let (a_events, a_carried) = events(&with_bad, 2, TableName::ListenEvents).await;
    let (b_events, _) = events(&all_good, 2, TableName::ListenEvents).await;
    assert_eq!(a_carried, 0);
    let pairs = |e: &[(i64, i64, i32, DateTime<Utc>, bool)]| e.iter().map(|e| (e.0, e.1, e.2, e.3)).collect::<Vec<_>>();
    assert_eq!(pairs(&a_events), pairs(&b_events), "day 2: the same listen events");
    // Users with no events on the bad day that a good day had: their user row or their listen
    // row had no readable key (or their only tracks were lost). Only their pairs may come back
    // as new; any other pair in the next day's delta would be a faked one.
    let users_of = |e: &[(i64, i64, i32, DateTime<Utc>, bool)]| e.iter().map(|e| e.0).collect::<BTreeSet<i64>>();
    let lost_listeners: BTreeSet<i64> = users_of(&events(&all_good, 1, TableName::ListenEvents).await.0).difference(&users_of(&bad_day_events)).copied().collect();
    let (a_delta, _) = events(&with_bad, 2, TableName::ListenEventsDelta).await;
    assert!(!a_delta.is_empty(), "the uncarriable keys come back as new");
    let faked: Vec<_> = a_delta.iter().filter(|e| !lost_tracks.contains(&e.1) && !lost_listeners.contains(&e.0)).collect();
    assert!(faked.is_empty(), "day 2's delta holds only pairs that could not be carried: {faked:?}");
    assert!(events(&all_good, 2, TableName::ListenEventsDelta).await.0.is_empty(), "two good days of a frozen source: nothing new");
    check_bad_day_with_duckdb(a_dir.path(), &report).await;
}

/// DuckDB reads the bad day's history tables: the marker column is BOOLEAN, marks only current
/// versions and only as many keys as the report says, and no carried event is new.
async fn check_bad_day_with_duckdb(data: &Path, report: &Value) {
    let Some(python) = moovitamix_tests::duckdb_python() else { return };
    let script = r#"
import duckdb, json, sys
root, dt = sys.argv[1], sys.argv[2]
con = duckdb.connect()
def committed(table):
    con.execute(f"SET VARIABLE {table} = (SELECT list(column0) FROM read_csv('{root}/curated/{table}/_symlink_format_manifest/*/manifest', header = false, columns = {{'column0': 'VARCHAR'}}))")
    return f"read_parquet(getvariable('{table}'), hive_partitioning = true)"
out = {}
for table in ["tracks", "users"]:
    rel = committed(table)
    out[table] = {
        "type": con.execute(f"SELECT typeof(carried_forward) FROM {rel} LIMIT 1").fetchone()[0],
        "carried": con.execute(f"SELECT count(*) FROM {rel} WHERE dt = '{dt}' AND carried_forward").fetchone()[0],
        "carried_not_current": con.execute(f"SELECT count(*) FROM {rel} WHERE carried_forward AND NOT is_current").fetchone()[0],
        "current_twice": con.execute(f"SELECT count(*) FROM (SELECT id FROM {rel} WHERE dt = '{dt}' AND is_current GROUP BY id HAVING count(*) > 1)").fetchone()[0],
    }
events = committed("listen_events")
out["listen_events"] = {
    "type": con.execute(f"SELECT typeof(carried_forward) FROM {events} LIMIT 1").fetchone()[0],
    "carried_users": con.execute(f"SELECT count(DISTINCT user_id) FROM {events} WHERE dt = '{dt}' AND carried_forward").fetchone()[0],
    "carried_new": con.execute(f"SELECT count(*) FROM {events} WHERE carried_forward AND is_new").fetchone()[0],
}
delta = committed("listen_events_delta")
out["delta_carried"] = con.execute(f"SELECT count(*) FROM {delta} WHERE carried_forward").fetchone()[0]
print(json.dumps(out))
"#;
    let output = Command::new(&python).args(["-c", script]).arg(data).arg(day(1).to_string()).output().unwrap();
    assert!(output.status.success(), "DuckDB failed: {}", String::from_utf8_lossy(&output.stderr));
    let got: Value = serde_json::from_slice(&output.stdout).unwrap();
    for table in [TableName::Tracks, TableName::Users] {
        assert_eq!(got[table.as_str()]["type"], "BOOLEAN", "{got}");
        assert_eq!(got[table.as_str()]["carried"], report["tables"][table.as_str()]["carried_forward"], "{table}: {got}");
        assert_eq!((&got[table.as_str()]["carried_not_current"], &got[table.as_str()]["current_twice"]), (&json!(0), &json!(0)), "{table}: {got}");
    }
    assert_eq!(got["listen_events"]["type"], "BOOLEAN");
    assert_eq!(got["listen_events"]["carried_users"], report["tables"][TableName::ListenEvents.as_str()]["carried_forward"], "{got}");
    assert_eq!((&got["listen_events"]["carried_new"], &got["delta_carried"]), (&json!(0), &json!(0)), "{got}");
}

#[tokio::test]
async fn a_rejected_share_above_the_threshold_fails_fetch_and_commits_nothing() {
    let faults = Faults { malformed_rate: 0.3, ..Faults::default() };
    let sim = RunningSimulator::start(SimulatorConfig { faults, ..sim_config(Evolution::frozen()) }).await.unwrap();
    let (_dir, store) = local();
    let j = jobs(&sim.url(), store.clone(), &[]);
    let err = j.fetcher.run(day(0), "fetch-bad").await.unwrap_err();
    assert_eq!(err.error_type(), "Permanent.DataQuality");
    let text = err.to_string();
    assert!(text.contains("FETCH_MAX_REJECTED_SHARE=0.05") && text.contains("nothing was committed"), "{text}");
    assert!(read_committed(store.as_ref(), Zone::Raw, day(0)).await.is_err(), "nothing committed");
    let share = j.fetch_metrics.total(Metric::RejectedShare, None);
    assert!(share > 0.05, "the alarm sees the share that failed the run: {share}");
    assert_eq!(j.fetch_metrics.total(Metric::RunFailed, None), 1.0);

    // Raised for this run, the same day commits, and transform carries what it could not read.
    let relaxed = jobs(&sim.url(), store.clone(), &[("FETCH_MAX_REJECTED_SHARE", "0.5"), ("DQ_MAX_QUARANTINE_SHARE", "1")]);
    relaxed.fetcher.run(day(0), "fetch-relaxed").await.unwrap();
    let summary = relaxed.transformer.run(day(0), "transform-0").await.unwrap();
    assert!(summary.quarantine_share > 0.05, "transform's gate counts fetch's rejections: {}", summary.quarantine_share);
    assert!(relaxed.transform_metrics.total(Metric::QuarantineShare, None) > 0.05);
    sim.shutdown().await;
}

#[tokio::test]
async fn transform_counts_fetchs_rejections_into_its_gate() {
    // 3% of rows rejected at fetch passes fetch's 5%, and fails a transform held to 1%.
    let faults = Faults { malformed_rate: 0.04, ..Faults::default() };
    let sim = RunningSimulator::start(SimulatorConfig { faults, ..sim_config(Evolution::frozen()) }).await.unwrap();
    let (_dir, store) = local();
    let j = jobs(&sim.url(), store.clone(), &[("DQ_MAX_QUARANTINE_SHARE", "0.01")]);
    j.fetcher.run(day(0), "fetch-0").await.unwrap();
    let err = j.transformer.run(day(0), "transform-0").await.unwrap_err();
    assert_eq!(err.error_type(), "Permanent.DataQuality");
    assert!(err.to_string().contains("rejected by fetch"), "{err}");
    assert!(read_committed(store.as_ref(), Zone::Curated, day(0)).await.is_err(), "nothing committed");
    sim.shutdown().await;
}

#[tokio::test]
async fn a_source_that_loses_rows_stops_transform() {
    // The source serves 1,000 users, then 800: a fall of 20%, above DQ_MAX_CURRENT_DROP (10%).
    let sim = RunningSimulator::start(SimulatorConfig { users: 1000, ..sim_config(Evolution::frozen()) }).await.unwrap();
    let (_dir, store) = local();
    let j = jobs(&sim.url(), store.clone(), &[("DQ_MAX_QUARANTINE_SHARE", "1")]);
    j.fetcher.run(day(0), "fetch-0").await.unwrap();
    j.transformer.run(day(0), "transform-0").await.unwrap();
    sim.shutdown().await;
    let sim = RunningSimulator::start(SimulatorConfig { users: 800, date: day(1), ..sim_config(Evolution::frozen()) }).await.unwrap();
    let j = jobs(&sim.url(), store.clone(), &[("DQ_MAX_QUARANTINE_SHARE", "1")]);
    j.fetcher.run(day(1), "fetch-1").await.unwrap();
    let err = j.transformer.run(day(1), "transform-1").await.unwrap_err();
    assert_eq!(err.error_type(), "Permanent.DataQuality");
    assert!(err.to_string().contains("DQ_MAX_CURRENT_DROP"), "{err}");
    assert!(read_committed(store.as_ref(), Zone::Curated, day(1)).await.is_err(), "nothing committed");
    assert!(j.transform_metrics.total(Metric::CurrentRowsDrop, None) >= 0.2);
    sim.shutdown().await;
}

#[tokio::test]
async fn the_logical_date_is_checked_against_the_invocations_start_and_the_snapshot_time_recorded() {
    let sim = RunningSimulator::start(sim_config(Evolution::frozen())).await.unwrap();
    let (_dir, store) = local();
    let j = jobs(&sim.url(), store.clone(), &[]);
    let now: DateTime<Utc> = "2026-11-21T06:00:00Z".parse().unwrap();
    let at = |id: &str| Invocation::with_id(id).at(now);

    let err = j.fetcher.handle(&json!({"date": "2099-01-01"}), at("future")).await.unwrap_err();
    assert_eq!(err.error_type(), "Permanent.BadDate", "{err}");
    let err = j.fetcher.handle(&json!({"date": "2026-11-23"}), at("after-tomorrow")).await.unwrap_err();
    assert_eq!(err.error_type(), "Permanent.BadDate", "{err}");
    let err = j.fetcher.handle(&json!({"date": "2026-11-10"}), at("old")).await.unwrap_err();
    assert_eq!(err.error_type(), "Permanent.BadDate");
    assert!(err.to_string().contains("\"allow_past\": true"), "the refusal says how to insist: {err}");
    assert!(store.list("raw/").await.unwrap().is_empty(), "nothing written for refused dates");

    j.fetcher.handle(&json!({"date": "2026-11-22"}), at("tomorrow")).await.unwrap();
    let summary = j.fetcher.handle(&json!({"date": "2026-11-10", "allow_past": true}), at("backfill")).await.unwrap();
    let run = read_committed(store.as_ref(), Zone::Raw, summary.date).await.unwrap().run;
    let taken: DateTime<Utc> = serde_json::from_value(run.details["snapshot_taken_at"].clone()).unwrap();
    assert!(taken >= run.started_at && taken <= run.finished_at, "the snapshot was taken during the run: {taken}");
    assert_eq!(run.details["snapshot_days_after_logical_date"], (taken.date_naive() - summary.date).num_days());

    // Transform and recommend refuse a date after tomorrow too, and only that.
    let err = j.transformer.handle(&json!({"date": "2099-01-01"}), at("t-future")).await.unwrap_err();
    assert_eq!(err.error_type(), "Permanent.BadDate");
    let old = j.transformer.handle(&json!({"date": "2026-11-10"}), at("t-old")).await.unwrap();
    assert_eq!(old.date.to_string(), "2026-11-10", "an old date is a re-run, allowed");
    sim.shutdown().await;
}
