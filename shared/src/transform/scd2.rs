//! SCD type 2 history: the pure merge of (previous history, today's snapshot, as_of) into today's history.
//!
//! Each version of a row carries `valid_from`, `valid_to` (null while current), `is_current`
//! (`valid_to` is null) and `ingested_at`. For every key:
//!
//! | previous current version | in today's snapshot | result |
//! | --- | --- | --- |
//! | none (new key) | yes | a version opens at `as_of` (insert) |
//! | hash H | yes, hash H | unchanged, kept as it was |
//! | hash H | yes, hash H' | the old version closes at `as_of`, a new one opens at `as_of` (change) |
//! | hash H | no, and not rejected today | the version closes at `as_of` (delete) |
//! | hash H | no, but its row was rejected today | kept open, `carried_forward` (unknown is not absent) |
//! | none, only closed versions | yes | a new version opens at `as_of` (re-insert) |
//!
//! `carried_forward` describes the date's snapshot: true only on a current version kept because
//! the key's row could not be read today; a later merge that reads the row again clears it (the
//! version goes on, or closes if the row changed meanwhile).
//!
//! Closed versions are never touched again. The merge reads no clock: `as_of` and `ingested_at`
//! are inputs, so a re-run of a date gives the same history.
//!
//! It streams: the previous history arrives in `(key, valid_from)` order (as the tables are
//! written) one version at a time through [`Merger::push`], today's snapshot is a key-sorted
//! vector, and versions leave in the same order as they are decided, so memory holds the
//! snapshot and one key's versions, not the history.

use crate::curated::{Version, Versioned};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The merge's notion of "now", both chosen by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergeAt {
    /// The logical date's run time: new versions open and closed ones end here.
    pub as_of: DateTime<Utc>,
    /// Stamped on the versions this merge opens.
    pub ingested_at: DateTime<Utc>,
}

/// What one merge decided, per key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeStats {
    /// Keys seen for the first time.
    pub inserted: u64,
    /// Keys whose row hash changed.
    pub changed: u64,
    pub unchanged: u64,
    /// Keys whose current version closed because they left the snapshot.
    pub deleted: u64,
    /// Keys absent from the snapshot because their row was rejected today, whose current
    /// version was kept (`carried_forward`).
    pub carried: u64,
    /// Keys that came back after a deletion.
    pub reinserted: u64,
    /// Versions in the resulting history.
    pub versions: u64,
    /// Current versions in the resulting history (the snapshot's rows).
    pub current: u64,
}

impl MergeStats {
    pub fn new_versions(&self) -> u64 {
        self.inserted + self.changed + self.reinserted
    }

    pub fn closed_versions(&self) -> u64 {
        self.changed + self.deleted
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error("the snapshot is not sorted by unique key: key {key} follows key {previous}")]
    SnapshotOrder { previous: i64, key: i64 },
    #[error("the previous history is not in (key, valid_from) order: key {key} valid from {valid_from} follows key {previous_key} valid from {previous_from}")]
    HistoryOrder { key: i64, valid_from: DateTime<Utc>, previous_key: i64, previous_from: DateTime<Utc> },
    #[error("the previous history has a version of key {key} after its current one")]
    AfterCurrent { key: i64 },
    #[error("the previous history has a version of key {key} valid from {valid_from}, not before as_of {as_of}: it is not the history of an earlier date")]
    NotBeforeAsOf { key: i64, valid_from: DateTime<Utc>, as_of: DateTime<Utc> },
}

/// The streaming merge. Push the previous history in order, then `finish`; every call appends
/// the versions it decided to `out`, in `(key, valid_from)` order.
#[derive(Debug)]
pub struct Merger<R> {
    at: MergeAt,
    snapshot: std::iter::Peekable<std::vec::IntoIter<R>>,
    /// Keys whose row was rejected today, sorted: their current version is carried, not closed.
    rejected: Vec<i64>,
    /// The versions of the key being read.
    group: Vec<Version<R>>,
    last: Option<(i64, DateTime<Utc>)>,
    stats: MergeStats,
}

impl<R: Versioned> Merger<R> {
    /// `snapshot` must be sorted by key, each key once; `rejected` are the keys whose row was
    /// rejected today (any order, repeats allowed; a key also in the snapshot is not carried).
    pub fn new(snapshot: Vec<R>, mut rejected: Vec<i64>, at: MergeAt) -> Result<Self, MergeError> {
        if let Some(w) = snapshot.windows(2).find(|w| w[0].key() >= w[1].key()) {
            return Err(MergeError::SnapshotOrder { previous: w[0].key(), key: w[1].key() });
        }
        rejected.sort_unstable();
        rejected.dedup();
        Ok(Self {
            at,
            snapshot: snapshot.into_iter().peekable(),
            rejected,
            group: Vec::new(),
            last: None,
            stats: MergeStats::default(),
        })
    }

    /// Takes the next version of the previous history.
    pub fn push(&mut self, version: Version<R>, out: &mut Vec<Version<R>>) -> Result<(), MergeError> {
        let (key, from) = (version.row.key(), version.valid_from);
        if from >= self.at.as_of {
            return Err(MergeError::NotBeforeAsOf { key, valid_from: from, as_of: self.at.as_of });
        }
        match self.last {
            Some((k, f)) if (key, from) <= (k, f) => {
                return Err(MergeError::HistoryOrder { key, valid_from: from, previous_key: k, previous_from: f });
            }
            Some((k, _)) if k == key && self.group.last().is_some_and(Version::is_current) => {
                return Err(MergeError::AfterCurrent { key });
            }
            Some((k, _)) if k != key => self.close_group(out),
            _ => {}
        }
        if self.group.is_empty() {
            // Keys of the snapshot before this one have no history: inserts.
            while let Some(row) = self.snapshot.next_if(|r| r.key() < key) {
                self.open(row, out);
                self.stats.inserted += 1;
            }
        }
        self.last = Some((key, from));
        self.group.push(version);
        Ok(())
    }

    /// Decides the last key, inserts what is left of the snapshot, and returns the counts.
    pub fn finish(mut self, out: &mut Vec<Version<R>>) -> MergeStats {
        self.close_group(out);
        while let Some(row) = self.snapshot.next() {
            self.open(row, out);
            self.stats.inserted += 1;
        }
        self.stats
    }

    /// Decides one key from its previous versions and its snapshot row, if any.
    fn close_group(&mut self, out: &mut Vec<Version<R>>) {
        let Some(key) = self.group.first().map(|v| v.row.key()) else { return };
        let today = self.snapshot.next_if(|r| r.key() == key);
        let mut group = std::mem::take(&mut self.group);
        let current = if group.last().is_some_and(Version::is_current) { group.pop() } else { None };
        self.stats.versions += group.len() as u64;
        out.append(&mut group);
        self.group = group; // keeps the allocation
        match (current, today) {
            (Some(mut current), Some(row)) if current.row.row_hash() == row.row_hash() => {
                self.stats.unchanged += 1;
                self.stats.versions += 1;
                self.stats.current += 1;
                current.carried_forward = false;
                out.push(current);
            }
            (Some(mut current), None) if self.rejected.binary_search(&key).is_ok() => {
                self.stats.carried += 1;
                self.stats.versions += 1;
                self.stats.current += 1;
                current.carried_forward = true;
                out.push(current);
            }
            (Some(current), Some(row)) => {
                self.stats.changed += 1;
                self.close(current, out);
                self.open(row, out);
            }
            (Some(current), None) => {
                self.stats.deleted += 1;
                self.close(current, out);
            }
            (None, Some(row)) => {
                self.stats.reinserted += 1;
                self.open(row, out);
            }
            (None, None) => {}
        }
    }

    fn close(&mut self, mut version: Version<R>, out: &mut Vec<Version<R>>) {
        version.valid_to = Some(self.at.as_of);
        version.carried_forward = false;
        self.stats.versions += 1;
        out.push(version);
    }

    fn open(&mut self, row: R, out: &mut Vec<Version<R>>) {
        self.stats.versions += 1;
        self.stats.current += 1;
        out.push(Version {
            row,
            valid_from: self.at.as_of,
            valid_to: None,
            ingested_at: self.at.ingested_at,
            carried_forward: false,
        });
    }
}

/// The whole merge at once, for callers that hold the previous history in memory (and tests).
pub fn merge<R: Versioned>(
    previous: Vec<Version<R>>,
    snapshot: Vec<R>,
    rejected: Vec<i64>,
    at: MergeAt,
) -> Result<(Vec<Version<R>>, MergeStats), MergeError> {
    let mut merger = Merger::new(snapshot, rejected, at)?;
    let mut out = Vec::with_capacity(previous.len() + 16);
    for version in previous {
        merger.push(version, &mut out)?;
    }
    let stats = merger.finish(&mut out);
    Ok((out, stats))
}

#[cfg(test)]
mod tests;
