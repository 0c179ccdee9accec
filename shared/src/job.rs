//! What every stage's run shares around its own work: the invocation (run id, deadline), the
//! tracing span, timing, the run-level metrics and their flush, and the error's stable class.

use crate::commit::RunId;
use crate::metrics::Metrics;
use chrono::{DateTime, NaiveDate, Utc};
use std::future::Future;
use std::time::Instant;
use tracing::Instrument;

/// One invocation of a stage: its run id and, in Lambda, its deadline.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub run_id: RunId,
    pub deadline: Option<DateTime<Utc>>,
}

impl Invocation {
    /// A new run with no deadline (a local run).
    pub fn new() -> Self {
        Self { run_id: RunId::new(Utc::now()), deadline: None }
    }

    /// A run with a given id (tests, tools).
    pub fn with_id(run_id: &str) -> Self {
        Self { run_id: RunId::from(run_id), deadline: None }
    }

    /// A Lambda invocation: its deadline is the context's, in milliseconds since the epoch.
    pub fn lambda(deadline_epoch_ms: u64) -> Self {
        let deadline = i64::try_from(deadline_epoch_ms).ok().and_then(DateTime::from_timestamp_millis);
        Self { run_id: RunId::new(Utc::now()), deadline }
    }
}

/// A run with a given id (tests, tools): `job.run(date, "run-1")`.
impl From<&str> for Invocation {
    fn from(run_id: &str) -> Self {
        Self::with_id(run_id)
    }
}

impl From<&String> for Invocation {
    fn from(run_id: &String) -> Self {
        Self::with_id(run_id)
    }
}

impl Default for Invocation {
    fn default() -> Self {
        Self::new()
    }
}

/// A stage's error, with the stable class its Lambda error type and alarms use.
pub trait Classified: std::error::Error {
    /// `Permanent.*` (retrying cannot help) or `Retryable.*`.
    fn error_type(&self) -> &'static str;
    /// Metrics a failed run still emits (e.g. the share that failed a quality gate).
    fn record_failure(&self, _metrics: &Metrics) {}
}

/// Runs a stage's `work` inside its span; records `DurationMs` and `RunSucceeded` / `RunFailed`,
/// logs the outcome with the error's class, and flushes the metrics, whatever happened.
pub async fn observed<T, E: Classified>(
    stage: &'static str,
    metrics: &Metrics,
    run_id: &RunId,
    date: NaiveDate,
    work: impl Future<Output = Result<T, E>>,
) -> Result<T, E> {
    let clock = Instant::now();
    let span = crate::telemetry::run_span(stage, run_id.as_str(), date);
    let result = work.instrument(span.clone()).await;
    let _entered = span.enter();
    let ms = clock.elapsed().as_millis() as f64;
    metrics.record_run(ms, result.is_ok());
    match &result {
        Ok(_) => tracing::info!(duration_ms = ms, "{stage} done"),
        Err(e) => {
            e.record_failure(metrics);
            tracing::error!(duration_ms = ms, error = %e, error_type = e.error_type(), "{stage} failed; nothing committed");
        }
    }
    metrics.flush().await;
    result
}
