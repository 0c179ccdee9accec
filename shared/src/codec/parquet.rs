//! Parquet part files of any [`Table`]: written in rolling parts through a run, read back in order.
//!
//! Standard Parquet that Athena, DuckDB and Spark read as is: strings are UTF8, timestamps are
//! `TIMESTAMP(MICROS, isAdjustedToUTC=true)` (Arrow `Timestamp(Microsecond, "UTC")`), integers
//! INT64/INT32, Snappy compression, row groups of `row_group_rows` rows (or one a file:
//! [`Table::ONE_ROW_GROUP_PER_FILE`]) and files of at most `file_rows` rows ([`Layout`]). Columns
//! are dictionary-encoded, each row group storing its own dictionaries, but for the ones stored as
//! `DELTA_BINARY_PACKED` differences ([`super::Column::by_differences`]). The bytes depend only on
//! the rows and these settings, so a re-run of a date writes byte-identical files.

use super::{BATCH_ROWS, Interner, Table};
use crate::commit::RunWriter;
use crate::manifest::{ObjectEntry, ObjectRole};
use crate::partition::Partition;
use crate::storage::{Store, StoreError};
use arrow_schema::ArrowError;
use bytes::Bytes;
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::arrow::arrow_reader::{ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder};
use parquet::basic::{Compression, Encoding as PageEncoding};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use parquet::schema::types::ColumnPath;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("Parquet: {0}")]
    Parquet(#[from] ParquetError),
    #[error("Arrow: {0}")]
    Arrow(#[from] ArrowError),
    #[error("{key}: {detail}")]
    Content { key: String, detail: String },
    #[error("{key}: the upload stopped: {detail}")]
    Upload { key: String, detail: String },
    #[error("no thread to encode Parquet: {0}")]
    Thread(std::io::Error),
}

/// The dictionary limit of a table written as one row group per file.
const DICTIONARY_OF_A_FILE_BYTES: usize = 8 << 20;

/// How part files are cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub row_group_rows: usize,
    pub file_rows: usize,
}

impl Layout {
    /// Snappy, `T`'s row groups, and differences for the columns stored so.
    fn properties<T: Table>(&self) -> WriterProperties {
        let builder = WriterProperties::builder().set_compression(Compression::SNAPPY);
        let builder = match T::ONE_ROW_GROUP_PER_FILE {
            // A dictionary past its limit falls back to plain values for the rest of the group:
            // 1 MiB (the default) holds 131,072 ids, 8 MiB a million.
            true => builder.set_max_row_group_row_count(Some(self.file_rows)).set_dictionary_page_size_limit(DICTIONARY_OF_A_FILE_BYTES),
            false => builder.set_max_row_group_row_count(Some(self.row_group_rows)),
        };
        T::columns().iter().filter(|c| c.by_differences).fold(builder, |b, c| {
            let path = ColumnPath::from(c.name);
            b.set_column_dictionary_enabled(path.clone(), false).set_column_encoding(path, PageEncoding::DELTA_BINARY_PACKED)
        })
        .build()
    }
}

/// Writes one partition's Parquet parts through the run's [`RunWriter`]: `part-NNNNN-<run
/// id>.parquet`, each at most `file_rows` rows, and one empty part for an empty table so that
/// readers still find the schema. Each file is encoded on its own thread ([`Encoding`]) while
/// the caller produces the next rows, and uploaded on a task of its own while the next is encoded.
pub struct PartsWriter<'w, T: Table> {
    run: &'w RunWriter,
    partition: Partition,
    /// A sub-folder of the run's folder for the parts (a bucket's, [`crate::buckets`]); empty by default.
    folder: String,
    layout: Layout,
    pending: Vec<T>,
    file: Option<Encoding<T>>,
    rows_in_file: usize,
    /// At most [`UPLOADS_IN_FLIGHT`] of them still uploading.
    parts: Parts,
    /// A second table given the same parts, and its parts ([`PartsWriter::with_copy_in`]).
    copy: Option<(Partition, Parts)>,
    rows: u64,
}

/// Parts of one writer uploading at once (beside the one being encoded): enough that the
/// producer rarely waits for a put, few enough that the bytes held meanwhile stay a few parts'.
const UPLOADS_IN_FLIGHT: usize = 2;

impl<'w, T: Table> PartsWriter<'w, T> {
    pub fn new(run: &'w RunWriter, partition: Partition, layout: Layout) -> Self {
        Self { run, partition, folder: String::new(), layout, pending: Vec::new(), file: None, rows_in_file: 0, parts: Parts::default(), copy: None, rows: 0 }
    }

    /// Also writes every part, the same bytes, as a part of `partition` (in the same folder): a
    /// second table known to hold exactly these rows is encoded once. [`PartsWriter::finish_with_copy`]
    /// returns its parts.
    pub fn with_copy_in(mut self, partition: Partition) -> Self {
        self.copy = Some((partition, Parts::default()));
        self
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

    pub async fn push(&mut self, row: T) -> Result<(), CodecError> {
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

    pub async fn extend(&mut self, rows: impl IntoIterator<Item = T>) -> Result<(), CodecError> {
        for row in rows {
            self.push(row).await?;
        }
        Ok(())
    }

    fn encode_pending(&mut self) -> Result<(), CodecError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.start_file()?;
        let file = self.file.as_mut().expect("a file just started");
        let rows = std::mem::replace(&mut self.pending, file.empty_batch());
        let n = rows.len();
        if !file.write(rows) {
            // The encoder stopped on an error: it is the answer.
            return Err(self.file.take().expect("a file being encoded").finish().expect_err("an encoder that stopped early failed"));
        }
        self.rows_in_file += n;
        self.rows += n as u64;
        Ok(())
    }

    /// Starts a file to encode when none is (an empty table still gets one).
    fn start_file(&mut self) -> Result<(), CodecError> {
        if self.file.is_none() {
            self.file = Some(Encoding::start(self.layout)?);
        }
        Ok(())
    }

    async fn close_file(&mut self) -> Result<(), CodecError> {
        self.start_file()?;
        let data = Bytes::from(self.file.take().expect("a file just started").finish()?);
        let (index, rows) = (self.parts.len(), self.rows_in_file as u64);
        let key_in = |partition: &Partition| partition.part_key_in(self.run.run_id(), &self.folder, index, "parquet");
        if let Some((partition, copies)) = &mut self.copy {
            copies.upload(self.run, key_in(partition), data.clone(), rows).await?;
        }
        self.parts.upload(self.run, key_in(&self.partition), data, rows).await?;
        self.rows_in_file = 0;
        Ok(())
    }

    /// Writes what is left and waits for every upload; returns the parts and the rows written.
    pub async fn finish(self) -> Result<(Vec<ObjectEntry>, u64), CodecError> {
        let (parts, rows) = self.finish_encoding().await?;
        Ok((parts.uploaded().await?, rows))
    }

    /// [`PartsWriter::finish`], and the copy's parts, possibly still uploading (none without
    /// [`PartsWriter::with_copy_in`]), so that their errors name their own table.
    pub async fn finish_with_copy(mut self) -> Result<(Vec<ObjectEntry>, Parts, u64), CodecError> {
        self.close_last_file().await?;
        let copies = self.copy.take().map(|(_, parts)| parts).unwrap_or_default();
        Ok((self.parts.uploaded().await?, copies, self.rows))
    }

    /// Writes what is left; returns the parts, the last ones possibly still uploading (the
    /// caller goes on with other work meanwhile), and the rows written.
    pub async fn finish_encoding(mut self) -> Result<(Parts, u64), CodecError> {
        // A copy's parts would be dropped here, its table left without them.
        assert!(self.copy.is_none(), "a writer with a copy finishes with finish_with_copy");
        self.close_last_file().await?;
        Ok((self.parts, self.rows))
    }

    async fn close_last_file(&mut self) -> Result<(), CodecError> {
        self.encode_pending()?;
        if self.file.is_some() || self.parts.len() == 0 {
            self.close_file().await?;
        }
        Ok(())
    }
}

/// A table's parts in order: those uploaded, then those still uploading. Dropped before they are
/// all uploaded (a failed run), the uploads go on: cancelling one would not stop a local write
/// already handed to a thread, and the run's abort waits for them instead.
#[derive(Debug, Default)]
pub struct Parts {
    uploaded: Vec<ObjectEntry>,
    uploading: VecDeque<(String, tokio::task::JoinHandle<Result<ObjectEntry, StoreError>>)>,
}

impl Parts {
    fn len(&self) -> usize {
        self.uploaded.len() + self.uploading.len()
    }

    /// Every part, once its upload is done.
    pub async fn uploaded(mut self) -> Result<Vec<ObjectEntry>, CodecError> {
        while !self.uploading.is_empty() {
            self.settle_oldest().await?;
        }
        Ok(self.uploaded)
    }

    /// Uploads a part on a task of its own, once fewer than [`UPLOADS_IN_FLIGHT`] are running.
    async fn upload(&mut self, run: &RunWriter, key: String, data: Bytes, rows: u64) -> Result<(), CodecError> {
        if self.uploading.len() >= UPLOADS_IN_FLIGHT {
            self.settle_oldest().await?;
        }
        let upload = run.spawn_put_object(key.clone(), data, rows, ObjectRole::Data)?;
        self.uploading.push_back((key, upload));
        Ok(())
    }

    /// Waits for the oldest upload and keeps its entry.
    async fn settle_oldest(&mut self) -> Result<(), CodecError> {
        let Some((key, upload)) = self.uploading.pop_front() else { return Ok(()) };
        let entry = match upload.await {
            Ok(put) => put?,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(e) => return Err(CodecError::Upload { key, detail: e.to_string() }),
        };
        self.uploaded.push(entry);
        Ok(())
    }
}

impl From<Vec<ObjectEntry>> for Parts {
    fn from(uploaded: Vec<ObjectEntry>) -> Self {
        Self { uploaded, uploading: VecDeque::new() }
    }
}

/// One Parquet file encoded on a thread of its own: the caller hands it batches of rows (at most
/// three full batches and two emptied ones exist at once) and takes the file's bytes at the end.
/// The bytes are those of encoding the same batches in place. Emptied batches come back to be
/// filled again: a fresh megabyte-sized `Vec` per batch costs page faults. Dropped unfinished
/// (a failed run), it stops the thread at its next batch instead of encoding a file nobody takes.
struct Encoding<T> {
    batches: Option<SyncSender<Vec<T>>>,
    emptied: Receiver<Vec<T>>,
    encoder: Option<std::thread::JoinHandle<Result<Vec<u8>, CodecError>>>,
    dropped: Arc<AtomicBool>,
}

impl<T: Table> Encoding<T> {
    fn start(layout: Layout) -> Result<Self, CodecError> {
        let (batches, received) = sync_channel::<Vec<T>>(1);
        let (give_back, emptied) = sync_channel::<Vec<T>>(2);
        let dropped = Arc::new(AtomicBool::new(false));
        let stop = dropped.clone();
        let encoder = std::thread::Builder::new()
            .name(format!("parquet-{}", T::NAME))
            .spawn(move || {
                let mut file = ArrowWriter::try_new(Vec::new(), T::schema(), Some(layout.properties::<T>()))?;
                for mut rows in received {
                    if stop.load(Ordering::Relaxed) {
                        return Ok(Vec::new());
                    }
                    file.write(&T::to_batch(&rows)?)?;
                    rows.clear();
                    let _ = give_back.try_send(rows);
                }
                Ok(file.into_inner()?)
            })
            .map_err(CodecError::Thread)?;
        Ok(Self { batches: Some(batches), emptied, encoder: Some(encoder), dropped })
    }

    /// An emptied batch to fill, or a new one.
    fn empty_batch(&self) -> Vec<T> {
        self.emptied.try_recv().unwrap_or_else(|_| Vec::with_capacity(BATCH_ROWS))
    }

    /// Hands over a batch; false when the encoder has stopped (on an error [`Encoding::finish`] returns).
    fn write(&self, rows: Vec<T>) -> bool {
        self.batches.as_ref().is_some_and(|b| b.send(rows).is_ok())
    }

    /// The file's bytes, once every batch is encoded.
    fn finish(mut self) -> Result<Vec<u8>, CodecError> {
        drop(self.batches.take());
        let encoder = self.encoder.take().expect("an encoder until finished");
        encoder.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    }
}

impl<T> Drop for Encoding<T> {
    fn drop(&mut self) {
        // Unfinished: nobody takes the file. A finished one has no encoder left to stop.
        if self.encoder.is_some() {
            self.dropped.store(true, Ordering::Relaxed);
        }
    }
}

/// Encodes rows as one Parquet file in memory (tests, tools).
pub fn to_parquet<T: Table>(rows: &[T], layout: Layout) -> Result<Bytes, CodecError> {
    let mut writer = ArrowWriter::try_new(Vec::new(), T::schema(), Some(layout.properties::<T>()))?;
    for chunk in rows.chunks(BATCH_ROWS) {
        writer.write(&T::to_batch(chunk)?)?;
    }
    Ok(Bytes::from(writer.into_inner()?))
}

/// Decodes a Parquet file of `T` (checking its columns) into batches of rows.
pub fn decode<T: Table>(key: &str, data: Bytes) -> Result<ParquetRecordBatchReader, CodecError> {
    let content = |detail: String| CodecError::Content { key: key.to_owned(), detail };
    let builder = ParquetRecordBatchReaderBuilder::try_new(data)?.with_batch_size(BATCH_ROWS);
    let found = builder.schema();
    let want = T::schema();
    for field in want.fields() {
        match found.field_with_name(field.name()) {
            Ok(f) if f.data_type() == field.data_type() => {}
            Ok(f) => return Err(content(format!("column `{}` is {}, expected {}", field.name(), f.data_type(), field.data_type()))),
            // Files written before the column existed: read as its default.
            Err(_) if T::columns().iter().any(|c| c.name == field.name() && c.added_later) => {}
            Err(_) => return Err(content(format!("no column `{}` (not a {} file of this version)", field.name(), T::NAME))),
        }
    }
    // Only the columns `T` has are decoded: a narrower view of a table reads less of its files.
    let read: Vec<usize> = found.fields().iter().enumerate().filter(|(_, f)| want.field_with_name(f.name()).is_ok()).map(|(i, _)| i).collect();
    let projection = ProjectionMask::roots(builder.parquet_schema(), read);
    Ok(builder.with_projection(projection).build()?)
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
    pub async fn next_batch<T: Table>(&mut self, interner: &mut Interner) -> Result<Option<Vec<T>>, CodecError> {
        loop {
            if let Some((key, reader)) = &mut self.current {
                match reader.next() {
                    Some(batch) => {
                        let batch = batch?;
                        return T::from_batch(&batch, interner)
                            .map(Some)
                            .map_err(|detail| CodecError::Content { key: key.clone(), detail });
                    }
                    None => self.current = None,
                }
            }
            let Some(object) = self.objects.pop_front() else { return Ok(None) };
            let data = self.store.get(&object.key).await?.data;
            if data.len() as u64 != object.bytes {
                return Err(CodecError::Content {
                    key: object.key,
                    detail: format!("{} bytes, but the manifest says {}", data.len(), object.bytes),
                });
            }
            let reader = decode::<T>(&object.key, data)?;
            self.current = Some((object.key, reader));
        }
    }

    /// Every remaining row (tests and small tables).
    pub async fn read_all<T: Table>(mut self) -> Result<Vec<T>, CodecError> {
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
    use crate::codec::arrow::{Columns, flags};
    use crate::codec::{Column, Kind};
    use crate::partition::Zone;
    use crate::storage::MemoryStore;
    use arrow_array::{ArrayRef, Int64Array, RecordBatch};
    use chrono::Utc;

    /// A small table of the codec's own, so its tests need no real one.
    #[derive(Debug, Clone, PartialEq)]
    struct Pair {
        user_id: i64,
        track_id: i64,
        is_new: bool,
    }

    const USER_ID: Column = Column::required("user_id", Kind::Int64);
    const TRACK_ID: Column = Column::required("track_id", Kind::Int64);
    const IS_NEW: Column = Column::required("is_new", Kind::Boolean);

    impl Table for Pair {
        const NAME: &'static str = "pairs";

        fn columns() -> Vec<Column> {
            vec![USER_ID, TRACK_ID, IS_NEW]
        }

        fn to_batch(rows: &[Self]) -> Result<RecordBatch, ArrowError> {
            let columns: Vec<ArrayRef> = vec![
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.user_id))),
                Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.track_id))),
                flags(rows.iter().map(|r| r.is_new)),
            ];
            RecordBatch::try_new(Self::schema(), columns)
        }

        fn from_batch(batch: &RecordBatch, _: &mut Interner) -> Result<Vec<Self>, String> {
            let c = Columns(batch);
            let (user_id, track_id, is_new) = (c.i64(USER_ID)?, c.i64(TRACK_ID)?, c.bool(IS_NEW)?);
            Ok((0..batch.num_rows()).map(|i| Pair { user_id: user_id.value(i), track_id: track_id.value(i), is_new: is_new.value(i) }).collect())
        }
    }

    #[tokio::test]
    async fn parts_are_cut_at_file_rows_and_read_back_in_order() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
        let date = chrono::NaiveDate::from_ymd_opt(2026, 11, 2).unwrap();
        let run = RunWriter::new(store.clone(), "transform", Zone::Curated, date, "r1".into(), Utc::now());
        let partition = Partition::new(Zone::Curated, "listen_events", date);
        let layout = Layout { row_group_rows: 1024, file_rows: 2500 };
        let mut writer = PartsWriter::<Pair>::new(&run, partition.clone(), layout);
        let events: Vec<Pair> = (0..6000).map(|i| Pair { user_id: i / 10, track_id: i, is_new: i % 2 == 0 }).collect();
        writer.extend(events.clone()).await.unwrap();
        let (objects, rows) = writer.finish().await.unwrap();
        assert_eq!(rows, 6000);
        assert_eq!(objects.iter().map(|o| o.rows).collect::<Vec<_>>(), [2500, 2500, 1000]);
        assert_eq!(objects[1].key, "curated/listen_events/dt=2026-11-02/run=r1/part-00001.parquet");
        let back: Vec<Pair> = TableReader::new(store.clone(), objects).read_all().await.unwrap();
        assert_eq!(back, events);

        // An empty table is one empty part, so readers still see the schema.
        let mut empty = PartsWriter::<Pair>::new(&run, Partition::new(Zone::Curated, "x", date), layout);
        empty.extend([]).await.unwrap();
        let (objects, rows) = empty.finish().await.unwrap();
        assert_eq!((objects.len(), objects[0].rows, rows), (1, 0, 0));
        assert!(TableReader::new(store, objects).read_all::<Pair>().await.unwrap().is_empty());
    }

    /// A copy gets every part, the same bytes under its own partition: what a writer of its own
    /// given the same rows writes, empty table included.
    #[tokio::test]
    async fn a_copy_holds_the_parts_a_writer_of_its_own_would_write() {
        let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
        let date = chrono::NaiveDate::from_ymd_opt(2026, 11, 2).unwrap();
        let layout = Layout { row_group_rows: 1024, file_rows: 2500 };
        let (events, delta) = (Partition::new(Zone::Curated, "listen_events", date), Partition::new(Zone::Curated, "listen_events_delta", date));
        for rows in [6000, 0] {
            let pairs: Vec<Pair> = (0..rows).map(|i| Pair { user_id: i / 10, track_id: i, is_new: true }).collect();
            let copied = RunWriter::new(store.clone(), "transform", Zone::Curated, date, "r1".into(), Utc::now());
            let mut writer = PartsWriter::<Pair>::new(&copied, events.clone(), layout).in_folder("bucket-00001-of-00004/".into()).with_copy_in(delta.clone());
            writer.extend(pairs.clone()).await.unwrap();
            let (parts, copies, written) = writer.finish_with_copy().await.unwrap();
            let copies = copies.uploaded().await.unwrap();
            assert_eq!(written, rows as u64);

            let alone = RunWriter::new(store.clone(), "transform", Zone::Curated, date, "r2".into(), Utc::now());
            let mut writer = PartsWriter::<Pair>::new(&alone, delta.clone(), layout).in_folder("bucket-00001-of-00004/".into());
            writer.extend(pairs.clone()).await.unwrap();
            let (own, _) = writer.finish().await.unwrap();

            assert_eq!(copies.len(), own.len(), "{rows} rows");
            assert_eq!(parts.len(), own.len());
            for ((part, copy), own) in parts.iter().zip(&copies).zip(&own) {
                assert_eq!(copy.key, own.key.replace("run=r2", "run=r1"));
                assert!(copy.key.starts_with("curated/listen_events_delta/dt=2026-11-02/run=r1/bucket-00001-of-00004/part-"), "{}", copy.key);
                assert_eq!(store.get(&copy.key).await.unwrap().data, store.get(&own.key).await.unwrap().data);
                assert_eq!((copy.sha256.clone(), copy.rows, copy.bytes), (own.sha256.clone(), own.rows, own.bytes));
                assert_eq!((part.sha256.clone(), part.rows), (copy.sha256.clone(), copy.rows));
            }
            assert_eq!(TableReader::new(store.clone(), copies).read_all::<Pair>().await.unwrap(), pairs);
        }
    }

    /// A part whose upload fails fails the table, whichever part it is: none is left out of the
    /// parts listed.
    #[tokio::test]
    async fn a_failed_upload_fails_the_writer() {
        let date = chrono::NaiveDate::from_ymd_opt(2026, 11, 2).unwrap();
        let layout = Layout { row_group_rows: 1024, file_rows: 1000 };
        let events: Vec<Pair> = (0..6000).map(|i| Pair { user_id: i / 10, track_id: i, is_new: false }).collect();
        for part in 1..=6 {
            let store = Arc::new(crate::storage::ScriptedStore::new(Arc::new(MemoryStore::default())));
            store.crash_before(part);
            let run = RunWriter::new(store.clone(), "transform", Zone::Curated, date, "r1".into(), Utc::now());
            let mut writer = PartsWriter::<Pair>::new(&run, Partition::new(Zone::Curated, "listen_events", date), layout);
            let outcome = async {
                writer.extend(events.clone()).await?;
                writer.finish().await
            };
            let err = outcome.await.expect_err("a part was not uploaded");
            assert!(err.to_string().contains("listen_events"), "part {part}: {err}");
        }
        // With a copy, twelve puts: a failure at any of them fails the table or its copy.
        for put in 1..=12 {
            let store = Arc::new(crate::storage::ScriptedStore::new(Arc::new(MemoryStore::default())));
            store.crash_before(put);
            let run = RunWriter::new(store.clone(), "transform", Zone::Curated, date, "r1".into(), Utc::now());
            let mut writer = PartsWriter::<Pair>::new(&run, Partition::new(Zone::Curated, "listen_events", date), layout)
                .with_copy_in(Partition::new(Zone::Curated, "listen_events_delta", date));
            let outcome = async {
                writer.extend(events.clone()).await?;
                let (_, copies, _) = writer.finish_with_copy().await?;
                copies.uploaded().await
            };
            let err = outcome.await.expect_err("a part or a copy was not uploaded");
            assert!(err.to_string().contains("listen_events"), "put {put}: {err}");
        }
    }

    #[test]
    fn a_file_of_another_table_is_refused_by_name() {
        let data = to_parquet(&[Pair { user_id: 1, track_id: 2, is_new: true }], Layout { row_group_rows: 1024, file_rows: 1024 }).unwrap();
        assert_eq!(decode::<Pair>("k", data.clone()).unwrap().count(), 1);
        let projected = {
            let mut out = Vec::new();
            let batch = Pair::to_batch(&[Pair { user_id: 1, track_id: 2, is_new: true }]).unwrap().project(&[0, 2]).unwrap();
            let mut w = ArrowWriter::try_new(&mut out, batch.schema(), None).unwrap();
            w.write(&batch).unwrap();
            w.close().unwrap();
            Bytes::from(out)
        };
        let err = decode::<Pair>("other.parquet", projected).unwrap_err();
        assert!(err.to_string().contains("no column `track_id` (not a pairs file"), "{err}");
    }
}
