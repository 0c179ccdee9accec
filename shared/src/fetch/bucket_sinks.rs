//! Where an endpoint's lines go: one gzipped JSON-lines writer per bucket of users.

use crate::buckets::Bucket;
use crate::codec::jsonl::LinePartsWriter;
use crate::commit::RunWriter;
use crate::manifest::{ObjectEntry, ObjectRole};
use crate::partition::Partition;
use crate::storage::StoreError;

/// One [`LinePartsWriter`] per bucket of users ([`crate::buckets`]); one bucket writes the layout
/// without buckets. Rows go to their key's bucket; the objects come out bucket by bucket.
pub(super) struct BucketSinks<'a> {
    sinks: Vec<LinePartsWriter<'a>>,
}

impl<'a> BucketSinks<'a> {
    pub(super) fn new(writer: &'a RunWriter, partition: &Partition, role: ObjectRole, max_rows: usize, buckets: u32) -> Self {
        let sinks = Bucket::all(buckets).map(|b| LinePartsWriter::new(writer, partition.clone(), role, max_rows).in_folder(b.folder())).collect();
        Self { sinks }
    }

    pub(super) fn push(&mut self, key: i64, line: &[u8]) {
        let bucket = Bucket::of_user(key, self.sinks.len() as u32);
        self.sinks[bucket.index as usize].push_json(line);
    }

    pub(super) async fn flush_if_full(&mut self) -> Result<(), StoreError> {
        for sink in &mut self.sinks {
            sink.flush_if_full().await?;
        }
        Ok(())
    }

    pub(super) async fn finish(self) -> Result<Vec<ObjectEntry>, StoreError> {
        let mut objects = Vec::new();
        for sink in self.sinks {
            objects.extend(sink.finish().await?);
        }
        Ok(objects)
    }
}
