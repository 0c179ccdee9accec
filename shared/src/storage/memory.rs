//! An in-memory [`Store`] for unit tests of the logic above storage.

use super::{ETag, Object, ObjectMeta, PutMode, Store, StoreError};
use async_trait::async_trait;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct MemoryStore {
    objects: Mutex<BTreeMap<String, (Bytes, u64, chrono::DateTime<chrono::Utc>)>>,
    versions: std::sync::atomic::AtomicU64,
}

impl MemoryStore {
    fn err_exists(&self, key: &str) -> StoreError {
        StoreError::AlreadyExists { location: self.location(), key: key.to_owned() }
    }
}

#[async_trait]
impl Store for MemoryStore {
    fn location(&self) -> String {
        "memory://".into()
    }

    fn url_of(&self, key: &str) -> String {
        format!("memory://{key}")
    }

    async fn put(&self, key: &str, data: Bytes, mode: PutMode) -> Result<ETag, StoreError> {
        let version = self.versions.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        let mut objects = self.objects.lock().unwrap();
        match (&mode, objects.get(key)) {
            (PutMode::Create, Some(_)) => return Err(self.err_exists(key)),
            (PutMode::Replace(etag), current) if current.map(|(_, v, _)| v.to_string()) != Some(etag.0.clone()) => {
                return Err(StoreError::Precondition { location: self.location(), key: key.to_owned() });
            }
            _ => {}
        }
        objects.insert(key.to_owned(), (data, version, chrono::Utc::now()));
        Ok(ETag(version.to_string()))
    }

    async fn get(&self, key: &str) -> Result<Object, StoreError> {
        let objects = self.objects.lock().unwrap();
        let (data, version, _) =
            objects.get(key).ok_or_else(|| StoreError::NotFound { location: self.location(), key: key.to_owned() })?;
        Ok(Object { data: data.clone(), etag: ETag(version.to_string()) })
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        let objects = self.objects.lock().unwrap();
        Ok(objects
            .range(prefix.to_owned()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(k, (data, _, at))| ObjectMeta { key: k.clone(), size: data.len() as u64, last_modified: *at })
            .collect())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.objects.lock().unwrap().remove(key);
        Ok(())
    }
}
