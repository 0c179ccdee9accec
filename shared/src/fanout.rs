//! The local fan-out runner: a date's transform buckets as child processes of this same
//! program, at most `workers` at a time, the parent preparing and committing.
//!
//! It plays on one machine the part a Step Functions Distributed Map plays on AWS (see
//! `infra/template.yaml`): the parent runs phase 1 ([`Transformer::prepare`]), starts one child
//! per bucket (`<program> transform-bucket --date D --run-id R --bucket k --buckets B --attempt n`,
//! the environment inherited: same `DATA_URL`), retries a failed child after clearing what it
//! wrote, and commits once every bucket is done ([`Transformer::commit_fanned`]). A bucket that
//! fails on every attempt fails the date: nothing is committed.

use crate::buckets::Bucket;
use crate::job::Invocation;
use crate::storage::{Store, StoreError};
use crate::transform::fanout::bucket_prefixes;
use crate::transform::{TransformError, TransformSummary, Transformer};
use chrono::NaiveDate;
use std::path::PathBuf;
use std::sync::Arc;

/// Set to a bucket index in a child's environment, it makes that bucket's first attempt fail
/// after writing its parts and record: how the tests prove that a retried child changes nothing.
pub const FAIL_ONCE_VARIABLE: &str = "MOOVITAMIX_FANOUT_FAIL_ONCE";

#[derive(Debug, thiserror::Error)]
pub enum FanoutRunError {
    #[error(transparent)]
    Transform(#[from] TransformError),
    #[error("transform {date}, {bucket}: the child failed on all {attempts} attempt(s) ({status}): {stderr}; nothing was committed")]
    Child { date: NaiveDate, bucket: Bucket, attempts: u32, status: String, stderr: String },
    #[error("could not start the child process {program}: {source}")]
    Spawn { program: String, source: std::io::Error },
    #[error("clearing a failed bucket's objects: {0}")]
    Store(#[from] StoreError),
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
    /// Transforms `date` fanned out over its raw buckets and commits it once.
    pub async fn transform(&self, transformer: &Transformer, date: NaiveDate, invocation: Invocation) -> Result<TransformSummary, FanoutRunError> {
        let started = std::time::Instant::now();
        let plan = transformer.prepare(date, &invocation.run_id).await?;
        let run_id = invocation.run_id.to_string();
        let gate = Arc::new(tokio::sync::Semaphore::new(self.workers.max(1)));
        let mut children = tokio::task::JoinSet::new();
        for bucket in Bucket::all(plan.buckets) {
            let (runner, gate, store, run_id) = (self.clone(), gate.clone(), transformer.store.clone(), run_id.clone());
            children.spawn(async move {
                let _slot = gate.acquire_owned().await.expect("the semaphore stays open");
                runner.bucket(store.as_ref(), date, &run_id, bucket).await
            });
        }
        let mut first_error = None;
        while let Some(done) = children.join_next().await {
            if let Err(e) = done.expect("a child task does not panic") {
                first_error.get_or_insert(e);
            }
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        let mut summary = transformer.commit_fanned(date, invocation).await?;
        // The whole fanned run (prepare, buckets, commit), not the commit alone.
        summary.duration_ms = started.elapsed().as_millis() as u64;
        Ok(summary)
    }

    /// Runs one bucket's child until it succeeds or the attempts run out.
    async fn bucket(&self, store: &dyn Store, date: NaiveDate, run_id: &str, bucket: Bucket) -> Result<(), FanoutRunError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let output = tokio::process::Command::new(&self.program)
                .args(["transform-bucket", "--date", &date.to_string(), "--run-id", run_id])
                .args(["--bucket", &bucket.index.to_string(), "--buckets", &bucket.count.to_string(), "--attempt", &attempt.to_string()])
                .envs(self.env.iter().map(|(k, v)| (k, v)))
                .stdin(std::process::Stdio::null())
                .output()
                .await
                .map_err(|source| FanoutRunError::Spawn { program: self.program.display().to_string(), source })?;
            if output.status.success() {
                return Ok(());
            }
            let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
            tracing::warn!(%date, %bucket, attempt, status = %output.status, stderr, "a bucket's child failed");
            // What the failed attempt wrote goes, so that the retry starts from nothing (it
            // writes the same keys; this removes any it would not).
            clear(store, date, run_id, bucket).await?;
            if attempt >= self.attempts {
                return Err(FanoutRunError::Child { date, bucket, attempts: attempt, status: output.status.to_string(), stderr });
            }
        }
    }
}

/// Deletes everything a bucket's phase wrote in the run's folders.
async fn clear(store: &dyn Store, date: NaiveDate, run_id: &str, bucket: Bucket) -> Result<(), StoreError> {
    for prefix in bucket_prefixes(date, run_id, bucket) {
        for object in store.list(&prefix).await? {
            store.delete(&object.key).await?;
        }
    }
    Ok(())
}
