//! One Parquet file encoded column by column side by side on the rayon pool.
//!
//! A column's chunk of a row group depends only on that column's values, so the columns of each
//! batch are encoded at once, one rayon task each, and the chunks are appended in schema order
//! when the row group ends. The bytes are those [`ArrowWriter`] writes for the same batches and
//! properties (tested): it is built the same way, its columns one after the other.

use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_writer::{ArrowColumnChunk, ArrowColumnWriter, ArrowLeafColumn, ArrowRowGroupWriterFactory, compute_leaves};
use parquet::errors::ParquetError;
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use arrow_array::RecordBatch;
use arrow_schema::SchemaRef;
use rayon::prelude::*;

/// A Parquet file in memory, its row groups cut at the properties' row count.
pub struct ColumnsEncoder {
    file: SerializedFileWriter<Vec<u8>>,
    row_groups: ArrowRowGroupWriterFactory,
    schema: SchemaRef,
    row_group_rows: usize,
    /// The row group being encoded: a writer per column, and its rows so far.
    group: Option<(Vec<ArrowColumnWriter>, usize)>,
}

impl ColumnsEncoder {
    /// `properties` must cut row groups by rows only (no byte limit), as [`super::Layout`]'s do.
    pub fn new(schema: SchemaRef, properties: WriterProperties) -> Result<Self, ParquetError> {
        if properties.max_row_group_bytes().is_some() {
            return Err(ParquetError::General("row groups are cut by rows here, not by bytes".into()));
        }
        let row_group_rows = properties.max_row_group_row_count().unwrap_or(usize::MAX);
        // The Arrow writer's own set-up, so the schema and key-value metadata are its own.
        let (file, row_groups) = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(properties))?.into_serialized_writer()?;
        Ok(Self { file, row_groups, schema, row_group_rows, group: None })
    }

    /// Encodes a batch, ending row groups where they are full.
    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), ParquetError> {
        let mut rest = batch.clone();
        while rest.num_rows() > 0 {
            let (writers, rows) = match &mut self.group {
                Some(group) => group,
                None => self.group.insert((self.row_groups.create_column_writers(self.file.flushed_row_groups().len())?, 0)),
            };
            let take = (self.row_group_rows - *rows).min(rest.num_rows());
            let slice = rest.slice(0, take);
            let mut leaves: Vec<ArrowLeafColumn> = Vec::with_capacity(writers.len());
            for (field, column) in self.schema.fields().iter().zip(slice.columns()) {
                leaves.extend(compute_leaves(field, column)?);
            }
            writers.par_iter_mut().zip(leaves.par_iter()).try_for_each(|(writer, leaf)| writer.write(leaf))?;
            *rows += take;
            rest = rest.slice(take, rest.num_rows() - take);
            if *rows >= self.row_group_rows {
                self.end_row_group()?;
            }
        }
        Ok(())
    }

    /// Closes every column of the row group (side by side too) and appends them in order.
    fn end_row_group(&mut self) -> Result<(), ParquetError> {
        let Some((writers, _)) = self.group.take() else { return Ok(()) };
        let chunks: Vec<ArrowColumnChunk> = writers.into_par_iter().map(ArrowColumnWriter::close).collect::<Result<_, _>>()?;
        let mut group = self.file.next_row_group()?;
        for chunk in chunks {
            chunk.append_to_row_group(&mut group)?;
        }
        group.close()?;
        Ok(())
    }

    /// The file's bytes.
    pub fn finish(mut self) -> Result<Vec<u8>, ParquetError> {
        self.end_row_group()?;
        self.file.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::{ArrayRef, Int64Array, StringArray};
    use arrow_schema::{DataType, Field, Schema};
    use parquet::basic::Compression;
    use std::sync::Arc;

    fn batch(schema: &SchemaRef, from: i64, rows: i64) -> RecordBatch {
        let ids: ArrayRef = Arc::new(Int64Array::from_iter_values((from..from + rows).map(|i| i * 7919 % 1000)));
        let names: ArrayRef = Arc::new(StringArray::from_iter((from..from + rows).map(|i| (i % 5 != 0).then(|| format!("name {}", i % 37)))));
        RecordBatch::try_new(schema.clone(), vec![ids, names]).unwrap()
    }

    /// Batches that straddle row groups, row groups of any size, an empty file: the same bytes
    /// as the Arrow writer's, on a pool of any size.
    #[test]
    fn the_bytes_are_the_arrow_writers() {
        let schema: SchemaRef = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false), Field::new("name", DataType::Utf8, true)]));
        for threads in [1, 3] {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
            for (row_group_rows, batch_rows, batches) in [(1000, 700, 5), (1000, 1000, 3), (1 << 20, 4096, 2), (10, 3, 7), (1000, 700, 0)] {
                let properties = || WriterProperties::builder().set_compression(Compression::SNAPPY).set_max_row_group_row_count(Some(row_group_rows)).build();
                let batches: Vec<RecordBatch> = (0..batches).map(|k| batch(&schema, k * batch_rows, batch_rows)).collect();
                let mut arrow = ArrowWriter::try_new(Vec::new(), schema.clone(), Some(properties())).unwrap();
                batches.iter().for_each(|b| arrow.write(b).unwrap());
                let expected = arrow.into_inner().unwrap();
                let ours = pool.install(|| {
                    let mut encoder = ColumnsEncoder::new(schema.clone(), properties()).unwrap();
                    batches.iter().for_each(|b| encoder.write(b).unwrap());
                    encoder.finish().unwrap()
                });
                assert!(ours == expected, "row groups of {row_group_rows}, batches of {batch_rows}, {threads} threads: {} bytes, not {}", ours.len(), expected.len());
            }
        }
    }

    #[test]
    fn a_byte_limit_on_row_groups_is_refused() {
        let schema: SchemaRef = Arc::new(Schema::new(vec![Field::new("id", DataType::Int64, false)]));
        let properties = WriterProperties::builder().set_max_row_group_bytes(Some(1 << 20)).build();
        assert!(ColumnsEncoder::new(schema, properties).is_err());
    }
}
