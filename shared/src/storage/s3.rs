//! A [`Store`] over an S3 bucket (and optional key prefix), through aws-sdk-s3.
//!
//! Any S3-compatible server stands in when `AWS_ENDPOINT_URL` is set: addressing is then
//! path-style, as such servers on loopback need. Conditional writes use `If-None-Match: *` and
//! `If-Match: <etag>`.

use super::{ETag, Object, ObjectMeta, PutMode, Store, StoreError};
use async_trait::async_trait;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

#[derive(Debug, Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
    /// Key prefix without leading or trailing `/`; empty for the bucket's root.
    prefix: String,
}

impl S3Store {
    pub fn new(client: aws_sdk_s3::Client, bucket: String, prefix: String) -> Self {
        Self { client, bucket, prefix: prefix.trim_matches('/').to_owned() }
    }

    fn full_key(&self, key: &str) -> String {
        if self.prefix.is_empty() { key.to_owned() } else { format!("{}/{key}", self.prefix) }
    }

    fn relative_key<'a>(&self, full: &'a str) -> &'a str {
        if self.prefix.is_empty() { full } else { full[self.prefix.len() + 1..].as_ref() }
    }

    fn backend_err<E, R>(&self, operation: &'static str, key: &str, e: SdkError<E, R>) -> StoreError
    where
        E: std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug + Send + Sync + 'static,
    {
        StoreError::Backend {
            location: self.location(),
            operation,
            key: key.to_owned(),
            // The SDK error's own Display is terse ("service error"); its context names the cause.
            source: aws_sdk_s3::error::DisplayErrorContext(e).to_string().into(),
        }
    }
}

fn http_status<E>(e: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Option<u16> {
    e.raw_response().map(|r| r.status().as_u16())
}

#[async_trait]
impl Store for S3Store {
    fn location(&self) -> String {
        if self.prefix.is_empty() { format!("s3://{}", self.bucket) } else { format!("s3://{}/{}", self.bucket, self.prefix) }
    }

    fn url_of(&self, key: &str) -> String {
        format!("s3://{}/{}", self.bucket, self.full_key(key))
    }

    async fn put(&self, key: &str, data: Bytes, mode: PutMode) -> Result<ETag, StoreError> {
        let mut request =
            self.client.put_object().bucket(&self.bucket).key(self.full_key(key)).body(ByteStream::from(data));
        request = match &mode {
            PutMode::Overwrite => request,
            PutMode::Create => request.if_none_match("*"),
            PutMode::Replace(etag) => request.if_match(&etag.0),
        };
        match request.send().await {
            Ok(out) => Ok(ETag(out.e_tag().unwrap_or_default().to_owned())),
            // 412: the condition failed; 409: a concurrent conditional write won the race.
            Err(e) if matches!(http_status(&e), Some(412 | 409)) => Err(match mode {
                PutMode::Create => StoreError::AlreadyExists { location: self.location(), key: key.to_owned() },
                _ => StoreError::Precondition { location: self.location(), key: key.to_owned() },
            }),
            Err(e) => Err(self.backend_err("put", key, e)),
        }
    }

    async fn get(&self, key: &str) -> Result<Object, StoreError> {
        let response = match self.client.get_object().bucket(&self.bucket).key(self.full_key(key)).send().await {
            Ok(r) => r,
            Err(e) if http_status(&e) == Some(404) || e.code() == Some("NoSuchKey") => {
                return Err(StoreError::NotFound { location: self.location(), key: key.to_owned() });
            }
            Err(e) => return Err(self.backend_err("get", key, e)),
        };
        let etag = ETag(response.e_tag().unwrap_or_default().to_owned());
        let data = response.body.collect().await.map_err(|e| StoreError::Backend {
            location: self.location(),
            operation: "get",
            key: key.to_owned(),
            source: Box::new(e),
        })?;
        Ok(Object { data: data.into_bytes(), etag })
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(self.full_key(prefix))
            .into_paginator()
            .send();
        let mut out = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.backend_err("list", prefix, e))?;
            for object in page.contents() {
                let full = object.key().unwrap_or_default();
                out.push(ObjectMeta {
                    key: self.relative_key(full).to_owned(),
                    size: object.size().unwrap_or_default().max(0) as u64,
                    last_modified: object
                        .last_modified()
                        .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
                        .unwrap_or_default(),
                });
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self.client.delete_object().bucket(&self.bucket).key(self.full_key(key)).send().await {
            Ok(_) => Ok(()),
            Err(e) if http_status(&e) == Some(404) => Ok(()),
            Err(e) => Err(self.backend_err("delete", key, e)),
        }
    }
}
