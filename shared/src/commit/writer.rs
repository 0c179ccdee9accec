//! One run's writes: data objects into the run's own folders, then the switch and the clean-up.

use super::{CommitError, RunId};
use crate::manifest::{FORMAT_VERSION, Manifest, ObjectEntry, ObjectRole, code_version};
use crate::partition::{Partition, Zone};
use crate::storage::{ETag, PutMode, Store, StoreError};
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use futures::StreamExt;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// A put the run refuses, and why.
fn refused(store: &dyn Store, key: &str, why: &str) -> StoreError {
    StoreError::Backend { location: store.location(), operation: "put", key: key.to_owned(), source: why.to_owned().into() }
}

/// How long an abort waits for the puts in flight.
const PUTS_WAIT: Duration = Duration::from_secs(5);

/// Why a write after the run stopped is refused.
const STOPPED: &str = "this run was stopped (failure, deadline or lost lease); it writes nothing more";

/// Deletes in flight at once during an abort or a clean-up.
const DELETE_CONCURRENCY: usize = 16;

/// One run's writes to one stage's partitions of one date. Every object goes under the run's own
/// folder of its partition (`.../dt=D/run=<id>/`), so nothing the run writes is visible to any
/// reader until the run manifest names it.
#[derive(Debug)]
pub struct RunWriter {
    store: Arc<dyn Store>,
    stage: &'static str,
    zone: Zone,
    date: NaiveDate,
    run_id: RunId,
    started_at: DateTime<Utc>,
    /// Every key this run wrote, for `abort` and for the clean-up of abandoned attempts.
    written: std::sync::Mutex<BTreeSet<String>>,
    /// Set when the run stops (failure, deadline, lost lease): later writes are refused.
    closed: Arc<AtomicBool>,
    /// Held (shared) by each put running on its own task: `abort` takes it whole, so it deletes
    /// only once no put can land after it.
    puts_in_flight: Arc<tokio::sync::RwLock<()>>,
}

/// A partition the run has filled, ready for its manifest.
#[derive(Debug, Clone)]
pub struct PartitionCommit {
    pub partition: Partition,
    pub counts: BTreeMap<String, u64>,
    pub objects: Vec<ObjectEntry>,
    pub source: String,
    pub details: serde_json::Value,
    /// Further partitions this one owns for the date (e.g. its `quarantine/` partition), whose
    /// orphans the clean-up removes too.
    pub also_owns: Vec<Partition>,
}

/// What a commit wrote.
#[derive(Debug, Clone, Serialize)]
pub struct Committed {
    pub run_manifest: String,
    pub manifests: Vec<String>,
    /// Objects of the replaced commit and orphans of dead runs removed after the switch.
    pub removed_stale_objects: usize,
    /// Clean-up steps after the switch that failed (warnings: the next run retries them).
    pub cleanup_failures: usize,
}

/// The commit a run replaces: the run manifest as it was when the run took the lease.
#[derive(Debug, Clone, Default)]
pub struct Base {
    /// Its entity tag: the run manifest is replaced only if it still has it.
    pub etag: Option<ETag>,
    pub manifest: Option<Manifest>,
}

impl RunWriter {
    pub fn new(store: Arc<dyn Store>, stage: &'static str, zone: Zone, date: NaiveDate, run_id: RunId, started_at: DateTime<Utc>) -> Self {
        Self { store, stage, zone, date, run_id, started_at, written: Default::default(), closed: Arc::new(AtomicBool::new(false)), puts_in_flight: Default::default() }
    }

    pub fn run_id(&self) -> &str {
        self.run_id.as_str()
    }

    pub fn date(&self) -> NaiveDate {
        self.date
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Writes one data object (not yet visible to readers) and describes it for the manifest.
    /// The key must lie in one of this run's folders ([`Partition::run_folder`]).
    pub async fn put_object(&self, key: String, data: Bytes, rows: u64, role: ObjectRole) -> Result<ObjectEntry, StoreError> {
        self.admit(&key)?;
        let entry = ObjectEntry::new(key.clone(), &data, rows, role);
        self.store.put(&key, data, PutMode::Overwrite).await?;
        Ok(entry)
    }

    /// [`RunWriter::put_object`] on a task of its own, so that the caller goes on with the next
    /// object while this one is hashed and uploaded; the handle gives its entry. An abort waits
    /// for it before deleting what the run wrote.
    pub fn spawn_put_object(&self, key: String, data: Bytes, rows: u64, role: ObjectRole) -> Result<tokio::task::JoinHandle<Result<ObjectEntry, StoreError>>, StoreError> {
        self.admit(&key)?;
        // Taken here, not in the task: an abort that starts before the task runs still waits for it.
        let in_flight = self.puts_in_flight.clone().try_read_owned().map_err(|_| refused(self.store.as_ref(), &key, STOPPED))?;
        let (store, closed) = (self.store.clone(), self.closed.clone());
        Ok(tokio::spawn(async move {
            let _in_flight = in_flight;
            // A run stopped while this waited (its work failed) uploads nothing more.
            if closed.load(Ordering::Acquire) {
                return Err(refused(store.as_ref(), &key, STOPPED));
            }
            let entry = ObjectEntry::new(key.clone(), &data, rows, role);
            store.put(&key, data, PutMode::Overwrite).await?;
            Ok(entry)
        }))
    }

    /// Refuses a write once the run stopped or outside its folders; notes the key for `abort`.
    fn admit(&self, key: &str) -> Result<(), StoreError> {
        if self.closed.load(Ordering::Acquire) {
            return Err(refused(self.store.as_ref(), key, STOPPED));
        }
        if !key.contains(&format!("/run={}/", self.run_id)) {
            return Err(refused(self.store.as_ref(), key, "a run writes only under its own run=<id>/ folders"));
        }
        self.written.lock().expect("written keys lock").insert(key.to_owned());
        Ok(())
    }

    /// Refuses every later write.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// Deletes everything this run wrote; the previous commit, if any, is untouched. Objects it
    /// cannot delete stay as orphans for a later run's clean-up.
    pub async fn abort(&self) {
        self.close();
        // Bounded: a stopped run must still abort and release before its deadline. A put that
        // lands later is an orphan of this run's folder, which a later run's clean-up removes.
        let no_put_in_flight = tokio::time::timeout(PUTS_WAIT, self.puts_in_flight.write()).await;
        if no_put_in_flight.is_err() {
            tracing::warn!(waited = ?PUTS_WAIT, "uploads still running; deleting what the run wrote without them");
        }
        let written = std::mem::take(&mut *self.written.lock().expect("written keys lock"));
        let failed = delete_all(self.store.as_ref(), written.into_iter()).await;
        if failed > 0 {
            tracing::warn!(failed, "could not delete some uncommitted objects; a later run of this date removes them");
        }
    }

    fn manifest(&self, partition: String, counts: BTreeMap<String, u64>, objects: Vec<ObjectEntry>, source: String, finished_at: DateTime<Utc>, details: serde_json::Value) -> Manifest {
        Manifest {
            format_version: FORMAT_VERSION,
            stage: self.stage.to_owned(),
            partition,
            run_id: self.run_id.to_string(),
            logical_date: self.date,
            counts,
            objects,
            source,
            started_at: self.started_at,
            finished_at,
            code_version: code_version(),
            details,
        }
    }

    /// Writes each partition's manifest into the run's folder (create-only: never replaced).
    pub(super) async fn write_partition_manifests(&self, partitions: &[PartitionCommit], finished_at: DateTime<Utc>) -> Result<Vec<ObjectEntry>, CommitError> {
        let mut entries = Vec::new();
        for p in partitions {
            let manifest = self.manifest(p.partition.prefix(), p.counts.clone(), p.objects.clone(), p.source.clone(), finished_at, p.details.clone());
            let bytes = manifest.to_json();
            let key = p.partition.run_manifest_key(self.run_id.as_str());
            create_once(self.store.as_ref(), &key, Bytes::from(bytes.clone())).await?;
            // Recorded once created, not before: a manifest already there (a retried commit of
            // the same run, whose manifest a committed run may name) is not this attempt's to
            // delete on abort. One whose write failed midway is an orphan the clean-up removes.
            self.written.lock().expect("written keys lock").insert(key.clone());
            entries.push(ObjectEntry::new(key, &bytes, p.objects.iter().map(|o| o.rows).sum(), ObjectRole::Manifest));
        }
        Ok(entries)
    }

    /// The run manifest listing the partition manifests: the one object whose conditional write
    /// commits the date.
    pub(super) fn run_manifest(&self, partitions: &[PartitionCommit], entries: Vec<ObjectEntry>, finished_at: DateTime<Utc>, details: serde_json::Value) -> Manifest {
        let mut totals: BTreeMap<String, u64> = BTreeMap::new();
        for (name, n) in partitions.iter().flat_map(|p| &p.counts) {
            *totals.entry(name.clone()).or_default() += n;
        }
        let source = partitions.iter().map(|p| p.source.as_str()).collect::<BTreeSet<_>>().into_iter().collect::<Vec<_>>().join(" ");
        self.manifest(Partition::run(self.zone, self.date).prefix(), totals, entries, source, finished_at, details)
    }

    /// After the switch: publishes the query layer's symlink manifests, removes this run's
    /// abandoned objects, the replaced commit's objects, and orphans older than `grace` by the
    /// store's clock. Every failure here is a warning counted in the result, not a run failure.
    pub(super) async fn clean_up(&self, partitions: &[PartitionCommit], manifests: &[ObjectEntry], base: &Base, grace: Duration, lease: &super::Lease) -> (usize, usize) {
        let mut keep: BTreeSet<String> = manifests.iter().map(|e| e.key.clone()).collect();
        keep.extend(partitions.iter().flat_map(|p| p.objects.iter().map(|o| o.key.clone())));
        let mut failures = 0;
        // A run taken over after its switch must not publish nor delete anything: its successor
        // owns the date now.
        if lease.renew().await.is_err() {
            tracing::warn!("the lease was taken over after the commit; leaving the clean-up to the run that holds it");
            return (0, 1);
        }

        let mut published = true;
        for p in partitions {
            // Checked again before each write: a run that stalled past its lease's TTL stops here.
            if lease.check_fresh().is_err() {
                tracing::warn!("the lease lapsed during the clean-up; leaving the rest to the run that holds it");
                return (0, 1);
            }
            if let Err(e) = publish(self.store.as_ref(), &p.partition, &p.objects, lease).await {
                tracing::warn!(error = %e, partition = %p.partition, "could not publish the symlink manifest; the query layer still shows the previous commit");
                failures += 1;
                published = false;
            }
        }

        let written = std::mem::take(&mut *self.written.lock().expect("written keys lock"));
        let abandoned: Vec<String> = written.into_iter().filter(|k| !keep.contains(k)).collect();
        failures += delete_all(self.store.as_ref(), abandoned.iter().cloned()).await;
        let mut removed = abandoned.len();

        // The replaced commit's objects go only once the query layer points at the new ones;
        // until then they are kept whole, orphan clean-up included.
        let mut owned: BTreeSet<String> = partitions.iter().flat_map(|p| std::iter::once(&p.partition).chain(&p.also_owns)).map(Partition::prefix).collect();
        if let Some(old) = &base.manifest {
            let mut stale = Vec::new();
            let old_manifests: Vec<String> = old.objects.iter().filter(|o| o.role == ObjectRole::Manifest).map(|o| o.key.clone()).collect();
            for key in old_manifests {
                match super::read::read_manifest(self.store.as_ref(), &key).await {
                    Ok(Some(m)) => {
                        owned.insert(m.partition.clone());
                        stale.extend(m.objects.into_iter().map(|o| o.key));
                    }
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "could not read a replaced manifest; its objects are left to the orphan clean-up");
                        failures += 1;
                    }
                }
                stale.push(key);
            }
            stale.retain(|k| !keep.contains(k));
            if published && lease.check_fresh().is_ok() {
                removed += stale.len();
                failures += delete_all(self.store.as_ref(), stale.into_iter()).await;
            } else {
                keep.extend(stale);
            }
        }

        // Orphans of crashed runs: not listed by the new commit, and older than the grace period
        // by the store's clock (the newest object of this commit stands for "now"), so that an
        // object of a run that may still be alive is never touched.
        // Skipped unless every symlink manifest points at the new commit: one still listing an
        // older commit's files (say, a crashed run's predecessor) must find them there.
        if published && lease.renew().await.is_ok() {
            let mut listed = Vec::new();
            for prefix in &owned {
                match self.store.list(prefix).await {
                    Ok(objects) => listed.extend(objects),
                    Err(e) => {
                        tracing::warn!(error = %e, prefix, "could not list a partition for orphans");
                        failures += 1;
                    }
                }
            }
            let now = listed.iter().filter(|o| keep.contains(&o.key)).map(|o| o.last_modified).max();
            if let Some(now) = now
                && lease.check_fresh().is_ok()
            {
                let cutoff = now - chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
                let orphans: Vec<String> = listed.into_iter().filter(|o| !keep.contains(&o.key) && o.last_modified <= cutoff).map(|o| o.key).collect();
                removed += orphans.len();
                failures += delete_all(self.store.as_ref(), orphans.into_iter()).await;
            }
        }
        (removed, failures)
    }
}

fn symlink_text(store: &dyn Store, objects: &[ObjectEntry]) -> String {
    objects.iter().filter(|o| o.role == ObjectRole::Data).map(|o| format!("{}\n", store.url_of(&o.key))).collect()
}

/// Writes a partition's symlink manifest: the full address of each committed data file, one a
/// line. The write is conditional on the version read just before it, so that a run which
/// stalled here while another took the date over cannot overwrite the newer publication.
/// `lease` is checked once more between the read and the write.
async fn publish(store: &dyn Store, partition: &Partition, objects: &[ObjectEntry], lease: &super::Lease) -> Result<(), CommitError> {
    let key = partition.symlink_key();
    let mode = store.get_opt(&key).await?.map_or(PutMode::Create, |current| PutMode::Replace(current.etag));
    lease.check_fresh()?;
    let text = Bytes::from(symlink_text(store, objects));
    match store.put(&key, text.clone(), mode).await {
        Ok(_) => Ok(()),
        // Refused: fine if it is our own first attempt that landed (a retried request).
        Err(e @ (StoreError::AlreadyExists { .. } | StoreError::Precondition { .. })) => match store.get_opt(&key).await? {
            Some(current) if current.data == text => Ok(()),
            _ => Err(e.into()),
        },
        Err(e) => Err(e.into()),
    }
}

/// A create-only write that is idempotent: an object already there with the same bytes (our own
/// first attempt, whose answer was lost) counts as written.
async fn create_once(store: &dyn Store, key: &str, data: Bytes) -> Result<(), StoreError> {
    match store.put(key, data.clone(), PutMode::Create).await {
        Ok(_) => Ok(()),
        Err(e @ StoreError::AlreadyExists { .. }) => match store.get_opt(key).await? {
            Some(current) if current.data == data => Ok(()),
            _ => Err(e),
        },
        Err(e) => Err(e),
    }
}

/// Deletes `keys`, a few at a time; returns how many failed.
async fn delete_all(store: &dyn Store, keys: impl Iterator<Item = String>) -> usize {
    futures::stream::iter(keys)
        .map(|key| async move {
            store.delete(&key).await.inspect_err(|e| tracing::warn!(error = %e, "delete failed")).is_err()
        })
        .buffer_unordered(DELETE_CONCURRENCY)
        .filter(|failed| std::future::ready(*failed))
        .count()
        .await
}
