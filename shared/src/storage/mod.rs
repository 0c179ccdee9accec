//! Object storage: one small trait, with a local-folder, an S3 and an in-memory backend.
//!
//! Keys are `/`-separated and relative to the store's root (see [`crate::partition`]). The
//! conditional writes ([`PutMode::Create`], [`PutMode::Replace`]) are what the commit protocol's
//! lease and the model's champion pointer stand on.

mod local;
mod memory;
mod s3;
mod scoped;

#[cfg(any(test, feature = "testing"))]
pub mod conformance;
#[cfg(any(test, feature = "testing"))]
mod scripted;
#[cfg(any(test, feature = "testing"))]
pub use scripted::{Pause, ScriptedStore};

pub use local::LocalStore;
pub use memory::MemoryStore;
pub use s3::S3Store;
pub use scoped::{ACCESS, Access, ScopedStore, access};

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use std::fmt;

/// How a `put` treats an object that already exists at the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutMode {
    /// Replace whatever is there.
    Overwrite,
    /// Write only if nothing is at the key; otherwise [`StoreError::AlreadyExists`].
    Create,
    /// Write only if the object still has this entity tag; otherwise [`StoreError::Precondition`].
    Replace(ETag),
}

/// An opaque version tag of an object's content, as returned by `get`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ETag(pub String);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub key: String,
    pub size: u64,
    /// When the object was last written, by the store's own clock (S3's `LastModified`, a file's
    /// mtime): clean-up compares these with each other, never with a writer's clock.
    pub last_modified: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Object {
    pub data: Bytes,
    pub etag: ETag,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{location}: no object at `{key}`")]
    NotFound { location: String, key: String },
    #[error("{location}: `{key}` already exists")]
    AlreadyExists { location: String, key: String },
    #[error("{location}: `{key}` changed since it was read (conditional write refused)")]
    Precondition { location: String, key: String },
    #[error("{location}: {operation} `{key}` failed: {source}")]
    Backend {
        location: String,
        operation: &'static str,
        key: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StoreError {
    pub fn is_not_found(&self) -> bool {
        matches!(self, StoreError::NotFound { .. })
    }
}

/// The storage every stage reads and writes through.
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    /// Where this store is, for messages: `s3://bucket/prefix` or a folder path.
    fn location(&self) -> String;
    /// The object's full address for readers outside the code (`s3://bucket/prefix/key`, an
    /// absolute path): what the query layer's symlink manifests list.
    fn url_of(&self, key: &str) -> String;
    /// Writes the object and returns its new entity tag.
    async fn put(&self, key: &str, data: Bytes, mode: PutMode) -> Result<ETag, StoreError>;
    async fn get(&self, key: &str) -> Result<Object, StoreError>;
    /// Every object whose key starts with `prefix`, sorted by key.
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError>;
    /// Removes the object; removing a missing object is not an error.
    async fn delete(&self, key: &str) -> Result<(), StoreError>;

    /// `get`, with a missing object as `None`.
    async fn get_opt(&self, key: &str) -> Result<Option<Object>, StoreError> {
        match self.get(key).await {
            Ok(o) => Ok(Some(o)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Where the data lives, parsed from `DATA_URL`: `s3://bucket/optional/prefix` or a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataUrl {
    S3 { bucket: String, prefix: String },
    Local(std::path::PathBuf),
}

impl DataUrl {
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Some(path) = s.strip_prefix("file://") {
            return Ok(DataUrl::Local(path.into()));
        }
        if let Some(rest) = s.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(format!("`{s}` has no bucket name (expected s3://bucket/optional/prefix)"));
            }
            Ok(DataUrl::S3 { bucket: bucket.to_owned(), prefix: prefix.trim_matches('/').to_owned() })
        } else if s.contains("://") {
            Err(format!("`{s}`: only s3:// URLs or local folders are supported"))
        } else if s.is_empty() {
            Err("empty value (expected s3://bucket/prefix or a folder)".into())
        } else {
            Ok(DataUrl::Local(s.into()))
        }
    }
}

impl fmt::Display for DataUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataUrl::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            DataUrl::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
            DataUrl::Local(p) => write!(f, "{}", p.display()),
        }
    }
}

/// The store `function` (one of [`ACCESS`]'s) uses: the one `url` names, reachable only where
/// its IAM role allows.
pub async fn open_for(function: &'static str, url: &DataUrl, aws: &crate::aws::AwsConfig) -> std::sync::Arc<dyn Store> {
    std::sync::Arc::new(ScopedStore::new(open(url, aws).await, function))
}

/// Opens the store `url` names; an S3 client comes from the container's AWS configuration.
pub async fn open(url: &DataUrl, aws: &crate::aws::AwsConfig) -> std::sync::Arc<dyn Store> {
    match url {
        DataUrl::Local(path) => std::sync::Arc::new(LocalStore::new(path.clone())),
        DataUrl::S3 { bucket, prefix } => std::sync::Arc::new(S3Store::new(aws.s3().await, bucket.clone(), prefix.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_urls_parse() {
        assert_eq!(
            DataUrl::parse("s3://my-bucket/pipeline/prod/").unwrap(),
            DataUrl::S3 { bucket: "my-bucket".into(), prefix: "pipeline/prod".into() }
        );
        assert_eq!(DataUrl::parse("s3://b").unwrap(), DataUrl::S3 { bucket: "b".into(), prefix: "".into() });
        assert_eq!(DataUrl::parse("./data").unwrap(), DataUrl::Local("./data".into()));
        assert_eq!(DataUrl::parse("file:///tmp/x").unwrap(), DataUrl::Local("/tmp/x".into()));
        for bad in ["s3://", "s3:///prefix", "gs://bucket", ""] {
            assert!(DataUrl::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(DataUrl::parse("s3://b/p/q").unwrap().to_string(), "s3://b/p/q");
    }
}
