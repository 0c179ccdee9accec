//! `curated/listen_events/dt=D/` (and `listen_events_delta`, the same columns): D's listen history, one row per (user_id, track_id, position).
//!
//! How rows are derived and `is_new` decided is [`crate::transform::listen_events`].

use super::TableName;
use crate::codec::arrow::{Columns, flags, micros, time_at, times};
use crate::codec::{Column, Interner, Kind, Table};
use arrow_array::{ArrayRef, Int32Array, Int64Array, RecordBatch};
use arrow_schema::ArrowError;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// One row of `curated/listen_events`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenEvent {
    pub user_id: i64,
    pub track_id: i64,
    /// The item's 0-based index in the listen row's `items`.
    pub position: i32,
    /// Of the listen row.
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The pair (user_id, track_id) is not in the previous date's table.
    pub is_new: bool,
    /// Copied from the previous date because the user's row could not be read today.
    pub carried_forward: bool,
}

pub const USER_ID: Column = Column::required("user_id", Kind::Int64);
pub const TRACK_ID: Column = Column::required("track_id", Kind::Int64);
pub const POSITION: Column = Column::required("position", Kind::Int32).by_differences();
pub const CREATED_AT: Column = Column::required("created_at", Kind::Timestamp);
pub const UPDATED_AT: Column = Column::required("updated_at", Kind::Timestamp);
pub const IS_NEW: Column = Column::required("is_new", Kind::Boolean);
pub const CARRIED_FORWARD: Column = Column::required("carried_forward", Kind::Boolean).added_later();

/// Every column, in file order.
pub const COLUMNS: [Column; 7] = [USER_ID, TRACK_ID, POSITION, CREATED_AT, UPDATED_AT, IS_NEW, CARRIED_FORWARD];

impl Table for ListenEvent {
    const NAME: &'static str = TableName::ListenEvents.as_str();
    const ONE_ROW_GROUP_PER_FILE: bool = true;

    fn columns() -> Vec<Column> {
        COLUMNS.to_vec()
    }

    fn to_batch(rows: &[Self]) -> Result<RecordBatch, ArrowError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|e| e.user_id))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|e| e.track_id))),
            Arc::new(Int32Array::from_iter_values(rows.iter().map(|e| e.position))),
            times(rows.iter().map(|e| micros(e.created_at))),
            times(rows.iter().map(|e| micros(e.updated_at))),
            flags(rows.iter().map(|e| e.is_new)),
            flags(rows.iter().map(|e| e.carried_forward)),
        ];
        RecordBatch::try_new(Self::schema(), columns)
    }

    fn from_batch(batch: &RecordBatch, _: &mut Interner) -> Result<Vec<Self>, String> {
        let c = Columns(batch);
        let (user_id, track_id, position) = (c.i64(USER_ID)?, c.i64(TRACK_ID)?, c.i32(POSITION)?);
        let (created_at, updated_at, is_new) = (c.time(CREATED_AT)?, c.time(UPDATED_AT)?, c.bool(IS_NEW)?);
        let carried_forward = c.flag_or_false(CARRIED_FORWARD)?;
        (0..batch.num_rows())
            .map(|i| {
                Ok(ListenEvent {
                    user_id: user_id.value(i),
                    track_id: track_id.value(i),
                    position: position.value(i),
                    created_at: time_at(created_at, i, CREATED_AT)?,
                    updated_at: time_at(updated_at, i, UPDATED_AT)?,
                    is_new: is_new.value(i),
                    carried_forward: carried_forward.is_some_and(|a| a.value(i)),
                })
            })
            .collect()
    }
}

/// A listen event as recommend reads it: who, what and when, and only those columns decoded
/// (at a billion rows a day, reading the others costs time for nothing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListenItem {
    pub user_id: i64,
    pub track_id: i64,
    pub position: i32,
    pub created_at: DateTime<Utc>,
}

impl Table for ListenItem {
    const NAME: &'static str = TableName::ListenEvents.as_str();

    fn columns() -> Vec<Column> {
        vec![USER_ID, TRACK_ID, POSITION, CREATED_AT]
    }

    fn to_batch(rows: &[Self]) -> Result<RecordBatch, ArrowError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|e| e.user_id))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|e| e.track_id))),
            Arc::new(Int32Array::from_iter_values(rows.iter().map(|e| e.position))),
            times(rows.iter().map(|e| micros(e.created_at))),
        ];
        RecordBatch::try_new(Self::schema(), columns)
    }

    fn from_batch(batch: &RecordBatch, _: &mut Interner) -> Result<Vec<Self>, String> {
        let c = Columns(batch);
        let (user_id, track_id, position, created_at) = (c.i64(USER_ID)?, c.i64(TRACK_ID)?, c.i32(POSITION)?, c.time(CREATED_AT)?);
        (0..batch.num_rows())
            .map(|i| Ok(ListenItem { user_id: user_id.value(i), track_id: track_id.value(i), position: position.value(i), created_at: time_at(created_at, i, CREATED_AT)? }))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Layout, decode, to_parquet};

    #[test]
    fn a_listen_events_file_reads_as_items_through_four_of_its_columns() {
        let at = |s: i64| DateTime::from_timestamp(s, 0).unwrap();
        let rows: Vec<ListenEvent> = (0..5)
            .map(|i| ListenEvent { user_id: i / 2, track_id: 100 - i, position: i as i32, created_at: at(i), updated_at: at(50 + i), is_new: i % 2 == 0, carried_forward: i == 3 })
            .collect();
        let file = to_parquet(&rows, Layout { row_group_rows: 2, file_rows: 10 }).unwrap();
        let batches: Vec<RecordBatch> = decode::<ListenItem>("curated/listen_events/part", file).unwrap().collect::<Result<_, _>>().unwrap();
        assert!(batches.iter().all(|b| b.num_columns() == 4), "only the item's columns are decoded");
        let items: Vec<ListenItem> = batches.iter().flat_map(|b| ListenItem::from_batch(b, &mut Interner::default()).unwrap()).collect();
        let expected: Vec<ListenItem> = rows.iter().map(|e| ListenItem { user_id: e.user_id, track_id: e.track_id, position: e.position, created_at: e.created_at }).collect();
        assert_eq!(items, expected);
    }

    #[test]
    fn a_listen_file_is_one_row_group_with_positions_stored_as_differences_at_under_a_bit_a_row() {
        use parquet::basic::Encoding;
        use parquet::file::reader::{FileReader, SerializedFileReader};
        // 100 histories of 1,000 items: a dictionary would spend 10 bits on each position.
        let at = DateTime::from_timestamp(0, 0).unwrap();
        let rows: Vec<ListenEvent> = (0..100_000)
            .map(|i| ListenEvent { user_id: i / 1000, track_id: i * 7919 % 50_000, position: (i % 1000) as i32, created_at: at, updated_at: at, is_new: false, carried_forward: false })
            .collect();
        let file = to_parquet(&rows, Layout { row_group_rows: 1024, file_rows: 1 << 20 }).unwrap();
        let reader = SerializedFileReader::new(file).unwrap();
        assert_eq!(reader.metadata().num_row_groups(), 1, "one dictionary of tracks, not one every 1,024 rows");
        let group = reader.metadata().row_group(0);
        let position = group.columns().iter().find(|c| c.column_path().string() == POSITION.name).unwrap();
        let encodings: Vec<Encoding> = position.encodings().collect();
        assert!(encodings.contains(&Encoding::DELTA_BINARY_PACKED), "{encodings:?}");
        assert!(position.dictionary_page_offset().is_none(), "no dictionary");
        assert!(position.compressed_size() < rows.len() as i64 / 8, "{} bytes for {} positions", position.compressed_size(), rows.len());
    }

    #[test]
    fn a_file_of_more_tracks_than_a_default_dictionary_holds_keeps_them_in_its_dictionary() {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        // 150,000 distinct ten-digit track ids: past the 131,072 that 1 MiB of dictionary holds,
        // the rest of the column would be plain values, 8 bytes each.
        let at = DateTime::from_timestamp(0, 0).unwrap();
        let rows: Vec<ListenEvent> = (0..600_000)
            .map(|i| ListenEvent { user_id: i / 1000, track_id: 1_000_000_000 + (i * 7919 % 150_000) * 1_000_003, position: (i % 1000) as i32, created_at: at, updated_at: at, is_new: false, carried_forward: false })
            .collect();
        let file = to_parquet(&rows, Layout { row_group_rows: 1024, file_rows: 1 << 20 }).unwrap();
        let reader = SerializedFileReader::new(file).unwrap();
        let track = reader.metadata().row_group(0).columns().iter().find(|c| c.column_path().string() == TRACK_ID.name).unwrap().clone();
        // A dictionary of 1.2 MB and 18-bit indices: about 4.3 bytes a row.
        assert!(track.compressed_size() < rows.len() as i64 * 5, "{} bytes for {} track ids", track.compressed_size(), rows.len());
    }
}
