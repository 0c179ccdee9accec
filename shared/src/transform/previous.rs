//! The date a run starts from: the latest earlier date fetch committed, whose curated tables are this date's starting history.

use super::build::RunInputs;
use super::summary::TableCounts;
use super::{TransformError, Transformer};
use crate::codec::TableReader;
use crate::commit::{ReadError, read_committed};
use crate::curated::TableName;
use crate::manifest::{Manifest, ObjectRole};
use crate::partition::{MANIFEST_FILE, Partition, RUN_DATASET, Zone};
use crate::storage::{Store, StoreError};
use chrono::NaiveDate;
use std::collections::BTreeMap;
use std::sync::Arc;

/// The curated tables of the date a run starts from.
pub(super) struct PreviousDate {
    pub(super) date: NaiveDate,
    pub(super) tables: BTreeMap<TableName, Manifest>,
}

impl RunInputs<'_> {
    /// A reader of the previous date's table (nothing on the first date).
    pub(super) fn previous_reader(&self, store: &Arc<dyn Store>, table: TableName) -> Result<TableReader, TransformError> {
        match &self.previous {
            None => Ok(TableReader::empty(store.clone())),
            Some(p) => {
                let m = p.tables.get(&table).ok_or(TransformError::PreviousIncomplete { previous: p.date, table })?;
                Ok(TableReader::new(store.clone(), m.objects.iter().filter(|o| o.role == ObjectRole::Data).cloned()))
            }
        }
    }

    /// The counts of the previous date's table manifest.
    pub(super) fn previous_counts(&self, table: TableName) -> Option<TableCounts> {
        self.previous.as_ref().and_then(|p| p.tables.get(&table)).map(TableCounts::from_manifest)
    }
}

impl Transformer {
    /// The latest date before `date` that fetch committed, if any.
    async fn previous_raw_date(&self, date: NaiveDate) -> Result<Option<NaiveDate>, StoreError> {
        let runs = self.store.list(&Partition::dataset_prefix(Zone::Raw, RUN_DATASET)).await?;
        Ok(runs
            .iter()
            .filter_map(|o| Partition::parse_key(&o.key).ok())
            .filter(|(p, file)| file == MANIFEST_FILE && p.date < date)
            .map(|(p, _)| p.date)
            .max())
    }

    /// The curated tables D starts from, or a refusal naming the date to transform first.
    pub(super) async fn previous(&self, date: NaiveDate) -> Result<Option<PreviousDate>, TransformError> {
        let Some(previous) = self.previous_raw_date(date).await? else { return Ok(None) };
        let committed = match read_committed(self.store.as_ref(), Zone::Curated, previous).await {
            Ok(c) => c,
            Err(ReadError::NotCommitted { .. }) => return Err(TransformError::OutOfOrder { date, previous }),
            Err(source) => return Err(TransformError::PreviousUnreadable { previous, source }),
        };
        let tables = committed
            .partitions
            .into_iter()
            .filter_map(|m| {
                let table = TableName::CURATED.into_iter().find(|t| m.partition == Partition::new(Zone::Curated, t.as_str(), previous).prefix())?;
                Some((table, m))
            })
            .collect();
        Ok(Some(PreviousDate { date: previous, tables }))
    }
}
