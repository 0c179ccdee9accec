//! Storage keys: the Hive-style layout `<zone>/<dataset>/dt=YYYY-MM-DD/<file>`, built and parsed in one place.
//!
//! Every object the pipeline writes lives under a [`Partition`]. Keys are relative to the store's
//! root (a bucket prefix or a local folder) and always use `/`.

use crate::buckets::Bucket;
use chrono::NaiveDate;
use std::fmt;

/// The top-level areas of the data store, each owned by one stage (and one IAM policy).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Zone {
    /// The source's rows as served, written by fetch.
    Raw,
    /// Rows refused by a stage, with their reasons.
    Quarantine,
    /// Typed, queryable tables written by transform.
    Curated,
    /// Trained model versions and the champion pointer, written by recommend.
    Models,
    /// Daily per-user playlists, written by recommend.
    Recommendations,
}

impl Zone {
    pub const ALL: [Zone; 5] = [Zone::Raw, Zone::Quarantine, Zone::Curated, Zone::Models, Zone::Recommendations];

    pub fn as_str(self) -> &'static str {
        match self {
            Zone::Raw => "raw",
            Zone::Quarantine => "quarantine",
            Zone::Curated => "curated",
            Zone::Models => "models",
            Zone::Recommendations => "recommendations",
        }
    }

    pub fn parse(s: &str) -> Option<Zone> {
        Zone::ALL.into_iter().find(|z| z.as_str() == s)
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The dataset name of a stage's run-level commit record (`raw/_run/dt=.../_manifest.json`).
///
/// A stage commits several partitions (one per entity); its run manifest is written after all of
/// them, so it is the single object that says "this stage is done for this date" and the key that
/// triggers the next stage.
pub const RUN_DATASET: &str = "_run";
/// The file name of a partition's commit record.
pub const MANIFEST_FILE: &str = "_manifest.json";
/// The file name of the lease that keeps two runs of one stage and date apart.
pub const LEASE_FILE: &str = "_lease.json";
/// The folder, beside a dataset's `dt=` partitions, of the query layer's symlink manifests
/// (the name Delta Lake's Athena integration uses): `<zone>/<dataset>/_symlink_format_manifest/dt=D/manifest`.
pub const SYMLINK_FOLDER: &str = "_symlink_format_manifest";
/// The file name of a partition's symlink manifest.
pub const SYMLINK_FILE: &str = "manifest";

/// The file, in a recommendations run's folder, of the JSON-lines export of its rows.
pub const EXPORT_JSONL_FILE: &str = "_jsonl/part-00000.jsonl.gz";

/// The file, in a fanned transform run's folder of `curated/listen_events/`, of phase 1's plan.
pub const FANOUT_PLAN_FILE: &str = "_fanout/plan.json";

/// The file, in a fanned transform run's folder of `curated/listen_events/`, of what one bucket
/// wrote: `_fanout/bucket-KKKKK-of-BBBBB.json`.
pub fn fanout_bucket_file(bucket: Bucket) -> String {
    format!("_fanout/bucket-{:05}-of-{:05}.json", bucket.index, bucket.count)
}

/// The folder of the stored model versions and the champion pointer (outside the `dt=` layout:
/// a model is not a date's data).
pub const MODELS_PREFIX: &str = "models/als/";
/// The pointer to the model version in use.
pub const CHAMPION_KEY: &str = "models/als/champion.json";

/// The folder of one stored model version, ending with `/`: `models/als/version=<id>/`.
pub fn model_version_folder(version: &str) -> String {
    format!("{MODELS_PREFIX}version={version}/")
}

/// A file of one stored model version: `models/als/version=<id>/<file>`.
pub fn model_version_key(version: &str, file: &str) -> String {
    format!("{}{file}", model_version_folder(version))
}

/// The version id and the file of a key under [`MODELS_PREFIX`] written by [`model_version_key`].
pub fn parse_model_version_key(key: &str) -> Option<(&str, &str)> {
    key.strip_prefix(MODELS_PREFIX)?.strip_prefix("version=")?.split_once('/')
}

/// One date partition of one dataset: `<zone>/<dataset>/dt=YYYY-MM-DD/`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Partition {
    pub zone: Zone,
    pub dataset: String,
    pub date: NaiveDate,
}

/// The quarantine dataset of a curated table, `curated_<table>`: fetch already owns
/// `quarantine/<entity>/dt=D/` (and cleans it on every run), so transform's refusals live apart.
pub fn quarantine_dataset(table: &str) -> String {
    format!("curated_{table}")
}

impl Partition {
    pub fn new(zone: Zone, dataset: impl Into<String>, date: NaiveDate) -> Self {
        Self { zone, dataset: dataset.into(), date }
    }

    /// The run-level partition of a stage writing into `zone` (see [`RUN_DATASET`]).
    pub fn run(zone: Zone, date: NaiveDate) -> Self {
        Self::new(zone, RUN_DATASET, date)
    }

    /// The prefix of every object in this partition, ending with `/`: `<zone>/<dataset>/dt=D/`,
    /// or `<zone>/dt=D/` for a zone that holds one dataset only (an empty `dataset`, as
    /// `recommendations/dt=D/`).
    pub fn prefix(&self) -> String {
        match self.dataset.as_str() {
            "" => format!("{}/dt={}/", self.zone, self.date.format("%Y-%m-%d")),
            dataset => format!("{}/{dataset}/dt={}/", self.zone, self.date.format("%Y-%m-%d")),
        }
    }

    /// The prefix under which all dates of this dataset live, ending with `/`.
    pub fn dataset_prefix(zone: Zone, dataset: &str) -> String {
        format!("{zone}/{dataset}/")
    }

    pub fn key(&self, file: &str) -> String {
        format!("{}{file}", self.prefix())
    }

    pub fn manifest_key(&self) -> String {
        self.key(MANIFEST_FILE)
    }

    pub fn lease_key(&self) -> String {
        self.key(LEASE_FILE)
    }

    /// The folder of one run's objects in this partition: `<prefix>run=<run id>/`. Runs never
    /// share a folder, so a run in flight or a crashed one never touches a committed object.
    pub fn run_folder(&self, run_id: &str) -> String {
        self.key(&format!("run={run_id}/"))
    }

    /// A data object's key: `<prefix>run=<run id>/part-NNNNN.<ext>`.
    pub fn part_key(&self, index: usize, run_id: &str, extension: &str) -> String {
        self.part_key_in(run_id, "", index, extension)
    }

    /// A data object's key in a sub-folder of the run's folder (`folder` ends with `/`, or is
    /// empty for the run's folder itself): `<prefix>run=<run id>/<folder>part-NNNNN.<ext>`.
    pub fn part_key_in(&self, run_id: &str, folder: &str, index: usize, extension: &str) -> String {
        format!("{}{folder}part-{index:05}.{extension}", self.run_folder(run_id))
    }

    /// The prefix of every data object of one bucket of a run (`<prefix>run=<run id>/<bucket folder>part-`).
    pub fn bucket_parts_prefix(&self, run_id: &str, bucket: Bucket) -> String {
        format!("{}{}part-", self.run_folder(run_id), bucket.folder())
    }

    /// The key of a recommendations run's JSON-lines export ([`EXPORT_JSONL_FILE`]); a bucket's
    /// of a fanned run is in the bucket's folder of `_jsonl/`.
    pub fn export_jsonl_key(&self, run_id: &str, bucket: Bucket) -> String {
        let (folder, file) = EXPORT_JSONL_FILE.split_once('/').expect("a folder and a file");
        self.run_file(run_id, &format!("{folder}/{}{file}", bucket.folder()))
    }

    /// Another file of a run in this partition, e.g. `_jsonl/part-00000.jsonl.gz`.
    pub fn run_file(&self, run_id: &str, file: &str) -> String {
        format!("{}{file}", self.run_folder(run_id))
    }

    /// A run's manifest of this partition: `<prefix>run=<run id>/_manifest.json`, written once,
    /// never replaced; the stage's run manifest points at it.
    pub fn run_manifest_key(&self, run_id: &str) -> String {
        self.run_file(run_id, MANIFEST_FILE)
    }

    /// The query layer's pointer to this partition's committed files: a text file listing their
    /// full addresses, one a line (Athena's `SymlinkTextInputFormat`; DuckDB reads it as CSV).
    pub fn symlink_key(&self) -> String {
        let date = self.date.format("%Y-%m-%d");
        match self.dataset.as_str() {
            "" => format!("{}/{SYMLINK_FOLDER}/dt={date}/{SYMLINK_FILE}", self.zone),
            dataset => format!("{}/{dataset}/{SYMLINK_FOLDER}/dt={date}/{SYMLINK_FILE}", self.zone),
        }
    }

    /// Parses a partition's prefix, as [`Partition::prefix`] wrote it (e.g. a manifest's `partition`).
    pub fn parse_prefix(prefix: &str) -> Result<Partition, KeyError> {
        let (partition, _) = Self::parse_key(&format!("{prefix}_")).map_err(|e| KeyError { key: prefix.to_owned(), why: e.why })?;
        if partition.prefix() != prefix {
            return Err(KeyError { key: prefix.to_owned(), why: "not a partition prefix" });
        }
        Ok(partition)
    }

    /// Parses a key written by [`Partition::key`], returning the partition and the file name.
    pub fn parse_key(key: &str) -> Result<(Partition, String), KeyError> {
        let bad = |why: &'static str| KeyError { key: key.to_owned(), why };
        let (zone, rest) = key.split_once('/').ok_or(bad("unknown zone"))?;
        let zone = Zone::parse(zone).ok_or(bad("unknown zone"))?;
        // A zone of one dataset puts `dt=` right after the zone.
        let (dataset, rest) = match rest.starts_with("dt=") {
            true => ("", rest),
            false => rest.split_once('/').filter(|(d, _)| !d.is_empty()).ok_or(bad("missing dataset"))?,
        };
        let mut parts = rest.splitn(2, '/');
        let dt = parts.next().and_then(|p| p.strip_prefix("dt=")).ok_or(bad("missing dt= segment"))?;
        let date = NaiveDate::parse_from_str(dt, "%Y-%m-%d").map_err(|_| bad("dt is not YYYY-MM-DD"))?;
        let file = parts.next().filter(|f| !f.is_empty()).ok_or(bad("missing file name"))?;
        Ok((Partition::new(zone, dataset, date), file.to_owned()))
    }
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.prefix().trim_end_matches('/'))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{key}` is not a partition key (<zone>/<dataset>/dt=YYYY-MM-DD/<file>): {why}")]
pub struct KeyError {
    pub key: String,
    pub why: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn keys_are_hive_style() {
        let p = Partition::new(Zone::Raw, "tracks", date("2026-03-07"));
        assert_eq!(p.prefix(), "raw/tracks/dt=2026-03-07/");
        assert_eq!(p.manifest_key(), "raw/tracks/dt=2026-03-07/_manifest.json");
        assert_eq!(p.part_key(3, "r1", "jsonl.gz"), "raw/tracks/dt=2026-03-07/run=r1/part-00003.jsonl.gz");
        assert_eq!(p.run_manifest_key("r1"), "raw/tracks/dt=2026-03-07/run=r1/_manifest.json");
        assert_eq!(p.symlink_key(), "raw/tracks/_symlink_format_manifest/dt=2026-03-07/manifest");
        assert_eq!(Partition::run(Zone::Curated, date("2026-03-07")).lease_key(), "curated/_run/dt=2026-03-07/_lease.json");
        let single = Partition::new(Zone::Recommendations, "", date("2026-03-07"));
        assert_eq!(single.part_key(0, "r1", "parquet"), "recommendations/dt=2026-03-07/run=r1/part-00000.parquet");
        assert_eq!(single.symlink_key(), "recommendations/_symlink_format_manifest/dt=2026-03-07/manifest");
    }

    #[test]
    fn keys_outside_the_date_layout() {
        assert_eq!(model_version_key("v1", "model.json"), "models/als/version=v1/model.json");
        assert_eq!(model_version_folder("v1"), "models/als/version=v1/");
        assert_eq!(parse_model_version_key("models/als/version=v1/ids.bin"), Some(("v1", "ids.bin")));
        assert_eq!(parse_model_version_key(CHAMPION_KEY), None);
        assert!(MODELS_PREFIX.starts_with(&format!("{}/", Zone::Models)) && CHAMPION_KEY.starts_with(MODELS_PREFIX));
        let single = Partition::new(Zone::Recommendations, "", date("2026-03-07"));
        assert_eq!(single.export_jsonl_key("r1", Bucket::WHOLE), "recommendations/dt=2026-03-07/run=r1/_jsonl/part-00000.jsonl.gz");
        assert_eq!(single.export_jsonl_key("r1", Bucket::new(2, 4)), "recommendations/dt=2026-03-07/run=r1/_jsonl/bucket-00002-of-00004/part-00000.jsonl.gz");
        let events = Partition::new(Zone::Curated, "listen_events", date("2026-03-07"));
        assert_eq!(fanout_bucket_file(Bucket::new(3, 16)), "_fanout/bucket-00003-of-00016.json");
        assert_eq!(events.bucket_parts_prefix("r1", Bucket::new(3, 16)), "curated/listen_events/dt=2026-03-07/run=r1/bucket-00003-of-00016/part-");
        assert_eq!(events.bucket_parts_prefix("r1", Bucket::WHOLE), "curated/listen_events/dt=2026-03-07/run=r1/part-");
        assert_eq!(events.part_key_in("r1", "bucket-00003-of-00016/", 0, "jsonl.gz"), "curated/listen_events/dt=2026-03-07/run=r1/bucket-00003-of-00016/part-00000.jsonl.gz");
    }

    #[test]
    fn keys_parse_back_to_what_built_them() {
        for zone in Zone::ALL {
            for dataset in ["tracks", "listen_history", "_run", ""] {
                let p = Partition::new(zone, dataset, date("2025-12-31"));
                for key in [p.manifest_key(), p.part_key(12, "abc-def", "parquet"), p.lease_key(), p.run_manifest_key("abc")] {
                    let (parsed, file) = Partition::parse_key(&key).unwrap();
                    assert_eq!(parsed, p);
                    assert_eq!(p.key(&file), key);
                }
            }
        }
    }

    #[test]
    fn malformed_keys_are_refused_with_the_reason() {
        for (key, why) in [
            ("bronze/tracks/dt=2026-01-01/x", "unknown zone"),
            ("raw//dt=2026-01-01/x", "missing dataset"),
            ("raw/tracks/date=2026-01-01/x", "missing dt= segment"),
            ("raw/tracks/dt=2026-13-01/x", "dt is not YYYY-MM-DD"),
            ("raw/tracks/dt=2026-01-01/", "missing file name"),
            ("raw/tracks/dt=2026-01-01", "missing file name"),
        ] {
            let err = Partition::parse_key(key).unwrap_err();
            assert_eq!(err.why, why, "{key}");
            assert!(err.to_string().contains(key));
        }
    }
}
