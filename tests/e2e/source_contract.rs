//! The source's contract broken on purpose, over several days, fetched and transformed day by
//! day: a key the source really serves twice is committed and quarantined by transform (and the
//! history equals a clean source's), a listing that shifts while it is read is started over
//! once, and a page of the wrong shape fails the run as permanent after one retry.

use chrono::{Days, NaiveDate};
use flate2::read::GzDecoder;
use moovitamix::commit::read_committed;
use moovitamix::fetch::FetchError;
use moovitamix::job::Classified;
use moovitamix::manifest::ObjectRole;
use moovitamix::partition::{Partition, Zone};
use moovitamix::records::Entity;
use moovitamix::simulator::{Evolution, Faults, RunningSimulator, SimulatorConfig};
use moovitamix::source::PageSource;
use moovitamix::storage::{LocalStore, Store};
use moovitamix::curated::{ListenEvent, TableName, TrackRow, UserRow, Version};
use moovitamix::partition::quarantine_dataset;
use moovitamix::transform::read_curated;
use moovitamix_tests::{Jobs, jobs};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Read;
use std::sync::Arc;

/// The jobs' settings over the defaults: quick retries, every day's change accepted.
const ENV: &[(&str, &str)] = &[
    ("FETCH_CONCURRENCY", "4"),
    ("FETCH_BACKOFF_BASE_MS", "5"),
    ("FETCH_MAX_ATTEMPTS", "6"),
    ("DQ_MAX_ROW_COUNT_CHANGE", "1"),
    ("PII_SALT", "e2e-key"),
];

const DAYS: u64 = 3;

fn day(k: u64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 1).unwrap() + Days::new(k)
}

fn sim_config(faults: Faults) -> SimulatorConfig {
    SimulatorConfig {
        tracks: 300,
        users: 200,
        start_date: day(0),
        date: day(0),
        evolution: Evolution { changed: 0.1, added: 0.05, removed: 0.05, listens_added: 0.3 },
        faults,
        ..SimulatorConfig::default()
    }
}

fn local() -> (tempfile::TempDir, Arc<dyn Store>) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(LocalStore::new(dir.path().to_path_buf()));
    (dir, store)
}

/// Every line of the committed quarantine of a curated table on date `k`.
async fn quarantined(store: &Arc<dyn Store>, k: u64, table: TableName) -> Vec<Value> {
    let committed = read_committed(store.as_ref(), Zone::Curated, day(k)).await.unwrap();
    let manifest = committed.partition(&Partition::new(Zone::Curated, table.as_str(), day(k))).unwrap();
    let mut lines = Vec::new();
    for o in manifest.objects.iter().filter(|o| o.role == ObjectRole::Quarantine) {
        assert!(o.key.starts_with(&Partition::new(Zone::Quarantine, quarantine_dataset(table.as_str()), day(k)).prefix()));
        let mut text = String::new();
        GzDecoder::new(&store.get(&o.key).await.unwrap().data[..]).read_to_string(&mut text).unwrap();
        lines.extend(text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()));
    }
    lines
}

/// A history table without its `ingested_at` (the fetch run's start, which differs between two
/// stores fetched at different times): what must be equal.
fn history<R>(versions: &[Version<R>], key: fn(&R) -> (i64, String)) -> Vec<(i64, String, String, Option<String>)> {
    versions.iter().map(|v| (key(&v.row).0, key(&v.row).1, v.valid_from.to_rfc3339(), v.valid_to.map(|t| t.to_rfc3339()))).collect()
}

async fn tables(store: &Arc<dyn Store>, k: u64) -> (Vec<(i64, String, String, Option<String>)>, Vec<(i64, String, String, Option<String>)>, Vec<ListenEvent>) {
    let tracks: Vec<Version<TrackRow>> = read_curated(store.clone(), day(k), TableName::Tracks).await.unwrap();
    let users: Vec<Version<UserRow>> = read_curated(store.clone(), day(k), TableName::Users).await.unwrap();
    let events: Vec<ListenEvent> = read_curated(store.clone(), day(k), TableName::ListenEvents).await.unwrap();
    (history(&tracks, |t| (t.id, t.row_hash.to_hex())), history(&users, |u| (u.id, u.row_hash.to_hex())), events)
}

#[tokio::test]
async fn a_key_the_source_serves_twice_every_day_is_committed_and_quarantined_by_transform() {
    let (_dir, store) = local();
    let (_clean_dir, clean_store) = local();
    let sim = RunningSimulator::start(sim_config(Faults { duplicate_rows: 2, ..Faults::default() })).await.unwrap();
    let clean = RunningSimulator::start(sim_config(Faults::default())).await.unwrap();
    let Jobs { fetcher, transformer, .. } = jobs(&sim.url(), store.clone(), ENV);
    let Jobs { fetcher: clean_fetcher, transformer: clean_transformer, .. } = jobs(&clean.url(), clean_store.clone(), ENV);
    for k in 0..DAYS {
        sim.control().set_date(day(k));
        clean.control().set_date(day(k));
        let fetched = fetcher.run(day(k), &format!("fetch-{k}")).await.unwrap_or_else(|e| panic!("day {k}: {e}"));
        for entity in Entity::ALL {
            let s = &fetched.entities[&entity];
            assert_eq!((s.restarts, s.duplicate_rows), (1, 2), "day {k} {entity}: read twice to tell a real duplicate from a shift");
        }
        let clean_fetched = clean_fetcher.run(day(k), &format!("fetch-{k}")).await.unwrap();
        assert_eq!(fetched.entities[&Entity::Users].accepted, clean_fetched.entities[&Entity::Users].accepted + 2, "day {k}: raw keeps both rows as served");

        let transformed = transformer.run(day(k), &format!("transform-{k}")).await.unwrap_or_else(|e| panic!("day {k}: {e}"));
        clean_transformer.run(day(k), &format!("transform-{k}")).await.unwrap();
        for (table, key) in [(TableName::Tracks, "id"), (TableName::Users, "id"), (TableName::ListenEvents, "user_id")] {
            let q = quarantined(&store, k, table).await;
            let duplicates: Vec<&Value> = q.iter().filter(|l| l["reasons"][0]["check"] == "duplicate_key").collect();
            assert_eq!(duplicates.len(), 2, "day {k} {table}: the second copies are quarantined: {q:?}");
            let keys: BTreeSet<i64> = duplicates.iter().map(|l| l["row"][key].as_i64().unwrap()).collect();
            assert_eq!(keys.len(), 2, "day {k} {table}: two distinct keys");
        }
        assert!(transformed.tables[&TableName::Users].quarantined >= 2);
        assert_eq!(tables(&store, k).await, tables(&clean_store, k).await, "day {k}: the history equals a clean source's");
    }
    sim.shutdown().await;
    clean.shutdown().await;
}

#[tokio::test]
async fn a_listing_that_shifts_while_it_is_read_is_started_over_once() {
    let (_dir, store) = local();
    // After three requests to an endpoint, its first row is gone and a new one is appended:
    // `total` and the row count stay, and the first pass misses a row at a page boundary.
    let sim = RunningSimulator::start(sim_config(Faults { shift_after: Some(3), ..Faults::default() })).await.unwrap();
    let Jobs { fetcher, transformer, .. } = jobs(&sim.url(), store.clone(), ENV);
    for k in 0..DAYS {
        sim.control().set_date(day(k));
        let fetched = fetcher.run(day(k), &format!("fetch-{k}")).await.unwrap_or_else(|e| panic!("day {k}: {e}"));
        let committed = read_committed(store.as_ref(), Zone::Raw, day(k)).await.unwrap();
        for entity in Entity::ALL {
            assert_eq!(fetched.entities[&entity].restarts, 1, "day {k} {entity}: the moved first page was noticed");
            // What the source serves now (shifted, and stable from here on), every row once.
            let mut served = Vec::new();
            let first = fetcher.source.first_page(entity.as_str()).await.unwrap();
            let pages = first.page.pages;
            served.extend(first.page.items.iter().map(|r| serde_json::from_str::<Value>(r.get()).unwrap()));
            for n in 2..=pages {
                served.extend(fetcher.source.page(entity.as_str(), n).await.unwrap().page.items.iter().map(|r| serde_json::from_str::<Value>(r.get()).unwrap()));
            }
            let manifest = committed.partition(&Partition::new(Zone::Raw, entity.as_str(), day(k))).unwrap();
            let mut rows = Vec::new();
            for o in manifest.objects.iter().filter(|o| o.role == ObjectRole::Data) {
                let mut text = String::new();
                GzDecoder::new(&store.get(&o.key).await.unwrap().data[..]).read_to_string(&mut text).unwrap();
                rows.extend(text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()));
            }
            assert_eq!(rows, served, "day {k} {entity}: the committed rows are the listing as it stands, none missed");
        }
        transformer.run(day(k), &format!("transform-{k}")).await.unwrap_or_else(|e| panic!("day {k}: {e}"));
    }
    sim.shutdown().await;
}

#[tokio::test]
async fn a_page_of_the_wrong_shape_fails_the_run_as_permanent_after_one_retry() {
    let (_dir, store) = local();
    let sim = RunningSimulator::start(sim_config(Faults::default())).await.unwrap();
    let Jobs { fetcher, transformer, .. } = jobs(&sim.url(), store.clone(), ENV);
    fetcher.run(day(0), "fetch-0").await.unwrap();
    transformer.run(day(0), "transform-0").await.unwrap();

    // Day 1: the users endpoint answers 200 with valid JSON that is not a page.
    sim.control().set_date(day(1));
    sim.control().set_faults(Faults { wrong_shape_endpoint: Some("users".into()), ..Faults::default() });
    let before = sim.control().stats().by_endpoint["users"];
    let err = fetcher.run(day(1), "fetch-1").await.unwrap_err();
    assert!(matches!(&err, FetchError::Source { entity: Entity::Users, .. }), "{err}");
    assert_eq!(err.error_type(), "Permanent.SourceContract");
    assert!(err.to_string().contains("/users?page=1") && err.to_string().contains("missing field `items`"), "the error says where and what: {err}");
    assert_eq!(sim.control().stats().by_endpoint["users"] - before, 2, "one retry, not FETCH_MAX_ATTEMPTS");
    assert!(read_committed(store.as_ref(), Zone::Raw, day(1)).await.is_err(), "nothing committed for day 1");

    // Day 2: the source is back; transform builds day 2 onto day 0, the latest committed date.
    sim.control().set_date(day(2));
    sim.control().set_faults(Faults::default());
    fetcher.run(day(2), "fetch-2").await.unwrap();
    let summary = transformer.run(day(2), "transform-2").await.unwrap();
    assert_eq!(summary.previous_date, Some(day(0)));
    sim.shutdown().await;
}
