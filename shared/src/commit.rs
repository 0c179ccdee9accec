//! The commit protocol every stage writes through: lease, data objects, manifests last, clean-up.
//!
//! 1. A run takes the date's lease (`<zone>/_run/dt=D/_lease.json`, a create-only write), so two
//!    runs of one stage and date never interleave; a lease past its expiry is taken over with a
//!    conditional replace.
//! 2. Data objects are written under names that carry the run id, so they never overwrite a
//!    committed object.
//! 3. Each partition's `_manifest.json` is written, then the stage's run manifest
//!    (`<zone>/_run/dt=D/_manifest.json`) listing them: that last write is the commit point
//!    and the event that starts the next stage. A reader checks that a partition manifest's run id
//!    matches the run manifest's.
//! 4. Objects in the run's partitions that the new manifests do not list (an earlier run's) are
//!    deleted, and the lease is released.
//!
//! A run that fails before step 3 deletes what it wrote and commits nothing; the previous commit of
//! that date, if any, stays whole.

use crate::manifest::{FORMAT_VERSION, Manifest, ObjectEntry, ObjectRole, code_version};
use crate::partition::{Partition, Zone};
use crate::storage::{PutMode, Store, StoreError};
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("another run ({holder}) holds the lease on {partition} until {until}; retry after that")]
    Busy { partition: String, holder: String, until: DateTime<Utc> },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{key}: unreadable manifest: {source}")]
    BadManifest { key: String, source: serde_json::Error },
}

#[derive(Debug, Serialize, Deserialize)]
struct LeaseBody {
    run_id: String,
    acquired_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

/// A held lease on one stage and date. Release it when done; an unreleased lease expires.
#[derive(Debug)]
pub struct Lease {
    store: Arc<dyn Store>,
    key: String,
    run_id: String,
}

impl Lease {
    pub async fn acquire(
        store: Arc<dyn Store>,
        zone: Zone,
        date: NaiveDate,
        run_id: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> Result<Lease, CommitError> {
        let partition = Partition::run(zone, date);
        let key = partition.lease_key();
        let body = LeaseBody {
            run_id: run_id.to_owned(),
            acquired_at: now,
            expires_at: now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX),
        };
        let body = Bytes::from(serde_json::to_vec(&body).expect("a lease serialises"));
        let lease = Lease { store: store.clone(), key: key.clone(), run_id: run_id.to_owned() };
        match store.put(&key, body.clone(), PutMode::Create).await {
            Ok(()) => return Ok(lease),
            Err(StoreError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let Some(current) = store.get_opt(&key).await? else {
            // Released between our two calls: one more create-only attempt.
            store.put(&key, body, PutMode::Create).await?;
            return Ok(lease);
        };
        let holder: Option<LeaseBody> = serde_json::from_slice(&current.data).ok();
        if let Some(h) = &holder
            && h.expires_at > now
        {
            return Err(CommitError::Busy { partition: partition.to_string(), holder: h.run_id.clone(), until: h.expires_at });
        }
        let stale = holder.map_or_else(|| "unreadable".to_owned(), |h| h.run_id);
        match store.put(&key, body, PutMode::Replace(current.etag)).await {
            Ok(()) => {
                tracing::warn!(lease = %key, stale_holder = %stale, "took over an expired lease (a previous run died without releasing it)");
                Ok(lease)
            }
            Err(StoreError::Precondition { .. }) => {
                Err(CommitError::Busy { partition: partition.to_string(), holder: "a concurrent run".into(), until: now })
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes the lease if this run still holds it.
    pub async fn release(self) -> Result<(), CommitError> {
        if let Some(current) = self.store.get_opt(&self.key).await? {
            let ours = serde_json::from_slice::<LeaseBody>(&current.data).is_ok_and(|b| b.run_id == self.run_id);
            if ours {
                self.store.delete(&self.key).await?;
            }
        }
        Ok(())
    }
}

/// One run's writes to one stage's partitions of one date, committed all together or not at all.
#[derive(Debug)]
pub struct RunWriter {
    store: Arc<dyn Store>,
    stage: &'static str,
    zone: Zone,
    date: NaiveDate,
    run_id: String,
    started_at: DateTime<Utc>,
    /// Every key this run wrote, for `abort`.
    written: std::sync::Mutex<Vec<String>>,
}

/// A partition the run has filled, ready for its manifest.
#[derive(Debug, Clone)]
pub struct PartitionCommit {
    pub partition: Partition,
    pub counts: BTreeMap<String, u64>,
    pub objects: Vec<ObjectEntry>,
    pub source: String,
    pub details: serde_json::Value,
    /// Further partitions this one owns for the date (e.g. its `quarantine/` partition): stale
    /// objects there are cleaned up too.
    pub also_owns: Vec<Partition>,
}

/// What a commit wrote.
#[derive(Debug, Clone, Serialize)]
pub struct Committed {
    pub run_manifest: String,
    pub manifests: Vec<String>,
    pub removed_stale_objects: usize,
}

impl RunWriter {
    pub fn new(store: Arc<dyn Store>, stage: &'static str, zone: Zone, date: NaiveDate, run_id: &str, started_at: DateTime<Utc>) -> Self {
        Self { store, stage, zone, date, run_id: run_id.to_owned(), started_at, written: Default::default() }
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Writes one data object (not yet visible to readers) and describes it for the manifest.
    pub async fn put_object(&self, key: String, data: Bytes, rows: u64, role: ObjectRole) -> Result<ObjectEntry, StoreError> {
        let entry = ObjectEntry::new(key.clone(), &data, rows, role);
        self.written.lock().expect("written keys lock").push(key.clone());
        self.store.put(&key, data, PutMode::Overwrite).await?;
        Ok(entry)
    }

    /// Deletes everything this run wrote; the previous commit, if any, is untouched.
    pub async fn abort(self) {
        let written = std::mem::take(&mut *self.written.lock().expect("written keys lock"));
        for key in written {
            if let Err(e) = self.store.delete(&key).await {
                tracing::warn!(error = %e, "could not delete an uncommitted object; the next run of this date removes it");
            }
        }
    }

    /// Writes the partitions' manifests, then the run manifest, then removes stale objects.
    pub async fn commit(self, partitions: Vec<PartitionCommit>, finished_at: DateTime<Utc>, details: serde_json::Value) -> Result<Committed, CommitError> {
        let mut manifest_entries = Vec::new();
        let mut keep: BTreeSet<String> = BTreeSet::new();
        let mut owned: Vec<Partition> = Vec::new();
        let mut totals: BTreeMap<String, u64> = BTreeMap::new();
        for p in &partitions {
            let manifest = Manifest {
                format_version: FORMAT_VERSION,
                stage: self.stage.to_owned(),
                partition: p.partition.prefix(),
                run_id: self.run_id.clone(),
                logical_date: self.date,
                counts: p.counts.clone(),
                objects: p.objects.clone(),
                source: p.source.clone(),
                started_at: self.started_at,
                finished_at,
                code_version: code_version(),
                details: p.details.clone(),
            };
            let bytes = manifest.to_json();
            let key = p.partition.manifest_key();
            self.store.put(&key, Bytes::from(bytes.clone()), PutMode::Overwrite).await?;
            manifest_entries.push(ObjectEntry::new(key.clone(), &bytes, p.objects.iter().map(|o| o.rows).sum(), ObjectRole::Manifest));
            keep.insert(key);
            keep.extend(p.objects.iter().map(|o| o.key.clone()));
            owned.push(p.partition.clone());
            owned.extend(p.also_owns.iter().cloned());
            for (name, n) in &p.counts {
                *totals.entry(name.clone()).or_default() += n;
            }
        }
        let run = Partition::run(self.zone, self.date);
        let run_manifest = Manifest {
            format_version: FORMAT_VERSION,
            stage: self.stage.to_owned(),
            partition: run.prefix(),
            run_id: self.run_id.clone(),
            logical_date: self.date,
            counts: totals,
            objects: manifest_entries.clone(),
            source: partitions.iter().map(|p| p.source.as_str()).collect::<BTreeSet<_>>().into_iter().collect::<Vec<_>>().join(" "),
            started_at: self.started_at,
            finished_at,
            code_version: code_version(),
            details,
        };
        self.store.put(&run.manifest_key(), Bytes::from(run_manifest.to_json()), PutMode::Overwrite).await?;

        let mut removed = 0;
        for partition in &owned {
            for object in self.store.list(&partition.prefix()).await? {
                if !keep.contains(&object.key) {
                    self.store.delete(&object.key).await?;
                    removed += 1;
                }
            }
        }
        Ok(Committed {
            run_manifest: run.manifest_key(),
            manifests: manifest_entries.into_iter().map(|e| e.key).collect(),
            removed_stale_objects: removed,
        })
    }
}

/// A stage's committed output for one date, as a reader sees it.
#[derive(Debug, Clone)]
pub struct CommittedRun {
    pub run: Manifest,
    pub partitions: Vec<Manifest>,
}

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{zone} has no committed run for {date} (no {key}); run the stage that writes it first")]
    NotCommitted { zone: Zone, date: NaiveDate, key: String },
    #[error("{key} belongs to run {found}, but the run manifest names run {expected}: the date is mid-commit or was interrupted; re-run it")]
    Mixed { key: String, expected: String, found: String },
    #[error(transparent)]
    Commit(#[from] CommitError),
}

/// Reads a stage's committed run for `date`, checking every partition manifest belongs to it.
pub async fn read_committed(store: &dyn Store, zone: Zone, date: NaiveDate) -> Result<CommittedRun, ReadError> {
    let key = Partition::run(zone, date).manifest_key();
    let run = read_manifest(store, &key).await?.ok_or(ReadError::NotCommitted { zone, date, key })?;
    let mut partitions = Vec::new();
    for entry in run.objects.iter().filter(|o| o.role == ObjectRole::Manifest) {
        let manifest = read_manifest(store, &entry.key).await?.ok_or_else(|| ReadError::Mixed {
            key: entry.key.clone(),
            expected: run.run_id.clone(),
            found: "none (missing)".into(),
        })?;
        if manifest.run_id != run.run_id {
            return Err(ReadError::Mixed { key: entry.key.clone(), expected: run.run_id.clone(), found: manifest.run_id });
        }
        partitions.push(manifest);
    }
    Ok(CommittedRun { run, partitions })
}

pub async fn read_manifest(store: &dyn Store, key: &str) -> Result<Option<Manifest>, CommitError> {
    match store.get_opt(key).await? {
        None => Ok(None),
        Some(o) => Manifest::from_json(&o.data).map(Some).map_err(|source| CommitError::BadManifest { key: key.to_owned(), source }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStore;

    fn date() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 21).unwrap()
    }

    async fn write_run(store: &Arc<dyn Store>, run_id: &str, rows: &[&str], quarantined: bool) -> Committed {
        let w = RunWriter::new(store.clone(), "fetch", Zone::Raw, date(), run_id, Utc::now());
        let p = Partition::new(Zone::Raw, "tracks", date());
        let q = Partition::new(Zone::Quarantine, "tracks", date());
        let mut objects = Vec::new();
        for (i, r) in rows.iter().enumerate() {
            objects.push(w.put_object(p.part_key(i, run_id, "txt"), Bytes::from(r.to_string()), 1, ObjectRole::Data).await.unwrap());
        }
        if quarantined {
            objects.push(w.put_object(q.part_key(0, run_id, "txt"), Bytes::from_static(b"bad"), 1, ObjectRole::Quarantine).await.unwrap());
        }
        let commit = PartitionCommit {
            partition: p,
            counts: BTreeMap::from([("accepted".into(), rows.len() as u64)]),
            objects,
            source: "test".into(),
            details: serde_json::Value::Null,
            also_owns: vec![q],
        };
        w.commit(vec![commit], Utc::now(), serde_json::Value::Null).await.unwrap()
    }

    #[tokio::test]
    async fn a_rerun_replaces_the_partition_and_leaves_no_stray_objects() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
        write_run(&store, "run1", &["a", "b", "c"], true).await;
        let second = write_run(&store, "run2", &["x"], false).await;
        assert_eq!(second.removed_stale_objects, 4, "three old parts and the old quarantine object");
        let keys: Vec<String> = store.list("").await.unwrap().into_iter().map(|o| o.key).collect();
        assert_eq!(
            keys,
            [
                "raw/_run/dt=2026-11-21/_manifest.json",
                "raw/tracks/dt=2026-11-21/_manifest.json",
                "raw/tracks/dt=2026-11-21/part-00000-run2.txt",
            ]
        );
        let committed = read_committed(store.as_ref(), Zone::Raw, date()).await.unwrap();
        assert_eq!(committed.run.run_id, "run2");
        assert_eq!(committed.partitions[0].data_keys().collect::<Vec<_>>(), ["raw/tracks/dt=2026-11-21/part-00000-run2.txt"]);
    }

    #[tokio::test]
    async fn an_aborted_run_leaves_the_previous_commit_whole() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
        write_run(&store, "run1", &["a"], false).await;
        let before: Vec<_> = store.list("").await.unwrap();
        let w = RunWriter::new(store.clone(), "fetch", Zone::Raw, date(), "run2", Utc::now());
        let p = Partition::new(Zone::Raw, "tracks", date());
        w.put_object(p.part_key(0, "run2", "txt"), Bytes::from_static(b"partial"), 1, ObjectRole::Data).await.unwrap();
        w.abort().await;
        assert_eq!(store.list("").await.unwrap(), before);
        assert_eq!(read_committed(store.as_ref(), Zone::Raw, date()).await.unwrap().run.run_id, "run1");
    }

    #[tokio::test]
    async fn readers_refuse_missing_and_mixed_commits() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
        let err = read_committed(store.as_ref(), Zone::Raw, date()).await.unwrap_err();
        assert!(matches!(err, ReadError::NotCommitted { .. }), "{err}");
        write_run(&store, "run1", &["a"], false).await;
        // A later run died after rewriting the partition's manifest but before the run manifest.
        let key = Partition::new(Zone::Raw, "tracks", date()).manifest_key();
        let mut m = read_manifest(store.as_ref(), &key).await.unwrap().unwrap();
        m.run_id = "run2".into();
        store.put(&key, Bytes::from(m.to_json()), PutMode::Overwrite).await.unwrap();
        let err = read_committed(store.as_ref(), Zone::Raw, date()).await.unwrap_err();
        assert!(matches!(err, ReadError::Mixed { .. }), "{err}");
        assert!(err.to_string().contains("re-run"));
    }

    #[tokio::test]
    async fn a_lease_keeps_a_second_run_out_until_released_or_expired() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
        let ttl = Duration::from_secs(60);
        let t0 = Utc::now();
        let held = Lease::acquire(store.clone(), Zone::Raw, date(), "run1", ttl, t0).await.unwrap();
        let err = Lease::acquire(store.clone(), Zone::Raw, date(), "run2", ttl, t0).await.unwrap_err();
        assert!(matches!(&err, CommitError::Busy { holder, .. } if holder == "run1"), "{err}");
        held.release().await.unwrap();
        let second = Lease::acquire(store.clone(), Zone::Raw, date(), "run2", ttl, t0).await.unwrap();
        // run2 dies without releasing; after its expiry run3 takes over, and run2's late release is a no-op.
        let later = t0 + chrono::Duration::seconds(61);
        let third = Lease::acquire(store.clone(), Zone::Raw, date(), "run3", ttl, later).await.unwrap();
        second.release().await.unwrap();
        let err = Lease::acquire(store.clone(), Zone::Raw, date(), "run4", ttl, later).await.unwrap_err();
        assert!(matches!(&err, CommitError::Busy { holder, .. } if holder == "run3"), "{err}");
        third.release().await.unwrap();
        assert!(store.list("raw/_run/").await.unwrap().is_empty());
    }
}
