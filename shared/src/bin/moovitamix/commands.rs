//! The commands besides `run` and `bench`: the recommender's (train, models, rollback, unpin),
//! erasure, the report, one fanned-out transform bucket, and the simulator server.

use crate::AnyError;
use crate::cli::{BucketArgs, SimulatorArgs};
use crate::console::say;
use crate::summaries::{print_score, print_train, without_parentheses};
use chrono::{NaiveDate, Utc};
use moovitamix::aws::AwsConfig;
use moovitamix::config::Config;
use moovitamix::fanout::Stage;
use moovitamix::recommend::model_store::ModelStore;
use moovitamix::recommend::request::Request;
use moovitamix::recommend::{Outcome, Recommender};
use moovitamix::simulator::RunningSimulator;
use moovitamix::transform::Transformer;
use std::net::SocketAddr;
use std::path::PathBuf;

pub(crate) async fn recommend(request: Request) -> Result<(), AnyError> {
    let recommender = Recommender::from_config(&Config::from_env()?, &AwsConfig::new()).await;
    match recommender.run(request, moovitamix::job::Invocation::new()).await? {
        Outcome::Score(s) => print_score(&s),
        Outcome::Train(t) => print_train(&t),
        Outcome::Rollback(r) => {
            say!("champion: {} (was {}), pinned until `unpin` or an explicit `train`", r.champion.version, r.champion.previous.as_deref().unwrap_or("none"))
        }
        Outcome::Unpin(u) => match (&u.champion, u.was_pinned) {
            (None, _) => say!("there is no champion yet: nothing to unpin"),
            (Some(c), true) => say!("champion {} unpinned: automatic retraining may replace it", c.version),
            (Some(c), false) => say!("champion {} was not pinned: nothing changed", c.version),
        },
    }
    Ok(())
}

pub(crate) async fn models() -> Result<(), AnyError> {
    let config = Config::from_env()?;
    let models = ModelStore::new(moovitamix::storage::open(&config.data_url, &AwsConfig::new()).await);
    let champion = models.champion().await?.map(|(c, _)| c);
    say!("{:<28} {:<10} {:>9} {:>9} {:>9}  decision", "version", "data date", "ndcg@10", "champion", "baseline");
    for version in models.versions().await? {
        let Some(card) = models.card(&version).await? else { continue };
        let e = &card.evaluation;
        let mark = match &champion {
            Some(c) if c.version == version && c.pinned => "  <- champion (pinned by rollback: `unpin` or an explicit `train` replaces it)",
            Some(c) if c.version == version => "  <- champion",
            _ => "",
        };
        let champ = e.champion_shown().map_or("-".to_owned(), |s| format!("{:.4}", s.ndcg_at_10));
        let held = card.held().map(|h| format!(" ({h})")).unwrap_or_default();
        say!("{version:<28} {:<10} {:>9.4} {champ:>9} {:>9.4}  {}{held}{mark}", card.data_date, e.candidate.ndcg_at_10, e.baseline.ndcg_at_10, without_parentheses(card.decision.reason()));
    }
    Ok(())
}

pub(crate) async fn erase(user_ids: Vec<i64>) -> Result<(), AnyError> {
    if let Some(bad) = user_ids.iter().find(|id| **id <= 0) {
        return Err(format!("--user-id {bad}: user ids are positive integers").into());
    }
    let transformer = Transformer::from_config(&Config::from_env()?, &AwsConfig::new()).await?;
    let summary = transformer.eraser().erase(&user_ids, moovitamix::job::Invocation::new()).await?;
    say!("erased users {:?} (run {}): {} date(s) rewritten, {} held nothing of them", summary.user_ids, summary.run_id, summary.rewritten.len(), summary.untouched);
    for d in &summary.rewritten {
        say!("  {:<8} {}  {} row(s)  replaced run {}  -> {}", d.zone, d.date, d.rows, d.replaced_run, d.run_manifest);
    }
    Ok(())
}

pub(crate) async fn report(out: Option<PathBuf>) -> Result<(), AnyError> {
    let config = Config::from_env()?;
    let store = moovitamix::storage::open(&config.data_url, &AwsConfig::new()).await;
    let to = out.map_or(moovitamix::report::Destination::DataFolder, moovitamix::report::Destination::File);
    let (location, report) = moovitamix::report::write(store, &to, Utc::now()).await?;
    say!(
        "report: {location}  ({} runs, {} model versions{})",
        report.runs.len(),
        report.models.len(),
        if report.problems.is_empty() { String::new() } else { format!(", {} parts unreadable: see the page", report.problems.len()) }
    );
    Ok(())
}

/// One bucket of a fanned-out transform or scoring, as a child of `run --buckets` (see
/// `moovitamix::fanout`).
pub(crate) async fn bucket_child(stage: Stage, args: BucketArgs) -> Result<(), AnyError> {
    let BucketArgs { date, run_id, bucket: index, buckets: count, attempt } = args;
    if count == 0 || index >= count {
        return Err(format!("--bucket {index} is not one of --buckets {count}").into());
    }
    if run_id.is_empty() || run_id.contains(['/', '\\']) {
        return Err(format!("--run-id {run_id:?}: a run id is one path segment").into());
    }
    let started = std::time::Instant::now();
    let config = Config::from_env()?;
    let bucket = moovitamix::buckets::Bucket::new(index, count);
    let run_id = moovitamix::commit::RunId::from(run_id.as_str());
    let listen_items = match stage {
        Stage::Transform => Transformer::from_config(&config, &AwsConfig::new()).await?.transform_bucket(date, &run_id, bucket).await?,
        Stage::Score => Recommender::from_config(&config, &AwsConfig::new()).await.score_bucket(date, &run_id, bucket).await?,
    };
    let fail_once = std::env::var(moovitamix::fanout::FAIL_ONCE_VARIABLE).ok().and_then(|v| v.parse::<u32>().ok());
    if attempt == 1 && fail_once == Some(index) {
        return Err(format!("{bucket}: failed on purpose ({}) after writing its parts", moovitamix::fanout::FAIL_ONCE_VARIABLE).into());
    }
    let report = moovitamix::fanout::ChildReport {
        bucket: index,
        buckets: count,
        listen_items,
        wall_ms: started.elapsed().as_millis() as u64,
        cpu_ms: crate::usage::cpu_time().as_millis() as u64,
        peak_rss_mib: Some(crate::usage::peak_memory_mib()).filter(|p| p.is_finite()),
    };
    // The last line of stdout: the parent reads it (moovitamix::fanout::ChildReport).
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

pub(crate) async fn simulate(listen: SocketAddr, date: Option<NaiveDate>, sim: SimulatorArgs) -> Result<(), AnyError> {
    let date = date.unwrap_or_else(|| Utc::now().date_naive());
    let server = RunningSimulator::start_on(sim.config(date), listen).await?;
    // The first line of stdout is the URL, for scripts (and the benchmark) to read.
    say!("{}", server.url());
    tokio::signal::ctrl_c().await?;
    server.shutdown().await;
    Ok(())
}
