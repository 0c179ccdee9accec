//! The transform job on an in-memory store: each data-quality rule, the quarantine threshold, the
//! refusal paths, SCD2 and listen deltas across days, and re-runs.

use super::*;
use crate::config::Secret;
use crate::curated::{ListenEvent, TrackRow, UserRow, Version};
use crate::manifest::Manifest;
use crate::job::Classified;
use crate::partition::quarantine_dataset;
use crate::records::Entity;
use bytes::Bytes;
use serde_json::json;
use crate::metrics::MemorySink;
use crate::storage::MemoryStore;
use flate2::read::GzDecoder;
use std::io::Read;

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
}

/// Fetch read the source at 06:00 on the day.
fn fetched_at(d: u32) -> DateTime<Utc> {
    as_of(day(d)) + chrono::Duration::hours(6)
}

fn transformer(store: &Arc<dyn Store>, overrides: &[(&str, &str)]) -> (Transformer, Arc<MemorySink>) {
    let env: BTreeMap<String, String> = overrides.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let config = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
    let sink = Arc::new(MemorySink::default());
    let t = Transformer {
        store: store.clone(),
        metrics: Metrics::new(FUNCTION, "Test", sink.clone()),
        pii: Pii::new(Secret::new("test-salt"), config.transform.keep_names),
        config: config.transform,
        commit: crate::commit::CommitSettings::default(),
    };
    (t, sink)
}

fn track(id: i64, name: &str) -> Value {
    json!({"id": id, "name": name, "artist": "Artist", "songwriters": "Writer", "duration": "03:25", "genres": "Rock",
           "album": "Album", "created_at": "2025-01-01T00:00:00", "updated_at": "2025-06-01T12:30:00.5"})
}

fn user(id: i64) -> Value {
    json!({"id": id, "first_name": "Ada", "last_name": "Lovelace", "email": format!("User{id}@Example.com"), "gender": "Female",
           "favorite_genres": "Hip Hop", "created_at": "2025-01-01T00:00:00", "updated_at": "2025-02-01T00:00:00"})
}

fn listen(user_id: i64, items: &[i64]) -> Value {
    json!({"user_id": user_id, "items": items, "created_at": "2025-03-01T00:00:00", "updated_at": "2025-04-01T00:00:00"})
}

/// Every key under `prefix`.
async fn keys(store: &Arc<dyn Store>, prefix: &str) -> Vec<String> {
    store.list(prefix).await.unwrap().into_iter().map(|o| o.key).collect()
}

/// Commits a raw date as fetch would.
async fn raw(store: &Arc<dyn Store>, d: u32, tracks: Vec<Value>, users: Vec<Value>, listens: Vec<Value>) {
    let mut w = raw_date::RawWriter::new(store.clone(), day(d), &format!("fetch-{d}-{}", crate::commit::RunId::new(fetched_at(d))), fetched_at(d), 1000).await.unwrap();
    w.entity(Entity::Tracks, tracks).await.unwrap();
    w.entity(Entity::Users, users).await.unwrap();
    w.entity(Entity::ListenHistory, listens).await.unwrap();
    w.commit(fetched_at(d)).await.unwrap();
}

/// A small clean raw date: tracks 1..=3, users 10 and 11, their listens.
async fn clean_raw(store: &Arc<dyn Store>, d: u32) {
    let tracks = (1..=3).map(|i| track(i, &format!("t{i}"))).collect();
    raw(store, d, tracks, vec![user(10), user(11)], vec![listen(10, &[1, 2]), listen(11, &[3])]).await;
}

async fn tracks_of(store: &Arc<dyn Store>, d: u32) -> Vec<Version<TrackRow>> {
    read_curated(store.clone(), day(d), TableName::Tracks).await.unwrap()
}

async fn events_of(store: &Arc<dyn Store>, d: u32, table: TableName) -> Vec<(i64, i64, i32, bool)> {
    let events: Vec<ListenEvent> = read_curated(store.clone(), day(d), table).await.unwrap();
    events.into_iter().map(|e| (e.user_id, e.track_id, e.position, e.is_new)).collect()
}

/// Every line of the date's quarantine for a curated table.
async fn quarantined(store: &Arc<dyn Store>, d: u32, table: TableName) -> Vec<Value> {
    let mut out = Vec::new();
    for o in store.list(&Partition::new(Zone::Quarantine, quarantine_dataset(table.as_str()), day(d)).prefix()).await.unwrap() {
        let data = store.get(&o.key).await.unwrap().data;
        let mut text = String::new();
        GzDecoder::new(&data[..]).read_to_string(&mut text).unwrap();
        out.extend(text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()));
    }
    out
}

async fn run_manifest(store: &Arc<dyn Store>, d: u32) -> Option<Manifest> {
    crate::commit::read_manifest(store.as_ref(), &Partition::run(Zone::Curated, day(d)).manifest_key()).await.unwrap()
}

#[tokio::test]
async fn a_first_date_builds_every_table_from_raw() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    clean_raw(&store, 1).await;
    let (t, metrics) = transformer(&store, &[]);
    let summary = t.run(day(1), "run-1").await.unwrap();
    assert_eq!(summary.previous_date, None);
    assert_eq!(summary.run_manifest, "curated/_run/dt=2026-11-01/_manifest.json");

    let tracks = tracks_of(&store, 1).await;
    assert_eq!(tracks.iter().map(|v| v.row.id).collect::<Vec<_>>(), [1, 2, 3]);
    for v in &tracks {
        assert_eq!((v.valid_from, v.valid_to, v.ingested_at), (as_of(day(1)), None, fetched_at(1)));
        assert_eq!(v.row.duration_seconds, Some(205));
        assert_eq!(v.row.genres_normalized.as_deref(), Some("rock"));
        assert_eq!(v.row.row_hash, v.row.compute_hash(), "the stored hash is the hash of the stored columns");
    }
    let users: Vec<Version<UserRow>> = read_curated(store.clone(), day(1), TableName::Users).await.unwrap();
    assert_eq!(users.len(), 2);
    assert_eq!(users[0].row.email_hash, t.pii.email_hash("user10@example.com"));
    assert_eq!((users[0].row.first_name.clone(), users[0].row.last_name.clone()), (None, None));

    // First date: every pair is new; positions are the index in `items`.
    let events = events_of(&store, 1, TableName::ListenEvents).await;
    assert_eq!(events, [(10, 1, 0, true), (10, 2, 1, true), (11, 3, 0, true)]);
    assert_eq!(events_of(&store, 1, TableName::ListenEventsDelta).await, events);
    // Every event is new: the delta's parts are the events' bytes.
    let mut parts = Vec::new();
    for table in [TableName::ListenEvents, TableName::ListenEventsDelta] {
        let prefix = Partition::new(Zone::Curated, table.as_str(), day(1)).run_folder("run-1");
        let mut bytes = Vec::new();
        for o in store.list(&prefix).await.unwrap().into_iter().filter(|o| o.key.ends_with(".parquet")) {
            bytes.push(store.get(&o.key).await.unwrap().data);
        }
        parts.push(bytes);
    }
    assert!(!parts[0].is_empty());
    assert_eq!(parts[0], parts[1]);

    // Nothing personal anywhere in curated/.
    for o in store.list("curated/").await.unwrap() {
        let data = store.get(&o.key).await.unwrap().data;
        assert!(!String::from_utf8_lossy(&data).to_lowercase().contains("example.com"), "{}", o.key);
    }
    let manifest = run_manifest(&store, 1).await.unwrap();
    let report = &manifest.details["dq_report"];
    assert_eq!(report["tables"]["listen_events"]["rows_in"], 3);
    assert_eq!(report["history"]["tracks"]["inserted"], 3);
    assert_eq!(metrics.total(Metric::RowsOut, Some(TableName::ListenEvents.as_str())), 3.0);
    assert_eq!(metrics.total(Metric::NewVersions, Some(TableName::Tracks.as_str())), 3.0);
    assert_eq!(metrics.total(Metric::RunSucceeded, None), 1.0);
    assert!(quarantined(&store, 1, TableName::Tracks).await.is_empty());
}

#[tokio::test]
async fn keep_names_keeps_them() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    clean_raw(&store, 1).await;
    let (t, _) = transformer(&store, &[("KEEP_NAMES", "true")]);
    t.run(day(1), "run-1").await.unwrap();
    let users: Vec<Version<UserRow>> = read_curated(store.clone(), day(1), TableName::Users).await.unwrap();
    assert_eq!((users[0].row.first_name.as_deref(), users[0].row.last_name.as_deref()), (Some("Ada"), Some("Lovelace")));
}

#[tokio::test]
async fn each_blocking_check_quarantines_with_its_reason() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let mut bad_track = track(9, "bad");
    bad_track["id"] = json!("nine");
    let tracks = vec![track(1, "first"), track(2, "t2"), track(1, "second"), bad_track, json!("not an object")];
    let users = vec![user(10), user(10), user(11)];
    let listens = vec![
        listen(10, &[1, 404, 2]), // 404 is not a track: that item only
        listen(99, &[1, 2]),      // user 99 does not exist: the whole row (2 items)
        listen(11, &[2]),
        listen(11, &[1]), // a second row for user 11
    ];
    raw(&store, 1, tracks, users, listens).await;
    let (t, _) = transformer(&store, &[("DQ_MAX_QUARANTINE_SHARE", "1")]);
    let summary = t.run(day(1), "run-1").await.unwrap();

    // Duplicate key: the first row is kept.
    let tracks = tracks_of(&store, 1).await;
    assert_eq!(tracks.iter().map(|v| (v.row.id, v.row.name.as_deref().unwrap())).collect::<Vec<_>>(), [(1, "first"), (2, "t2")]);
    let q = quarantined(&store, 1, TableName::Tracks).await;
    let checks: Vec<&str> = q.iter().map(|l| l["reasons"][0]["check"].as_str().unwrap()).collect();
    assert_eq!(checks, ["duplicate_key", "wrong_type", "not_an_object"]);
    assert_eq!(q[0]["row"]["name"], "second");
    assert_eq!((q[0]["line"].clone(), q[0]["source"].as_str().unwrap().starts_with("raw/tracks/dt=2026-11-01/")), (json!(3), true));
    assert_eq!(summary.tables[&TableName::Tracks].quarantined, 3);

    let q = quarantined(&store, 1, TableName::Users).await;
    assert_eq!(q.len(), 1);
    assert_eq!(q[0]["reasons"][0]["check"], "duplicate_key");
    assert!(q[0]["row"].get("email").is_none() && q[0]["row"]["email_hash"].is_string(), "quarantine holds no address: {}", q[0]);

    assert_eq!(events_of(&store, 1, TableName::ListenEvents).await, [(10, 1, 0, true), (10, 2, 2, true), (11, 2, 0, true)], "gaps where items left");
    let q = quarantined(&store, 1, TableName::ListenEvents).await;
    let checks: Vec<&str> = q.iter().map(|l| l["reasons"][0]["check"].as_str().unwrap()).collect();
    assert_eq!(checks, ["unknown_track", "unknown_user", "duplicate_key"]);
    assert_eq!((q[0]["row"]["track_id"].clone(), q[0]["row"]["position"].clone()), (json!(404), json!(1)));
    let report = &run_manifest(&store, 1).await.unwrap().details["dq_report"]["tables"]["listen_events"];
    assert_eq!(report["rows_in"], 3 + 2 + 1 + 1, "listen units are items");
    assert_eq!(report["quarantined_by_check"], json!({"unknown_user": 2, "unknown_track": 1, "duplicate_key": 1}));
}

#[tokio::test]
async fn warnings_are_counted_and_the_rows_kept() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let mut odd = track(1, "odd");
    odd["updated_at"] = json!("2024-01-01T00:00:00"); // before created_at
    odd["name"] = Value::Null;
    odd["genres"] = json!("  ");
    odd["duration"] = json!("4 minutes");
    odd["loudness"] = json!(-7.5); // schema drift
    let mut drifting = track(2, "t2");
    drifting["loudness"] = json!(-3.0);
    drifting["bpm"] = json!(120);
    raw(&store, 1, vec![odd, drifting], vec![user(10)], vec![listen(10, &[])]).await;
    let (t, metrics) = transformer(&store, &[]);
    let summary = t.run(day(1), "run-1").await.unwrap();

    assert_eq!(tracks_of(&store, 1).await.len(), 2, "warnings never drop a row");
    let tables = &run_manifest(&store, 1).await.unwrap().details["dq_report"]["tables"];
    assert_eq!(
        tables["tracks"]["warnings_by_check"],
        json!({"null_field": 1, "empty_field": 1, "updated_before_created": 1, "bad_duration": 1, "unknown_field": 3})
    );
    assert_eq!(tables["tracks"]["unknown_fields"], json!({"bpm": 1, "loudness": 2}));
    assert_eq!(tables["tracks"]["warned_rows"], 2);
    assert_eq!(tables["listen_events"]["warnings_by_check"], json!({"empty_field": 1}), "a listen row without items");
    assert_eq!(metrics.total_where(Metric::DqWarnings, "Check", "unknown_field"), 3.0);
    assert_eq!(metrics.total_where(Metric::DqWarnings, "Check", "updated_before_created"), 1.0);
    assert_eq!(summary.tables[&TableName::Tracks].quarantined, 0);
}

#[tokio::test]
async fn a_row_count_jump_against_the_previous_date_warns() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let tracks = |n: i64| (1..=n).map(|i| track(i, "t")).collect::<Vec<_>>();
    raw(&store, 1, tracks(10), vec![user(10)], vec![listen(10, &[1])]).await;
    raw(&store, 2, tracks(7), vec![user(10)], vec![listen(10, &[1])]).await;
    let (t, metrics) = transformer(
        &store,
        &[
            ("DQ_MAX_ROW_COUNT_CHANGE", "0.25"),
            ("DQ_MAX_CURRENT_DROP", "0.5"),
        ],
    );
    t.run(day(1), "run-1").await.unwrap();
    t.run(day(2), "run-2").await.unwrap();
    let tables = &run_manifest(&store, 2).await.unwrap().details["dq_report"]["tables"];
    assert_eq!(tables["tracks"]["row_count"], json!({"today": 7, "previous": 10, "change": 0.3}));
    assert_eq!(tables["tracks"]["warnings_by_check"]["row_count_change"], 1);
    assert!(tables["users"]["warnings_by_check"].get("row_count_change").is_none());
    assert_eq!(metrics.total_where(Metric::DqWarnings, "Check", "row_count_change"), 1.0);

    let (relaxed, _) = transformer(
        &store,
        &[
            ("DQ_MAX_ROW_COUNT_CHANGE", "0.3"),
            ("DQ_MAX_CURRENT_DROP", "0.5"),
        ],
    );
    relaxed.run(day(2), "run-2b").await.unwrap();
    let tables = &run_manifest(&store, 2).await.unwrap().details["dq_report"]["tables"];
    assert!(tables["tracks"]["warnings_by_check"].get("row_count_change").is_none(), "a change at the threshold does not warn");
}

/// 100 user rows of which `duplicates` repeat a key.
async fn users_with_duplicates(store: &Arc<dyn Store>, duplicates: i64) {
    let mut users: Vec<Value> = (0..100 - duplicates).map(user).collect();
    users.extend((0..duplicates).map(user));
    raw(store, 1, vec![track(1, "t")], users, vec![listen(0, &[1])]).await;
}

#[tokio::test]
async fn a_quarantined_share_at_the_threshold_passes() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    users_with_duplicates(&store, 5).await;
    let (t, metrics) = transformer(&store, &[("DQ_MAX_QUARANTINE_SHARE", "0.05")]);
    let summary = t.run(day(1), "run-1").await.unwrap();
    assert_eq!((summary.tables[&TableName::Users].rows_in, summary.tables[&TableName::Users].quarantined), (100, 5));
    assert_eq!(summary.quarantine_share, 0.05);
    assert_eq!(metrics.total(Metric::QuarantineShare, None), 0.05);
    assert_eq!(quarantined(&store, 1, TableName::Users).await.len(), 5);
}

#[tokio::test]
async fn a_quarantined_share_just_above_the_threshold_fails_and_commits_nothing() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    users_with_duplicates(&store, 6).await;
    let (t, metrics) = transformer(&store, &[("DQ_MAX_QUARANTINE_SHARE", "0.05")]);
    let err = t.run(day(1), "run-1").await.unwrap_err();
    assert_eq!(err.error_type(), "Permanent.DataQuality");
    let text = err.to_string();
    assert!(text.contains("users: 6 of 100") && text.contains("DQ_MAX_QUARANTINE_SHARE=0.05") && text.contains("duplicate_key 6"), "{text}");
    assert_eq!(keys(&store, "curated/").await, ["curated/_run/dt=2026-11-01/_lease.json"], "no curated object, the lease released");
    assert!(store.list("quarantine/").await.unwrap().is_empty());
    assert_eq!(metrics.total(Metric::QuarantineShare, None), 0.06, "the alarm sees the share of the failed run");
    assert_eq!(metrics.total(Metric::RunFailed, None), 1.0);
}

#[tokio::test]
async fn a_failed_rerun_leaves_the_previous_commit_whole() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    clean_raw(&store, 1).await;
    let (t, _) = transformer(&store, &[]);
    t.run(day(1), "run-1").await.unwrap();
    let data = |keys: Vec<String>| keys.into_iter().filter(|k| !k.ends_with("_lease.json")).collect::<Vec<_>>();
    let before = data(keys(&store, "curated/").await);
    // Fetch re-runs the date and now serves mostly duplicates.
    users_with_duplicates(&store, 50).await;
    assert!(matches!(t.run(day(1), "run-2").await, Err(TransformError::Quality(_))));
    assert_eq!(data(keys(&store, "curated/").await), before);
    assert_eq!(run_manifest(&store, 1).await.unwrap().run_id, "run-1");
}

#[tokio::test]
async fn an_uncommitted_or_mid_commit_raw_date_is_refused() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let (t, _) = transformer(&store, &[]);
    let err = t.run(day(1), "run-1").await.unwrap_err();
    assert_eq!(err.error_type(), "Permanent.RawNotCommitted");
    assert!(err.to_string().contains("raw has no committed run for 2026-11-01"), "{err}");
    assert!(keys(&store, "curated/").await.iter().all(|k| k.ends_with("_lease.json")));

    // A raw partition manifest that does not belong to the run manifest naming it.
    clean_raw(&store, 1).await;
    let raw_run = crate::commit::read_manifest(store.as_ref(), &Partition::run(Zone::Raw, day(1)).manifest_key()).await.unwrap().unwrap();
    let key = raw_run.objects.iter().find(|o| o.key.starts_with("raw/users/")).unwrap().key.clone();
    let mut m = crate::commit::read_manifest(store.as_ref(), &key).await.unwrap().unwrap();
    m.run_id = "fetch-later".into();
    store.put(&key, Bytes::from(m.to_json()), crate::storage::PutMode::Overwrite).await.unwrap();
    let err = t.run(day(1), "run-1").await.unwrap_err();
    assert_eq!(err.error_type(), "Retryable.RawMidCommit", "{err}");
}

#[tokio::test]
async fn a_date_before_its_predecessor_is_refused_naming_it() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    for d in [1, 2, 4] {
        clean_raw(&store, d).await;
    }
    let (t, _) = transformer(&store, &[]);
    let err = t.run(day(2), "run-2").await.unwrap_err();
    assert!(matches!(err, TransformError::OutOfOrder { previous, .. } if previous == day(1)), "{err}");
    assert_eq!(err.error_type(), "Retryable.OutOfOrder");
    assert!(err.to_string().contains("run transform for 2026-11-01, then 2026-11-02"), "{err}");
    assert!(run_manifest(&store, 2).await.is_none());

    t.run(day(1), "run-1").await.unwrap();
    t.run(day(2), "run-2").await.unwrap();
    // Day 3 has no raw commit: day 4 starts from day 2.
    let summary = t.run(day(4), "run-4").await.unwrap();
    assert_eq!(summary.previous_date, Some(day(2)));
}

#[tokio::test]
async fn events_are_accepted_or_refused_by_zone() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    clean_raw(&store, 1).await;
    let (t, _) = transformer(&store, &[]);
    let created = |key: &str| {
        json!({"version": "0", "id": "e", "detail-type": "Object Created", "source": "aws.s3", "time": "2026-11-01T06:07:41Z",
               "detail": {"bucket": {"name": "data"}, "object": {"key": key}}})
    };
    let err = t.handle(&created("curated/_run/dt=2026-11-01/_manifest.json"), crate::job::Invocation::new()).await.unwrap_err();
    assert!(matches!(err, TransformError::WrongZone { zone: Zone::Curated, .. }), "{err}");
    assert_eq!(err.error_type(), "Permanent.BadEvent");
    assert!(run_manifest(&store, 1).await.is_none());
    assert!(matches!(t.handle(&json!({"day": 1}), crate::job::Invocation::new()).await, Err(TransformError::Trigger(_))));

    let summary = t.handle(&created("raw/_run/dt=2026-11-01/_manifest.json"), crate::job::Invocation::new()).await.unwrap();
    assert_eq!(summary.date, day(1));
    assert_eq!(t.handle(&json!({"date": "2026-11-01"}), crate::job::Invocation::new()).await.unwrap().date, day(1));
}

/// The data objects of a date's curated partitions, as (partition, sha256) in order.
async fn data_digests(store: &Arc<dyn Store>, d: u32) -> Vec<(String, u64, String)> {
    let committed = read_committed(store.as_ref(), Zone::Curated, day(d)).await.unwrap();
    committed.partitions.iter().flat_map(|m| m.objects.iter().map(|o| (m.partition.clone(), o.rows, o.sha256.clone()))).collect()
}

#[tokio::test]
async fn a_rerun_writes_byte_identical_files() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    clean_raw(&store, 1).await;
    raw(
        &store,
        2,
        vec![track(1, "t1"), track(2, "changed")],
        vec![user(10)],
        vec![listen(10, &[1, 2]), listen(404, &[1])],
    )
    .await;
    let (t, _) = transformer(
        &store,
        &[
            ("DQ_MAX_QUARANTINE_SHARE", "0.5"),
            ("DQ_MAX_CURRENT_DROP", "1"),
        ],
    );
    t.run(day(1), "a1").await.unwrap();
    t.run(day(2), "a2").await.unwrap();
    let first = data_digests(&store, 2).await;
    assert!(first.iter().any(|(p, _, _)| p.starts_with("curated/listen_events/")) && first.len() >= 5);
    t.run(day(1), "b1").await.unwrap();
    t.run(day(2), "b2").await.unwrap();
    assert_eq!(data_digests(&store, 2).await, first, "same rows, same bytes, quarantine included");
    let keys: Vec<String> = store.list("curated/tracks/dt=2026-11-02/").await.unwrap().into_iter().map(|o| o.key).collect();
    assert_eq!(keys, ["curated/tracks/dt=2026-11-02/run=b2/_manifest.json", "curated/tracks/dt=2026-11-02/run=b2/part-00000.parquet"], "the old run's parts are gone");
}

mod history;
