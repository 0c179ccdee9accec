//! `listen_events`: listen history flattened to one row per (user_id, track_id, position), and the day's delta.
//!
//! A listen-history row `{user_id, items: [t0, t1, ...], created_at, updated_at}` becomes one
//! event per item: `position` is the item's 0-based index in `items` as served (an item sent to
//! quarantine leaves a gap rather than shifting the others), and the row's `created_at` /
//! `updated_at` are copied to each event. `is_new` is true when the pair (user_id, track_id) is
//! not in the previous date's `listen_events` (on the first date every pair is new); the rows
//! with `is_new` are also written alone as `curated/listen_events_delta/dt=D/` (same columns).
//!
//! A user whose listen-history row was rejected today (at fetch or here) keeps the previous
//! date's events, copied with `carried_forward` true and `is_new` false: unknown is not absent,
//! and a carried pair is never new.
//!
//! Events are written in (user_id, position) order, so the previous date's table can be read as
//! a stream beside today's rows (a merge join): memory holds today's rows, compactly, and one
//! batch of yesterday's.

use crate::codec::{CodecError, Interner, TableReader};
use crate::curated::ListenEvent;
use chrono::{DateTime, Utc};
use std::collections::VecDeque;

/// One kept listen-history row; its items are a range of [`ListenRows::items`].
#[derive(Debug, Clone, Copy)]
struct Row {
    user_id: i64,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    start: usize,
    len: u32,
}

/// One kept item: the track and its index in the row's `items` as served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Item {
    pub track_id: i64,
    pub position: i32,
}

/// Today's kept listen history, compactly: ~48 bytes per row and 16 per item, not a `Vec` each.
#[derive(Debug, Default)]
pub struct ListenRows {
    rows: Vec<Row>,
    items: Vec<Item>,
}

impl ListenRows {
    pub fn push(&mut self, user_id: i64, created_at: DateTime<Utc>, updated_at: DateTime<Utc>, items: impl IntoIterator<Item = Item>) {
        let start = self.items.len();
        self.items.extend(items);
        let len = (self.items.len() - start) as u32;
        self.rows.push(Row { user_id, created_at, updated_at, start, len });
    }

    /// Rows kept.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Events (items) kept.
    pub fn events(&self) -> usize {
        self.items.len()
    }

    /// Orders rows by user (keys are unique: duplicates were quarantined before).
    pub fn sort_by_user(&mut self) {
        self.rows.sort_unstable_by_key(|r| r.user_id);
    }

    /// Today's events of the rows in order, each marked against the user's previous tracks;
    /// `previous` returns them sorted for one user. Rows must have been sorted by user.
    pub fn events_of(&self, index: usize, previous_tracks: &[i64], out: &mut Vec<ListenEvent>) {
        let r = self.rows[index];
        for item in &self.items[r.start..r.start + r.len as usize] {
            out.push(ListenEvent {
                user_id: r.user_id,
                track_id: item.track_id,
                position: item.position,
                created_at: r.created_at,
                updated_at: r.updated_at,
                is_new: previous_tracks.binary_search(&item.track_id).is_err(),
                carried_forward: false,
            });
        }
    }

    pub fn user_id(&self, index: usize) -> i64 {
        self.rows[index].user_id
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PairsError {
    #[error(transparent)]
    Read(#[from] CodecError),
    #[error("the previous listen_events are not in user order (user {user} after {previous}); re-run the previous date")]
    Order { previous: i64, user: i64 },
}

/// The previous date's events, read in user order one batch at a time.
pub struct PreviousPairs {
    reader: TableReader,
    pending: VecDeque<ListenEvent>,
    last_user: Option<i64>,
    done: bool,
    interner: Interner,
}

impl PreviousPairs {
    pub fn new(reader: TableReader) -> Self {
        Self { reader, pending: VecDeque::new(), last_user: None, done: false, interner: Interner::default() }
    }

    /// Fills `out` with the previous tracks of `user_id`, sorted. Calls (of this and
    /// [`PreviousPairs::events_of`]) must come in increasing user order; users in between are skipped.
    pub async fn tracks_of(&mut self, user_id: i64, out: &mut Vec<i64>) -> Result<(), PairsError> {
        out.clear();
        self.each_of(user_id, |e| out.push(e.track_id)).await?;
        out.sort_unstable();
        Ok(())
    }

    /// Fills `out` with the previous events of `user_id`, in the order they were written.
    pub async fn events_of(
        &mut self,
        user_id: i64,
        out: &mut Vec<ListenEvent>,
    ) -> Result<(), PairsError> {
        out.clear();
        self.each_of(user_id, |e| out.push(e)).await
    }

    async fn each_of(
        &mut self,
        user_id: i64,
        mut f: impl FnMut(ListenEvent),
    ) -> Result<(), PairsError> {
        loop {
            while let Some(e) = self.pending.front() {
                if e.user_id > user_id {
                    return Ok(());
                }
                let e = self.pending.pop_front().expect("a front element");
                if e.user_id == user_id {
                    f(e);
                }
            }
            if self.done || !self.refill().await? {
                return Ok(());
            }
        }
    }

    async fn refill(&mut self) -> Result<bool, PairsError> {
        match self.reader.next_batch::<ListenEvent>(&mut self.interner).await? {
            None => {
                self.done = true;
                Ok(false)
            }
            Some(batch) => {
                for e in batch {
                    if let Some(previous) = self.last_user
                        && e.user_id < previous
                    {
                        return Err(PairsError::Order { previous, user: e.user_id });
                    }
                    self.last_user = Some(e.user_id);
                    self.pending.push_back(e);
                }
                Ok(true)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commit::RunWriter;
    use crate::partition::{Partition, Zone};
    use crate::storage::{MemoryStore, Store};
    use crate::codec::{Layout, PartsWriter};
    use std::sync::Arc;

    fn at(h: u32) -> DateTime<Utc> {
        chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap().and_hms_opt(h, 0, 0).unwrap().and_utc()
    }

    fn items(tracks: &[(i64, i32)]) -> Vec<Item> {
        tracks.iter().map(|&(track_id, position)| Item { track_id, position }).collect()
    }

    /// Writes `events` as a previous date's table and returns a pair reader over it.
    async fn previous(events: Vec<ListenEvent>, file_rows: usize) -> PreviousPairs {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
        let date = chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let run = RunWriter::new(store.clone(), "transform", Zone::Curated, date, "r0".into(), Utc::now());
        let mut w = PartsWriter::new(&run, Partition::new(Zone::Curated, "listen_events", date), Layout { row_group_rows: 1024, file_rows });
        w.extend(events).await.unwrap();
        let (objects, _) = w.finish().await.unwrap();
        PreviousPairs::new(TableReader::new(store, objects))
    }

    fn event(user_id: i64, track_id: i64, position: i32) -> ListenEvent {
        ListenEvent {
            user_id,
            track_id,
            position,
            created_at: at(1),
            updated_at: at(2),
            is_new: false,
            carried_forward: false,
        }
    }

    #[test]
    fn a_row_becomes_one_event_per_item_with_the_rows_times() {
        let mut rows = ListenRows::default();
        rows.push(9, at(1), at(3), items(&[(100, 0), (300, 2)])); // the item at position 1 was quarantined
        rows.push(4, at(2), at(2), items(&[]));
        rows.sort_by_user();
        assert_eq!((rows.len(), rows.events()), (2, 2));
        let mut out = Vec::new();
        rows.events_of(0, &[], &mut out);
        assert!(out.is_empty(), "user 4 has no items");
        rows.events_of(1, &[300], &mut out);
        assert_eq!(
            out,
            [
                ListenEvent {
                    user_id: 9,
                    track_id: 100,
                    position: 0,
                    created_at: at(1),
                    updated_at: at(3),
                    is_new: true,
                    carried_forward: false
                },
                ListenEvent {
                    user_id: 9,
                    track_id: 300,
                    position: 2,
                    created_at: at(1),
                    updated_at: at(3),
                    is_new: false,
                    carried_forward: false
                },
            ]
        );
    }

    #[tokio::test]
    async fn previous_pairs_are_read_per_user_across_batches_and_files() {
        // 3 users with many events each, cut into files of 1000 rows: users straddle files.
        let events: Vec<ListenEvent> = (0..3).flat_map(|u| (0..1500).map(move |i| event(u * 10, 10_000 - i, i as i32))).collect();
        let mut pairs = previous(events, 1000).await;
        let mut out = Vec::new();
        pairs.tracks_of(-1, &mut out).await.unwrap();
        assert!(out.is_empty());
        pairs.tracks_of(0, &mut out).await.unwrap();
        assert_eq!(out.len(), 1500);
        assert!(out.windows(2).all(|w| w[0] < w[1]), "sorted for binary search");
        pairs.tracks_of(15, &mut out).await.unwrap();
        assert!(out.is_empty(), "user 15 had no history");
        pairs.tracks_of(20, &mut out).await.unwrap();
        assert_eq!((out.len(), out[0]), (1500, 10_000 - 1499), "user 10 was skipped whole");
        pairs.tracks_of(30, &mut out).await.unwrap();
        assert!(out.is_empty());
    }

    #[tokio::test]
    async fn previous_pairs_out_of_user_order_are_refused() {
        let mut pairs = previous(vec![event(5, 1, 0), event(3, 1, 0)], 1000).await;
        let err = pairs.tracks_of(9, &mut Vec::new()).await.unwrap_err();
        assert!(matches!(err, PairsError::Order { previous: 5, user: 3 }), "{err}");
    }
}
