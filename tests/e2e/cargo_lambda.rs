//! The Lambda binaries, run by cargo-lambda's emulator exactly as Lambda would run them: `fetch`
//! against the in-process simulator of the source API (every accepted trigger shape gives the
//! right logical date and commits the raw partitions; an unknown event is refused), and
//! `transform` on what fetch committed (a manual date, the S3 event of fetch's commit), and
//! `recommend` in each of its modes (score, train, rollback, unpin).
//!
//! Needs `cargo lambda` (installed by `tests/run.sh`); skips without it on a developer's machine.
//! With the loopback AWS server up, the function's metrics go to its CloudWatch and are checked
//! too (the alarms in infra/template.yaml depend on their names).

use aws_sdk_cloudwatch::types::{Dimension, Statistic};
use moovitamix::config::Config;
use moovitamix::fetch::Fetcher;
use moovitamix::simulator::{RunningSimulator, SimulatorConfig};
use moovitamix_tests::aws::{LoopbackAws, error_chain, loopback_aws, unique_bucket_name};
use moovitamix_tests::events::event_path;
use moovitamix_tests::lambda::{LambdaEmulator, LambdaError};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, SystemTime};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_runs_under_cargo_lambda_for_every_trigger_shape() {
    let simulator = RunningSimulator::start(SimulatorConfig::default()).await.expect("starting the simulator");
    let data = tempfile::tempdir().expect("a temporary data folder");
    let data_url = data.path().to_str().expect("a UTF-8 temporary path").to_owned();
    let sim_url = simulator.url();

    let aws = loopback_aws();
    let namespace = format!("MooVitamixTest/{}", unique_bucket_name("cargo-lambda"));
    let mut env: Vec<(String, String)> = vec![
        ("SOURCE_API_URL".into(), sim_url),
        ("DATA_URL".into(), data_url),
        ("RUST_LOG".into(), "info".into()),
        // The schedule samples carry a fixed time, older every day than FETCH_MAX_PAST_DAYS
        // allows; the manual sample says `"allow_past": true` itself.
        ("FETCH_MAX_PAST_DAYS".into(), "3650".into()),
    ];
    match &aws {
        // Metrics to the loopback CloudWatch, in a namespace of this test only.
        Some(aws) => {
            env.extend(aws.child_env());
            env.push(("METRICS_BACKEND".into(), "cloudwatch".into()));
            env.push(("METRICS_NAMESPACE".into(), namespace.clone()));
        }
        None => env.push(("METRICS_BACKEND".into(), "log".into())),
    }
    let env_refs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let Some(emulator) = LambdaEmulator::start("fetch", &env_refs).await.unwrap_or_else(|e| panic!("{e}")) else { return };

    // The scheduler event names the same day as the scheduled event: a re-run of a committed day.
    for (event, date, first_run_of_date) in [
        ("fetch-scheduled-event.json", "2026-11-21", true),
        ("fetch-scheduler.json", "2026-11-21", false),
        ("fetch-manual.json", "2026-11-20", true),
    ] {
        let summary = emulator
            .invoke("fetch", &event_path(event))
            .await
            .unwrap_or_else(|e| panic!("fetch with {event}: {e}\n--- emulator output ---\n{}", emulator.log()));
        check_summary(&summary, event, date, first_run_of_date, data.path());
    }

    let refused = emulator.invoke("fetch", &event_path("fetch-invalid.json")).await;
    match refused {
        // `cargo lambda invoke` prints the function's error as `Error: <error_type>` and its message.
        Err(LambdaError::Invoke { stderr, .. }) => {
            let error_type = stderr.lines().find_map(|l| l.trim().strip_prefix("Error: ")).unwrap_or_default();
            assert!(!error_type.trim().is_empty(), "fetch-invalid.json: no `Error: <type>` line in {stderr}");
            assert!(stderr.lines().count() > 1, "fetch-invalid.json: the error carries no message: {stderr}");
            println!("fetch-invalid.json refused as expected: {error_type}");
        }
        Err(other) => panic!("fetch-invalid.json: expected the function to return an error, got {other}"),
        Ok(summary) => panic!("fetch-invalid.json must be refused, but the function answered {summary}"),
    }

    if let Some(aws) = &aws {
        check_metrics(aws, &namespace).await;
    }
    drop(emulator);
    simulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transform_runs_under_cargo_lambda_on_fetched_dates() {
    let simulator = RunningSimulator::start(SimulatorConfig::default()).await.expect("starting the simulator");
    let data = tempfile::tempdir().expect("a temporary data folder");
    let data_url = data.path().to_str().expect("a UTF-8 temporary path").to_owned();
    let config = Config::from_lookup(|k| match k {
        "SOURCE_API_URL" => Some(simulator.url()),
        "DATA_URL" => Some(data_url.clone()),
        "METRICS_BACKEND" => Some("log".into()),
        _ => None,
    })
    .unwrap();
    let fetcher = Fetcher::from_config(&config, &moovitamix::aws::AwsConfig::new()).await.unwrap();
    for date in ["2026-11-20", "2026-11-21"] {
        fetcher.run(date.parse().unwrap(), &format!("fetch-{date}")).await.unwrap();
    }
    simulator.shutdown().await;

    let env = [("DATA_URL", data_url.as_str()), ("METRICS_BACKEND", "log"), ("PII_SALT", "cargo-lambda-test-salt"), ("RUST_LOG", "info")];
    let Some(emulator) = LambdaEmulator::start("transform", &env).await.unwrap_or_else(|e| panic!("{e}")) else { return };
    let first_day = data.path().join("transform-2026-11-20.json");
    std::fs::write(&first_day, r#"{"date": "2026-11-20"}"#).unwrap();
    // The first date onto an empty history, the next onto it, then a re-run from fetch's S3 event.
    for (event, date, previous) in [
        (first_day.clone(), "2026-11-20", Value::Null),
        (event_path("transform-manual.json"), "2026-11-21", Value::from("2026-11-20")),
        (event_path("transform-s3-object-created.json"), "2026-11-21", Value::from("2026-11-20")),
    ] {
        let summary = emulator
            .invoke("transform", &event)
            .await
            .unwrap_or_else(|e| panic!("transform with {}: {e}\n--- emulator output ---\n{}", event.display(), emulator.log()));
        assert_eq!((&summary["date"], &summary["previous_date"]), (&Value::from(date), &previous), "{summary:#}");
        assert!(summary["tables"]["tracks"]["rows_out"].as_u64().is_some_and(|n| n > 0), "{summary:#}");
        let manifest = data.path().join(format!("curated/_run/dt={date}/_manifest.json"));
        assert!(manifest.is_file(), "{} does not exist", manifest.display());
    }
    match emulator.invoke("transform", &event_path("fetch-invalid.json")).await {
        Err(LambdaError::Invoke { stderr, .. }) => assert!(stderr.contains("Permanent.BadEvent"), "{stderr}"),
        other => panic!("fetch-invalid.json must be refused by transform, got {other:?}"),
    }

    // The erasure event: the sample's user is not in the data; a served user is erased everywhere.
    let nobody = emulator.invoke("transform", &event_path("transform-erase.json")).await.unwrap_or_else(|e| panic!("erase: {e}"));
    assert_eq!((&nobody["user_ids"], nobody["rewritten"].as_array().map(Vec::len)), (&serde_json::json!([4242]), Some(0)), "{nobody:#}");
    let raw_users = |date: &str| -> Vec<Value> {
        let folder = std::fs::read_dir(data.path().join(format!("raw/users/dt={date}"))).unwrap();
        let mut rows = Vec::new();
        for entry in folder.flatten().filter(|e| e.file_name().to_string_lossy().starts_with("run=")) {
            for part in std::fs::read_dir(entry.path()).unwrap().flatten().filter(|p| p.file_name().to_string_lossy().ends_with(".jsonl.gz")) {
                let mut text = String::new();
                std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(std::fs::File::open(part.path()).unwrap()), &mut text).unwrap();
                rows.extend(text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()));
            }
        }
        rows
    };
    let user = raw_users("2026-11-21")[0].clone();
    let erase = data.path().join("erase.json");
    std::fs::write(&erase, serde_json::json!({"erase_user_id": user["id"]}).to_string()).unwrap();
    let erased = emulator.invoke("transform", &erase).await.unwrap_or_else(|e| panic!("erase: {e}\n{}", emulator.log()));
    let zones: Vec<&str> = erased["rewritten"].as_array().unwrap().iter().filter_map(|d| d["zone"].as_str()).collect();
    assert!(zones.contains(&"curated") && zones.contains(&"raw"), "curated and raw dates rewritten: {erased:#}");
    for date in ["2026-11-20", "2026-11-21"] {
        let rows = raw_users(date);
        // By id: the simulator's addresses are not unique (another user may share this one).
        for row in rows.iter().filter(|r| r["id"] == user["id"]) {
            assert!(["email", "first_name", "last_name"].iter().all(|f| row[*f].is_null()), "{date}: personal data left in raw: {row}");
        }
    }
    let bad = data.path().join("erase-bad.json");
    std::fs::write(&bad, r#"{"erase_user_id": "everyone"}"#).unwrap();
    match emulator.invoke("transform", &bad).await {
        Err(LambdaError::Invoke { stderr, .. }) => assert!(stderr.contains("Permanent.BadEvent"), "{stderr}"),
        other => panic!("a malformed erasure must be refused, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recommend_runs_under_cargo_lambda_in_every_mode() {
    let data = tempfile::tempdir().expect("a temporary data folder");
    let data_url = data.path().to_str().expect("a UTF-8 temporary path").to_owned();
    curated_days(&data_url, &["2026-11-20", "2026-11-21"]).await;

    let env = [("DATA_URL", data_url.as_str()), ("METRICS_BACKEND", "log"), ("RUST_LOG", "info")];
    let Some(emulator) = LambdaEmulator::start("recommend", &env).await.unwrap_or_else(|e| panic!("{e}")) else { return };
    let invoke = |event: &'static str| {
        let emulator = &emulator;
        async move {
            emulator
                .invoke("recommend", &event_path(event))
                .await
                .unwrap_or_else(|e| panic!("recommend with {event}: {e}\n--- emulator output ---\n{}", emulator.log()))
        }
    };
    // Score: no champion yet, so it trains first, then writes the day's lists.
    let scored = invoke("recommend-score.json").await;
    assert_eq!((&scored["mode"], &scored["date"]), (&Value::from("score"), &Value::from("2026-11-21")), "{scored:#}");
    let first = scored["trained"]["version"].as_str().expect("the first score run trains").to_owned();
    assert_eq!(scored["model_version"], first.as_str());
    assert!(scored["rows"].as_u64().is_some_and(|n| n > 0), "{scored:#}");
    assert!(data.path().join("recommendations/_run/dt=2026-11-21/_manifest.json").is_file());
    // Train: the weekly schedule's event trains on the latest curated date.
    let trained = invoke("recommend-train.json").await;
    assert_eq!((&trained["mode"], &trained["date"]), (&Value::from("train"), &Value::from("2026-11-21")), "{trained:#}");
    assert!(trained["evaluation"]["candidate"]["ndcg_at_10"].as_f64().is_some(), "{trained:#}");
    // Rollback: the sample names a version that does not exist here, so it is refused, saying so.
    match emulator.invoke("recommend", &event_path("recommend-rollback.json")).await {
        Err(LambdaError::Invoke { stderr, .. }) => {
            assert!(stderr.contains("Permanent.NoSuchVersion") && stderr.contains(&first), "names the stored versions: {stderr}")
        }
        other => panic!("a rollback to an unknown version must fail, got {other:?}"),
    }
    let rollback = data.path().join("rollback.json");
    std::fs::write(&rollback, serde_json::json!({"mode": "rollback", "version": first}).to_string()).unwrap();
    let rolled = emulator.invoke("recommend", &rollback).await.unwrap_or_else(|e| panic!("rollback: {e}"));
    assert_eq!(rolled["champion"]["version"], first.as_str(), "{rolled:#}");
    assert_eq!(rolled["champion"]["pinned"], true, "a rollback pins: {rolled:#}");
    // Unpin: the sample event lets automatic retraining replace the champion again.
    let unpinned = invoke("recommend-unpin.json").await;
    assert_eq!((&unpinned["mode"], &unpinned["was_pinned"], &unpinned["champion"]["pinned"]), (&Value::from("unpin"), &Value::from(true), &Value::from(false)), "{unpinned:#}");
}

/// Fetches (from a simulator) and transforms `dates` into `data_url` through the library.
async fn curated_days(data_url: &str, dates: &[&str]) {
    let simulator = RunningSimulator::start(SimulatorConfig::default()).await.expect("starting the simulator");
    let config = Config::from_lookup(|k| match k {
        "SOURCE_API_URL" => Some(simulator.url()),
        "DATA_URL" => Some(data_url.to_owned()),
        "METRICS_BACKEND" => Some("log".into()),
        _ => None,
    })
    .unwrap();
    let aws = moovitamix::aws::AwsConfig::new();
    let fetcher = Fetcher::from_config(&config, &aws).await.unwrap();
    let transformer = moovitamix::transform::Transformer::from_config(&config, &aws).await.unwrap();
    for date in dates {
        fetcher.run(date.parse().unwrap(), &format!("fetch-{date}")).await.unwrap();
        transformer.run(date.parse().unwrap(), &format!("transform-{date}")).await.unwrap();
    }
    simulator.shutdown().await;
}

/// The summary contract: `{"date", "run_id", "entities": {"tracks": {"accepted": N, ..}, ..}, "manifests": [..]}`,
/// and the tracks partition's manifest of the run on disk.
fn check_summary(summary: &Value, event: &str, date: &str, first_run_of_date: bool, data: &Path) {
    assert_eq!(summary["date"], date, "{event}: wrong logical date in {summary:#}");
    assert!(!summary["run_id"].is_null(), "{event}: no run_id in {summary:#}");
    for entity in ["tracks", "users", "listen_history"] {
        let accepted = &summary["entities"][entity]["accepted"];
        let expected = if first_run_of_date { "a count > 0" } else { "a count" };
        assert!(
            accepted.as_u64().is_some_and(|n| n > 0 || !first_run_of_date),
            "{event}: entities.{entity}.accepted is {accepted}, expected {expected}, in {summary:#}"
        );
    }
    let manifests: Vec<&str> =
        summary["manifests"].as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
    // The run's own manifest of the tracks partition, in its run folder.
    let tracks_manifest = format!("raw/tracks/dt={date}/run={}/_manifest.json", summary["run_id"].as_str().unwrap_or_default());
    assert!(manifests.contains(&tracks_manifest.as_str()), "{event}: manifests {manifests:?} do not name {tracks_manifest}");
    let on_disk = data.join(&tracks_manifest);
    assert!(on_disk.is_file(), "{event}: {} does not exist", on_disk.display());
}

/// The metric names and dimensions the alarms and the dashboard use.
async fn check_metrics(aws: &LoopbackAws, namespace: &str) {
    let cloudwatch = aws.cloudwatch();
    let now = SystemTime::now();
    let sum = |metric: &'static str, dimensions: Vec<(&'static str, &'static str)>| {
        let cloudwatch = cloudwatch.clone();
        async move {
            let mut request = cloudwatch
                .get_metric_statistics()
                .namespace(namespace)
                .metric_name(metric)
                .start_time((now - Duration::from_secs(3600)).into())
                .end_time((now + Duration::from_secs(600)).into())
                .period(60)
                .statistics(Statistic::Sum);
            for (name, value) in dimensions {
                request = request.dimensions(Dimension::builder().name(name).value(value).build());
            }
            let stats = request.send().await.unwrap_or_else(|e| panic!("GetMetricStatistics {metric}: {}", error_chain(&e)));
            stats.datapoints().iter().filter_map(|d| d.sum()).sum::<f64>()
        }
    };
    let succeeded = sum("RunSucceeded", vec![("Function", "fetch")]).await;
    // At least the two first runs of a date; whether a re-run of a committed day counts is the function's call.
    assert!(succeeded >= 2.0, "RunSucceeded{{Function=fetch}} in {namespace} is {succeeded}, expected one per successful run");
    let rows = sum("RowsFetched", vec![("Function", "fetch"), ("Entity", "tracks")]).await;
    assert!(rows > 0.0, "RowsFetched{{Function=fetch,Entity=tracks}} in {namespace} is {rows}");
}

/// A function that cannot start (transform without a salt, in Lambda) answers each invocation with
/// why, at once, so that `cargo lambda invoke` ends with that error instead of waiting for a
/// function that never asks for work; the emulator keeps serving the other functions.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_that_cannot_start_answers_every_invocation_with_why() {
    let data = tempfile::tempdir().expect("a temporary data folder");
    let data_url = data.path().to_str().expect("a UTF-8 temporary path").to_owned();
    let env = [("DATA_URL", data_url.as_str()), ("METRICS_BACKEND", "log")];
    let Some(emulator) = LambdaEmulator::start("transform", &env).await.unwrap_or_else(|e| panic!("{e}")) else { return };
    for attempt in 1..=2 {
        let started = std::time::Instant::now();
        match emulator.invoke("transform", &event_path("transform-manual.json")).await {
            Err(LambdaError::Invoke { stderr, .. }) => {
                assert!(stderr.contains("Permanent.Configuration") && stderr.contains("transform cannot start") && stderr.contains("PII_SALT"), "{stderr}")
            }
            other => panic!("attempt {attempt}: transform without a salt must fail, saying why; got {other:?}\n{}", emulator.log()),
        }
        // The first invoke may include the emulator's build of the function (minutes on a busy
        // machine); the second finds it built, and a function that answers at once answers far
        // below the invoke timeout, where one that never asked for work would wait it out.
        if attempt == 2 {
            assert!(started.elapsed() < Duration::from_secs(120), "attempt {attempt} took {:?}", started.elapsed());
        }
    }
    // The same emulator serves recommend, which starts (and finds nothing to score yet).
    match emulator.invoke("recommend", &event_path("recommend-score.json")).await {
        Err(LambdaError::Invoke { stderr, .. }) => assert!(!stderr.contains("cannot start"), "{stderr}"),
        other => panic!("recommend on an empty folder must fail for want of data, got {other:?}"),
    }
}
