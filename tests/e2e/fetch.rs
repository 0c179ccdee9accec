//! The fetch job end to end against the simulator: every row exactly once, under every fault
//! mode, or a clear failure with nothing committed; on a local folder and on S3 (loopback).

use moovitamix::job::Classified;
use chrono::NaiveDate;
use flate2::read::GzDecoder;
use moovitamix::commit::read_committed;
use moovitamix::fetch::{FetchError, Fetcher};
use moovitamix::manifest::{ObjectRole, sha256_hex};
use moovitamix::metrics::{MemorySink, Metric, Metrics};
use moovitamix::partition::Zone;
use moovitamix::records::Entity;
use moovitamix::simulator::{Dataset, Faults, RunningSimulator, SimulatorConfig};
use moovitamix::source::PageSource;
use moovitamix::storage::{LocalStore, S3Store, ScriptedStore, Store};
use serde_json::Value;
use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;
use std::time::Duration;

fn date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 21).unwrap()
}

fn sim_config(faults: Faults) -> SimulatorConfig {
    SimulatorConfig { tracks: 700, users: 450, faults, ..SimulatorConfig::default() }
}

/// A fetcher for `url` writing to `store`, with fast retries and an in-memory metrics sink.
fn fetcher(url: &str, store: Arc<dyn Store>, overrides: &[(&str, &str)]) -> (Fetcher, Arc<MemorySink>) {
    let fast = [
        ("FETCH_BACKOFF_BASE_MS", "5"),
        ("FETCH_BACKOFF_MAX_MS", "1500"),
        ("FETCH_TIMEOUT_MS", "2000"),
        ("FETCH_MAX_ATTEMPTS", "12"),
        ("FETCH_CONCURRENCY", "4"),
        ("FETCH_PART_ROWS", "300"),
    ];
    let jobs = moovitamix_tests::jobs(url, store, &[&fast[..], overrides].concat());
    (jobs.fetcher, jobs.fetch_metrics)
}

fn gunzip_lines(data: &[u8]) -> Vec<Value> {
    let mut text = String::new();
    GzDecoder::new(data).read_to_string(&mut text).unwrap();
    text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Reads a committed raw date back as a reader would: through the run manifest, verifying every
/// object's size and checksum. Returns rows and quarantined rows per entity.
async fn read_back(store: &dyn Store) -> HashMap<Entity, (Vec<Value>, Vec<Value>)> {
    let committed = read_committed(store, Zone::Raw, date()).await.unwrap();
    assert_eq!(committed.partitions.len(), 3);
    let mut out = HashMap::new();
    for manifest in committed.partitions {
        let entity = Entity::ALL.into_iter().find(|e| manifest.partition == format!("raw/{e}/dt=2026-11-21/")).unwrap();
        let (mut rows, mut rejected) = (Vec::new(), Vec::new());
        for object in &manifest.objects {
            let data = store.get(&object.key).await.unwrap().data;
            assert_eq!((data.len() as u64, sha256_hex(&data)), (object.bytes, object.sha256.clone()), "{}", object.key);
            let lines = gunzip_lines(&data);
            assert_eq!(lines.len() as u64, object.rows);
            match object.role {
                ObjectRole::Data => rows.extend(lines),
                ObjectRole::Quarantine => rejected.extend(lines),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(manifest.count("accepted"), rows.len() as u64);
        assert_eq!(manifest.count("rejected"), rejected.len() as u64);
        out.insert(entity, (rows, rejected));
    }
    out
}

fn expected_rows(config: &SimulatorConfig, entity: Entity) -> Vec<Value> {
    Dataset::new(config).rows(entity.as_str()).collect()
}

#[tokio::test]
async fn every_row_lands_exactly_once_in_a_committed_partition() {
    let config = sim_config(Faults::default());
    let sim = RunningSimulator::start(config.clone()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(LocalStore::new(dir.path().to_path_buf()));
    let (fetcher, metrics) = fetcher(&sim.url(), store.clone(), &[]);

    let summary = fetcher.run(date(), "run-a").await.unwrap();
    let got = read_back(store.as_ref()).await;
    for entity in Entity::ALL {
        let (rows, rejected) = &got[&entity];
        assert_eq!(rows, &expected_rows(&config, entity), "{entity}: rows as served, in order");
        assert!(rejected.is_empty());
        assert_eq!(summary.entities[&entity].accepted, rows.len() as u64);
        assert_eq!(metrics.total(Metric::RowsFetched, Some(entity.as_str())), rows.len() as f64);
    }
    // The source routinely serves updated_at < created_at: warned, not rejected.
    let warned = summary.entities[&Entity::Tracks].warned;
    assert!(warned > 100 && warned < 350, "about a quarter of 700 tracks: {warned}");
    assert!(got[&Entity::Tracks].0.len() > 300, "several parts of 300 rows were written");
    assert_eq!(metrics.total(Metric::RunSucceeded, None), 1.0);
    assert_eq!(metrics.total(Metric::RunFailed, None), 0.0);
    assert!(metrics.total(Metric::BytesWritten, None) > 0.0);
    sim.shutdown().await;
}

#[tokio::test]
async fn transient_faults_are_retried_and_the_result_is_the_same() {
    let clean = sim_config(Faults::default());
    let faults = [
        ("5xx", Faults { error_rate: 0.3, ..Faults::default() }),
        ("429", Faults { rate_limit_rate: 0.15, retry_after_secs: 1, ..Faults::default() }),
        ("truncated", Faults { truncate_rate: 0.3, ..Faults::default() }),
        ("html", Faults { html_rate: 0.3, ..Faults::default() }),
        ("timeout", Faults { timeout_rate: 0.1, timeout: Duration::from_secs(5), ..Faults::default() }),
        ("latency", Faults { latency: Duration::from_millis(20), latency_jitter: Duration::from_millis(30), ..Faults::default() }),
    ];
    for (name, faults) in faults {
        let sim = RunningSimulator::start(sim_config(faults)).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(LocalStore::new(dir.path().to_path_buf()));
        let (fetcher, metrics) = fetcher(&sim.url(), store.clone(), &[("FETCH_TIMEOUT_MS", "500")]);
        let summary = fetcher.run(date(), "run-f").await.unwrap_or_else(|e| panic!("{name}: {e}"));
        let got = read_back(store.as_ref()).await;
        for entity in Entity::ALL {
            assert_eq!(got[&entity].0, expected_rows(&clean, entity), "{name}: {entity}");
        }
        let retries: u64 = summary.entities.values().map(|s| s.retries).sum();
        let fired: u64 = sim.control().stats().faults.values().sum();
        if name != "latency" {
            assert!(retries > 0 && fired > 0, "{name}: the fault fired and was retried");
            assert_eq!(retries, fired, "{name}: one retry per injected fault");
            assert_eq!(metrics.total(Metric::HttpRetries, None), retries as f64);
        }
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn malformed_rows_are_quarantined_with_reasons_and_nothing_is_lost() {
    let config = sim_config(Faults { malformed_rate: 0.05, ..Faults::default() });
    let sim = RunningSimulator::start(config.clone()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(LocalStore::new(dir.path().to_path_buf()));
    // About 4% rejected, more for some entity: above the default gate (tests/e2e/bad_days.rs).
    let (fetcher, _) = fetcher(&sim.url(), store.clone(), &[("FETCH_MAX_REJECTED_SHARE", "0.2")]);
    let summary = fetcher.run(date(), "run-m").await.unwrap();
    let got = read_back(store.as_ref()).await;
    let mut total_rejected = 0;
    for entity in Entity::ALL {
        let (rows, rejected) = &got[&entity];
        let served = Dataset::new(&config).len(entity.as_str());
        assert_eq!(rows.len() + rejected.len(), served, "{entity}: every served row is somewhere");
        for q in rejected {
            let reasons = q["reasons"].as_array().unwrap();
            assert!(!reasons.is_empty() && reasons[0]["check"].is_string() && reasons[0]["detail"].is_string(), "{q}");
            assert!(q["row"].is_object() || !q["row"].is_null(), "the row is kept as served: {q}");
            let page = q["source"].as_str().unwrap().strip_prefix(&format!("{entity}?page=")).map(|p| p.parse::<u64>().unwrap());
            assert!(page.is_some_and(|p| p >= 1), "the endpoint and page it was served on: {q}");
            assert!((1..=100).contains(&q["line"].as_u64().unwrap()), "its place in the page (pages hold at most 100 rows): {q}");
        }
        total_rejected += rejected.len();
        assert_eq!(summary.entities[&entity].rejected, rejected.len() as u64);
    }
    assert!(total_rejected > 20, "about 5% of {} rows: {total_rejected}", 700 + 450 * 2);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_total_that_changes_mid_run_starts_the_endpoint_over_once() {
    let faults = Faults { total_change_after: Some(3), ..Faults::default() };
    let sim = RunningSimulator::start(sim_config(faults)).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(LocalStore::new(dir.path().to_path_buf()));
    let (fetcher, _) = fetcher(&sim.url(), store.clone(), &[("FETCH_CONCURRENCY", "1")]);
    let summary = fetcher.run(date(), "run-t").await.unwrap();
    let got = read_back(store.as_ref()).await;
    for entity in Entity::ALL {
        assert_eq!(summary.entities[&entity].restarts, 1, "{entity}");
        let now_served = fetcher.source.first_page(entity.as_str()).await.unwrap().page.total;
        let unchanged = Dataset::new(&sim_config(Faults::default())).len(entity.as_str()) as u64;
        assert_ne!(now_served, unchanged, "{entity}: the total did change");
        assert_eq!(summary.entities[&entity].accepted, now_served, "{entity}: the second pass read the new listing whole");
        assert_eq!(got[&entity].0.len() as u64, now_served);
    }
    // Only the second attempt's parts remain.
    let parts = store.list("raw/tracks/").await.unwrap();
    assert_eq!(parts.iter().filter(|o| o.key.contains("/part-")).count(), got[&Entity::Tracks].0.len().div_ceil(300));
    sim.shutdown().await;
}

#[tokio::test]
async fn an_endpoint_that_cannot_be_read_fails_the_run_and_commits_nothing() {
    let config = sim_config(Faults::default());
    let sim = RunningSimulator::start(config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(LocalStore::new(dir.path().to_path_buf()));
    let (fetcher, metrics) = fetcher(&sim.url(), store.clone(), &[("FETCH_MAX_ATTEMPTS", "3")]);
    fetcher.run(date(), "run-ok").await.unwrap();
    let data = |objects: Vec<moovitamix::storage::ObjectMeta>| objects.into_iter().filter(|o| !o.key.ends_with("_lease.json")).collect::<Vec<_>>();
    let before = data(store.list("").await.unwrap());

    sim.control().set_faults(Faults { fail_endpoint: Some("users".into()), ..Faults::default() });
    let err = fetcher.run(date(), "run-bad").await.unwrap_err();
    assert!(matches!(&err, FetchError::Source { entity: Entity::Users, .. }), "{err}");
    assert_eq!(err.error_type(), "Retryable.SourceUnavailable");
    assert!(err.to_string().contains("/users?page=1"), "the error names what failed: {err}");
    assert_eq!(data(store.list("").await.unwrap()), before, "the previous commit is untouched, nothing of run-bad remains");
    assert_eq!(read_committed(store.as_ref(), Zone::Raw, date()).await.unwrap().run.run_id, "run-ok");
    assert_eq!(metrics.total(Metric::RunFailed, None), 1.0);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_rerun_gives_the_same_rows_and_concurrent_runs_do_not_mix() {
    let sim = RunningSimulator::start(sim_config(Faults::default())).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(LocalStore::new(dir.path().to_path_buf()));
    // No waiting for a held lease: the second of two concurrent runs is refused at once.
    let (fetcher, _) = fetcher(&sim.url(), store.clone(), &[("LEASE_WAIT_SECONDS", "0")]);
    fetcher.run(date(), "run-1").await.unwrap();
    let first = read_back(store.as_ref()).await;
    let files_after_first = store.list("").await.unwrap().len();
    fetcher.run(date(), "run-2").await.unwrap();
    assert_eq!(read_back(store.as_ref()).await, first);
    let keys: Vec<String> = store.list("").await.unwrap().into_iter().map(|o| o.key).collect();
    assert_eq!(keys.len(), files_after_first, "no stray objects: {keys:?}");
    assert!(keys.iter().all(|k| !k.contains("run-1")), "run-1's objects are gone: {keys:?}");

    // Two runs at once, for sure: run-3 stalls before its commit write, holding the date's
    // lease, while run-4 runs whole; then run-3 goes on.
    let scripted = Arc::new(ScriptedStore::new(store.clone()));
    let pause = scripted.pause_before_put_to(&format!("raw/_run/dt={}/_manifest.json", date()));
    let stalled = Fetcher { store: scripted.clone(), ..fetcher.clone() };
    let run_3 = tokio::spawn(async move { stalled.run(date(), "run-3").await });
    pause.reached().await;
    let b = fetcher.run(date(), "run-4").await;
    pause.resume();
    let a = run_3.await.unwrap();
    let busy = [&a, &b].iter().filter(|r| matches!(r, Err(FetchError::Commit(moovitamix::commit::CommitError::Busy { .. })))).count();
    assert!(a.is_ok() || b.is_ok(), "one of two concurrent runs commits");
    assert_eq!(busy + [&a, &b].iter().filter(|r| r.is_ok()).count(), 2, "the other is refused as busy: {a:?} {b:?}");
    assert_eq!((a.is_ok(), busy), (true, 1), "exactly one commits (the lease holder), the other is refused: {a:?} {b:?}");
    let winner = if a.is_ok() { "run-3" } else { "run-4" };
    let committed = read_committed(store.as_ref(), Zone::Raw, date()).await.unwrap();
    assert!(committed.partitions.iter().all(|m| m.run_id == winner));
    assert_eq!(read_back(store.as_ref()).await, first);
    sim.shutdown().await;
}

#[tokio::test]
#[cfg_attr(not(loopback_aws), ignore = "needs the loopback AWS server: AWS_ENDPOINT_URL (bash tests/run.sh starts LocalStack)")]
async fn fetch_writes_to_s3_and_publishes_metrics_to_cloudwatch() {
    let Some(aws) = moovitamix_tests::aws::loopback_aws() else { return };
    let bucket = aws.fresh_bucket("fetch").await;
    let sim = RunningSimulator::start(sim_config(Faults::default())).await.unwrap();
    let store: Arc<dyn Store> = Arc::new(S3Store::new(aws.s3(), bucket.clone(), "pipeline".into()));

    let namespace = format!("MooVitamixTest/{bucket}");
    let sink = Arc::new(moovitamix::metrics::CloudWatchSink::new(aws.cloudwatch()));
    let (mut fetcher, _) = fetcher(&sim.url(), store.clone(), &[]);
    fetcher.metrics = Metrics::new("fetch", namespace.clone(), sink);
    let summary = fetcher.run(date(), "run-s3").await.unwrap();
    let got = read_back(store.as_ref()).await;
    let clean = sim_config(Faults::default());
    for entity in Entity::ALL {
        assert_eq!(got[&entity].0, expected_rows(&clean, entity), "{entity}");
    }
    // The objects are where the layout says, under the bucket's prefix.
    let listed = aws.s3().list_objects_v2().bucket(&bucket).prefix("pipeline/raw/_run/").send().await.unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, ["pipeline/raw/_run/dt=2026-11-21/_lease.json", "pipeline/raw/_run/dt=2026-11-21/_manifest.json"]);

    // The metric points read back through CloudWatch's own API.
    let cloudwatch = aws.cloudwatch();
    let now = std::time::SystemTime::now();
    let stats = cloudwatch
        .get_metric_statistics()
        .namespace(&namespace)
        .metric_name("RowsFetched")
        .dimensions(aws_sdk_cloudwatch::types::Dimension::builder().name("Function").value("fetch").build())
        .dimensions(aws_sdk_cloudwatch::types::Dimension::builder().name("Entity").value("tracks").build())
        .start_time((now - Duration::from_secs(600)).into())
        .end_time((now + Duration::from_secs(600)).into())
        .period(60)
        .statistics(aws_sdk_cloudwatch::types::Statistic::Sum)
        .send()
        .await
        .unwrap();
    let sum: f64 = stats.datapoints().iter().filter_map(|d| d.sum()).sum();
    assert_eq!(sum, summary.entities[&Entity::Tracks].accepted as f64);
    sim.shutdown().await;
}
