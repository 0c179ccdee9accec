//! Erasure of users' personal data from every committed date of raw, quarantine and curated.
//!
//! Personal data is what [`User::PERSONAL`] names (`email`, `first_name`, `last_name`) and what
//! transform derives from it (`email_hash`, `email_key_id`). For each committed date of a zone
//! that holds some of it for the users erased, a new run of that date and zone (stage `erase`,
//! through [`with_run`]) commits objects equal to the committed ones minus that data:
//!
//! | object | what changes |
//! | --- | --- |
//! | `raw/users/.../part-*.jsonl.gz` | the user's rows keep their id and other fields; the personal fields become `null` |
//! | `quarantine/users/...` (fetch) | the same in `row`; a reason about a personal field loses its detail |
//! | `curated/users/.../part-*.parquet` | every version of the user: names, `email_hash`, `email_key_id` null, `row_hash` recomputed |
//! | `quarantine/curated_users/...` (transform) | as fetch's quarantine |
//!
//! Every other object is copied as it is (a commit names whole partitions, in the run's own
//! folders), and the replaced run's objects are removed by the commit's clean-up. Curated goes
//! first: the rewritten raw commit of a date starts transform for it (the S3 event), and that
//! re-run then builds on erased history from erased raw, so it cannot bring the data back. It
//! rebuilds the same rows, except where two versions of the user differed only in personal
//! fields (the erased snapshot no longer tells them apart). A user the source still serves comes
//! back with the next fetch: erase at the source first.
//!
//! Rows without a readable id (quarantined for a missing or mistyped key) cannot be attributed
//! to a user; fetch's quarantine nulls personal fields of every user row it keeps anyway.

use crate::codec::jsonl::Lines;
use crate::codec::{CodecError, Interner, Layout, PartsWriter, TableReader};
use crate::commit::{CommitError, CommitSettings, PartitionCommit, ReadError, RunSpec, RunWriter, Staged, read_committed, with_run};
use crate::curated::{TableName, UserRow, Version};
use crate::job::{Classified, Invocation};
use crate::manifest::{FetchStarted, Manifest, ObjectEntry, ObjectRole};
use crate::partition::{MANIFEST_FILE, Partition, RUN_DATASET, Zone, quarantine_dataset};
use crate::records::{Record, User};
use crate::storage::{Store, StoreError};
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use flate2::read::GzDecoder;
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::sync::Arc;

/// The stage name erasure runs write in their manifests and leases.
pub const STAGE: &str = "erase";

/// The event that asks for an erasure, e.g. `{"erase_user_id": 4242}`.
pub const EVENT_FIELD: &str = "erase_user_id";

/// Curated's derived personal columns, beside the source's personal fields.
const DERIVED: [&str; 2] = ["email_hash", "email_key_id"];

/// What a redacted reason says instead of its detail.
const ERASED: &str = "(erased)";

#[derive(Debug, thiserror::Error)]
pub enum EraseError {
    #[error("unrecognised erasure event ({0}); expected {{\"erase_user_id\": <a positive integer>}}")]
    BadEvent(String),
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{key}: {detail}")]
    Corrupt { key: String, detail: String },
    #[error("curated users: {0}")]
    Parquet(#[from] CodecError),
    #[error(transparent)]
    Commit(#[from] CommitError),
}

impl Classified for EraseError {
    fn error_type(&self) -> &'static str {
        match self {
            EraseError::BadEvent(_) => "Permanent.BadEvent",
            EraseError::Read(ReadError::Mixed { .. }) => "Retryable.MidCommit",
            EraseError::Store(_) | EraseError::Parquet(CodecError::Store(_)) => "Retryable.Storage",
            EraseError::Read(ReadError::NotCommitted { .. }) | EraseError::Corrupt { .. } | EraseError::Parquet(_) => "Permanent.Corrupt",
            EraseError::Read(ReadError::Commit(e)) | EraseError::Commit(e) => e.error_type(),
        }
    }
}

/// The erasure an event asks for: `None` when the event is not an erasure event (it has no
/// `erase_user_id`), so that the function handles it as usual.
pub fn parse_event(event: &Value) -> Option<Result<i64, EraseError>> {
    let object = event.as_object()?;
    let value = object.get(EVENT_FIELD)?;
    if let Some(extra) = object.keys().find(|k| *k != EVENT_FIELD) {
        return Some(Err(EraseError::BadEvent(format!("unexpected field `{extra}`"))));
    }
    Some(value.as_i64().filter(|id| *id > 0).ok_or_else(|| EraseError::BadEvent(format!("`{EVENT_FIELD}` is {}, not a positive integer", kind(value)))))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number out of range",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// One date and zone rewritten.
#[derive(Debug, Clone, Serialize)]
pub struct DateErased {
    pub zone: String,
    pub date: NaiveDate,
    pub replaced_run: String,
    pub run_manifest: String,
    /// Rows (and quarantined rows) whose personal data was removed.
    pub rows: u64,
}

/// What an erasure did; the command's output and the function's response.
#[derive(Debug, Clone, Serialize)]
pub struct EraseSummary {
    pub user_ids: Vec<i64>,
    pub run_id: String,
    pub rewritten: Vec<DateErased>,
    /// Committed dates (per zone) that held nothing of the users.
    pub untouched: usize,
}

/// The erasure job: a store, and how curated files are cut and commits are made.
#[derive(Debug, Clone)]
pub struct Eraser {
    pub store: Arc<dyn Store>,
    pub layout: Layout,
    pub commit: CommitSettings,
}

impl Eraser {
    /// Erases the users' personal data from every committed date, curated first, then raw.
    pub async fn erase(&self, user_ids: &[i64], invocation: Invocation) -> Result<EraseSummary, EraseError> {
        let ids: BTreeSet<i64> = user_ids.iter().copied().collect();
        let mut summary = EraseSummary { user_ids: ids.iter().copied().collect(), run_id: invocation.run_id.to_string(), rewritten: Vec::new(), untouched: 0 };
        for zone in [Zone::Curated, Zone::Raw] {
            for date in self.committed_dates(zone).await? {
                match self.erase_date(zone, date, &ids, &invocation).await? {
                    Some(done) => {
                        tracing::info!(zone = %zone, %date, rows = done.rows, "personal data erased");
                        summary.rewritten.push(done);
                    }
                    None => summary.untouched += 1,
                }
            }
        }
        Ok(summary)
    }

    async fn committed_dates(&self, zone: Zone) -> Result<Vec<NaiveDate>, StoreError> {
        let runs = self.store.list(&Partition::dataset_prefix(zone, RUN_DATASET)).await?;
        let dates: BTreeSet<NaiveDate> =
            runs.iter().filter_map(|o| Partition::parse_key(&o.key).ok()).filter(|(_, file)| file == MANIFEST_FILE).map(|(p, _)| p.date).collect();
        Ok(dates.into_iter().collect())
    }

    /// Rewrites one date of one zone when it holds personal data of the users; `None` otherwise.
    async fn erase_date(&self, zone: Zone, date: NaiveDate, ids: &BTreeSet<i64>, invocation: &Invocation) -> Result<Option<DateErased>, EraseError> {
        // A look first, without the lease: most dates hold nothing of a given user.
        let looked = match read_committed(self.store.as_ref(), zone, date).await {
            // The lifecycle rule deletes raw users partitions after RawUsersExpirationDays: gone already.
            Err(ReadError::Mixed { key, found, .. }) if zone == Zone::Raw && key.starts_with(&Partition::dataset_prefix(zone, crate::records::Entity::Users.as_str())) && found.starts_with("none") => {
                tracing::info!(%date, "raw users partition expired: nothing left to erase");
                return Ok(None);
            }
            looked => looked?,
        };
        if !self.holds_any(zone, &looked.partitions, ids).await? {
            return Ok(None);
        }
        let spec = RunSpec { store: self.store.clone(), stage: STAGE, zone, date, run_id: invocation.run_id.clone(), deadline: invocation.deadline };
        let (committed, (replaced_run, rows)) = with_run(spec, &self.commit, |writer| async move {
            // Read again under the lease: another run may have committed since the look.
            let current = read_committed(self.store.as_ref(), zone, date).await?;
            let mut partitions = Vec::new();
            let mut rows = 0;
            for manifest in &current.partitions {
                partitions.push(self.rewrite_partition(&writer, zone, manifest, ids, &mut rows).await?);
            }
            let mut details = match current.run.details.clone() {
                Value::Object(map) => map,
                _ => serde_json::Map::new(),
            };
            // Transform's `ingested_at` comes from when fetch read the source, not from this run.
            if zone == Zone::Raw && !details.contains_key(FetchStarted::FIELD) {
                details.insert(FetchStarted::FIELD.into(), serde_json::to_value(current.run.started_at).expect("a time serialises"));
            }
            details.insert("erasure".into(), serde_json::json!({"replaced_run": current.run.run_id, "rows": rows}));
            Ok::<_, EraseError>(Staged { partitions, details: Value::Object(details), output: (current.run.run_id, rows) })
        })
        .await?;
        Ok(Some(DateErased { zone: zone.as_str().to_owned(), date, replaced_run, run_manifest: committed.run_manifest, rows }))
    }

    /// Whether any users partition of the commit holds personal data of the users.
    async fn holds_any(&self, zone: Zone, partitions: &[Manifest], ids: &BTreeSet<i64>) -> Result<bool, EraseError> {
        for manifest in partitions.iter().filter(|m| is_users(zone, m)) {
            for object in &manifest.objects {
                let found = match object.role {
                    ObjectRole::Data if zone == Zone::Curated => {
                        let mut reader = TableReader::new(self.store.clone(), [object.clone()]);
                        let mut interner = Interner::default();
                        let mut found = false;
                        while let Some(batch) = reader.next_batch::<Version<UserRow>>(&mut interner).await? {
                            found |= batch.iter().any(|v| ids.contains(&v.row.id) && has_personal_columns(&v.row));
                        }
                        found
                    }
                    _ => rewrite_lines(&object.key, &self.read(object).await?, |line| erase_line(line, object.role, ids))?.1 > 0,
                };
                if found {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// The partition again in the erasure run's folders: users partitions rewritten, others copied.
    async fn rewrite_partition(&self, writer: &RunWriter, zone: Zone, manifest: &Manifest, ids: &BTreeSet<i64>, rows: &mut u64) -> Result<PartitionCommit, EraseError> {
        let corrupt = |detail: String| EraseError::Corrupt { key: manifest.partition.clone(), detail };
        let (partition, _) = Partition::parse_key(&format!("{}{MANIFEST_FILE}", manifest.partition)).map_err(|e| corrupt(e.to_string()))?;
        let users = is_users(zone, manifest);
        let mut objects = Vec::new();
        if users && zone == Zone::Curated {
            let data = manifest.objects.iter().filter(|o| o.role == ObjectRole::Data).cloned();
            let mut reader = TableReader::new(self.store.clone(), data);
            let mut parts = PartsWriter::<Version<UserRow>>::new(writer, partition.clone(), self.layout);
            let mut interner = Interner::default();
            while let Some(mut batch) = reader.next_batch::<Version<UserRow>>(&mut interner).await? {
                for version in batch.iter_mut().filter(|v| ids.contains(&v.row.id) && has_personal_columns(&v.row)) {
                    erase_columns(&mut version.row);
                    *rows += 1;
                }
                parts.extend(batch).await?;
            }
            objects.extend(parts.finish().await?.0);
        }
        for object in &manifest.objects {
            if users && zone == Zone::Curated && object.role == ObjectRole::Data {
                continue;
            }
            let data = self.read(object).await?;
            let data = if users {
                let (rewritten, erased) = rewrite_lines(&object.key, &data, |line| erase_line(line, object.role, ids))?;
                *rows += erased;
                rewritten.map_or(data, Bytes::from)
            } else {
                data
            };
            let key = object.key.replacen(&format!("/run={}/", manifest.run_id), &format!("/run={}/", writer.run_id()), 1);
            objects.push(writer.put_object(key, data, object.rows, object.role).await?);
        }
        let also_owns = match zone {
            Zone::Raw => vec![Partition::new(Zone::Quarantine, partition.dataset.clone(), partition.date)],
            Zone::Curated if partition.dataset != TableName::ListenEventsDelta.as_str() => {
                vec![Partition::new(Zone::Quarantine, quarantine_dataset(&partition.dataset), partition.date)]
            }
            _ => vec![],
        };
        Ok(PartitionCommit { partition, counts: manifest.counts.clone(), objects, source: manifest.source.clone(), details: manifest.details.clone(), also_owns })
    }

    /// An object's bytes, checked against its manifest entry.
    async fn read(&self, object: &ObjectEntry) -> Result<Bytes, EraseError> {
        let data = self.store.get(&object.key).await?.data;
        if data.len() as u64 != object.bytes {
            return Err(EraseError::Corrupt { key: object.key.clone(), detail: format!("{} bytes, but the manifest says {}", data.len(), object.bytes) });
        }
        Ok(data)
    }
}

/// The users partition of a zone (raw: `raw/users/`, with fetch's quarantine objects; curated:
/// `curated/users/`, with transform's).
fn is_users(zone: Zone, manifest: &Manifest) -> bool {
    // Fetch's entity and transform's table have one name.
    manifest.partition.starts_with(&Partition::dataset_prefix(zone, TableName::Users.as_str()))
}

fn has_personal_columns(row: &UserRow) -> bool {
    row.first_name.is_some() || row.last_name.is_some() || row.email_hash.is_some() || row.email_key_id.is_some()
}

/// A curated user version without personal data; its row hash follows its columns.
fn erase_columns(row: &mut UserRow) {
    row.first_name = None;
    row.last_name = None;
    row.email_hash = None;
    row.email_key_id = None;
    row.row_hash = row.compute_hash();
}

/// A gzipped JSON-lines object with `erase` applied to each line: the new bytes (`None` when no
/// line changed) and how many lines changed. Unchanged lines keep their bytes.
///
/// The rewrite goes through the one JSON-lines writer ([`Lines`]), so its format cannot drift
/// from the parts it rewrites. Two differences from copying lines as read, neither visible to a
/// reader: `Lines` ends every line with `\n` (a last line without one, which no writer of the
/// pipeline produces, gains it), and the gzip stream's bytes may differ by a few bytes from a
/// copy written line by line (deflate's blocks depend on how the input was fed), while the
/// decompressed text is the same byte for byte.
fn rewrite_lines(key: &str, data: &[u8], mut erase: impl FnMut(&[u8]) -> Option<Vec<u8>>) -> Result<(Option<Vec<u8>>, u64), EraseError> {
    let corrupt = |e: std::io::Error| EraseError::Corrupt { key: key.to_owned(), detail: format!("not gzip: {e}") };
    let mut reader = BufReader::new(GzDecoder::new(data));
    let mut out = Lines::default();
    let (mut line, mut changed) = (Vec::new(), 0);
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).map_err(corrupt)? == 0 {
            break;
        }
        let text = line.strip_suffix(b"\n").unwrap_or(&line);
        match erase(text) {
            Some(new) => {
                changed += 1;
                out.push_json(&new);
            }
            None => out.push_json(text),
        }
    }
    Ok(((changed > 0).then(|| out.finish()), changed))
}

/// One line of a users object without the users' personal data, or `None` when it holds none.
/// Data lines are rows; quarantine lines wrap the row in `row`, beside `reasons`.
fn erase_line(text: &[u8], role: ObjectRole, ids: &BTreeSet<i64>) -> Option<Vec<u8>> {
    let mut value: Value = serde_json::from_slice(text).ok()?;
    let row = match role {
        ObjectRole::Quarantine => value.get_mut("row")?,
        _ => &mut value,
    };
    if !row.get("id").and_then(Value::as_i64).is_some_and(|id| ids.contains(&id)) {
        return None;
    }
    let map = row.as_object_mut()?;
    let mut changed = false;
    for field in User::PERSONAL.iter().chain(&DERIVED) {
        if let Some(v) = map.get_mut(*field)
            && !v.is_null()
        {
            *v = Value::Null;
            changed = true;
        }
    }
    if let Some(reasons) = value.get_mut("reasons").and_then(Value::as_array_mut) {
        for reason in reasons {
            let personal = reason.get("field").and_then(Value::as_str).is_some_and(|f| User::PERSONAL.contains(&f) || DERIVED.contains(&f));
            if personal && reason.get("detail").is_some_and(|d| d != ERASED) {
                reason["detail"] = Value::from(ERASED);
                changed = true;
            }
        }
    }
    changed.then(|| serde_json::to_vec(&value).expect("JSON serialises"))
}

/// When the committed raw date's fetch read the source: `details.fetch_started_at` once an
/// erasure rewrote the date, else the run's own start.
pub fn fetch_started_at(run: &Manifest) -> DateTime<Utc> {
    FetchStarted::recorded(run).unwrap_or(run.started_at)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_event_names_one_positive_user_id() {
        assert_eq!(parse_event(&json!({"erase_user_id": 42})).unwrap().unwrap(), 42);
        assert!(parse_event(&json!({"date": "2026-11-21"})).is_none(), "not an erasure: handled as usual");
        assert!(parse_event(&json!([1])).is_none());
        for bad in [json!({"erase_user_id": "42"}), json!({"erase_user_id": 0}), json!({"erase_user_id": 1, "date": "2026-11-21"}), json!({"erase_user_id": 1.5})] {
            let err = parse_event(&bad).unwrap().unwrap_err();
            assert_eq!(err.error_type(), "Permanent.BadEvent", "{bad}");
        }
    }

    #[test]
    fn a_line_of_the_user_loses_its_personal_fields_and_other_lines_stay() {
        let ids = BTreeSet::from([7]);
        let row = json!({"id": 7, "email": "a@b.c", "first_name": "Ada", "last_name": "L", "gender": "Female"});
        let erased: Value = serde_json::from_slice(&erase_line(row.to_string().as_bytes(), ObjectRole::Data, &ids).unwrap()).unwrap();
        assert_eq!(erased, json!({"id": 7, "email": null, "first_name": null, "last_name": null, "gender": "Female"}));
        assert_eq!(erase_line(erased.to_string().as_bytes(), ObjectRole::Data, &ids), None, "erasing twice changes nothing");
        assert_eq!(erase_line(json!({"id": 8, "email": "x@y.z"}).to_string().as_bytes(), ObjectRole::Data, &ids), None);
        // A fetch quarantine line of the shape written before `crate::quarantine`, and one of today's.
        let reasons = json!([{"field": "email", "check": "wrong_type", "detail": "expected text, got number 5"}]);
        let row = json!({"id": 7, "email": 5, "email_hash": "ab"});
        for quarantined in [json!({"page": 1, "reasons": reasons, "row": row}), json!({"source": "users?page=1", "line": 3, "reasons": reasons, "row": row})] {
            let erased: Value = serde_json::from_slice(&erase_line(quarantined.to_string().as_bytes(), ObjectRole::Quarantine, &ids).unwrap()).unwrap();
            assert_eq!(erased["row"], json!({"id": 7, "email": null, "email_hash": null}), "{quarantined}");
            assert_eq!(erased["reasons"][0]["detail"], ERASED, "{quarantined}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 512, ..Default::default() })]

        #[test]
        fn any_event_is_an_erasure_a_bad_event_or_not_ours(event in crate::arbitrary_json::event()) {
            match parse_event(&event) {
                None => proptest::prop_assert!(event.get(EVENT_FIELD).is_none()),
                Some(Ok(id)) => proptest::prop_assert!(id > 0),
                Some(Err(e)) => proptest::prop_assert_eq!(e.error_type(), "Permanent.BadEvent"),
            }
        }
    }
}
