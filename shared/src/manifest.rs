//! A partition's commit record, `_manifest.json`: what was written, by which run, from where.
//!
//! Readers trust only partitions that have one, and only the objects it lists.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Bumped when the manifest's shape changes incompatibly.
pub const FORMAT_VERSION: u32 = 1;

/// The code that wrote a partition: the crate version, and the git commit when the build knew it.
pub fn code_version() -> String {
    match option_env!("MOOVITAMIX_GIT_SHA") {
        Some(sha) => format!("{}+{sha}", env!("CARGO_PKG_VERSION")),
        None => env!("CARGO_PKG_VERSION").to_owned(),
    }
}

/// The run detail `fetch_started_at`: when fetch read the source for the date. Transform's run
/// records it (recommend's freshness starts there); an erasure's re-commit of raw keeps it, its
/// own start not being fetch's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FetchStarted {
    pub fetch_started_at: DateTime<Utc>,
}

impl FetchStarted {
    /// Its name in a run manifest's `details`.
    pub const FIELD: &'static str = "fetch_started_at";

    /// As recorded in a run manifest's details, if it is.
    pub fn recorded(run: &Manifest) -> Option<DateTime<Utc>> {
        Self::deserialize(&run.details).ok().map(|d| d.fetch_started_at)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format_version: u32,
    /// The stage that wrote it: fetch, transform or recommend.
    pub stage: String,
    /// The partition's prefix, e.g. `raw/tracks/dt=2026-11-21/`.
    pub partition: String,
    pub run_id: String,
    pub logical_date: NaiveDate,
    /// Row counts by outcome (fetch: accepted, rejected, warned).
    pub counts: BTreeMap<String, u64>,
    pub objects: Vec<ObjectEntry>,
    /// Where the rows came from (a URL, or the partitions read).
    pub source: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub code_version: String,
    /// Stage-specific details (a data-quality report, model metrics...).
    #[serde(default, skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
}

/// One object a manifest commits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObjectEntry {
    pub key: String,
    pub bytes: u64,
    pub sha256: String,
    pub rows: u64,
    pub role: ObjectRole,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectRole {
    /// Rows of the partition.
    Data,
    /// Rows refused, with reasons, under `quarantine/`.
    Quarantine,
    /// Another partition's manifest (in a stage's run manifest).
    Manifest,
    /// A report beside the data (e.g. data quality).
    Report,
    /// The partition's rows again, in another format (e.g. JSON lines for the app).
    Export,
}

impl ObjectEntry {
    pub fn new(key: String, data: &[u8], rows: u64, role: ObjectRole) -> Self {
        Self { key, bytes: data.len() as u64, sha256: sha256_hex(data), rows, role }
    }
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

impl Manifest {
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("a manifest serialises");
        out.push(b'\n');
        out
    }

    pub fn from_json(data: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(data)
    }

    pub fn count(&self, name: &str) -> u64 {
        self.counts.get(name).copied().unwrap_or(0)
    }

    pub fn data_keys(&self) -> impl Iterator<Item = &str> {
        self.objects.iter().filter(|o| o.role == ObjectRole::Data).map(|o| o.key.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_round_trips_and_refuses_unknown_fields() {
        let m = Manifest {
            format_version: FORMAT_VERSION,
            stage: "fetch".into(),
            partition: "raw/tracks/dt=2026-11-21/".into(),
            run_id: "r1".into(),
            logical_date: NaiveDate::from_ymd_opt(2026, 11, 21).unwrap(),
            counts: BTreeMap::from([("accepted".into(), 3), ("rejected".into(), 1)]),
            objects: vec![ObjectEntry::new("raw/tracks/dt=2026-11-21/part-00000-r1.jsonl.gz".into(), b"abc", 3, ObjectRole::Data)],
            source: "http://127.0.0.1:8000/tracks".into(),
            started_at: Utc::now(),
            finished_at: Utc::now(),
            code_version: code_version(),
            details: serde_json::Value::Null,
        };
        let json = m.to_json();
        assert_eq!(Manifest::from_json(&json).unwrap(), m);
        assert_eq!(m.objects[0].sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(m.count("accepted"), 3);
        assert_eq!(m.count("warned"), 0);
        let mut value: serde_json::Value = serde_json::from_slice(&json).unwrap();
        value["surprise"] = 1.into();
        assert!(Manifest::from_json(value.to_string().as_bytes()).is_err());
    }
}
