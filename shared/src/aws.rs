//! The AWS SDK configuration of a container, loaded once and handed to every client.
//!
//! Each `main` (the three functions, the local command) makes one [`AwsConfig`] and passes it to
//! the jobs it builds; the S3 store, the CloudWatch sink and the SSM read all take their client
//! from it. The configuration (environment, profile, or the Lambda role) is loaded at the first
//! client asked for, not before: a local run on a folder with log metrics never touches AWS.

use std::sync::Arc;
use tokio::sync::OnceCell;

/// The container's AWS SDK configuration; clones share one load.
#[derive(Debug, Clone, Default)]
pub struct AwsConfig {
    loaded: Arc<OnceCell<aws_config::SdkConfig>>,
}

impl AwsConfig {
    /// A configuration loaded from the ambient sources at first use.
    pub fn new() -> Self {
        Self::default()
    }

    /// A configuration given as is (tests that build their own).
    pub fn with(sdk: aws_config::SdkConfig) -> Self {
        Self { loaded: Arc::new(OnceCell::new_with(Some(sdk))) }
    }

    /// The SDK configuration: loaded by the first call of any clone, shared by the others.
    pub async fn sdk(&self) -> &aws_config::SdkConfig {
        self.loaded.get_or_init(|| aws_config::load_defaults(aws_config::BehaviorVersion::latest())).await
    }

    /// An S3 client; path-style addressing when an S3-compatible server stands in
    /// (`AWS_ENDPOINT_URL`), as such servers on loopback need.
    pub async fn s3(&self) -> aws_sdk_s3::Client {
        let path_style = std::env::var_os("AWS_ENDPOINT_URL").is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
        aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(self.sdk().await).force_path_style(path_style).build())
    }

    pub async fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        aws_sdk_cloudwatch::Client::new(self.sdk().await)
    }

    pub async fn ssm(&self) -> aws_sdk_ssm::Client {
        aws_sdk_ssm::Client::new(self.sdk().await)
    }
}

