//! A [`Store`] wrapper for fault tests: counts operations, and crashes or pauses before the k-th.

use super::{ETag, Object, ObjectMeta, PutMode, Store, StoreError};
use async_trait::async_trait;
use bytes::Bytes;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::Semaphore;

/// Wraps a store; `crash_before(k)` makes operation k and every later one fail, as a process
/// that died there would do nothing more; `pause_before(k)` holds operation k until resumed;
/// `lose_answer_of(k)` performs operation k, loses its answer and retries it once, as an SDK
/// does: the caller sees the retry's answer (a conditional write refused by its own first
/// attempt, say).
#[derive(Debug)]
pub struct ScriptedStore {
    inner: Arc<dyn Store>,
    ops: AtomicU64,
    crash_at: AtomicU64,
    lost_answer_at: AtomicU64,
    pause: Mutex<Option<(u64, Arc<Pause>)>>,
    pause_put: Mutex<Option<(String, Arc<Pause>)>>,
}

/// A pause at one operation: [`Pause::reached`] once the run waits there, [`Pause::resume`] to go on.
#[derive(Debug)]
pub struct Pause {
    reached: Semaphore,
    go: Semaphore,
}

impl Pause {
    /// Waits until the paused operation is reached (forever if it never is).
    pub async fn reached(&self) {
        self.reached.acquire().await.expect("never closed").forget();
    }

    pub fn resume(&self) {
        self.go.add_permits(1);
    }
}

impl ScriptedStore {
    pub fn new(inner: Arc<dyn Store>) -> Self {
        Self {
            inner,
            ops: AtomicU64::new(0),
            crash_at: AtomicU64::new(0),
            lost_answer_at: AtomicU64::new(0),
            pause: Mutex::new(None),
            pause_put: Mutex::new(None),
        }
    }

    /// Operations done so far.
    pub fn ops(&self) -> u64 {
        self.ops.load(Ordering::SeqCst)
    }

    /// Counts operations afresh from 0.
    pub fn reset(&self) {
        self.ops.store(0, Ordering::SeqCst);
    }

    /// Operation `k` (1-based, counted from now) and all later ones fail.
    pub fn crash_before(&self, k: u64) {
        self.crash_at.store(self.ops() + k, Ordering::SeqCst);
    }

    /// Operation `k` (1-based, counted from now) is done, its answer lost, and it is retried.
    pub fn lose_answer_of(&self, k: u64) {
        self.lost_answer_at.store(self.ops() + k, Ordering::SeqCst);
    }

    /// The next `put` to `key` waits for [`Pause::resume`].
    pub fn pause_before_put_to(&self, key: &str) -> Arc<Pause> {
        let pause = Arc::new(Pause { reached: Semaphore::new(0), go: Semaphore::new(0) });
        *self.pause_put.lock().expect("pause lock") = Some((key.to_owned(), pause.clone()));
        pause
    }

    /// Operation `k` (1-based, counted from now) waits for [`Pause::resume`].
    pub fn pause_before(&self, k: u64) -> Arc<Pause> {
        let pause = Arc::new(Pause { reached: Semaphore::new(0), go: Semaphore::new(0) });
        *self.pause.lock().expect("pause lock") = Some((self.ops() + k, pause.clone()));
        pause
    }

    /// Counts one operation and applies the script: `Err` for a crash, `Ok(true)` when its
    /// answer is to be lost (the caller then does it twice).
    async fn step(&self, operation: &'static str, key: &str) -> Result<bool, StoreError> {
        let n = self.ops.fetch_add(1, Ordering::SeqCst) + 1;
        let crash_at = self.crash_at.load(Ordering::SeqCst);
        if crash_at != 0 && n >= crash_at {
            return Err(StoreError::Backend { location: self.location(), operation, key: key.to_owned(), source: "simulated crash".into() });
        }
        let mut pause = self.pause.lock().expect("pause lock").as_ref().filter(|(at, _)| *at == n).map(|(_, p)| p.clone());
        if operation == "put" {
            let mut by_key = self.pause_put.lock().expect("pause lock");
            if by_key.as_ref().is_some_and(|(k, _)| k == key) {
                pause = by_key.take().map(|(_, p)| p);
            }
        }
        if let Some(pause) = pause {
            pause.reached.add_permits(1);
            pause.go.acquire().await.expect("never closed").forget();
        }
        Ok(self.lost_answer_at.load(Ordering::SeqCst) == n)
    }
}

#[async_trait]
impl Store for ScriptedStore {
    fn location(&self) -> String {
        self.inner.location()
    }

    fn url_of(&self, key: &str) -> String {
        self.inner.url_of(key)
    }

    async fn put(&self, key: &str, data: Bytes, mode: PutMode) -> Result<ETag, StoreError> {
        if self.step("put", key).await? {
            let _lost = self.inner.put(key, data.clone(), mode.clone()).await;
        }
        self.inner.put(key, data, mode).await
    }

    async fn get(&self, key: &str) -> Result<Object, StoreError> {
        if self.step("get", key).await? {
            let _lost = self.inner.get(key).await;
        }
        self.inner.get(key).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectMeta>, StoreError> {
        if self.step("list", prefix).await? {
            let _lost = self.inner.list(prefix).await;
        }
        self.inner.list(prefix).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        if self.step("delete", key).await? {
            let _lost = self.inner.delete(key).await;
        }
        self.inner.delete(key).await
    }
}
