//! A [`Store`] over a local folder: the laptop default, and identical in behaviour to S3.
//!
//! Writes go to a temporary file that is then renamed (plain puts) or hard-linked (create-only
//! puts, which fail atomically if the key exists), so a reader never sees half an object. A
//! conditional replace holds an exclusive file lock on the key's folder while it compares and
//! renames, so it is atomic across processes too (two local runs of one date, say).

use super::{ETag, Object, ObjectMeta, PutMode, Store, StoreError};
use async_trait::async_trait;
use bytes::Bytes;
use sha2::{Digest, Sha256};
use std::io;
use std::path::{Component, Path, PathBuf};

const TEMP_MARK: &str = ".tmp-";

/// The lock file of a folder's conditional replaces (hidden from listings like temporary files).
const LOCK_FILE: &str = ".tmp-lock";

#[derive(Debug)]
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    pub fn new(root: PathBuf) -> Self {
        Self { root }
    }

    fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        let rel = Path::new(key);
        let safe = !key.is_empty() && rel.components().all(|c| matches!(c, Component::Normal(_)));
        if !safe {
            return Err(self.backend_err("resolve", key, io::Error::other("keys must be relative paths without `..`")));
        }
        Ok(self.root.join(rel))
    }

    fn backend_err(&self, operation: &'static str, key: &str, e: io::Error) -> StoreError {
        StoreError::Backend { location: self.location(), operation, key: key.to_owned(), source: Box::new(e) }
    }

    fn etag(data: &[u8]) -> ETag {
        ETag(hex::encode(&Sha256::digest(data)[..16]))
    }

    async fn write_temp(&self, path: &Path, key: &str, data: &[u8]) -> Result<PathBuf, StoreError> {
        let dir = path.parent().expect("a key's path has a parent");
        tokio::fs::create_dir_all(dir).await.map_err(|e| self.backend_err("put", key, e))?;
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let temp = dir.join(format!("{TEMP_MARK}{}-{name}", uuid::Uuid::new_v4().simple()));
        tokio::fs::write(&temp, data).await.map_err(|e| self.backend_err("put", key, e))?;
        Ok(temp)
    }
}

#[async_trait]
impl Store for LocalStore {
    fn location(&self) -> String {
        self.root.display().to_string()
    }

    fn url_of(&self, key: &str) -> String {
        let path = self.root.join(key);
        std::path::absolute(&path).unwrap_or(path).display().to_string()
    }

    async fn put(&self, key: &str, data: Bytes, mode: PutMode) -> Result<ETag, StoreError> {
        let path = self.path(key)?;
        let temp = self.write_temp(&path, key, &data).await?;
        let etag = Self::etag(&data);
        let result = match mode {
            PutMode::Overwrite => tokio::fs::rename(&temp, &path).await.map_err(|e| self.backend_err("put", key, e)),
            PutMode::Create => {
                let linked = tokio::fs::hard_link(&temp, &path).await;
                let _ = tokio::fs::remove_file(&temp).await;
                match linked {
                    Ok(()) => Ok(()),
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        Err(StoreError::AlreadyExists { location: self.location(), key: key.to_owned() })
                    }
                    Err(e) => Err(self.backend_err("put", key, e)),
                }
            }
            PutMode::Replace(expected) => {
                let (path, temp_) = (path.clone(), temp.clone());
                let replaced = tokio::task::spawn_blocking(move || replace_if(&path, &temp_, &expected))
                    .await
                    .expect("the replace task does not panic");
                match replaced {
                    Ok(true) => Ok(()),
                    Ok(false) => Err(StoreError::Precondition { location: self.location(), key: key.to_owned() }),
                    Err(e) => Err(self.backend_err("put", key, e)),
                }
            }
        };
        if result.is_err() {
            let _ = tokio::fs::remove_file(&temp).await;
        }
        result.map(|()| etag)
    }

    async fn get(&self, key: &str) -> Result<Object, StoreError> {
        match tokio::fs::read(self.path(key)?).await {
            Ok(data) => Ok(Object { etag: Self::etag(&data), data: data.into() }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(StoreError::NotFound { location: self.location(), key: key.to_owned() })
            }
            Err(e) => Err(self.backend_err("get", key, e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        // Walk the deepest folder the prefix names, then filter by the full string prefix.
        let folder = prefix.rfind('/').map_or("", |i| &prefix[..i]);
        let start = if folder.is_empty() { self.root.clone() } else { self.path(folder)? };
        let (root, prefix_owned) = (self.root.clone(), prefix.to_owned());
        let walked = tokio::task::spawn_blocking(move || walk(&root, &start, &prefix_owned))
            .await
            .expect("the listing task does not panic");
        let mut objects = walked.map_err(|e| self.backend_err("list", prefix, e))?;
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(objects)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match tokio::fs::remove_file(self.path(key)?).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(self.backend_err("delete", key, e)),
        }
    }
}

/// Renames `temp` onto `path` if `path` still has the entity tag `expected`, under the folder's lock.
fn replace_if(path: &Path, temp: &Path, expected: &ETag) -> io::Result<bool> {
    let lock = std::fs::File::create(path.parent().expect("a key's path has a parent").join(LOCK_FILE))?;
    lock.lock()?;
    let current = match std::fs::read(path) {
        Ok(data) => Some(LocalStore::etag(&data)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    if current.as_ref() != Some(expected) {
        return Ok(false);
    }
    std::fs::rename(temp, path)?;
    Ok(true)
}

fn walk(root: &Path, dir: &Path, prefix: &str) -> io::Result<Vec<ObjectMeta>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let entries = match std::fs::read_dir(&dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(entry.path());
            } else if kind.is_file() && !entry.file_name().to_string_lossy().starts_with(TEMP_MARK) {
                let path = entry.path();
                let rel = path.strip_prefix(root).expect("walked paths are under the root");
                let key = rel.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
                if key.starts_with(prefix) {
                    let meta = entry.metadata()?;
                    let last_modified = meta.modified().map(chrono::DateTime::<chrono::Utc>::from).unwrap_or_default();
                    out.push(ObjectMeta { key, size: meta.len(), last_modified });
                }
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keys_cannot_escape_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().join("root"));
        for key in ["../outside", "/etc/passwd", "a/../../b", ""] {
            assert!(store.put(key, Bytes::from_static(b"x"), PutMode::Overwrite).await.is_err(), "{key}");
        }
        assert!(!dir.path().join("outside").exists());
    }

    #[tokio::test]
    async fn no_temporary_files_are_left_or_listed() {
        let dir = tempfile::tempdir().unwrap();
        let store = LocalStore::new(dir.path().to_path_buf());
        store.put("a/b", Bytes::from_static(b"1"), PutMode::Create).await.unwrap();
        assert!(store.put("a/b", Bytes::from_static(b"2"), PutMode::Create).await.is_err());
        store.put("a/b", Bytes::from_static(b"3"), PutMode::Overwrite).await.unwrap();
        let files: Vec<_> = std::fs::read_dir(dir.path().join("a")).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(files, ["b"]);
    }
}
