//! The local fan-out runner: a date's buckets as child processes of this same program, at most
//! `workers` at a time, the parent planning and committing.
//!
//! It plays on one machine the part a Step Functions Distributed Map plays on AWS (see
//! `infra/template.yaml`): the parent runs the plan step ([`Transformer::prepare`],
//! [`Recommender::plan_score`]), starts one child per bucket (`<program> transform-bucket` or
//! `score-bucket`, with `--date D --run-id R --bucket k --buckets B --attempt n`, the environment
//! inherited: same `DATA_URL`), retries a failed child after clearing what it wrote, and commits
//! once every bucket is done ([`Transformer::commit_fanned`], [`Recommender::commit_score`]). A
//! bucket that fails on every attempt fails the date: nothing is committed.
//!
//! A child prints what it used as its last line of stdout ([`ChildReport`]), as a Lambda's
//! `REPORT` line does on AWS: how the run and the benchmark size the workers.

use crate::buckets::Bucket;
use crate::job::Invocation;
use crate::recommend::{RecommendError, Recommender, ScoreSummary};
use crate::storage::{Store, StoreError};
use crate::transform::{TransformError, TransformSummary, Transformer};
use chrono::NaiveDate;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Set to a bucket index in a child's environment, it makes that bucket's first attempt fail
/// after writing its parts and record: how the tests prove that a retried child changes nothing.
pub const FAIL_ONCE_VARIABLE: &str = "MOOVITAMIX_FANOUT_FAIL_ONCE";

#[derive(Debug, thiserror::Error)]
pub enum FanoutRunError {
    #[error(transparent)]
    Transform(#[from] TransformError),
    #[error(transparent)]
    Recommend(#[from] RecommendError),
    #[error("{stage} {date}, {bucket}: the child failed on all {attempts} attempt(s) ({status}): {stderr}; nothing was committed")]
    Child { stage: Stage, date: NaiveDate, bucket: Bucket, attempts: u32, status: String, stderr: String },
    #[error("could not start the child process {program}: {source}")]
    Spawn { program: String, source: std::io::Error },
    #[error("clearing a failed bucket's objects: {0}")]
    Store(#[from] StoreError),
}

/// What a bucket's child used, printed by the child as one JSON line, its last on stdout.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChildReport {
    pub bucket: u32,
    pub buckets: u32,
    /// Listen items the bucket read: of its raw rows for transform (the listen events'
    /// `rows_in`), of its curated listen events for scoring.
    pub listen_items: u64,
    pub wall_ms: u64,
    /// User + system CPU time of the child process.
    pub cpu_ms: u64,
    /// The child's peak resident memory over its life; `None` where the system does not say.
    pub peak_rss_mib: Option<f64>,
}

impl ChildReport {
    /// The report of `bucket` in a child's stdout: its last line that parses as one.
    pub fn parse(stdout: &str, bucket: Bucket) -> Option<Self> {
        let report: Self = stdout.lines().rev().find_map(|l| serde_json::from_str(l).ok())?;
        ((report.bucket, report.buckets) == (bucket.index, bucket.count)).then_some(report)
    }

    /// CPU time per listen item read, in µs; `None` for an empty bucket.
    pub fn cpu_us_per_item(&self) -> Option<f64> {
        (self.listen_items > 0).then(|| self.cpu_ms as f64 * 1e3 / self.listen_items as f64)
    }
}

/// One bucket's child as the runner saw it.
#[derive(Debug, Clone)]
pub struct ChildRun {
    pub bucket: Bucket,
    pub attempts: u32,
    /// The successful attempt's time as the parent measured it, process start and exit included
    /// (the report's `wall_ms` is the child's own).
    pub wall: Duration,
    /// What the successful attempt reported; `None` if it printed no report.
    pub report: Option<ChildReport>,
}

/// A fanned-out run: the committed summary, and how long each step and child took.
#[derive(Debug)]
pub struct FannedRun<S = TransformSummary> {
    pub summary: S,
    /// The plan step in the parent (transform: tracks, users and the plan; scoring: training if
    /// due, and everyone's counts).
    pub prepare: Duration,
    /// Every bucket's child, in bucket order.
    pub children: Vec<ChildRun>,
    /// The commit step (checks and the one commit) in the parent.
    pub commit: Duration,
}

/// The stage whose buckets a runner starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Transform,
    Score,
}

impl Stage {
    /// The hidden command of the program that runs one bucket.
    pub fn command(self) -> &'static str {
        match self {
            Stage::Transform => "transform-bucket",
            Stage::Score => "score-bucket",
        }
    }

    /// The prefixes a bucket's step writes under: cleared before a retry of the bucket.
    fn bucket_prefixes(self, date: NaiveDate, run_id: &str, bucket: Bucket) -> Vec<String> {
        match self {
            Stage::Transform => crate::transform::fanout::bucket_prefixes(date, run_id, bucket),
            Stage::Score => crate::recommend::fanout::bucket_prefixes(date, run_id, bucket),
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::Transform => "transform",
            Stage::Score => "score",
        })
    }
}

/// How the local runner starts children.
#[derive(Debug, Clone)]
pub struct LocalFanout {
    /// The program children run: this one (`std::env::current_exe`).
    pub program: PathBuf,
    /// Children at once.
    pub workers: usize,
    /// Attempts per bucket (1 = no retry).
    pub attempts: u32,
    /// Variables set for the children beside the inherited environment.
    pub env: Vec<(String, String)>,
}

impl LocalFanout {
    /// Children at once when the caller does not say: one per core.
    pub fn default_workers() -> usize {
        std::thread::available_parallelism().map_or(1, usize::from)
    }

    /// Transforms `date` fanned out over its raw buckets and commits it once.
    pub async fn transform(&self, transformer: &Transformer, date: NaiveDate, invocation: Invocation) -> Result<FannedRun, FanoutRunError> {
        let started = Instant::now();
        let plan = transformer.prepare(date, &invocation.run_id).await?;
        let prepare = started.elapsed();
        let children = self.buckets(Stage::Transform, transformer.store.clone(), date, invocation.run_id.as_str(), plan.buckets).await?;
        let committing = Instant::now();
        let mut summary = transformer.commit_fanned(date, invocation).await?;
        let commit = committing.elapsed();
        // The whole fanned run (prepare, buckets, commit), not the commit alone.
        summary.duration_ms = started.elapsed().as_millis() as u64;
        Ok(FannedRun { summary, prepare, children, commit })
    }

    /// Scores `date` fanned out over its curated listen events' buckets and commits it once.
    pub async fn score(&self, recommender: &Recommender, date: NaiveDate, invocation: Invocation) -> Result<FannedRun<ScoreSummary>, FanoutRunError> {
        let started = Instant::now();
        let plan = recommender.plan_score(date, &invocation).await?;
        let prepare = started.elapsed();
        let children = self.buckets(Stage::Score, recommender.store.clone(), date, invocation.run_id.as_str(), plan.buckets).await?;
        let committing = Instant::now();
        let mut summary = recommender.commit_score(date, invocation).await?;
        let commit = committing.elapsed();
        summary.duration_ms = started.elapsed().as_millis() as u64;
        Ok(FannedRun { summary, prepare, children, commit })
    }

    /// Runs every bucket's child, at most `workers` at once; the first failure for good fails all.
    async fn buckets(&self, stage: Stage, store: Arc<dyn Store>, date: NaiveDate, run_id: &str, count: u32) -> Result<Vec<ChildRun>, FanoutRunError> {
        let gate = Arc::new(tokio::sync::Semaphore::new(self.workers.max(1)));
        let mut children = tokio::task::JoinSet::new();
        for bucket in Bucket::all(count) {
            let (runner, gate, store, run_id) = (self.clone(), gate.clone(), store.clone(), run_id.to_owned());
            children.spawn(async move {
                let _slot = gate.acquire_owned().await.expect("the semaphore stays open");
                runner.bucket(stage, store.as_ref(), date, &run_id, bucket).await
            });
        }
        let (mut first_error, mut runs) = (None, Vec::new());
        while let Some(done) = children.join_next().await {
            match done.expect("a child task does not panic") {
                Ok(run) => runs.push(run),
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        runs.sort_by_key(|r| r.bucket);
        Ok(runs)
    }

    /// Runs one bucket's child until it succeeds or the attempts run out.
    async fn bucket(&self, stage: Stage, store: &dyn Store, date: NaiveDate, run_id: &str, bucket: Bucket) -> Result<ChildRun, FanoutRunError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let started = Instant::now();
            let output = tokio::process::Command::new(&self.program)
                .args([stage.command(), "--date", &date.to_string(), "--run-id", run_id])
                .args(["--bucket", &bucket.index.to_string(), "--buckets", &bucket.count.to_string(), "--attempt", &attempt.to_string()])
                .envs(self.env.iter().map(|(k, v)| (k, v)))
                .stdin(std::process::Stdio::null())
                .output()
                .await
                .map_err(|source| FanoutRunError::Spawn { program: self.program.display().to_string(), source })?;
            if output.status.success() {
                let report = ChildReport::parse(&String::from_utf8_lossy(&output.stdout), bucket);
                return Ok(ChildRun { bucket, attempts: attempt, wall: started.elapsed(), report });
            }
            let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
            tracing::warn!(%stage, %date, %bucket, attempt, status = %output.status, stderr, "a bucket's child failed");
            // What the failed attempt wrote goes, so that the retry starts from nothing (it
            // writes the same keys; this removes any it would not).
            clear(store, stage.bucket_prefixes(date, run_id, bucket)).await?;
            if attempt >= self.attempts {
                return Err(FanoutRunError::Child { stage, date, bucket, attempts: attempt, status: output.status.to_string(), stderr });
            }
        }
    }
}

/// Deletes everything under `prefixes` (what a bucket's step wrote in the run's folders).
async fn clear(store: &dyn Store, prefixes: Vec<String>) -> Result<(), StoreError> {
    for prefix in prefixes {
        for object in store.list(&prefix).await? {
            store.delete(&object.key).await?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_childs_report_is_its_last_report_line_for_its_own_bucket() {
        let report = |bucket: u32, items: u64| ChildReport { bucket, buckets: 4, listen_items: items, wall_ms: 10, cpu_ms: 20, peak_rss_mib: Some(30.0) };
        let line = |r: &ChildReport| serde_json::to_string(r).unwrap();
        let stdout = format!("starting\n{}\n{{\"level\":\"info\"}}\n{}\n", line(&report(2, 5)), line(&report(2, 7)));
        assert_eq!(ChildReport::parse(&stdout, Bucket::new(2, 4)), Some(report(2, 7)), "the last report wins; other lines are skipped");
        assert_eq!(ChildReport::parse(&stdout, Bucket::new(1, 4)), None, "another bucket's report is not this child's");
        assert_eq!(ChildReport::parse("nothing to say\n", Bucket::new(2, 4)), None);
        let unknown_peak = line(&ChildReport { peak_rss_mib: None, ..report(0, 0) });
        assert_eq!(ChildReport::parse(&unknown_peak, Bucket::new(0, 4)).unwrap().cpu_us_per_item(), None, "an empty bucket has no cost per item");
        assert_eq!(report(2, 5).cpu_us_per_item(), Some(4_000.0));
    }
}
