//! The curated tables as Parquet: their schemas, rows to Arrow batches and back, and part files.
//!
//! Standard Parquet that Athena, DuckDB and Spark read as is: strings are UTF8, timestamps are
//! `TIMESTAMP(MICROS, isAdjustedToUTC=true)` (Arrow `Timestamp(Microsecond, "UTC")`), integers
//! INT64/INT32, Snappy compression, row groups of `TRANSFORM_ROW_GROUP_ROWS` rows and files of at
//! most `TRANSFORM_FILE_ROWS` rows. The bytes depend only on the rows and these settings, so a
//! re-run of a date writes byte-identical files. Column names and order match the Glue tables
//! in `infra/template.yaml`.

use super::curated::{Hash256, Interner, Text, TrackRow, UserRow};
use super::listen_events::ListenEvent;
use super::scd2::Version;
use crate::commit::RunWriter;
use crate::manifest::{ObjectEntry, ObjectRole};
use crate::partition::Partition;
use crate::storage::{Store, StoreError};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};
use arrow_array::{
    Array, ArrayRef, BooleanArray, Int32Array, Int64Array, PrimitiveArray, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::basic::Compression;
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use std::collections::VecDeque;
use std::sync::{Arc, LazyLock};

/// Rows per Arrow batch, written or read: big enough to amortise, small enough to stay cheap.
const BATCH_ROWS: usize = 16_384;

#[derive(Debug, thiserror::Error)]
pub enum ParquetIoError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("Parquet: {0}")]
    Parquet(#[from] ParquetError),
    #[error("Arrow: {0}")]
    Arrow(#[from] ArrowError),
    #[error("{key}: {detail}")]
    Content { key: String, detail: String },
}

/// A row type of a curated table.
pub trait Table: Sized {
    /// The table's name, its folder under `curated/`.
    const NAME: &'static str;
    /// Columns added after the table's first version: a file without one still reads (as nulls,
    /// or `false` for a flag), so the first run after an upgrade reads the previous date's files.
    const ADDED_COLUMNS: &'static [&'static str] = &[];
    fn schema() -> SchemaRef;
    fn to_batch(rows: &[Self]) -> Result<RecordBatch, ArrowError>;
    /// Reads rows back; low-cardinality text goes through `interner`.
    fn from_batch(batch: &RecordBatch, interner: &mut Interner) -> Result<Vec<Self>, String>;
}

fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn scd2_fields() -> [Field; 6] {
    [
        Field::new("valid_from", timestamp(), false),
        Field::new("valid_to", timestamp(), true),
        Field::new("is_current", DataType::Boolean, false),
        Field::new("row_hash", DataType::Utf8, false),
        Field::new("ingested_at", timestamp(), false),
        Field::new("carried_forward", DataType::Boolean, false),
    ]
}

static TRACKS: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields = vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("artist", DataType::Utf8, true),
        Field::new("songwriters", DataType::Utf8, true),
        Field::new("duration", DataType::Utf8, true),
        Field::new("duration_seconds", DataType::Int32, true),
        Field::new("genres", DataType::Utf8, true),
        Field::new("genres_normalized", DataType::Utf8, true),
        Field::new("album", DataType::Utf8, true),
        Field::new("created_at", timestamp(), false),
        Field::new("updated_at", timestamp(), false),
    ];
    fields.extend(scd2_fields());
    Arc::new(Schema::new(fields))
});

static USERS: LazyLock<SchemaRef> = LazyLock::new(|| {
    let mut fields = vec![
        Field::new("id", DataType::Int64, false),
        Field::new("first_name", DataType::Utf8, true),
        Field::new("last_name", DataType::Utf8, true),
        Field::new("email_hash", DataType::Utf8, true),
        Field::new("email_key_id", DataType::Utf8, true),
        Field::new("gender", DataType::Utf8, true),
        Field::new("favorite_genres", DataType::Utf8, true),
        Field::new("favorite_genres_normalized", DataType::Utf8, true),
        Field::new("created_at", timestamp(), false),
        Field::new("updated_at", timestamp(), false),
    ];
    fields.extend(scd2_fields());
    Arc::new(Schema::new(fields))
});

static LISTEN_EVENTS: LazyLock<SchemaRef> = LazyLock::new(|| {
    Arc::new(Schema::new(vec![
        Field::new("user_id", DataType::Int64, false),
        Field::new("track_id", DataType::Int64, false),
        Field::new("position", DataType::Int32, false),
        Field::new("created_at", timestamp(), false),
        Field::new("updated_at", timestamp(), false),
        Field::new("is_new", DataType::Boolean, false),
        Field::new("carried_forward", DataType::Boolean, false),
    ]))
});

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn times(values: impl Iterator<Item = i64>) -> ArrayRef {
    Arc::new(TimestampMicrosecondArray::from_iter_values(values).with_timezone("UTC"))
}

fn opt_times(values: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(values.collect::<TimestampMicrosecondArray>().with_timezone("UTC"))
}

fn texts<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(values.collect::<StringArray>())
}

/// The SCD2 columns of a batch of versions.
fn scd2_columns<R>(rows: &[Version<R>], hash: impl Fn(&R) -> Hash256) -> [ArrayRef; 6] {
    [
        times(rows.iter().map(|v| micros(v.valid_from))),
        opt_times(rows.iter().map(|v| v.valid_to.map(micros))),
        Arc::new(rows.iter().map(|v| Some(v.is_current())).collect::<BooleanArray>()),
        Arc::new(StringArray::from_iter_values(rows.iter().map(|v| hash(&v.row).to_hex()))),
        times(rows.iter().map(|v| micros(v.ingested_at))),
        Arc::new(
            rows.iter()
                .map(|v| Some(v.carried_forward))
                .collect::<BooleanArray>(),
        ),
    ]
}

/// Typed access to a batch's columns by name, with messages that say what is wrong.
pub(crate) struct Columns<'a>(pub(crate) &'a RecordBatch);

impl<'a> Columns<'a> {
    pub(crate) fn get(&self, name: &str) -> Result<&'a ArrayRef, String> {
        self.0.column_by_name(name).ok_or_else(|| format!("no column `{name}`"))
    }

    pub(crate) fn i64(&self, name: &str) -> Result<&'a PrimitiveArray<Int64Type>, String> {
        self.get(name)?.as_primitive_opt::<Int64Type>().ok_or_else(|| format!("column `{name}` is not INT64"))
    }

    pub(crate) fn i32(&self, name: &str) -> Result<&'a PrimitiveArray<Int32Type>, String> {
        self.get(name)?.as_primitive_opt::<Int32Type>().ok_or_else(|| format!("column `{name}` is not INT32"))
    }

    pub(crate) fn f64(&self, name: &str) -> Result<&'a PrimitiveArray<Float64Type>, String> {
        self.get(name)?.as_primitive_opt::<Float64Type>().ok_or_else(|| format!("column `{name}` is not DOUBLE"))
    }

    pub(crate) fn text(&self, name: &str) -> Result<&'a StringArray, String> {
        self.get(name)?.as_string_opt::<i32>().ok_or_else(|| format!("column `{name}` is not UTF8"))
    }

    pub(crate) fn time(&self, name: &str) -> Result<&'a TimestampMicrosecondArray, String> {
        self.get(name)?
            .as_primitive_opt::<TimestampMicrosecondType>()
            .ok_or_else(|| format!("column `{name}` is not a microsecond timestamp"))
    }

    pub(crate) fn bool(&self, name: &str) -> Result<&'a BooleanArray, String> {
        self.get(name)?.as_boolean_opt().ok_or_else(|| format!("column `{name}` is not BOOLEAN"))
    }

    /// A column added after the first tables were written: absent in those, read as all false.
    pub(crate) fn flag_or_false(&self, name: &str) -> Result<Option<&'a BooleanArray>, String> {
        if self.0.column_by_name(name).is_none() {
            return Ok(None);
        }
        self.bool(name).map(Some)
    }
}

fn opt<A: Array>(array: &A, i: usize) -> Option<usize> {
    (!array.is_null(i)).then_some(i)
}

pub(crate) fn text_at(a: &StringArray, i: usize) -> Option<&str> {
    opt(a, i).map(|i| a.value(i))
}

fn time_at(a: &TimestampMicrosecondArray, i: usize, name: &str) -> Result<DateTime<Utc>, String> {
    opt(a, i).and_then(|i| DateTime::from_timestamp_micros(a.value(i))).ok_or_else(|| format!("row {i}: `{name}` is null or out of range"))
}

fn opt_time_at(a: &TimestampMicrosecondArray, i: usize) -> Option<DateTime<Utc>> {
    opt(a, i).and_then(|i| DateTime::from_timestamp_micros(a.value(i)))
}

fn hash_at(a: &StringArray, i: usize, name: &str) -> Result<Hash256, String> {
    text_at(a, i).and_then(Hash256::from_hex).ok_or_else(|| format!("row {i}: `{name}` is not a SHA-256 hex digest"))
}

/// The SCD2 columns of one row, read back.
struct Scd2Columns<'a> {
    valid_from: &'a TimestampMicrosecondArray,
    valid_to: &'a TimestampMicrosecondArray,
    is_current: &'a BooleanArray,
    row_hash: &'a StringArray,
    ingested_at: &'a TimestampMicrosecondArray,
    carried_forward: Option<&'a BooleanArray>,
}

impl<'a> Scd2Columns<'a> {
    fn new(c: &Columns<'a>) -> Result<Self, String> {
        Ok(Self {
            valid_from: c.time("valid_from")?,
            valid_to: c.time("valid_to")?,
            is_current: c.bool("is_current")?,
            row_hash: c.text("row_hash")?,
            ingested_at: c.time("ingested_at")?,
            carried_forward: c.flag_or_false("carried_forward")?,
        })
    }

    fn version<R>(&self, i: usize, row: R) -> Result<Version<R>, String> {
        let v = Version {
            row,
            valid_from: time_at(self.valid_from, i, "valid_from")?,
            valid_to: opt_time_at(self.valid_to, i),
            ingested_at: time_at(self.ingested_at, i, "ingested_at")?,
            carried_forward: self.carried_forward.is_some_and(|a| a.value(i)),
        };
        if self.is_current.value(i) != v.is_current() {
            return Err(format!("row {i}: is_current disagrees with valid_to"));
        }
        Ok(v)
    }
}

impl Table for Version<TrackRow> {
    const NAME: &'static str = "tracks";
    const ADDED_COLUMNS: &'static [&'static str] = &["carried_forward"];

    fn schema() -> SchemaRef {
        TRACKS.clone()
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
        columns.extend(scd2_columns(rows, |t| t.row_hash));
        RecordBatch::try_new(Self::schema(), columns)
    }

    fn from_batch(batch: &RecordBatch, interner: &mut Interner) -> Result<Vec<Self>, String> {
        let c = Columns(batch);
        let (id, name, artist, songwriters) = (c.i64("id")?, c.text("name")?, c.text("artist")?, c.text("songwriters")?);
        let (duration, duration_seconds, genres) = (c.text("duration")?, c.i32("duration_seconds")?, c.text("genres")?);
        let (genres_normalized, album) = (c.text("genres_normalized")?, c.text("album")?);
        let (created_at, updated_at) = (c.time("created_at")?, c.time("updated_at")?);
        let scd2 = Scd2Columns::new(&c)?;
        let owned = |a: &StringArray, i| text_at(a, i).map(Text::from);
        (0..batch.num_rows())
            .map(|i| {
                let row = TrackRow {
                    id: id.value(i),
                    name: owned(name, i),
                    artist: owned(artist, i),
                    songwriters: owned(songwriters, i),
                    duration: text_at(duration, i).map(|t| interner.get(t)),
                    duration_seconds: opt(duration_seconds, i).map(|i| duration_seconds.value(i)),
                    genres: text_at(genres, i).map(|t| interner.get(t)),
                    genres_normalized: text_at(genres_normalized, i).map(|t| interner.get(t)),
                    album: owned(album, i),
                    created_at: time_at(created_at, i, "created_at")?,
                    updated_at: time_at(updated_at, i, "updated_at")?,
                    row_hash: hash_at(scd2.row_hash, i, "row_hash")?,
                };
                scd2.version(i, row)
            })
            .collect()
    }
}

impl Table for Version<UserRow> {
    const NAME: &'static str = "users";
    const ADDED_COLUMNS: &'static [&'static str] = &["email_key_id", "carried_forward"];

    fn schema() -> SchemaRef {
        USERS.clone()
    }

    fn to_batch(rows: &[Self]) -> Result<RecordBatch, ArrowError> {
        let r = || rows.iter().map(|v| &v.row);
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(r().map(|u| u.id))),
            texts(r().map(|u| u.first_name.as_deref())),
            texts(r().map(|u| u.last_name.as_deref())),
            Arc::new(r().map(|u| u.email_hash.map(|h| h.to_hex())).collect::<StringArray>()),
            texts(r().map(|u| u.email_key_id.as_deref())),
            texts(r().map(|u| u.gender.as_deref())),
            texts(r().map(|u| u.favorite_genres.as_deref())),
            texts(r().map(|u| u.favorite_genres_normalized.as_deref())),
            times(r().map(|u| micros(u.created_at))),
            times(r().map(|u| micros(u.updated_at))),
        ];
        columns.extend(scd2_columns(rows, |u| u.row_hash));
        RecordBatch::try_new(Self::schema(), columns)
    }

    fn from_batch(batch: &RecordBatch, interner: &mut Interner) -> Result<Vec<Self>, String> {
        let c = Columns(batch);
        let (id, first_name, last_name, email_hash) = (c.i64("id")?, c.text("first_name")?, c.text("last_name")?, c.text("email_hash")?);
        let email_key_id = batch.column_by_name("email_key_id").map(|_| c.text("email_key_id")).transpose()?;
        let (gender, favorite_genres, normalized) = (c.text("gender")?, c.text("favorite_genres")?, c.text("favorite_genres_normalized")?);
        let (created_at, updated_at) = (c.time("created_at")?, c.time("updated_at")?);
        let scd2 = Scd2Columns::new(&c)?;
        (0..batch.num_rows())
            .map(|i| {
                let email_hash = match opt(email_hash, i) {
                    None => None,
                    Some(_) => Some(hash_at(email_hash, i, "email_hash")?),
                };
                let row = UserRow {
                    id: id.value(i),
                    first_name: text_at(first_name, i).map(Text::from),
                    last_name: text_at(last_name, i).map(Text::from),
                    email_hash,
                    email_key_id: email_key_id.and_then(|a| text_at(a, i)).map(|t| interner.get(t)),
                    gender: text_at(gender, i).map(|t| interner.get(t)),
                    favorite_genres: text_at(favorite_genres, i).map(|t| interner.get(t)),
                    favorite_genres_normalized: text_at(normalized, i).map(|t| interner.get(t)),
                    created_at: time_at(created_at, i, "created_at")?,
                    updated_at: time_at(updated_at, i, "updated_at")?,
                    row_hash: hash_at(scd2.row_hash, i, "row_hash")?,
                };
                scd2.version(i, row)
            })
            .collect()
    }
}

impl Table for ListenEvent {
    const NAME: &'static str = "listen_events";
    const ADDED_COLUMNS: &'static [&'static str] = &["carried_forward"];

    fn schema() -> SchemaRef {
        LISTEN_EVENTS.clone()
    }

    fn to_batch(rows: &[Self]) -> Result<RecordBatch, ArrowError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|e| e.user_id))),
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|e| e.track_id))),
            Arc::new(Int32Array::from_iter_values(rows.iter().map(|e| e.position))),
            times(rows.iter().map(|e| micros(e.created_at))),
            times(rows.iter().map(|e| micros(e.updated_at))),
            Arc::new(
                rows.iter()
                    .map(|e| Some(e.is_new))
                    .collect::<BooleanArray>(),
            ),
            Arc::new(
                rows.iter()
                    .map(|e| Some(e.carried_forward))
                    .collect::<BooleanArray>(),
            ),
        ];
        RecordBatch::try_new(Self::schema(), columns)
    }

    fn from_batch(batch: &RecordBatch, _: &mut Interner) -> Result<Vec<Self>, String> {
        let c = Columns(batch);
        let (user_id, track_id, position) =
            (c.i64("user_id")?, c.i64("track_id")?, c.i32("position")?);
        let (created_at, updated_at, is_new) = (
            c.time("created_at")?,
            c.time("updated_at")?,
            c.bool("is_new")?,
        );
        let carried_forward = c.flag_or_false("carried_forward")?;
        (0..batch.num_rows())
            .map(|i| {
                Ok(ListenEvent {
                    user_id: user_id.value(i),
                    track_id: track_id.value(i),
                    position: position.value(i),
                    created_at: time_at(created_at, i, "created_at")?,
                    updated_at: time_at(updated_at, i, "updated_at")?,
                    is_new: is_new.value(i),
                    carried_forward: carried_forward.is_some_and(|a| a.value(i)),
                })
            })
            .collect()
    }
}

/// How curated files are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub row_group_rows: usize,
    pub file_rows: usize,
}

impl Layout {
    fn properties(&self) -> WriterProperties {
        WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_max_row_group_row_count(Some(self.row_group_rows))
            .build()
    }
}

/// Writes one curated partition's Parquet parts through the run's [`RunWriter`]: `part-NNNNN-<run
/// id>.parquet`, each at most `file_rows` rows, and one empty part for an empty table so that
/// readers still find the schema.
pub struct PartsWriter<'w, T: Table> {
    run: &'w RunWriter,
    partition: Partition,
    /// A sub-folder of the run's folder for the parts (a bucket's, [`crate::buckets`]); empty by default.
    folder: String,
    layout: Layout,
    pending: Vec<T>,
    file: Option<ArrowWriter<Vec<u8>>>,
    rows_in_file: usize,
    objects: Vec<ObjectEntry>,
    rows: u64,
}

impl<'w, T: Table> PartsWriter<'w, T> {
    pub fn new(run: &'w RunWriter, partition: Partition, layout: Layout) -> Self {
        Self { run, partition, folder: String::new(), layout, pending: Vec::new(), file: None, rows_in_file: 0, objects: Vec::new(), rows: 0 }
    }

    /// Writes the parts into `folder` (ending with `/`) of the run's folder.
    pub fn in_folder(mut self, folder: String) -> Self {
        self.folder = folder;
        self
    }

    pub fn partition(&self) -> &Partition {
        &self.partition
    }

    /// Rows pushed so far.
    pub fn rows(&self) -> u64 {
        self.rows + self.pending.len() as u64
    }

    pub async fn push(&mut self, row: T) -> Result<(), ParquetIoError> {
        self.pending.push(row);
        // Batches end where files must, so a file holds exactly `file_rows` rows.
        if self.pending.len() >= BATCH_ROWS.min(self.layout.file_rows - self.rows_in_file) {
            self.encode_pending()?;
            if self.rows_in_file >= self.layout.file_rows {
                self.close_file().await?;
            }
        }
        Ok(())
    }

    pub async fn extend(&mut self, rows: impl IntoIterator<Item = T>) -> Result<(), ParquetIoError> {
        for row in rows {
            self.push(row).await?;
        }
        Ok(())
    }

    fn encode_pending(&mut self) -> Result<(), ParquetIoError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = T::to_batch(&self.pending)?;
        let file = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(ArrowWriter::try_new(Vec::new(), T::schema(), Some(self.layout.properties()))?),
        };
        file.write(&batch)?;
        self.rows_in_file += self.pending.len();
        self.rows += self.pending.len() as u64;
        self.pending.clear();
        Ok(())
    }

    async fn close_file(&mut self) -> Result<(), ParquetIoError> {
        let file = match self.file.take() {
            Some(f) => f,
            None => ArrowWriter::try_new(Vec::new(), T::schema(), Some(self.layout.properties()))?,
        };
        let data = Bytes::from(file.into_inner()?);
        let key = self.partition.run_file(self.run.run_id(), &format!("{}part-{:05}.parquet", self.folder, self.objects.len()));
        let entry = self.run.put_object(key, data, self.rows_in_file as u64, ObjectRole::Data).await?;
        self.objects.push(entry);
        self.rows_in_file = 0;
        Ok(())
    }

    /// Writes what is left; returns the parts and the rows written.
    pub async fn finish(mut self) -> Result<(Vec<ObjectEntry>, u64), ParquetIoError> {
        self.encode_pending()?;
        if self.file.is_some() || self.objects.is_empty() {
            self.close_file().await?;
        }
        Ok((self.objects, self.rows))
    }
}

/// Encodes rows as one Parquet file in memory (tests, tools).
pub fn to_parquet<T: Table>(rows: &[T], layout: Layout) -> Result<Bytes, ParquetIoError> {
    let mut writer = ArrowWriter::try_new(Vec::new(), T::schema(), Some(layout.properties()))?;
    for chunk in rows.chunks(BATCH_ROWS) {
        writer.write(&T::to_batch(chunk)?)?;
    }
    Ok(Bytes::from(writer.into_inner()?))
}

/// Decodes a Parquet file of `T` (checking its columns) into batches of rows.
pub fn decode<T: Table>(key: &str, data: Bytes) -> Result<ParquetRecordBatchReader, ParquetIoError> {
    let content = |detail: String| ParquetIoError::Content { key: key.to_owned(), detail };
    let builder = ParquetRecordBatchReaderBuilder::try_new(data)?.with_batch_size(BATCH_ROWS);
    let found = builder.schema();
    let want = T::schema();
    for field in want.fields() {
        match found.field_with_name(field.name()) {
            Ok(f) if f.data_type() == field.data_type() => {}
            Ok(f) => return Err(content(format!("column `{}` is {}, expected {}", field.name(), f.data_type(), field.data_type()))),
            // Files written before the column existed: read as its default.
            Err(_) if T::ADDED_COLUMNS.contains(&field.name().as_str()) => {}
            Err(_) => return Err(content(format!("no column `{}` (not a {} file of this version)", field.name(), T::NAME))),
        }
    }
    Ok(builder.build()?)
}

/// Reads a table's parts in order, one batch at a time, so memory holds one part and one batch.
pub struct TableReader {
    store: Arc<dyn Store>,
    objects: VecDeque<ObjectEntry>,
    current: Option<(String, ParquetRecordBatchReader)>,
}

impl TableReader {
    /// Reads the given parts (a manifest's data objects, in its order); each part's size is checked.
    pub fn new(store: Arc<dyn Store>, objects: impl IntoIterator<Item = ObjectEntry>) -> Self {
        Self { store, objects: objects.into_iter().collect(), current: None }
    }

    /// A reader of nothing (no previous table).
    pub fn empty(store: Arc<dyn Store>) -> Self {
        Self::new(store, [])
    }

    /// The next batch of rows, or `None` at the end of the last part.
    pub async fn next_batch<T: Table>(&mut self, interner: &mut Interner) -> Result<Option<Vec<T>>, ParquetIoError> {
        loop {
            if let Some((key, reader)) = &mut self.current {
                match reader.next() {
                    Some(batch) => {
                        let batch = batch?;
                        return T::from_batch(&batch, interner)
                            .map(Some)
                            .map_err(|detail| ParquetIoError::Content { key: key.clone(), detail });
                    }
                    None => self.current = None,
                }
            }
            let Some(object) = self.objects.pop_front() else { return Ok(None) };
            let data = self.store.get(&object.key).await?.data;
            if data.len() as u64 != object.bytes {
                return Err(ParquetIoError::Content {
                    key: object.key,
                    detail: format!("{} bytes, but the manifest says {}", data.len(), object.bytes),
                });
            }
            let reader = decode::<T>(&object.key, data)?;
            self.current = Some((object.key, reader));
        }
    }

    /// Every remaining row (tests and small tables).
    pub async fn read_all<T: Table>(mut self) -> Result<Vec<T>, ParquetIoError> {
        let mut interner = Interner::default();
        let mut out = Vec::new();
        while let Some(batch) = self.next_batch::<T>(&mut interner).await? {
            out.extend(batch);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{Track, parse_datetime};
    use crate::storage::MemoryStore;

    fn t(s: &str) -> DateTime<Utc> {
        parse_datetime(s).unwrap()
    }

    fn versions() -> Vec<Version<TrackRow>> {
        let mut interner = Interner::default();
        let mut row = |id: i64, name: Option<&str>, duration: &str| {
            let track = Track {
                id,
                name: name.map(str::to_owned),
                artist: Some("Artist".into()),
                songwriters: None,
                duration: Some(duration.into()),
                genres: Some("Rock".into()),
                album: Some("Album ✓".into()),
                created_at: t("2025-10-30T17:52:06.998307"),
                updated_at: t("2025-11-01T08:00:00"),
            };
            TrackRow::from_record(track, &mut interner)
        };
        vec![
            Version {
                row: row(1, Some("a"), "03:25"),
                valid_from: t("2026-11-01T00:00:00"),
                valid_to: Some(t("2026-11-02T00:00:00")),
                ingested_at: t("2026-11-01T06:00:01.5"),
                carried_forward: false,
            },
            Version {
                row: row(1, None, "bad"),
                valid_from: t("2026-11-02T00:00:00"),
                valid_to: None,
                ingested_at: t("2026-11-02T06:00:00"),
                carried_forward: true,
            },
        ]
    }

    #[test]
    fn files_written_before_carried_forward_existed_read_as_not_carried() {
        let event = ListenEvent { user_id: 1, track_id: 2, position: 0, created_at: t("2026-11-01T00:00:00"), updated_at: t("2026-11-01T00:00:00"), is_new: true, carried_forward: true };
        let batch = ListenEvent::to_batch(&[event.clone()]).unwrap();
        let old = batch.project(&[0, 1, 2, 3, 4, 5]).unwrap();
        assert!(old.column_by_name("carried_forward").is_none());
        let mut data = Vec::new();
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut data, old.schema(), None).unwrap();
        w.write(&old).unwrap();
        w.close().unwrap();
        let mut read = Vec::new();
        for b in decode::<ListenEvent>("old.parquet", Bytes::from(data)).unwrap() {
            read.extend(ListenEvent::from_batch(&b.unwrap(), &mut Interner::default()).unwrap());
        }
        assert_eq!(read, [ListenEvent { carried_forward: false, ..event }]);
    }

    #[test]
    fn the_schemas_use_standard_logical_types() {
        let check = |schema: SchemaRef, expected: &[(&str, &str)]| {
            let got: Vec<(String, String)> = schema.fields().iter().map(|f| (f.name().clone(), f.data_type().to_string())).collect();
            let want: Vec<(String, String)> = expected.iter().map(|(n, t)| (n.to_string(), t.to_string())).collect();
            assert_eq!(got, want);
        };
        let ts = "Timestamp(µs, \"UTC\")";
        check(
            ListenEvent::schema(),
            &[
                ("user_id", "Int64"),
                ("track_id", "Int64"),
                ("position", "Int32"),
                ("created_at", ts),
                ("updated_at", ts),
                ("is_new", "Boolean"),
                ("carried_forward", "Boolean"),
            ],
        );
        // The Parquet file carries the UTC-adjusted microsecond logical type.
        let data = to_parquet(&versions(), Layout { row_group_rows: 1024, file_rows: 1024 }).unwrap();
        let meta = ParquetRecordBatchReaderBuilder::try_new(data).unwrap().metadata().clone();
        let schema = meta.file_metadata().schema_descr();
        let column = |name: &str| schema.columns().iter().find(|c| c.name() == name).unwrap().clone();
        let valid_from = format!("{:?}", column("valid_from").logical_type_ref());
        assert!(valid_from.contains("Timestamp") && valid_from.contains("is_adjusted_to_u_t_c: true") && valid_from.contains("MICROS"), "{valid_from}");
        assert_eq!(format!("{:?}", column("name").logical_type_ref()), "Some(String)");
        assert_eq!(meta.row_group(0).column(0).compression(), Compression::SNAPPY);
    }

    #[test]
    fn rows_survive_a_round_trip_through_parquet() {
        let rows = versions();
        let data = to_parquet(&rows, Layout { row_group_rows: 1024, file_rows: 1024 }).unwrap();
        let mut back = Vec::new();
        for batch in decode::<Version<TrackRow>>("k", data.clone()).unwrap() {
            back.extend(Version::<TrackRow>::from_batch(&batch.unwrap(), &mut Interner::default()).unwrap());
        }
        assert_eq!(back, rows);
        assert_eq!(to_parquet(&rows, Layout { row_group_rows: 1024, file_rows: 1024 }).unwrap(), data, "same rows, same bytes");
        let err = decode::<ListenEvent>("tracks.parquet", data).unwrap_err();
        assert!(err.to_string().contains("no column `user_id`"), "{err}");
    }

    #[tokio::test]
    async fn parts_are_cut_at_file_rows_and_read_back_in_order() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
        let date = chrono::NaiveDate::from_ymd_opt(2026, 11, 2).unwrap();
        let run = RunWriter::new(store.clone(), "transform", crate::partition::Zone::Curated, date, "r1".into(), Utc::now());
        let partition = Partition::new(crate::partition::Zone::Curated, "listen_events", date);
        let layout = Layout { row_group_rows: 1024, file_rows: 2500 };
        let mut writer = PartsWriter::<ListenEvent>::new(&run, partition.clone(), layout);
        let at = t("2026-11-01T00:00:00");
        let events: Vec<ListenEvent> = (0..6000)
            .map(|i| ListenEvent {
                user_id: i / 10,
                track_id: i,
                position: (i % 10) as i32,
                created_at: at,
                updated_at: at,
                is_new: i % 2 == 0,
                carried_forward: i % 3 == 0,
            })
            .collect();
        writer.extend(events.clone()).await.unwrap();
        let (objects, rows) = writer.finish().await.unwrap();
        assert_eq!(rows, 6000);
        assert_eq!(objects.iter().map(|o| o.rows).collect::<Vec<_>>(), [2500, 2500, 1000]);
        assert_eq!(objects[1].key, "curated/listen_events/dt=2026-11-02/run=r1/part-00001.parquet");
        let back: Vec<ListenEvent> = TableReader::new(store.clone(), objects).read_all().await.unwrap();
        assert_eq!(back, events);

        // An empty table is one empty part, so readers still see the schema.
        let mut empty = PartsWriter::<ListenEvent>::new(&run, Partition::new(crate::partition::Zone::Curated, "x", date), layout);
        empty.extend([]).await.unwrap();
        let (objects, rows) = empty.finish().await.unwrap();
        assert_eq!((objects.len(), objects[0].rows, rows), (1, 0, 0));
        assert!(TableReader::new(store, objects).read_all::<ListenEvent>().await.unwrap().is_empty());
    }
}
