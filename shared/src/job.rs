//! What every stage's run shares around its own work: the invocation (run id, deadline), the
//! tracing span, timing, the run-level metrics and their flush, and the error's stable class.

use crate::commit::RunId;
use crate::metrics::Metrics;
use chrono::{DateTime, NaiveDate, Utc};
use std::future::Future;
use std::time::Instant;
use tracing::Instrument;

/// One invocation of a stage: its run id, when it started and, in Lambda, its deadline.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub run_id: RunId,
    pub deadline: Option<DateTime<Utc>>,
    /// The clock, read once at the edge: what the event's logical date is checked against.
    pub started_at: DateTime<Utc>,
}

impl Invocation {
    /// A new run with no deadline (a local run).
    pub fn new() -> Self {
        let now = Utc::now();
        Self {
            run_id: RunId::new(now),
            deadline: None,
            started_at: now,
        }
    }

    /// A run with a given id (tests, tools).
    pub fn with_id(run_id: &str) -> Self {
        Self {
            run_id: RunId::from(run_id),
            deadline: None,
            started_at: Utc::now(),
        }
    }

    /// A Lambda invocation: its deadline is the context's, in milliseconds since the epoch.
    pub fn lambda(deadline_epoch_ms: u64) -> Self {
        let now = Utc::now();
        Self {
            run_id: RunId::new(now),
            deadline: lambda_deadline(deadline_epoch_ms, now),
            started_at: now,
        }
    }

    /// The same invocation as if it started at `now` (tests of the date checks).
    pub fn at(self, now: DateTime<Utc>) -> Self {
        Self {
            started_at: now,
            ..self
        }
    }
}

/// The invocation's deadline, if it is one: Lambda always gives a time in the future, but local
/// emulators may not (cargo-lambda 1.9's `watch` sends its timeout, 600,000 ms, as if it were a
/// time: 1970-01-01 00:10). A deadline already past when the invocation starts cannot be met by
/// any work, so it is taken as "none" (and said), rather than failing every run at once.
fn lambda_deadline(deadline_epoch_ms: u64, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let deadline = i64::try_from(deadline_epoch_ms).ok().and_then(DateTime::from_timestamp_millis)?;
    if deadline <= now {
        tracing::warn!(%deadline, "the invocation's deadline is already past (a local emulator?): running without one");
        return None;
    }
    Some(deadline)
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

/// What a container's invocations share (the configuration and the job built from it), built by
/// the first invocation that can. A start that fails is tried again by the next invocation: an SSM
/// throttle at a cold start must not fail every retry the warm container then serves. And the
/// function keeps asking for work: a local emulator (`cargo lambda watch`) waits forever on a
/// function that exited before asking.
pub struct Startup<T> {
    built: tokio::sync::OnceCell<T>,
}

impl<T> Default for Startup<T> {
    fn default() -> Self {
        Self { built: tokio::sync::OnceCell::new() }
    }
}

/// Why a container could not build its job: the Lambda error type and message every invocation
/// answers until a start succeeds.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{stage} cannot start: {why}")]
pub struct StartError {
    pub stage: &'static str,
    /// `Permanent.Configuration`, or the class of the failed start's own error.
    pub error_type: &'static str,
    pub why: String,
}

impl StartError {
    /// A mistake in the deployment's settings: retrying cannot help.
    pub fn configuration(stage: &'static str, why: impl std::fmt::Display) -> Self {
        Self { stage, error_type: "Permanent.Configuration", why: why.to_string() }
    }

    /// A failed start classified as the stage classifies the error.
    pub fn classified(stage: &'static str, e: impl Classified) -> Self {
        Self { stage, error_type: e.error_type(), why: e.to_string() }
    }
}

impl<T> Startup<T> {
    /// The built job, building it first if no invocation has yet.
    pub async fn get<F: Future<Output = Result<T, StartError>>>(&self, start: impl FnOnce() -> F) -> Result<&T, StartError> {
        self.built.get_or_try_init(start).await.inspect_err(|e| tracing::error!(error = %e, error_type = e.error_type, "the function cannot start; the next invocation tries again"))
    }
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

#[cfg(test)]
mod tests {
    use super::lambda_deadline;
    use chrono::{DateTime, Utc};

    #[test]
    fn a_future_deadline_is_kept_and_a_past_one_is_none() {
        let now: DateTime<Utc> = "2026-11-21T06:00:00Z".parse().unwrap();
        let in_ten_minutes = (now.timestamp_millis() + 600_000) as u64;
        assert_eq!(lambda_deadline(in_ten_minutes, now), DateTime::from_timestamp_millis(in_ten_minutes as i64));
        // What cargo-lambda's emulator sends: its timeout in milliseconds.
        assert_eq!(lambda_deadline(600_000, now), None);
        assert_eq!(lambda_deadline(now.timestamp_millis() as u64, now), None);
        assert_eq!(lambda_deadline(u64::MAX, now), None);
    }

    /// A failed start fails that invocation only: the next one builds again, and once built the
    /// job is kept (never rebuilt).
    #[tokio::test]
    async fn a_failed_start_is_tried_again_by_the_next_invocation() {
        use super::{StartError, Startup};
        use std::sync::atomic::{AtomicU32, Ordering};
        let attempts = AtomicU32::new(0);
        let start = || async {
            match attempts.fetch_add(1, Ordering::SeqCst) {
                0 => Err(StartError { stage: "transform", error_type: "Retryable.SaltUnavailable", why: "SSM throttled".into() }),
                n => Ok(n),
            }
        };
        let startup = Startup::default();
        let first = startup.get(start).await.unwrap_err();
        assert_eq!((first.error_type, first.to_string().as_str()), ("Retryable.SaltUnavailable", "transform cannot start: SSM throttled"));
        assert_eq!(*startup.get(start).await.unwrap(), 1);
        assert_eq!(*startup.get(start).await.unwrap(), 1, "built once");
        assert_eq!(attempts.load(Ordering::SeqCst), 2);
    }
}
