//! The loopback AWS-API server the AWS-backed tests talk to (LocalStack's S3 and CloudWatch,
//! started by `tests/run.sh`), and clients configured for it.
//!
//! ```no_run
//! # async fn demo() {
//! let Some(aws) = moovitamix_tests::aws::loopback_aws() else { return }; // prints why it skipped
//! let s3 = aws.s3();
//! let bucket = aws.fresh_bucket("conformance").await;
//! # let _ = (s3, bucket);
//! # }
//! ```

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The region every test client uses.
pub const REGION: &str = "us-east-1";

/// The message a test prints when it skips for want of the server.
pub const SKIP_MESSAGE: &str = "skipped: no loopback AWS server (run bash tests/run.sh)";

/// An AWS-API server on loopback, found through `AWS_ENDPOINT_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoopbackAws {
    endpoint: String,
}

/// The loopback AWS-API server, when `AWS_ENDPOINT_URL` names one.
///
/// - `AWS_ENDPOINT_URL` set: `Some`.
/// - unset, and `MOOVITAMIX_TEST_AWS` or `CI` set: panics, because the AWS-backed tests must run there.
/// - unset otherwise (a developer's plain `cargo test`): prints [`SKIP_MESSAGE`] and returns `None`.
pub fn loopback_aws() -> Option<LoopbackAws> {
    match decide(std::env::var("AWS_ENDPOINT_URL").ok(), crate::required_by_environment()) {
        Ok(found) => found,
        Err(message) => panic!("{message}"),
    }
}

/// The decision of [`loopback_aws`], apart from the process environment.
fn decide(endpoint: Option<String>, required: bool) -> Result<Option<LoopbackAws>, String> {
    match endpoint.map(|e| e.trim().trim_end_matches('/').to_owned()).filter(|e| !e.is_empty()) {
        Some(endpoint) => Ok(Some(LoopbackAws { endpoint })),
        None if required => Err(
            "AWS_ENDPOINT_URL is not set but MOOVITAMIX_TEST_AWS or CI is: the AWS-backed tests must run here. \
             Run them through `bash tests/run.sh`, which starts LocalStack on 127.0.0.1:4566 and exports AWS_ENDPOINT_URL."
                .to_owned(),
        ),
        None => {
            println!("{SKIP_MESSAGE}");
            Ok(None)
        }
    }
}

impl LoopbackAws {
    /// A server at `endpoint`, e.g. `http://127.0.0.1:4566`.
    pub fn at(endpoint: impl Into<String>) -> Self {
        Self { endpoint: endpoint.into().trim_end_matches('/').to_owned() }
    }

    /// The endpoint URL, without a trailing slash.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// Static test credentials (`test`/`test`), as LocalStack expects.
    pub fn credentials() -> aws_sdk_s3::config::Credentials {
        aws_sdk_s3::config::Credentials::new("test", "test", None, None, "moovitamix-tests")
    }

    /// An S3 client for the server: path-style addressing, static credentials, `us-east-1`.
    pub fn s3(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new(REGION))
            .credentials_provider(Self::credentials())
            .endpoint_url(&self.endpoint)
            .force_path_style(true)
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    /// A CloudWatch client for the server (static credentials, `us-east-1`).
    pub fn cloudwatch(&self) -> aws_sdk_cloudwatch::Client {
        let config = aws_sdk_cloudwatch::Config::builder()
            .behavior_version(aws_sdk_cloudwatch::config::BehaviorVersion::latest())
            .region(aws_sdk_cloudwatch::config::Region::new(REGION))
            .credentials_provider(Self::credentials())
            .endpoint_url(&self.endpoint)
            .build();
        aws_sdk_cloudwatch::Client::from_conf(config)
    }

    /// The environment a child process (a function under `cargo lambda watch`, the CLI) needs to
    /// reach this server through the SDK's standard variables.
    pub fn child_env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "test"),
            ("AWS_SECRET_ACCESS_KEY", "test"),
            ("AWS_REGION", REGION),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// Creates a new, empty bucket with a name no other test (or earlier run) uses, and returns the name.
    pub async fn fresh_bucket(&self, label: &str) -> String {
        let name = unique_bucket_name(label);
        self.s3()
            .create_bucket()
            .bucket(&name)
            .send()
            .await
            .unwrap_or_else(|e| panic!("creating bucket {name} at {}: {}", self.endpoint, error_chain(&e)));
        name
    }
}

/// `mvx-<label>-<pid>-<time>-<n>`: lowercase, digits and hyphens, at most 63 characters.
pub fn unique_bucket_name(label: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let mut label: String =
        label.to_ascii_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    label.truncate(24);
    let label = label.trim_matches('-');
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut name = format!("mvx-{label}-{:x}-{:x}-{n}", std::process::id(), nanos % 0xffff_ffff_ffff);
    while name.contains("--") {
        name = name.replace("--", "-");
    }
    name
}

/// An error and its sources on one line (SDK errors hide the useful part in the chain).
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endpoint_is_used_when_set() {
        let found = decide(Some("http://127.0.0.1:4566/".into()), true).unwrap().unwrap();
        assert_eq!(found.endpoint(), "http://127.0.0.1:4566");
    }

    #[test]
    fn without_an_endpoint_ci_fails_and_a_developer_skips() {
        let message = decide(None, true).unwrap_err();
        assert!(message.contains("bash tests/run.sh"), "{message}");
        assert_eq!(decide(Some("  ".into()), false).unwrap(), None);
        assert_eq!(decide(None, false).unwrap(), None);
    }

    #[test]
    fn bucket_names_are_valid_and_unique() {
        let a = unique_bucket_name("Storage Conformance__Suite with a very long label indeed");
        let b = unique_bucket_name("Storage Conformance__Suite with a very long label indeed");
        assert_ne!(a, b);
        for name in [&a, &b, &unique_bucket_name("")] {
            assert!((3..=63).contains(&name.len()), "{name}");
            assert!(name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'), "{name}");
            assert!(!name.ends_with('-') && !name.contains("--"), "{name}");
        }
    }
}
