//! One run's build: its inputs fixed, every table written, the quality checks across tables, and the partitions handed to the commit.

use super::classify::as_is;
use super::previous::PreviousDate;
use super::quality::{CurrentRowsDropped, DqReport, QuarantineBuffer, TableQuality, current_drop};
use super::raw_date::RawDate;
use super::scd2::{MergeAt, MergeStats};
use super::summary::{HistoryCounts, TableCounts};
use super::{TransformError, Transformer, as_of, rows};
use crate::codec::{Interner, Layout, Parts};
use crate::commit::{PartitionCommit, RunWriter};
use crate::curated::TableName;
use crate::manifest::ObjectRole;
use crate::metrics::Metric;
use crate::partition::{Partition, Zone, quarantine_dataset};
use crate::records::{Entity, Track, User};
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// A run's inputs, fixed before any row is read.
pub(super) struct RunInputs<'a> {
    pub(super) date: NaiveDate,
    pub(super) writer: &'a RunWriter,
    pub(super) raw: RawDate,
    pub(super) previous: Option<PreviousDate>,
    pub(super) at: MergeAt,
    pub(super) layout: Layout,
    /// The bucket of users whose listen tables this run writes ([`super::fanout`]); whole otherwise.
    pub(super) bucket: crate::buckets::Bucket,
}

/// One table's finished output, before the commit.
pub(super) struct TableOutput {
    pub(super) table: TableName,
    /// The history tables' last parts may still be uploading while the listen tables are built.
    pub(super) objects: Parts,
    pub(super) rows: u64,
    pub(super) quality: TableQuality,
    pub(super) quarantine: QuarantineBuffer,
    pub(super) stats: Option<MergeStats>,
    pub(super) source: String,
}

/// Everything a successful build hands to the commit.
pub(super) struct BuiltTables {
    pub(super) outputs: Vec<TableOutput>,
    pub(super) report: DqReport,
    /// When fetch started reading the source for this date (recommend's freshness starts there).
    pub(super) fetch_started_at: DateTime<Utc>,
}

impl RunInputs<'_> {
    pub(super) fn curated(&self, table: TableName) -> Partition {
        Partition::new(Zone::Curated, table.as_str(), self.date)
    }

    pub(super) fn source(&self, entity: Entity, table: TableName) -> String {
        let raw = Partition::new(Zone::Raw, entity.as_str(), self.date).prefix();
        match &self.previous {
            Some(p) => format!("{raw} + {}", Partition::new(Zone::Curated, table.as_str(), p.date).prefix()),
            None => raw,
        }
    }
}


impl Transformer {
    pub(super) async fn build(&self, date: NaiveDate, writer: &RunWriter) -> Result<BuiltTables, TransformError> {
        let raw = RawDate::open(self.store.as_ref(), date).await?;
        let previous = self.previous(date).await?;
        let fetch_started_at = crate::erase::fetch_started_at(&raw.run);
        let at = MergeAt { as_of: as_of(date), ingested_at: fetch_started_at };
        let layout = Layout { row_group_rows: self.config.row_group_rows, file_rows: self.config.file_rows };
        tracing::info!(store = %self.store.location(), previous = ?previous.as_ref().map(|p| p.date), raw_run = %raw.run.run_id, "transform started");
        let cx = RunInputs { date, writer, raw, previous, at, layout, bucket: crate::buckets::Bucket::WHOLE };

        let [(tracks, track_ids), (users, user_ids)] = self.history_tables(&cx).await?;
        let (events, delta) = self.listen_events(&cx, &track_ids, &user_ids).await?;
        self.assess(&cx, vec![tracks, users, events, delta], fetch_started_at)
    }

    /// Tracks and users, each with today's known keys: those served, and those carried forward.
    pub(super) async fn history_tables(&self, cx: &RunInputs<'_>) -> Result<[(TableOutput, Vec<i64>); 2], TransformError> {
        let mut interner = Interner::default();
        let tracks = self.history_table::<Track, _>(cx, TableName::Tracks, &as_is, rows::track_row, &mut interner).await?;
        let redact = |row: &Value| self.pii.redact_user_row(row);
        let to_row = |user, interner: &mut Interner| rows::user_row(user, &self.pii, interner);
        let users = self.history_table::<User, _>(cx, TableName::Users, &redact, to_row, &mut interner).await?;
        Ok([tracks, users])
    }

    /// Compares the tables with the previous date's (row counts, the fall of current rows) and
    /// writes the data-quality report; refuses a fall beyond `DQ_MAX_CURRENT_DROP`.
    pub(super) fn assess(&self, cx: &RunInputs<'_>, mut outputs: Vec<TableOutput>, fetch_started_at: DateTime<Utc>) -> Result<BuiltTables, TransformError> {
        let max = self.config.max_row_count_change;
        let (mut largest_drop, mut dropped) = (0.0, None);
        for o in &mut outputs {
            let previous = cx.previous_counts(o.table);
            let (today, previous) = match &o.stats {
                Some(s) => (s.current, previous.map(|c| c.current().unwrap_or(0))),
                None => (o.rows, previous.map(|c| c.rows)),
            };
            if o.table != TableName::ListenEventsDelta {
                o.quality.compare_rows(today, previous, max);
                let drop = current_drop(today, previous);
                largest_drop = f64::max(largest_drop, drop);
                if drop > self.config.max_current_drop && dropped.is_none() {
                    let (table, previous, max) =
                        (o.table, previous.unwrap_or(0), self.config.max_current_drop);
                    dropped = Some(CurrentRowsDropped {
                        table,
                        today,
                        previous,
                        drop,
                        max,
                    });
                }
            }
        }
        // Recorded before the check, so that the alarm sees the fall that fails a run too.
        self.metrics.record(Metric::CurrentRowsDrop, largest_drop);
        if let Some(d) = dropped {
            return Err(d.into());
        }
        let tables: BTreeMap<TableName, TableQuality> = outputs
            .iter()
            .filter(|o| o.table != TableName::ListenEventsDelta)
            .map(|o| (o.table, o.quality.clone()))
            .collect();
        let report = DqReport {
            date: cx.date,
            previous_date: cx.previous.as_ref().map(|p| p.date),
            as_of: cx.at.as_of,
            max_quarantine_share: self.config.max_quarantine_share,
            max_row_count_change: max,
            max_current_drop: self.config.max_current_drop,
            current_drop: largest_drop,
            upstream_rejected: cx.raw.rejected(),
            quarantine_share: tables.values().map(|t| t.quarantine_share).fold(0.0, f64::max),
            warnings: tables.values().map(TableQuality::warnings).sum(),
            history: outputs.iter().filter_map(|o| o.stats.clone().map(|s| (o.table, s))).collect(),
            tables,
        };
        Ok(BuiltTables { outputs, report, fetch_started_at })
    }

    /// Writes the quarantined rows and describes every partition for the commit.
    pub(super) async fn partitions(&self, date: NaiveDate, writer: &RunWriter, built: &mut BuiltTables) -> Result<Vec<PartitionCommit>, TransformError> {
        let mut out = Vec::new();
        for o in &mut built.outputs {
            let mut objects = std::mem::take(&mut o.objects).uploaded().await.map_err(|source| TransformError::Write { table: o.table, source })?;
            let quarantine = Partition::new(Zone::Quarantine, quarantine_dataset(o.table.as_str()), date);
            let lines = o.quarantine.rows();
            if let Some(gz) = std::mem::take(&mut o.quarantine).finish() {
                let key = quarantine.part_key(0, writer.run_id(), "jsonl.gz");
                objects.push(writer.put_object(key, Bytes::from(gz), lines, ObjectRole::Quarantine).await?);
            }
            let q = &o.quality;
            let counts = TableCounts {
                rows: o.rows,
                rows_in: q.rows_in,
                quarantined: q.quarantined,
                warned: q.warned_rows,
                carried_forward: q.carried_forward,
                history: o.stats.as_ref().map(|s| HistoryCounts { current: s.current, new_versions: s.new_versions(), closed_versions: s.closed_versions() }),
            }
            .to_map();
            let details = json!({"quality": q, "scd2": o.stats});
            let also_owns = if o.table == TableName::ListenEventsDelta { vec![] } else { vec![quarantine] };
            out.push(PartitionCommit { partition: Partition::new(Zone::Curated, o.table.as_str(), date), counts, objects, source: o.source.clone(), details, also_owns });
        }
        Ok(out)
    }
}

