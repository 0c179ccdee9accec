//! The CloudWatch sink: `PutMetricData`, batched.

use super::{Datum, MetricsSink, Unit};
use async_trait::async_trait;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit};

/// CloudWatch accepts at most 1000 data points per `PutMetricData` call.
const MAX_POINTS_PER_CALL: usize = 1000;

#[derive(Debug, Clone)]
pub struct CloudWatchSink {
    client: aws_sdk_cloudwatch::Client,
}

impl CloudWatchSink {
    pub fn new(client: aws_sdk_cloudwatch::Client) -> Self {
        Self { client }
    }
}

fn to_cloudwatch(d: &Datum) -> MetricDatum {
    let unit = match d.metric.unit() {
        Unit::Count => StandardUnit::Count,
        Unit::Bytes => StandardUnit::Bytes,
        Unit::Milliseconds => StandardUnit::Milliseconds,
        Unit::Seconds => StandardUnit::Seconds,
        Unit::None => StandardUnit::None,
    };
    let dimensions = d.dimensions.iter().map(|(k, v)| Dimension::builder().name(*k).value(v).build()).collect();
    MetricDatum::builder()
        .metric_name(d.metric.name())
        .set_dimensions(Some(dimensions))
        .value(d.value)
        .unit(unit)
        .timestamp(aws_sdk_cloudwatch::primitives::DateTime::from_millis(d.timestamp.timestamp_millis()))
        .build()
}

#[async_trait]
impl MetricsSink for CloudWatchSink {
    async fn publish(&self, namespace: &str, data: &[Datum]) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        for batch in data.chunks(MAX_POINTS_PER_CALL) {
            self.client
                .put_metric_data()
                .namespace(namespace)
                .set_metric_data(Some(batch.iter().map(to_cloudwatch).collect()))
                .send()
                .await
                .map_err(|e| aws_sdk_cloudwatch::error::DisplayErrorContext(e).to_string())?;
        }
        Ok(())
    }
}
