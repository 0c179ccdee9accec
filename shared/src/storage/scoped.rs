//! A store that lets a function reach only the zones its IAM role allows.
//!
//! [`ACCESS`] is the one table of which zones each function may read and write: the template test
//! checks the IAM policies in `infra/` against it, and every function's store is wrapped in a
//! [`ScopedStore`] built from it, so a read or write outside them fails in tests and local runs as
//! AWS would deny it in production, instead of succeeding silently.

use super::{ETag, Object, ObjectMeta, PutMode, Store, StoreError};
use crate::partition::Zone;
use async_trait::async_trait;
use bytes::Bytes;
use std::sync::Arc;

/// The zones of the data bucket one function may read (and list) and write (and delete).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub read: &'static [Zone],
    pub write: &'static [Zone],
}

/// Each function's access, by function name.
pub const ACCESS: [(&str, Access); 3] = [
    ("fetch", Access { read: &[Zone::Raw, Zone::Quarantine], write: &[Zone::Raw, Zone::Quarantine] }),
    // Writing raw/ is for the erasure path, which rewrites raw dates.
    ("transform", Access { read: &[Zone::Raw, Zone::Curated, Zone::Quarantine], write: &[Zone::Raw, Zone::Curated, Zone::Quarantine] }),
    ("recommend", Access { read: &[Zone::Curated, Zone::Models, Zone::Recommendations], write: &[Zone::Models, Zone::Recommendations] }),
];

/// The access of `function`, one of [`ACCESS`]'s.
pub fn access(function: &str) -> Access {
    ACCESS.iter().find(|(name, _)| *name == function).map(|(_, a)| *a).unwrap_or_else(|| panic!("{function} is not in storage::ACCESS"))
}

/// `inner`, reachable only where `function`'s role allows.
#[derive(Debug, Clone)]
pub struct ScopedStore {
    inner: Arc<dyn Store>,
    function: &'static str,
    access: Access,
}

impl ScopedStore {
    pub fn new(inner: Arc<dyn Store>, function: &'static str) -> Self {
        Self { inner, function, access: access(function) }
    }

    fn check(&self, operation: &'static str, key: &str, zones: &[Zone]) -> Result<(), StoreError> {
        let zone = key.split('/').next().unwrap_or_default();
        if zones.iter().any(|z| z.as_str() == zone) {
            return Ok(());
        }
        let allowed: Vec<&str> = zones.iter().map(|z| z.as_str()).collect();
        Err(StoreError::Backend {
            location: self.inner.location(),
            operation,
            key: key.to_owned(),
            source: format!("access denied: {} may {operation} only under {allowed:?} (its IAM role)", self.function).into(),
        })
    }
}

#[async_trait]
impl Store for ScopedStore {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn url_of(&self, key: &str) -> String {
        self.inner.url_of(key)
    }

    async fn put(&self, key: &str, data: Bytes, mode: PutMode) -> Result<ETag, StoreError> {
        self.check("put", key, self.access.write)?;
        self.inner.put(key, data, mode).await
    }

    async fn get(&self, key: &str) -> Result<Object, StoreError> {
        self.check("get", key, self.access.read)?;
        self.inner.get(key).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        self.check("list", prefix, self.access.read)?;
        self.inner.list(prefix).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.check("delete", key, self.access.write)?;
        self.inner.delete(key).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStore;

    #[tokio::test]
    async fn a_function_reaches_its_zones_only() {
        let inner: Arc<dyn Store> = Arc::new(MemoryStore::default());
        inner.put("curated/users/x", Bytes::from_static(b"u"), PutMode::Overwrite).await.unwrap();
        let fetch = ScopedStore::new(inner.clone(), "fetch");
        fetch.put("raw/tracks/dt=2026-11-21/part", Bytes::from_static(b"r"), PutMode::Overwrite).await.unwrap();
        let denied = fetch.put("curated/tracks/x", Bytes::from_static(b"c"), PutMode::Overwrite).await.unwrap_err();
        assert!(denied.to_string().contains("access denied: fetch may put only under [\"raw\", \"quarantine\"]"), "{denied}");
        assert!(fetch.get("curated/users/x").await.is_err(), "fetch cannot read curated");
        assert!(fetch.list("").await.is_err(), "nor list the whole bucket");
        let recommend = ScopedStore::new(inner.clone(), "recommend");
        assert!(recommend.get("curated/users/x").await.is_ok());
        assert!(recommend.delete("curated/users/x").await.is_err(), "recommend reads curated, never deletes it");
        assert!(inner.get("curated/users/x").await.is_ok() && inner.get("curated/tracks/x").await.is_err(), "a denied call changes nothing");
    }
}
