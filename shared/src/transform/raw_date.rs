//! A committed raw date, as transform reads it: fetch's run and partition manifests, and their gzipped JSON lines.
//!
//! [`RawWriter`] writes a raw date the way fetch does (gzipped JSON-lines parts, one partition
//! per entity, committed by the commit protocol) straight from rows in memory, for tests and
//! benchmarks that want raw data without serving it over HTTP.

use crate::buckets::Bucket;
use crate::commit::{Clock, CommitError, CommitSettings, Committed, CommittedRun, LeaseSettings, ManualClock, PartitionCommit, ReadError, Run, RunId, RunSpec, read_committed};
use crate::codec::jsonl::LinePartsWriter;
use crate::manifest::{Manifest, ObjectEntry, ObjectRole};
use crate::partition::{Partition, Zone};
use crate::records::Entity;
use crate::storage::{Store, StoreError};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, thiserror::Error)]
pub enum RawError {
    #[error(transparent)]
    NotReadable(#[from] ReadError),
    #[error("raw/_run/dt={date}: the committed run has no {entity} partition; re-run fetch for {date}")]
    Incomplete { date: NaiveDate, entity: Entity },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{key}: {detail}; re-run fetch for the date")]
    Corrupt { key: String, detail: String },
}

/// A date fetch committed: its run manifest and one partition manifest per entity.
#[derive(Debug, Clone)]
pub struct RawDate {
    pub run: Manifest,
    pub partitions: BTreeMap<Entity, Manifest>,
}

impl RawDate {
    /// Reads the run manifest and checks every partition belongs to it (see [`read_committed`]).
    pub async fn open(store: &dyn Store, date: NaiveDate) -> Result<Self, RawError> {
        let CommittedRun { run, partitions } = read_committed(store, Zone::Raw, date).await?;
        let mut by_entity = BTreeMap::new();
        for m in partitions {
            if let Some(entity) = Entity::ALL.into_iter().find(|e| m.partition == Partition::new(Zone::Raw, e.as_str(), date).prefix()) {
                by_entity.insert(entity, m);
            }
        }
        if let Some(entity) = Entity::ALL.into_iter().find(|e| !by_entity.contains_key(e)) {
            return Err(RawError::Incomplete { date, entity });
        }
        Ok(Self { run, partitions: by_entity })
    }

    /// The data objects of an entity, in the order fetch wrote them.
    pub fn data_objects(&self, entity: Entity) -> Vec<ObjectEntry> {
        self.partitions[&entity].objects.iter().filter(|o| o.role == ObjectRole::Data).cloned().collect()
    }

    /// Fetch's quarantine objects of an entity: the rows it rejected, each line
    /// `{"source", "line", "reasons", "row"}` ([`crate::quarantine`]) with the row as served.
    pub fn quarantine_objects(&self, entity: Entity) -> Vec<ObjectEntry> {
        self.partitions[&entity]
            .objects
            .iter()
            .filter(|o| o.role == ObjectRole::Quarantine)
            .cloned()
            .collect()
    }

    /// Rows fetch refused for the date, by entity.
    pub fn rejected(&self) -> BTreeMap<String, u64> {
        self.partitions.iter().map(|(e, m)| (e.as_str().to_owned(), m.count("rejected"))).collect()
    }
}

/// Writes a raw date as fetch would, from rows in memory (tests and benchmarks).
pub struct RawWriter {
    run: Run,
    clock: std::sync::Arc<ManualClock>,
    date: NaiveDate,
    part_rows: usize,
    partitions: Vec<PartitionCommit>,
}

impl RawWriter {
    /// Starts a fetch run of `date` through the commit protocol, as if it started at `started_at`
    /// (transform's `ingested_at` comes from it).
    pub async fn new(store: std::sync::Arc<dyn Store>, date: NaiveDate, run_id: &str, started_at: DateTime<Utc>, part_rows: usize) -> Result<Self, CommitError> {
        let clock = std::sync::Arc::new(ManualClock::new(started_at));
        // Its clock jumps from `started_at` to `finished_at` (possibly days): a lease that long
        // keeps the writer from judging its own lease lapsed. Nothing else writes the date.
        let settings = CommitSettings {
            lease: LeaseSettings { ttl: std::time::Duration::from_secs(100 * 365 * 86_400), max_clock_skew: std::time::Duration::ZERO, wait: std::time::Duration::ZERO },
            clock: clock.clone(),
            ..CommitSettings::default()
        };
        let spec = RunSpec { store, stage: "fetch", zone: Zone::Raw, date, run_id: RunId::from(run_id), deadline: None };
        let run = Run::begin(spec, &settings).await?;
        Ok(Self { run, clock, date, part_rows: part_rows.max(1), partitions: Vec::new() })
    }

    /// Writes every row of one entity as JSON lines, in parts of `part_rows`; returns the rows.
    pub async fn entity<V: Serialize>(&mut self, entity: Entity, rows: impl IntoIterator<Item = V>) -> Result<u64, StoreError> {
        self.entity_in_buckets(entity, rows, 1, |_| 0).await
    }

    /// As [`Self::entity`], in `buckets` buckets of users by `user_of` (fetch's layout of the
    /// listen history with `LISTEN_BUCKETS`, [`crate::buckets`]): a bucket with no row has no
    /// part; one bucket is [`Self::entity`]'s layout.
    pub async fn entity_in_buckets<V: Serialize>(&mut self, entity: Entity, rows: impl IntoIterator<Item = V>, buckets: u32, user_of: impl Fn(&V) -> i64) -> Result<u64, StoreError> {
        assert!(buckets >= 1, "a raw partition has at least one bucket");
        let partition = Partition::new(Zone::Raw, entity.as_str(), self.date);
        let mut parts: Vec<LinePartsWriter> =
            Bucket::all(buckets).map(|b| LinePartsWriter::new(self.run.writer(), partition.clone(), ObjectRole::Data, self.part_rows).in_folder(b.folder())).collect();
        let mut total = 0u64;
        for row in rows {
            parts[Bucket::of_user(user_of(&row), buckets).index as usize].push(&row).await?;
            total += 1;
        }
        let mut objects = Vec::new();
        for p in parts {
            // An entity without buckets always has a part, empty or not (as before buckets).
            objects.extend(if buckets == 1 { p.finish_at_least_one().await? } else { p.finish().await? });
        }
        self.partitions.push(PartitionCommit {
            partition,
            counts: BTreeMap::from([("accepted".to_owned(), total), ("warned".to_owned(), 0), ("rejected".to_owned(), 0)]),
            objects,
            source: format!("memory/{entity}"),
            details: serde_json::Value::Null,
            also_owns: vec![Partition::new(Zone::Quarantine, entity.as_str(), self.date)],
        });
        Ok(total)
    }

    /// Commits the entities written (the raw run manifest last, as fetch does), as of `finished_at`.
    pub async fn commit(self, finished_at: DateTime<Utc>) -> Result<Committed, CommitError> {
        if let Ok(d) = (finished_at - self.clock.now()).to_std() {
            self.clock.advance(d);
        }
        self.run.commit(self.partitions, serde_json::Value::Null).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStore;
    use serde_json::json;
    use std::sync::Arc;

    #[tokio::test]
    async fn a_written_raw_date_reads_back_line_by_line() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
        let date = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let mut w = RawWriter::new(store.clone(), date, "r1", Utc::now(), 2).await.unwrap();
        assert_eq!(w.entity(Entity::Tracks, (0..5).map(|i| json!({"id": i}))).await.unwrap(), 5);
        w.entity(Entity::Users, Vec::<serde_json::Value>::new()).await.unwrap();
        let before = RawDate::open(store.as_ref(), date).await.unwrap_err();
        assert!(matches!(before, RawError::NotReadable(ReadError::NotCommitted { .. })), "nothing is visible before the commit: {before}");
        w.entity(Entity::ListenHistory, [json!({"user_id": 1})]).await.unwrap();
        w.commit(Utc::now()).await.unwrap();

        let raw = RawDate::open(store.as_ref(), date).await.unwrap();
        let objects = raw.data_objects(Entity::Tracks);
        assert_eq!(objects.iter().map(|o| o.rows).collect::<Vec<_>>(), [2, 2, 1]);
        let mut ids = Vec::new();
        for o in &objects {
            super::super::raw_lines::for_each_line(store.as_ref(), o, |n, line| ids.push((n, serde_json::from_slice::<serde_json::Value>(line).unwrap()["id"].clone()))).await.unwrap();
        }
        assert_eq!(ids, [(1, json!(0)), (2, json!(1)), (1, json!(2)), (2, json!(3)), (1, json!(4))]);
        assert_eq!(raw.data_objects(Entity::Users)[0].rows, 0, "an empty entity is one empty part");
    }

    #[tokio::test]
    async fn a_raw_run_without_an_entity_is_refused() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
        let date = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let mut w = RawWriter::new(store.clone(), date, "r1", Utc::now(), 10).await.unwrap();
        w.entity(Entity::Tracks, [json!({"id": 1})]).await.unwrap();
        w.commit(Utc::now()).await.unwrap();
        let err = RawDate::open(store.as_ref(), date).await.unwrap_err();
        assert!(matches!(err, RawError::Incomplete { entity: Entity::Users, .. }), "{err}");
    }

    #[tokio::test]
    async fn rows_written_in_buckets_land_in_their_users_bucket() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
        let date = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let mut w = RawWriter::new(store.clone(), date, "r1", Utc::now(), 3).await.unwrap();
        w.entity(Entity::Tracks, [json!({"id": 1})]).await.unwrap();
        w.entity(Entity::Users, [json!({"id": 1})]).await.unwrap();
        let user_of = |row: &serde_json::Value| row["user_id"].as_i64().unwrap();
        assert_eq!(w.entity_in_buckets(Entity::ListenHistory, (1..=40).map(|u| json!({"user_id": u})), 4, user_of).await.unwrap(), 40);
        w.commit(Utc::now()).await.unwrap();

        let raw = RawDate::open(store.as_ref(), date).await.unwrap();
        let mut users = Vec::new();
        for o in raw.data_objects(Entity::ListenHistory) {
            let bucket = Bucket::of_key(&o.key);
            assert_eq!(bucket.count, 4, "{}", o.key);
            super::super::raw_lines::for_each_line(store.as_ref(), &o, |_, line| {
                let user = user_of(&serde_json::from_slice(line).unwrap());
                assert!(bucket.contains(user), "user {user} in {}", o.key);
                users.push(user);
            })
            .await
            .unwrap();
        }
        users.sort();
        assert_eq!(users, (1..=40).collect::<Vec<_>>(), "every row once");
    }
}
