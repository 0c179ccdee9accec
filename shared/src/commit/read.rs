//! Reading a stage's committed output: the run manifest, then the partition manifests it names.

use super::CommitError;
use crate::manifest::{Manifest, ObjectRole};
use crate::partition::{Partition, Zone};
use crate::storage::Store;
use chrono::NaiveDate;

/// A stage's committed output for one date, as a reader sees it.
#[derive(Debug, Clone)]
pub struct CommittedRun {
    pub run: Manifest,
    pub partitions: Vec<Manifest>,
}

impl CommittedRun {
    /// The manifest of one partition of the commit, by its prefix.
    pub fn partition(&self, partition: &Partition) -> Option<&Manifest> {
        let prefix = partition.prefix();
        self.partitions.iter().find(|m| m.partition == prefix)
    }
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
    let keys: Vec<String> = run.objects.iter().filter(|o| o.role == ObjectRole::Manifest).map(|o| o.key.clone()).collect();
    for key in keys {
        let manifest = read_manifest(store, &key).await?.ok_or_else(|| ReadError::Mixed {
            key: key.clone(),
            expected: run.run_id.clone(),
            found: "none (missing)".into(),
        })?;
        if manifest.run_id != run.run_id {
            return Err(ReadError::Mixed { key, expected: run.run_id.clone(), found: manifest.run_id });
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
