//! Metrics: names defined once, recorded per batch, flushed once before a handler returns.
//!
//! A [`Metrics`] recorder buffers data points and hands them to a [`MetricsSink`] on
//! [`Metrics::flush`]: CloudWatch in Lambda, log lines locally, memory in tests. A failure to
//! publish is logged and never fails the run: the data matter more than their telemetry.

mod cloudwatch;
mod log;

pub use cloudwatch::CloudWatchSink;
pub use log::{LogSink, MemorySink};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};

/// Declares the metric enum and its `ALL` from one list of variants, so that `ALL` cannot miss one.
macro_rules! metric_enum {
    ($(#[$outer:meta])* pub enum $enum:ident { $($(#[$inner:meta])* $variant:ident,)* }) => {
        $(#[$outer])*
        pub enum $enum {
            $($(#[$inner])* $variant,)*
        }

        impl $enum {
            /// Every metric, in declaration order, for checks that the alarms and the dashboard
            /// name real ones (built from the declaration itself).
            pub const ALL: &'static [$enum] = &[$($enum::$variant,)*];
        }
    };
}

metric_enum! {
/// Every metric the pipeline emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    // fetch
    RowsFetched,
    RowsRejected,
    RowsWarned,
    PagesFetched,
    HttpRetries,
    BytesWritten,
    /// The largest rejected share of one entity's rows served in the run (0..=1), also on a failed run.
    RejectedShare,
    // transform
    /// Rows read from raw, per table (dimension `Entity`).
    RowsIn,
    /// Rows written to a curated table, per table (dimension `Entity`).
    RowsOut,
    /// Rows (listen events: items) sent to quarantine, per table (dimension `Entity`).
    RowsQuarantined,
    /// The largest quarantined share of one table's input in the run (0..=1).
    QuarantineShare,
    /// The largest fall of one table's current rows versus the previous date (0..=1; 0 when
    /// none fell), also on a failed run.
    CurrentRowsDrop,
    /// Keys whose row could not be read today and whose previous state was carried forward,
    /// per table (dimension `Entity`; listen_events: users).
    CarriedForward,
    /// Data-quality warnings, per check (dimension `Check`).
    DqWarnings,
    /// SCD2 versions opened (inserts, changes, re-inserts), per table (dimension `Entity`).
    NewVersions,
    /// SCD2 versions closed (changes, deletions), per table (dimension `Entity`).
    ClosedVersions,
    // recommend
    /// Training time of a train run (candidate, champion recipe, final model), in ms.
    TrainDurationMs,
    /// NDCG@10 on held-out listens, per model (dimension `Model`: candidate, champion, baseline).
    Ndcg10,
    /// Precision@10 on held-out listens, per model (dimension `Model`).
    Precision10,
    /// Recall@10 on held-out listens, per model (dimension `Model`).
    Recall10,
    /// 1 when the trained model became the champion (the gate promoted it and no pin held it), else 0.
    Promoted,
    /// How many trained models in a row the gate refused (0 after a promotion).
    GateRefusedStreak,
    /// Users with held-out listens the gate decided on.
    GateEvaluatedUsers,
    /// Lower bound of the gate's interval of the candidate's mean per-user NDCG@10 difference
    /// (dimension `Versus`: baseline, champion); above zero = a significant win.
    GateDifferenceLower,
    /// Users given recommendations by a score run.
    UsersScored,
    /// Users served by cold start (no usable listens).
    ColdStartUsers,
    /// Distinct tracks recommended over the catalogue's current tracks (0..=1).
    CatalogCoverage,
    /// Scoring time of a score run, in ms.
    ScoreDurationMs,
    /// From the day's fetch start to its recommendations written, in seconds.
    FreshnessSeconds,
    // every stage
    /// Clean-up steps that failed after a commit (the commit is whole; the next run retries).
    CleanupFailures,
    DurationMs,
    RunSucceeded,
    RunFailed,
}
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Bytes,
    Milliseconds,
    Seconds,
    /// A ratio or another dimensionless value.
    None,
}

impl Metric {
    pub fn name(self) -> &'static str {
        match self {
            Metric::RowsFetched => "RowsFetched",
            Metric::RowsRejected => "RowsRejected",
            Metric::RowsWarned => "RowsWarned",
            Metric::PagesFetched => "PagesFetched",
            Metric::HttpRetries => "HttpRetries",
            Metric::BytesWritten => "BytesWritten",
            Metric::RejectedShare => "RejectedShare",
            Metric::RowsIn => "RowsIn",
            Metric::RowsOut => "RowsOut",
            Metric::RowsQuarantined => "RowsQuarantined",
            Metric::QuarantineShare => "QuarantineShare",
            Metric::CurrentRowsDrop => "CurrentRowsDrop",
            Metric::CarriedForward => "CarriedForward",
            Metric::DqWarnings => "DqWarnings",
            Metric::NewVersions => "NewVersions",
            Metric::ClosedVersions => "ClosedVersions",
            Metric::TrainDurationMs => "TrainDurationMs",
            Metric::Ndcg10 => "Ndcg10",
            Metric::Precision10 => "Precision10",
            Metric::Recall10 => "Recall10",
            Metric::Promoted => "Promoted",
            Metric::GateRefusedStreak => "GateRefusedStreak",
            Metric::GateEvaluatedUsers => "GateEvaluatedUsers",
            Metric::GateDifferenceLower => "GateDifferenceLower",
            Metric::UsersScored => "UsersScored",
            Metric::ColdStartUsers => "ColdStartUsers",
            Metric::CatalogCoverage => "CatalogCoverage",
            Metric::ScoreDurationMs => "ScoreDurationMs",
            Metric::FreshnessSeconds => "FreshnessSeconds",
            Metric::CleanupFailures => "CleanupFailures",
            Metric::DurationMs => "DurationMs",
            Metric::RunSucceeded => "RunSucceeded",
            Metric::RunFailed => "RunFailed",
        }
    }

    pub fn unit(self) -> Unit {
        match self {
            Metric::BytesWritten => Unit::Bytes,
            Metric::DurationMs | Metric::TrainDurationMs | Metric::ScoreDurationMs => Unit::Milliseconds,
            Metric::FreshnessSeconds => Unit::Seconds,
            Metric::QuarantineShare
            | Metric::RejectedShare
            | Metric::CurrentRowsDrop
            | Metric::Ndcg10
            | Metric::Precision10
            | Metric::Recall10
            | Metric::CatalogCoverage
            | Metric::GateDifferenceLower => Unit::None,
            _ => Unit::Count,
        }
    }
}

/// One data point. Dimensions stay low-cardinality: `Function`, plus `Entity` (or another
/// fixed-set dimension) where the metric is per entity.
#[derive(Debug, Clone, PartialEq)]
pub struct Datum {
    pub metric: Metric,
    pub dimensions: Vec<(&'static str, String)>,
    pub value: f64,
    pub timestamp: DateTime<Utc>,
}

/// Where data points go when flushed.
#[async_trait]
pub trait MetricsSink: Send + Sync + std::fmt::Debug {
    async fn publish(&self, namespace: &str, data: &[Datum]) -> Result<(), Box<dyn std::error::Error + Send + Sync>>;
}

/// The per-invocation recorder: buffers points with the `Function` dimension set.
#[derive(Debug, Clone)]
pub struct Metrics {
    function: &'static str,
    namespace: String,
    sink: Arc<dyn MetricsSink>,
    buffer: Arc<Mutex<Vec<Datum>>>,
}

impl Metrics {
    pub fn new(function: &'static str, namespace: impl Into<String>, sink: Arc<dyn MetricsSink>) -> Self {
        Self { function, namespace: namespace.into(), sink, buffer: Arc::default() }
    }

    /// The sink the configuration names: CloudWatch (in Lambda by default) or log lines.
    pub async fn from_config(function: &'static str, config: &crate::config::Config, aws: &crate::aws::AwsConfig) -> Self {
        let sink: Arc<dyn MetricsSink> = match config.metrics_backend {
            crate::config::MetricsBackend::CloudWatch => Arc::new(CloudWatchSink::new(aws.cloudwatch().await)),
            crate::config::MetricsBackend::Log => Arc::new(LogSink),
        };
        Self::new(function, config.metrics_namespace.clone(), sink)
    }

    /// The run-level points every stage emits: `DurationMs`, and `RunSucceeded` / `RunFailed`
    /// as 1 or 0 (the heartbeat and failure alarms read them).
    pub fn record_run(&self, duration_ms: f64, succeeded: bool) {
        self.record(Metric::DurationMs, duration_ms);
        self.record(Metric::RunSucceeded, f64::from(u8::from(succeeded)));
        self.record(Metric::RunFailed, f64::from(u8::from(!succeeded)));
    }

    /// A run-level point (dimension `Function`).
    pub fn record(&self, metric: Metric, value: f64) {
        self.push(metric, vec![("Function", self.function.to_owned())], value);
    }

    /// A point of one entity or table (dimensions `Function`, `Entity`).
    pub fn record_for(&self, metric: Metric, entity: &str, value: f64) {
        self.push(metric, vec![("Function", self.function.to_owned()), ("Entity", entity.to_owned())], value);
    }

    /// A point with further fixed-set dimensions after `Function`, e.g. `[("Check", "null_field")]`.
    pub fn record_with(&self, metric: Metric, dimensions: &[(&'static str, &str)], value: f64) {
        let mut all = vec![("Function", self.function.to_owned())];
        all.extend(dimensions.iter().map(|(k, v)| (*k, (*v).to_owned())));
        self.push(metric, all, value);
    }

    fn push(&self, metric: Metric, dimensions: Vec<(&'static str, String)>, value: f64) {
        let datum = Datum { metric, dimensions, value, timestamp: Utc::now() };
        self.buffer.lock().expect("metrics buffer lock").push(datum);
    }

    /// Publishes everything recorded so far; returns how many points were published.
    /// Errors are logged, not returned.
    pub async fn flush(&self) -> usize {
        let data = std::mem::take(&mut *self.buffer.lock().expect("metrics buffer lock"));
        if data.is_empty() {
            return 0;
        }
        match self.sink.publish(&self.namespace, &data).await {
            Ok(()) => data.len(),
            Err(e) => {
                tracing::error!(error = %e, points = data.len(), namespace = %self.namespace, "could not publish metrics; the run's result stands");
                0
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct FailingSink;

    #[async_trait]
    impl MetricsSink for FailingSink {
        async fn publish(&self, _: &str, _: &[Datum]) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
            Err("endpoint unreachable".into())
        }
    }

    #[tokio::test]
    async fn points_carry_function_and_entity_and_are_flushed_once() {
        let sink = Arc::new(MemorySink::default());
        let metrics = Metrics::new("fetch", "NS", sink.clone());
        metrics.record_for(Metric::RowsFetched, "tracks", 10.0);
        metrics.record(Metric::RunSucceeded, 1.0);
        assert_eq!(metrics.flush().await, 2);
        assert_eq!(metrics.flush().await, 0, "a second flush has nothing left");
        let points = sink.points();
        assert_eq!(points.len(), 2);
        assert_eq!(points[0].dimensions, [("Function", "fetch".to_string()), ("Entity", "tracks".to_string())]);
        assert_eq!((points[1].metric, points[1].value), (Metric::RunSucceeded, 1.0));
    }

    #[test]
    fn all_lists_each_metric_once() {
        let names: std::collections::BTreeSet<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
        assert_eq!(names.len(), Metric::ALL.len());
        assert!(names.contains("FreshnessSeconds") && names.contains("RowsFetched"));
    }

    #[tokio::test]
    async fn further_dimensions_follow_function() {
        let sink = Arc::new(MemorySink::default());
        let metrics = Metrics::new("transform", "NS", sink.clone());
        metrics.record_with(Metric::DqWarnings, &[("Check", "null_field")], 3.0);
        metrics.flush().await;
        let points = sink.points();
        assert_eq!(points[0].dimensions, [("Function", "transform".to_string()), ("Check", "null_field".to_string())]);
        assert_eq!(points[0].value, 3.0);
        assert_eq!(Metric::QuarantineShare.unit(), Unit::None);
    }

    #[tokio::test]
    async fn a_failed_publish_does_not_fail_the_caller() {
        let metrics = Metrics::new("fetch", "NS", Arc::new(FailingSink));
        metrics.record(Metric::RunFailed, 1.0);
        assert_eq!(metrics.flush().await, 0);
    }
}
