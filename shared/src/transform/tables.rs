//! The tables of a run: raw rows read and classified, history tables merged, listen events joined with yesterday's, each streamed into its parts.

use super::build::{RunInputs, TableOutput};
use super::classify::{Rejected, as_is, classify, listen_units, one_unit, parse, value_of};
use super::listen_events::ListenRows;
use super::quality::{QuarantineBuffer, TableQuality};
use super::references::{At, Known};
use super::scd2::Merger;
use super::{TransformError, Transformer, raw_lines};
use crate::codec::{Interner, PartsWriter, Table};
use crate::curated::{ListenEvent, TableName, Version, Versioned};
use crate::records::{Check, Entity, Issue, ListenHistory, Record};
use serde_json::Value;

impl Transformer {
    /// Reads the rows fetch rejected for an entity (its quarantine): counts their units into
    /// `quality.upstream_rejected` and notes their keys, to carry their previous state.
    async fn upstream_rejected(
        &self,
        cx: &RunInputs<'_>,
        entity: Entity,
        units: fn(&Value) -> u64,
        quality: &mut TableQuality,
    ) -> Result<Rejected, TransformError> {
        let mut rejected = Rejected::default();
        for object in cx.raw.quarantine_objects(entity) {
            raw_lines::for_each_line(self.store.as_ref(), &object, |_, text| {
                // A line fetch wrote: {"source", "line", "reasons", "row"}; anything else has no readable key.
                let line: Value = serde_json::from_slice(text).unwrap_or(Value::Null);
                let row = line.get("row").unwrap_or(&Value::Null);
                quality.upstream_rejected += units(row);
                rejected.row(row, entity.key_field(), quality);
            })
            .await?;
        }
        Ok(rejected)
    }

    /// Reads an entity's raw rows, parsed on every core and then [`classify`]'d in order, handing
    /// each kept one, with its line, to `keep`.
    #[allow(clippy::too_many_arguments)]
    async fn read_rows<R: Record + Send>(
        &self,
        cx: &RunInputs<'_>,
        rejected: &mut Rejected,
        quality: &mut TableQuality,
        quarantine: &mut QuarantineBuffer,
        units: fn(&Value) -> u64,
        redact: &(dyn Fn(&Value) -> Value + Sync),
        mut keep: impl FnMut(&str, u64, R, Vec<Issue>, &[u8], &mut TableQuality, &mut QuarantineBuffer) + Send,
    ) -> Result<(), TransformError> {
        let mut seen = foldhash::HashSet::default();
        for object in cx.raw.data_objects(R::ENTITY) {
            let source = object.key.as_str();
            raw_lines::for_each_parsed(self.store.as_ref(), &object, |text| parse::<R>(text, units), |line, text, parsed| {
                if let Some((record, warnings)) = classify::<R>(&mut seen, rejected, quality, quarantine, source, line, text, parsed, redact) {
                    keep(source, line, record, warnings, text, quality, quarantine);
                }
            })
            .await?;
        }
        Ok(())
    }

    /// A history table (tracks, users): today's rows of `R`, as curated rows by `to_row`, merged
    /// onto the previous history; returns it with today's current keys, sorted.
    pub(super) async fn history_table<R: Record + Send, Row: Versioned + Send>(
        &self,
        cx: &RunInputs<'_>,
        table: TableName,
        redact: &(dyn Fn(&Value) -> Value + Sync),
        mut to_row: impl FnMut(R, &mut Interner) -> Row + Send,
        interner: &mut Interner,
    ) -> Result<(TableOutput, Vec<i64>), TransformError>
    where
        Version<Row>: Table,
    {
        let (mut quality, mut quarantine, mut rows) = (TableQuality::default(), QuarantineBuffer::default(), Vec::new());
        let mut rejected = self.upstream_rejected(cx, R::ENTITY, one_unit, &mut quality).await?;
        self.read_rows::<R>(cx, &mut rejected, &mut quality, &mut quarantine, one_unit, redact, |_, _, record, warnings, _, quality, _| {
            quality.warn_row(&warnings);
            rows.push(to_row(record, interner));
        })
        .await?;
        quality.check_share(table, self.config.max_quarantine_share)?;
        rows.sort_unstable_by_key(Row::key);
        self.history(cx, table, R::ENTITY, rows, rejected, quality, quarantine, interner).await
    }

    /// Merges a sorted snapshot onto the previous history, streaming both into today's table;
    /// returns it with today's current keys (served, or carried forward), sorted.
    #[allow(clippy::too_many_arguments)]
    async fn history<R>(
        &self,
        cx: &RunInputs<'_>,
        table: TableName,
        entity: Entity,
        snapshot: Vec<R>,
        rejected: Rejected,
        mut quality: TableQuality,
        quarantine: QuarantineBuffer,
        interner: &mut Interner,
    ) -> Result<(TableOutput, Vec<i64>), TransformError>
    where
        R: Versioned,
        Version<R>: Table,
    {
        let mut current: Vec<i64> = snapshot.iter().map(R::key).collect();
        let mut merger = Merger::new(snapshot, rejected.keys, cx.at)
            .map_err(|source| TransformError::Merge { table, source })?;
        let mut previous = cx.previous_reader(&self.store, table)?;
        let mut writer = PartsWriter::<Version<R>>::new(cx.writer, cx.curated(table), cx.layout);
        let mut out = Vec::new();
        let write_err = |source| TransformError::Write { table, source };
        while let Some(batch) = previous.next_batch::<Version<R>>(interner).await.map_err(|source| TransformError::Previous { table, source })? {
            for version in batch {
                merger.push(version, &mut out).map_err(|source| TransformError::Merge { table, source })?;
            }
            current.extend(
                out.iter()
                    .filter(|v| v.carried_forward)
                    .map(|v| v.row.key()),
            );
            writer.extend(out.drain(..)).await.map_err(write_err)?;
        }
        let stats = merger.finish(&mut out);
        current.extend(
            out.iter()
                .filter(|v| v.carried_forward)
                .map(|v| v.row.key()),
        );
        writer.extend(out.drain(..)).await.map_err(write_err)?;
        let (objects, rows) = writer.finish_encoding().await.map_err(write_err)?;
        current.sort_unstable();
        quality.carried_forward = stats.carried;
        Ok((
            TableOutput {
                table,
                objects,
                rows,
                quality,
                quarantine,
                stats: Some(stats),
                source: cx.source(entity, table),
            },
            current,
        ))
    }

    /// Listen history into `listen_events` and `listen_events_delta`.
    pub(super) async fn listen_events(
        &self,
        cx: &RunInputs<'_>,
        track_ids: &[i64],
        user_ids: &[i64],
    ) -> Result<(TableOutput, TableOutput), TransformError> {
        let (mut quality, mut quarantine, mut rows) = (
            TableQuality::default(),
            QuarantineBuffer::default(),
            ListenRows::default(),
        );
        let mut rejected = self
            .upstream_rejected(cx, Entity::ListenHistory, listen_units, &mut quality)
            .await?;
        let known = Known::new(track_ids, user_ids);
        let keep = |source: &str, line: u64, h: ListenHistory, mut warnings: Vec<Issue>, text: &[u8], quality: &mut TableQuality, quarantine: &mut QuarantineBuffer| {
            let Some(items) = known.items(&h, || value_of(text), At { source, line }, quality, quarantine) else { return };
            if h.items.is_empty() && !warnings.iter().any(|w| w.field == "items") {
                warnings.push(Issue { field: "items".into(), check: Check::EmptyField, detail: "no items".into() });
            }
            quality.warn_row(&warnings);
            rows.push(h.user_id, h.created_at, h.updated_at, items);
        };
        self.read_rows::<ListenHistory>(
            cx,
            &mut rejected,
            &mut quality,
            &mut quarantine,
            listen_units,
            &as_is,
            keep,
        )
        .await?;
        quality.check_share(TableName::ListenEvents, self.config.max_quarantine_share)?;
        rows.sort_by_user();
        // Users whose row was rejected today keep yesterday's events, if they are still users.
        let today: Vec<i64> = (0..rows.len()).map(|i| rows.user_id(i)).collect();
        let mut carried = rejected.keys;
        carried.sort_unstable();
        carried.dedup();
        carried.retain(|u| today.binary_search(u).is_err() && known.has_user(*u));
        let mut carried = carried.into_iter().peekable();

        let mut pairs = super::bucketed::PreviousListens::of(cx, &self.store)?;
        let mut events = PartsWriter::<ListenEvent>::new(cx.writer, cx.curated(TableName::ListenEvents), cx.layout).in_folder(cx.bucket.folder());
        // With no previous events (a first date), every event is new and none is carried: the
        // delta holds exactly the events, so it gets their parts, encoded once.
        let mut delta = match pairs.is_empty() {
            true => {
                events = events.with_copy_in(cx.curated(TableName::ListenEventsDelta));
                None
            }
            false => Some(PartsWriter::<ListenEvent>::new(cx.writer, cx.curated(TableName::ListenEventsDelta), cx.layout).in_folder(cx.bucket.folder())),
        };
        let (mut previous_tracks, mut out) = (Vec::new(), Vec::new());
        let write_err = |table| move |source| TransformError::Write { table, source };
        for i in 0..=rows.len() {
            let user = (i < rows.len()).then(|| rows.user_id(i));
            while let Some(c) = carried.next_if(|c| user.is_none_or(|u| *c < u)) {
                pairs.events_of(c, &mut out).await?;
                // A track gone today leaves the carried history, as it leaves served ones.
                out.retain(|e| known.has_track(e.track_id));
                quality.carried_forward += u64::from(!out.is_empty());
                for e in out.drain(..) {
                    events
                        .push(ListenEvent {
                            is_new: false,
                            carried_forward: true,
                            ..e
                        })
                        .await
                        .map_err(write_err(TableName::ListenEvents))?;
                }
            }
            let Some(user) = user else { break };
            pairs.tracks_of(user, &mut previous_tracks).await?;
            rows.events_of(i, &previous_tracks, &mut out);
            for e in out.drain(..) {
                if let Some(delta) = delta.as_mut().filter(|_| e.is_new) {
                    delta.push(e.clone()).await.map_err(write_err(TableName::ListenEventsDelta))?;
                }
                events.push(e).await.map_err(write_err(TableName::ListenEvents))?;
            }
        }
        let (objects, copies, written) = events.finish_with_copy().await.map_err(write_err(TableName::ListenEvents))?;
        let (delta_objects, delta_rows) = match delta {
            Some(delta) => delta.finish().await.map_err(write_err(TableName::ListenEventsDelta))?,
            None => (copies.uploaded().await.map_err(write_err(TableName::ListenEventsDelta))?, written),
        };
        let source = cx.source(Entity::ListenHistory, TableName::ListenEvents);
        let events = TableOutput { table: TableName::ListenEvents, objects: objects.into(), rows: written, quality, quarantine, stats: None, source: source.clone() };
        let delta = TableOutput {
            table: TableName::ListenEventsDelta,
            objects: delta_objects.into(),
            rows: delta_rows,
            quality: TableQuality::default(),
            quarantine: QuarantineBuffer::default(),
            stats: None,
            source,
        };
        Ok((events, delta))
    }
}
