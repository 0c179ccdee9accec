//! Fan-out: a stage's work on a date split into buckets of users ([`crate::buckets`]), each
//! bucket done apart, the date committed once. Transform ([`crate::transform::fanout`]) and
//! scoring ([`crate::recommend::fanout`]) run the same three steps under one run id: `plan` (what
//! every bucket reads, recorded), `bucket` (once per bucket, in any order, retried: it writes only
//! under the run's own folders, the same keys on every attempt, and its record), and `commit` (the
//! records checked and added up, one commit through the commit path).
//!
//! On AWS a Step Functions Distributed Map runs the steps (`infra/template.yaml`), each step an
//! event of this module's [`Step`]; on one machine the local runner ([`LocalFanout`]) runs the
//! buckets as child processes.

mod local;

pub use local::{ChildReport, ChildRun, FAIL_ONCE_VARIABLE, FannedRun, FanoutRunError, LocalFanout, Stage};

use crate::buckets::Bucket;
use crate::commit::{RunId, RunWriter};
use crate::manifest::ObjectRole;
use crate::partition::Zone;
use crate::storage::{Store, StoreError};
use bytes::Bytes;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The field that marks an event as a step of a fan-out state machine (`infra/template.yaml`).
pub const STEP_FIELD: &str = "fanout";

/// A step of the state machine, as its event names it.
#[derive(Debug, Deserialize)]
#[serde(tag = "fanout", rename_all = "snake_case", deny_unknown_fields)]
pub enum Step {
    /// The trigger (the upstream commit's S3 event, or `{"date": ...}`): how many buckets, and
    /// the plan if several.
    Plan { event: Value },
    Bucket { date: NaiveDate, run_id: String, bucket: u32, buckets: u32 },
    Commit { date: NaiveDate, run_id: String },
}

impl Step {
    /// The step `event` asks for; `None` when it is not a step (no `fanout` field).
    pub fn parse(event: &Value) -> Option<Result<Step, FanoutError>> {
        event.get(STEP_FIELD)?;
        Some(serde_json::from_value(event.clone()).map_err(|e| FanoutError::BadStep(e.to_string())))
    }
}

/// A step's run id, which names a folder: one path segment.
pub fn run_id_of(text: &str) -> Result<RunId, FanoutError> {
    match text.is_empty() || text.contains(['/', '\\']) {
        true => Err(FanoutError::BadStep(format!("run_id {text:?} is not one path segment"))),
        false => Ok(RunId::from(text)),
    }
}

/// A bucket step's bucket, checked.
pub fn bucket_of(bucket: u32, buckets: u32) -> Result<Bucket, FanoutError> {
    match buckets == 0 || bucket >= buckets {
        true => Err(FanoutError::BadStep(format!("bucket {bucket} of {buckets}"))),
        false => Ok(Bucket::new(bucket, buckets)),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FanoutError {
    #[error("{what} of the fanned run {run_id} of {date} is missing ({key}); run its step first")]
    Missing { what: String, date: NaiveDate, run_id: String, key: String },
    #[error("{key}: unreadable: {source}")]
    Unreadable { key: String, source: serde_json::Error },
    #[error("{input} changed while the run of {date} was fanned out (the plan read run {planned}, it is now {now}); re-run the date")]
    InputChanged { date: NaiveDate, input: String, planned: String, now: String },
    #[error("{bucket} asked of a fanned run of {count} bucket(s)")]
    WrongBucket { bucket: Bucket, count: u32 },
    #[error("{what} of {date}: {detail}")]
    Layout { what: &'static str, date: NaiveDate, detail: String },
    #[error("not a fan-out step event ({0}); expected {{\"fanout\": \"plan\", \"event\": <the trigger>}}, {{\"fanout\": \"bucket\", \"date\", \"run_id\", \"bucket\", \"buckets\"}} or {{\"fanout\": \"commit\", \"date\", \"run_id\"}}")]
    BadStep(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl FanoutError {
    pub fn error_type(&self) -> &'static str {
        match self {
            FanoutError::InputChanged { .. } => "Retryable.InputChanged",
            FanoutError::Missing { .. } => "Permanent.FanoutIncomplete",
            FanoutError::Unreadable { .. } | FanoutError::Layout { .. } => "Permanent.FanoutCorrupt",
            FanoutError::WrongBucket { .. } | FanoutError::BadStep(_) => "Permanent.BadEvent",
            FanoutError::Store(_) => "Retryable.Storage",
        }
    }
}

/// The answer of a commit step whose run has already committed the date: a step retried after
/// its first attempt committed but its answer was lost (or the task timed out first) does
/// nothing more; committing again would rewrite a committed run's objects. `None` when the
/// date's commit is another run's, or there is none (or it cannot be read: the commit then says why).
pub async fn already_committed(store: &dyn Store, zone: Zone, date: NaiveDate, run_id: &str) -> Option<Value> {
    let committed = crate::commit::read_committed(store, zone, date).await.ok()?;
    (committed.run.run_id == run_id).then(|| {
        tracing::info!(%date, run_id, "the commit step's run has already committed the date: nothing to do");
        serde_json::json!({"date": date, "run_id": run_id, "already_committed": true})
    })
}

/// Writes a step's record (the plan, a bucket's) at `key`, in the run's folder.
pub async fn put_record<T: Serialize>(writer: &RunWriter, key: String, record: &T) -> Result<(), StoreError> {
    writer.put_object(key, Bytes::from(serde_json::to_vec(record).expect("a record serialises")), 1, ObjectRole::Report).await?;
    Ok(())
}

/// Deletes a committed run's records (its plan and every bucket's, `key` of each file): they
/// served their purpose. A failure leaves them to the orphan clean-up, with a warning.
pub async fn delete_records(store: &dyn Store, buckets: u32, key: impl Fn(&str) -> String) {
    let files = std::iter::once(crate::partition::FANOUT_PLAN_FILE.to_owned()).chain(Bucket::all(buckets).map(crate::partition::fanout_bucket_file));
    for file in files {
        if let Err(e) = store.delete(&key(&file)).await {
            tracing::warn!(error = %e, file, "could not delete a fan-out record; the orphan clean-up removes it");
        }
    }
}

/// Reads a step's record; `what` names it in the error when it is missing.
pub async fn get_record<T: for<'de> Deserialize<'de>>(store: &dyn Store, key: String, what: &str, date: NaiveDate, run_id: &str) -> Result<T, FanoutError> {
    let object = store.get_opt(&key).await?.ok_or_else(|| FanoutError::Missing { what: what.to_owned(), date, run_id: run_id.to_owned(), key: key.clone() })?;
    serde_json::from_slice(&object.data).map_err(|source| FanoutError::Unreadable { key, source })
}
