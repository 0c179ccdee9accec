//! The loopback AWS-API server behaves as the pipeline's code expects of S3 and CloudWatch:
//! a check of the test set-up itself, so that a failing storage or metrics test points at the
//! code and not at the server.

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum, StandardUnit, Statistic};
use aws_sdk_s3::primitives::ByteStream;
use moovitamix_tests::aws::{error_chain, loopback_aws};

#[tokio::test]
#[cfg_attr(not(loopback_aws), ignore = "needs the loopback AWS server: AWS_ENDPOINT_URL (bash tests/run.sh starts LocalStack)")]
async fn s3_stores_lists_and_refuses_a_second_create_only_put() {
    let Some(aws) = loopback_aws() else { return };
    let s3 = aws.s3();
    let bucket = aws.fresh_bucket("loopback-s3").await;
    let key = "raw/tracks/dt=2026-11-21/_manifest.json";

    s3.put_object().bucket(&bucket).key(key).body(ByteStream::from_static(b"{\"rows\":1}")).send().await.unwrap();
    let body = s3.get_object().bucket(&bucket).key(key).send().await.unwrap().body.collect().await.unwrap();
    assert_eq!(body.into_bytes().as_ref(), b"{\"rows\":1}");

    let listed = s3.list_objects_v2().bucket(&bucket).prefix("raw/tracks/").send().await.unwrap();
    let keys: Vec<&str> = listed.contents().iter().filter_map(|o| o.key()).collect();
    assert_eq!(keys, [key]);

    // The commit protocol's create-only write: `If-None-Match: *` on an existing key is a 412.
    let refused = s3
        .put_object()
        .bucket(&bucket)
        .key(key)
        .if_none_match("*")
        .body(ByteStream::from_static(b"{}"))
        .send()
        .await
        .expect_err("a create-only put over an existing key must be refused");
    let status = refused.raw_response().map(|r| r.status().as_u16());
    assert_eq!(status, Some(412), "{}", error_chain(&refused));

    let missing = s3.get_object().bucket(&bucket).key("raw/tracks/dt=2026-11-22/_manifest.json").send().await;
    let missing = missing.expect_err("a missing key is an error");
    assert!(missing.as_service_error().is_some_and(|e| e.is_no_such_key()), "{}", error_chain(&missing));
}

#[tokio::test]
#[cfg_attr(not(loopback_aws), ignore = "needs the loopback AWS server: AWS_ENDPOINT_URL (bash tests/run.sh starts LocalStack)")]
async fn cloudwatch_accepts_metric_data_and_returns_it() {
    let Some(aws) = loopback_aws() else { return };
    let cloudwatch = aws.cloudwatch();
    // A namespace of this run only, so earlier runs against a reused server do not count.
    let namespace = format!("MooVitamixTest/{}", moovitamix_tests::aws::unique_bucket_name("loopback"));
    let now = std::time::SystemTime::now();
    let datum = MetricDatum::builder()
        .metric_name("RunSucceeded")
        .dimensions(Dimension::builder().name("Function").value("fetch").build())
        .unit(StandardUnit::Count)
        .value(1.0)
        .timestamp(now.into())
        .build();
    cloudwatch
        .put_metric_data()
        .namespace(&namespace)
        .metric_data(datum)
        .send()
        .await
        .unwrap_or_else(|e| panic!("PutMetricData: {}", error_chain(&e)));

    let stats = cloudwatch
        .get_metric_statistics()
        .namespace(&namespace)
        .metric_name("RunSucceeded")
        .dimensions(Dimension::builder().name("Function").value("fetch").build())
        .start_time((now - std::time::Duration::from_secs(600)).into())
        .end_time((now + std::time::Duration::from_secs(600)).into())
        .period(60)
        .statistics(Statistic::Sum)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GetMetricStatistics: {}", error_chain(&e)));
    let total: f64 = stats.datapoints().iter().filter_map(|d| d.sum()).sum();
    assert_eq!(total, 1.0, "{stats:?}");
}
