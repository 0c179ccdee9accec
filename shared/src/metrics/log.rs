//! Local metric sinks: log lines (the laptop default) and memory (tests).

use super::{Datum, MetricsSink};
use async_trait::async_trait;
use std::sync::Mutex;

/// Writes each data point as one structured log line.
#[derive(Debug, Default)]
pub struct LogSink;

#[async_trait]
impl MetricsSink for LogSink {
    async fn publish(&self, namespace: &str, data: &[Datum]) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        // One line per flush: `Name{Dim=value,...}=value` for every point.
        let points: Vec<String> = data
            .iter()
            .map(|d| {
                let dims = d.dimensions.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(",");
                format!("{}{{{dims}}}={}", d.metric.name(), d.value)
            })
            .collect();
        tracing::info!(target: "metrics", namespace, points = %points.join(" "), "metrics");
        Ok(())
    }
}

/// Keeps every published point, for tests to read back.
#[derive(Debug, Default)]
pub struct MemorySink {
    points: Mutex<Vec<Datum>>,
}

impl MemorySink {
    pub fn points(&self) -> Vec<Datum> {
        self.points.lock().unwrap().clone()
    }

    /// The sum of a metric's values, optionally for one `Entity`.
    pub fn total(&self, metric: super::Metric, entity: Option<&str>) -> f64 {
        self.points
            .lock()
            .unwrap()
            .iter()
            .filter(|d| d.metric == metric)
            .filter(|d| entity.is_none_or(|e| d.dimensions.iter().any(|(k, v)| *k == "Entity" && v == e)))
            .map(|d| d.value)
            .sum()
    }

    /// The sum of a metric's values whose dimension `name` is `value` (e.g. `Check`).
    pub fn total_where(&self, metric: super::Metric, name: &str, value: &str) -> f64 {
        self.points
            .lock()
            .unwrap()
            .iter()
            .filter(|d| d.metric == metric && d.dimensions.iter().any(|(k, v)| *k == name && v == value))
            .map(|d| d.value)
            .sum()
    }
}

#[async_trait]
impl MetricsSink for MemorySink {
    async fn publish(&self, _namespace: &str, data: &[Datum]) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        self.points.lock().unwrap().extend_from_slice(data);
        Ok(())
    }
}
