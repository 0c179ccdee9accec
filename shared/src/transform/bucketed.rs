//! The previous date's listen events when they were written in buckets of users.
//!
//! A date written in B buckets ([`crate::buckets`]) holds B runs of events, each in user order;
//! a date written whole holds one. Today's run (whole, or one bucket) asks for users in
//! increasing order; every run is read beside it as a stream, and a user's events are the
//! concatenation of what each run holds of them (all in one run when the layouts agree). A
//! bucket of today reads only its own run of the previous date when both have the same buckets;
//! otherwise every run, skipping the users that are not its own.

use super::TransformError;
use super::build::RunInputs;
use super::listen_events::{PairsError, PreviousPairs};
use crate::buckets::Bucket;
use crate::codec::TableReader;
use crate::curated::{ListenEvent, TableName};
use crate::manifest::{ObjectEntry, ObjectRole};
use crate::storage::Store;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The previous `listen_events`, as one sorted stream per bucket it was written in.
pub(super) struct PreviousListens {
    runs: Vec<PreviousPairs>,
    scratch: Vec<i64>,
    events: Vec<ListenEvent>,
}

impl PreviousListens {
    /// The previous date's listen events that may hold users of `cx`'s bucket.
    pub(super) fn of(cx: &RunInputs<'_>, store: &Arc<dyn Store>) -> Result<Self, TransformError> {
        let objects: Vec<ObjectEntry> = match &cx.previous {
            None => Vec::new(),
            Some(p) => {
                let m = p.tables.get(&TableName::ListenEvents).ok_or(TransformError::PreviousIncomplete { previous: p.date, table: TableName::ListenEvents })?;
                m.objects.iter().filter(|o| o.role == ObjectRole::Data).cloned().collect()
            }
        };
        Ok(Self::new(store, objects, cx.bucket))
    }

    fn new(store: &Arc<dyn Store>, objects: Vec<ObjectEntry>, today: Bucket) -> Self {
        let mut by_bucket: BTreeMap<Bucket, Vec<ObjectEntry>> = BTreeMap::new();
        for o in objects {
            by_bucket.entry(Bucket::of_key(&o.key)).or_default().push(o);
        }
        // Same buckets as today: the users of today's bucket are in its namesake only.
        if by_bucket.keys().all(|b| b.count == today.count) && today.count > 1 {
            by_bucket.retain(|b, _| *b == today);
        }
        let runs = by_bucket.into_values().map(|objects| PreviousPairs::new(TableReader::new(store.clone(), objects))).collect();
        Self { runs, scratch: Vec::new(), events: Vec::new() }
    }

    /// No previous events to read: every user's are none.
    pub(super) fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }

    /// [`PreviousPairs::tracks_of`] over every run.
    pub(super) async fn tracks_of(&mut self, user_id: i64, out: &mut Vec<i64>) -> Result<(), PairsError> {
        out.clear();
        for run in &mut self.runs {
            run.tracks_of(user_id, &mut self.scratch).await?;
            out.append(&mut self.scratch);
        }
        if self.runs.len() > 1 {
            out.sort_unstable();
        }
        Ok(())
    }

    /// [`PreviousPairs::events_of`] over every run, run by run.
    pub(super) async fn events_of(&mut self, user_id: i64, out: &mut Vec<ListenEvent>) -> Result<(), PairsError> {
        out.clear();
        for run in &mut self.runs {
            run.events_of(user_id, &mut self.events).await?;
            out.append(&mut self.events);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commit::RunWriter;
    use crate::partition::{Partition, Zone};
    use crate::storage::MemoryStore;
    use crate::codec::{Layout, PartsWriter};
    use chrono::{NaiveDate, Utc};

    fn event(user_id: i64, track_id: i64) -> ListenEvent {
        let at = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap().and_hms_opt(1, 0, 0).unwrap().and_utc();
        ListenEvent { user_id, track_id, position: 0, created_at: at, updated_at: at, is_new: false, carried_forward: false }
    }

    /// Users 1..=40, each listening to tracks 100 + user and 200 + user, written in `count` buckets.
    async fn written(store: &Arc<dyn Store>, count: u32) -> Vec<ObjectEntry> {
        let date = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let run = RunWriter::new(store.clone(), "transform", Zone::Curated, date, "r0".into(), Utc::now());
        let mut objects = Vec::new();
        for bucket in Bucket::all(count) {
            let mut w = PartsWriter::new(&run, Partition::new(Zone::Curated, "listen_events", date), Layout { row_group_rows: 4, file_rows: 7 }).in_folder(bucket.folder());
            w.extend((1..=40).filter(|u| bucket.contains(*u)).flat_map(|u| [event(u, 100 + u), event(u, 200 + u)])).await.unwrap();
            objects.extend(w.finish().await.unwrap().0);
        }
        objects
    }

    #[tokio::test]
    async fn every_user_finds_their_events_whatever_the_buckets_of_either_date() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
        for previous in [1, 4, 16] {
            let objects = written(&store, previous).await;
            for today in [1, 4, 16] {
                for bucket in Bucket::all(today) {
                    let mut listens = PreviousListens::new(&store, objects.clone(), bucket);
                    let mut out = Vec::new();
                    for user in (1..=41).filter(|u| bucket.contains(*u)) {
                        listens.tracks_of(user, &mut out).await.unwrap();
                        let expected: Vec<i64> = if user <= 40 { vec![100 + user, 200 + user] } else { vec![] };
                        assert_eq!(out, expected, "user {user}, {previous} buckets then {bucket}");
                    }
                }
            }
        }
    }

    #[tokio::test]
    async fn a_bucket_reads_only_its_namesake_when_the_layouts_agree() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
        let objects = written(&store, 4).await;
        assert_eq!(PreviousListens::new(&store, objects.clone(), Bucket::new(2, 4)).runs.len(), 1);
        assert_eq!(PreviousListens::new(&store, objects.clone(), Bucket::new(2, 16)).runs.len(), 4);
        assert_eq!(PreviousListens::new(&store, objects, Bucket::WHOLE).runs.len(), 4);
    }
}
