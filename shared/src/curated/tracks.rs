//! `curated/tracks/dt=D/`: every version of every track ever seen, as of D (SCD2).

use super::hash::RowHasher;
use super::history::{self, HistoryColumns, Version, Versioned};
use super::{Hash256, TableName};
use crate::codec::arrow::{Columns, present, text_at, texts, time_at, times, micros};
use crate::codec::{Column, Interner, Kind, Table, Text};
use arrow_array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::ArrowError;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// The business columns of `curated/tracks` (the history columns are in [`Version`]).
#[derive(Debug, Clone, PartialEq)]
pub struct TrackRow {
    pub id: i64,
    pub name: Option<Text>,
    pub artist: Option<Text>,
    pub songwriters: Option<Text>,
    /// As served, `"MM:SS"`.
    pub duration: Option<Text>,
    /// `duration` in seconds; null when it does not parse.
    pub duration_seconds: Option<i32>,
    /// As served.
    pub genres: Option<Text>,
    /// Trimmed and case-folded ([`super::normalize_genre`]).
    pub genres_normalized: Option<Text>,
    pub album: Option<Text>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// SHA-256 of the business columns above ([`TrackRow::compute_hash`]).
    pub row_hash: Hash256,
}

pub const ID: Column = Column::required("id", Kind::Int64);
pub const NAME: Column = Column::nullable("name", Kind::Text);
pub const ARTIST: Column = Column::nullable("artist", Kind::Text);
pub const SONGWRITERS: Column = Column::nullable("songwriters", Kind::Text);
pub const DURATION: Column = Column::nullable("duration", Kind::Text);
pub const DURATION_SECONDS: Column = Column::nullable("duration_seconds", Kind::Int32);
pub const GENRES: Column = Column::nullable("genres", Kind::Text);
pub const GENRES_NORMALIZED: Column = Column::nullable("genres_normalized", Kind::Text);
pub const ALBUM: Column = Column::nullable("album", Kind::Text);
pub const CREATED_AT: Column = Column::required("created_at", Kind::Timestamp);
pub const UPDATED_AT: Column = Column::required("updated_at", Kind::Timestamp);

/// The business columns, in file order (the history columns follow).
pub const COLUMNS: [Column; 11] = [ID, NAME, ARTIST, SONGWRITERS, DURATION, DURATION_SECONDS, GENRES, GENRES_NORMALIZED, ALBUM, CREATED_AT, UPDATED_AT];

impl TrackRow {
    pub fn compute_hash(&self) -> Hash256 {
        RowHasher::new("moovitamix.curated.tracks.v1")
            .int(Some(self.id))
            .text(self.name.as_deref())
            .text(self.artist.as_deref())
            .text(self.songwriters.as_deref())
            .text(self.duration.as_deref())
            .int(self.duration_seconds.map(i64::from))
            .text(self.genres.as_deref())
            .text(self.genres_normalized.as_deref())
            .text(self.album.as_deref())
            .time(self.created_at)
            .time(self.updated_at)
            .finish()
    }
}

impl Versioned for TrackRow {
    fn key(&self) -> i64 {
        self.id
    }
    fn row_hash(&self) -> Hash256 {
        self.row_hash
    }
}

impl Table for Version<TrackRow> {
    const NAME: &'static str = TableName::Tracks.as_str();

    fn columns() -> Vec<Column> {
        COLUMNS.into_iter().chain(history::COLUMNS).collect()
    }

    fn to_batch(rows: &[Self]) -> Result<RecordBatch, ArrowError> {
        let r = || rows.iter().map(|v| &v.row);
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(r().map(|t| t.id))),
            texts(r().map(|t| t.name.as_deref())),
            texts(r().map(|t| t.artist.as_deref())),
            texts(r().map(|t| t.songwriters.as_deref())),
            texts(r().map(|t| t.duration.as_deref())),
            Arc::new(r().map(|t| t.duration_seconds).collect::<Int32Array>()),
            texts(r().map(|t| t.genres.as_deref())),
            texts(r().map(|t| t.genres_normalized.as_deref())),
            texts(r().map(|t| t.album.as_deref())),
            times(r().map(|t| micros(t.created_at))),
            times(r().map(|t| micros(t.updated_at))),
        ];
        columns.extend(history::to_arrays(rows));
        RecordBatch::try_new(Self::schema(), columns)
    }

    fn from_batch(batch: &RecordBatch, interner: &mut Interner) -> Result<Vec<Self>, String> {
        let c = Columns(batch);
        let (id, name, artist, songwriters) = (c.i64(ID)?, c.text(NAME)?, c.text(ARTIST)?, c.text(SONGWRITERS)?);
        let (duration, duration_seconds, genres) = (c.text(DURATION)?, c.i32(DURATION_SECONDS)?, c.text(GENRES)?);
        let (genres_normalized, album) = (c.text(GENRES_NORMALIZED)?, c.text(ALBUM)?);
        let (created_at, updated_at) = (c.time(CREATED_AT)?, c.time(UPDATED_AT)?);
        let history = HistoryColumns::new(&c)?;
        let owned = |a: &StringArray, i| text_at(a, i).map(Text::from);
        (0..batch.num_rows())
            .map(|i| {
                let row = TrackRow {
                    id: id.value(i),
                    name: owned(name, i),
                    artist: owned(artist, i),
                    songwriters: owned(songwriters, i),
                    duration: text_at(duration, i).map(|t| interner.get(t)),
                    duration_seconds: present(duration_seconds, i).map(|i| duration_seconds.value(i)),
                    genres: text_at(genres, i).map(|t| interner.get(t)),
                    genres_normalized: text_at(genres_normalized, i).map(|t| interner.get(t)),
                    album: owned(album, i),
                    created_at: time_at(created_at, i, CREATED_AT)?,
                    updated_at: time_at(updated_at, i, UPDATED_AT)?,
                    row_hash: history.row_hash(i)?,
                };
                history.version(i, row)
            })
            .collect()
    }
}
