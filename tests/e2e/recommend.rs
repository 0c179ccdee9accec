//! The whole daily pipeline end to end: the simulator evolving over several days, fetched,
//! transformed and scored day by day; recommendations read back by DuckDB (an independent
//! reader); the same days on S3 (loopback), with the champion pointer's conditional writes.

use chrono::{Days, NaiveDate};
use moovitamix::config::{Config, Secret};
use moovitamix::fetch::Fetcher;
use moovitamix::metrics::{MemorySink, Metric, Metrics};
use moovitamix::recommend::model_store::{ModelStore, ModelStoreError};
use moovitamix::curated::{Reason, Recommendation};
use moovitamix::recommend::request::Request;
use moovitamix::recommend::{Outcome, Recommender, ScoreSummary, read_recommendations};
use moovitamix::simulator::{Dataset, RunningSimulator, SimulatorConfig};
use moovitamix::storage::{LocalStore, S3Store, Store};
use moovitamix::transform::Transformer;
use moovitamix::transform::pii::Pii;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

fn start() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()
}

fn day(k: u64) -> NaiveDate {
    start() + Days::new(k)
}

fn sim_config() -> SimulatorConfig {
    SimulatorConfig { tracks: 400, users: 500, listens_per_user: 10, start_date: start(), date: start(), ..SimulatorConfig::default() }
}

fn served(k: u64, entity: &str) -> Vec<Value> {
    Dataset::new(&SimulatorConfig { date: day(k), ..sim_config() }).rows(entity).collect()
}

struct Pipeline {
    fetcher: Fetcher,
    transformer: Transformer,
    recommender: Recommender,
    metrics: Arc<MemorySink>,
}

fn pipeline(url: &str, store: Arc<dyn Store>) -> Pipeline {
    let env: HashMap<&str, &str> = [("SOURCE_API_URL", url), ("FETCH_CONCURRENCY", "4"), ("DQ_MAX_ROW_COUNT_CHANGE", "1")].into();
    let config = Config::from_lookup(|k| env.get(k).map(|v| v.to_string())).unwrap();
    let sink = Arc::new(MemorySink::default());
    let metrics = |function| Metrics::new(function, "MooVitamix/Test", sink.clone());
    Pipeline {
        fetcher: Fetcher {
            store: store.clone(),
            source: moovitamix::source::SourceClient::new(config.source.clone()).unwrap(),
            metrics: metrics("fetch"),
            part_rows: config.part_rows,
            limits: config.fetch,
            commit: config.commit(),
        },
        transformer: Transformer {
            store: store.clone(),
            metrics: metrics("transform"),
            pii: Pii::new(Secret::new("e2e-salt"), false),
            config: config.transform,
            commit: moovitamix::commit::CommitSettings::default(),
        },
        recommender: Recommender { store, metrics: metrics("recommend"), config: config.recommend, commit: moovitamix::commit::CommitSettings::default() },
        metrics: sink,
    }
}

/// Fetches, transforms and scores days 0..days; returns each day's score summary.
async fn run_days(store: Arc<dyn Store>, days: u64) -> (Vec<ScoreSummary>, Arc<MemorySink>) {
    let sim = RunningSimulator::start(sim_config()).await.unwrap();
    let p = pipeline(&sim.url(), store);
    let mut summaries = Vec::new();
    for k in 0..days {
        sim.control().set_date(day(k));
        p.fetcher.run(day(k), &format!("fetch-{k}")).await.unwrap();
        p.transformer.run(day(k), &format!("transform-{k}")).await.unwrap();
        match p.recommender.run(Request::Score { date: day(k) }, &format!("2026110{}T070000Z-score", k + 1)).await.unwrap() {
            Outcome::Score(s) => summaries.push(s),
            other => panic!("{other:?}"),
        }
    }
    sim.shutdown().await;
    (summaries, p.metrics)
}

/// Each user's listened tracks on day `k`, as the simulator served them.
fn heard_on(k: u64) -> HashMap<i64, HashSet<i64>> {
    let mut heard: HashMap<i64, HashSet<i64>> = HashMap::new();
    for row in served(k, "listen_history") {
        heard.entry(row["user_id"].as_i64().unwrap()).or_default().extend(row["items"].as_array().unwrap().iter().map(|t| t.as_i64().unwrap()));
    }
    heard
}

/// Each current user of day `k` has ten current tracks they never listened to, ranked 1..=10;
/// users without listens get cold start, users whose listens are those of day 0 (the model was
/// trained on them) the model. Changed users are folded in, or get cold start when the model
/// knows fewer of their listens than the training run found it needs to beat cold start.
fn check_lists(rows: &[Recommendation], k: u64) {
    let users: HashSet<i64> = served(k, "users").iter().map(|u| u["id"].as_i64().unwrap()).collect();
    let tracks: HashSet<i64> = served(k, "tracks").iter().map(|t| t["id"].as_i64().unwrap()).collect();
    let (mut heard, trained_on) = (heard_on(k), heard_on(0));
    let mut lists: HashMap<i64, Vec<&Recommendation>> = HashMap::new();
    for r in rows {
        lists.entry(r.user_id).or_default().push(r);
    }
    assert_eq!(lists.keys().copied().collect::<HashSet<_>>(), users, "day {k}: a list for every current user");
    for (user, list) in lists {
        assert_eq!(list.iter().map(|r| r.rank).collect::<Vec<_>>(), (1..=10).collect::<Vec<_>>(), "user {user}");
        let own = heard.remove(&user).unwrap_or_default();
        assert!(list.iter().all(|r| tracks.contains(&r.track_id) && !own.contains(&r.track_id)), "user {user}: current tracks not yet heard");
        if own.is_empty() {
            assert_eq!(list[0].reason, Reason::ColdStart, "user {user}");
        } else if trained_on.get(&user) == Some(&own) {
            // The model's list; a track new since training may lead it by its trend (the drift blend).
            assert!(list[0].reason != Reason::ColdStart && list.iter().any(|r| r.reason == Reason::Cf), "user {user}: {list:?}");
        }
    }
}

#[tokio::test]
async fn three_days_of_the_pipeline_give_recommendations_that_beat_popularity() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(LocalStore::new(dir.path().to_path_buf()));
    let (summaries, metrics) = run_days(store.clone(), 3).await;

    let first = summaries[0].trained.as_ref().expect("day 0 has no champion yet: the score run trains");
    assert!(first.promoted, "{first:?}");
    let (cf, pop) = (first.evaluation.candidate.ndcg_at_10, first.evaluation.baseline.ndcg_at_10);
    assert!(cf > pop * 1.5, "the simulator's tastes give a measurable lift over popularity: NDCG@10 {cf:.4} vs {pop:.4}");
    for (k, s) in summaries.iter().enumerate() {
        check_lists(&read_recommendations(store.clone(), day(k as u64)).await.unwrap(), k as u64);
        assert_eq!(s.model_version.as_deref(), Some(first.version.as_str()), "day {k}: the champion scores");
        if k > 0 {
            assert!(s.trained.is_none() && s.cf_folded_in > 0, "day {k}: changed users folded in, no retraining: {s:?}");
        }
    }
    assert_eq!(metrics.total(Metric::UsersScored, None) as usize, (0..3).map(|k| served(k, "users").len()).sum::<usize>());
    assert!(metrics.total(Metric::FreshnessSeconds, None) > 0.0);
    check_with_duckdb(dir.path(), &summaries[2]).await;
}

/// DuckDB reads the recommendations as Athena would (Parquet under `recommendations/dt=*/`,
/// hive partitioning) and the app's JSON lines; both hold the same rows.
async fn check_with_duckdb(data: &Path, last: &ScoreSummary) {
    let Some(python) = moovitamix_tests::duckdb_python() else { return };
    let script = r#"
import duckdb, json, sys
root, dt = sys.argv[1], sys.argv[2]
con = duckdb.connect()
con.execute(f"SET VARIABLE recs = (SELECT list(column0) FROM read_csv('{root}/recommendations/_symlink_format_manifest/*/manifest', header = false, columns = {{'column0': 'VARCHAR'}}))")
rel = "read_parquet(getvariable('recs'), hive_partitioning = true)"
out = {"types": {n: str(t) for n, t, *_ in con.execute(f"DESCRIBE SELECT * FROM {rel}").fetchall()}}
out["rows"] = con.execute(f"SELECT count(*) FROM {rel} WHERE dt = '{dt}'").fetchone()[0]
out["per_user"] = con.execute(f"SELECT min(n), max(n) FROM (SELECT user_id, count(*) n FROM {rel} WHERE dt = '{dt}' GROUP BY user_id)").fetchone()
out["json_rows"] = con.execute(f"SELECT count(*) FROM read_json('{root}/recommendations/dt={dt}/run=*/_jsonl/*.jsonl.gz', format = 'newline_delimited')").fetchone()[0]
out["differ"] = con.execute(f"""SELECT count(*) FROM (
    SELECT user_id, rank, track_id, model_version, reason FROM {rel} WHERE dt = '{dt}'
    EXCEPT SELECT user_id, rank, track_id, model_version, reason FROM read_json('{root}/recommendations/dt={dt}/run=*/_jsonl/*.jsonl.gz', format = 'newline_delimited'))""").fetchone()[0]
print(json.dumps(out))
"#;
    let output = Command::new(&python).args(["-c", script]).arg(data).arg(last.date.to_string()).output().unwrap();
    assert!(output.status.success(), "DuckDB failed: {}", String::from_utf8_lossy(&output.stderr));
    let got: Value = serde_json::from_slice(&output.stdout).unwrap();
    for (column, kind) in [("user_id", "BIGINT"), ("rank", "INTEGER"), ("track_id", "BIGINT"), ("score", "DOUBLE"), ("model_version", "VARCHAR"), ("reason", "VARCHAR")] {
        assert_eq!(got["types"][column], kind, "{column} in {}", got["types"]);
    }
    assert_eq!(got["rows"], last.rows);
    assert_eq!(got["per_user"], serde_json::json!([10, 10]));
    assert_eq!((got["json_rows"].as_u64(), got["differ"].as_u64()), (Some(last.rows), Some(0)), "the JSON lines hold the same rows");
}


#[tokio::test]
#[cfg_attr(not(loopback_aws), ignore = "needs the loopback AWS server: AWS_ENDPOINT_URL (bash tests/run.sh starts LocalStack)")]
async fn on_s3_the_pipeline_scores_and_the_champion_pointer_is_guarded() {
    let Some(aws) = moovitamix_tests::aws::loopback_aws() else { return };
    let bucket = aws.fresh_bucket("recommend").await;
    let store: Arc<dyn Store> = Arc::new(S3Store::new(aws.s3(), bucket.clone(), "pipeline".into()));
    let (summaries, _) = run_days(store.clone(), 2).await;
    check_lists(&read_recommendations(store.clone(), day(1)).await.unwrap(), 1);

    let listed = aws.s3().list_objects_v2().bucket(&bucket).prefix("pipeline/models/als/").send().await.unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    let version = summaries[0].model_version.clone().unwrap();
    for file in ["factors.bin", "ids.bin", "model.json"] {
        assert!(keys.contains(&format!("pipeline/models/als/version={version}/{file}").as_str()), "{file} in {keys:?}");
    }
    assert!(keys.contains(&"pipeline/models/als/champion.json"), "{keys:?}");

    // A second model, then a rollback; a writer holding a stale read of the pointer loses (If-Match).
    let models = ModelStore::new(store.clone());
    let stale = models.champion().await.unwrap();
    let p = pipeline("http://127.0.0.1:9", store.clone());
    let Outcome::Train(t) = p.recommender.run(Request::Train { date: None, scheduled: false }, "20261102T090000Z-train").await.unwrap() else { panic!() };
    assert!(t.promoted, "{t:?}");
    let err = models.set_champion(&version, "rollback", stale, chrono::Utc::now()).await.unwrap_err();
    assert!(matches!(err, ModelStoreError::ChampionMoved), "{err}");
    let Outcome::Rollback(r) = p.recommender.run(Request::Rollback { version: version.clone() }, "rb").await.unwrap() else { panic!() };
    assert_eq!((r.champion.version, r.champion.previous), (version, Some(t.version)));
}
