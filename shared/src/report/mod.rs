//! The report of a data folder: what a person wants to see of the pipeline's history, gathered
//! from what the stages already commit (run manifests, partition manifests, model cards, the
//! champion pointer, the latest recommendations), read through the [`Store`] trait, and drawn as
//! one self-contained HTML page ([`page::render`]).

pub mod page;
mod plot;

use crate::commit::{read_committed, CommittedRun, ReadError};
use crate::manifest::Manifest;
use crate::partition::{Partition, Zone};
use crate::recommend::model_store::{Champion, ModelCard, ModelStore};
use crate::storage::Store;
use crate::codec::TableReader;
use crate::curated::{Recommendation, TableName, TrackRow, Version};
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The stages in pipeline order, with the zone each commits and the counts the report shows.
pub const STAGES: [(&str, Zone, &[&str]); 3] = [
    ("fetch", Zone::Raw, &["accepted", "warned", "rejected"]),
    ("transform", Zone::Curated, &["rows_in", "rows", "warned", "quarantined"]),
    ("recommend", Zone::Recommendations, &["users", "rows", "cold_start"]),
];

/// How many of the most recommended tracks the page lists.
pub const TOP_TRACKS: usize = 10;

/// Everything the page shows.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub location: String,
    pub generated_at: DateTime<Utc>,
    /// Every committed run, by stage (pipeline order) then date.
    pub runs: Vec<StageRun>,
    /// Stored model versions, oldest first.
    pub models: Vec<ModelCard>,
    pub champion: Option<Champion>,
    pub top_tracks: Option<TopTracks>,
    /// What could not be read (shown on the page, never hidden).
    pub problems: Vec<String>,
}

/// One stage's committed run of one date.
#[derive(Debug, Clone, PartialEq)]
pub struct StageRun {
    pub stage: &'static str,
    pub date: NaiveDate,
    pub run_id: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// The stage's counts (see [`STAGES`]), summed over its partitions.
    pub counts: Vec<(&'static str, u64)>,
    /// transform: data-quality warnings, and the largest quarantined share of a table.
    pub dq_warnings: Option<u64>,
    pub quarantine_share: Option<f64>,
}

impl StageRun {
    pub fn duration_ms(&self) -> i64 {
        (self.finished_at - self.started_at).num_milliseconds()
    }

    pub fn count(&self, name: &str) -> Option<u64> {
        self.counts.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
    }
}

/// The tracks recommended to the most users on the latest recommended date.
#[derive(Debug, Clone, PartialEq)]
pub struct TopTracks {
    pub date: NaiveDate,
    pub model_versions: Vec<String>,
    pub users: u64,
    pub tracks: Vec<TopTrack>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct TopTrack {
    pub track_id: i64,
    pub name: Option<String>,
    pub artist: Option<String>,
    /// Users whose list holds it.
    pub lists: u64,
    pub best_rank: i32,
}

/// Reads everything the page shows from `store`. A part that cannot be read becomes a problem
/// on the page; only a store that cannot be listed at all fails.
pub async fn gather(store: Arc<dyn Store>, now: DateTime<Utc>) -> Result<Report, crate::storage::StoreError> {
    let mut problems = Vec::new();
    let mut runs = Vec::new();
    let mut latest_recommendations = None;
    for (stage, zone, columns) in STAGES {
        for date in committed_dates(store.as_ref(), zone).await? {
            match read_committed(store.as_ref(), zone, date).await {
                Ok(committed) => {
                    runs.push(stage_run(stage, columns, &committed));
                    if zone == Zone::Recommendations {
                        latest_recommendations = Some(committed);
                    }
                }
                Err(e) => problems.push(format!("{stage} {date}: {e}")),
            }
        }
    }
    let models_store = ModelStore::new(store.clone());
    let mut models = Vec::new();
    match models_store.versions().await {
        Ok(versions) => {
            for version in versions {
                match models_store.card(&version).await {
                    Ok(Some(card)) => models.push(card),
                    Ok(None) => problems.push(format!("model {version}: no model card (an interrupted training?)")),
                    Err(e) => problems.push(format!("model {version}: {e}")),
                }
            }
        }
        Err(e) => problems.push(format!("model versions: {e}")),
    }
    models.sort_by(|a, b| (a.trained_at, &a.version).cmp(&(b.trained_at, &b.version)));
    let champion = match models_store.champion().await {
        Ok(c) => c.map(|(c, _)| c),
        Err(e) => {
            problems.push(format!("champion: {e}"));
            None
        }
    };
    let top_tracks = match latest_recommendations {
        None => None,
        Some(committed) => match top_tracks(store.clone(), &committed).await {
            Ok(t) => Some(t),
            Err(e) => {
                problems.push(format!("recommendations {}: {e}", committed.run.logical_date));
                None
            }
        },
    };
    Ok(Report { location: store.location(), generated_at: now, runs, models, champion, top_tracks, problems })
}

/// The dates a zone has a run manifest for (`<zone>/_run/dt=D/_manifest.json`), in order.
async fn committed_dates(store: &dyn Store, zone: Zone) -> Result<Vec<NaiveDate>, crate::storage::StoreError> {
    let prefix = format!("{zone}/{}/", crate::partition::RUN_DATASET);
    let mut dates: Vec<NaiveDate> = store
        .list(&prefix)
        .await?
        .into_iter()
        .filter_map(|o| Partition::parse_key(&o.key).ok())
        .filter(|(p, file)| file == crate::partition::MANIFEST_FILE && p.dataset == crate::partition::RUN_DATASET)
        .map(|(p, _)| p.date)
        .collect();
    dates.sort_unstable();
    dates.dedup();
    Ok(dates)
}

fn stage_run(stage: &'static str, columns: &[&'static str], committed: &CommittedRun) -> StageRun {
    let run: &Manifest = &committed.run;
    let counts = columns.iter().map(|&c| (c, committed.partitions.iter().map(|p| p.count(c)).sum())).collect();
    let dq = run.details.get("dq_report");
    StageRun {
        stage,
        date: run.logical_date,
        run_id: run.run_id.clone(),
        started_at: run.started_at,
        finished_at: run.finished_at,
        counts,
        dq_warnings: dq.and_then(|d| d.get("warnings")).and_then(|v| v.as_u64()),
        quarantine_share: dq.and_then(|d| d.get("quarantine_share")).and_then(|v| v.as_f64()),
    }
}

/// Counts the latest recommendations by track, with the names of the tracks of the same curated date.
async fn top_tracks(store: Arc<dyn Store>, committed: &CommittedRun) -> Result<TopTracks, ReadError> {
    let date = committed.run.logical_date;
    let data = committed.partitions.iter().flat_map(|p| p.objects.iter().filter(|o| o.role == crate::manifest::ObjectRole::Data).cloned());
    let rows: Vec<Recommendation> = TableReader::new(store.clone(), data.collect::<Vec<_>>())
        .read_all()
        .await
        .map_err(|e| ReadError::NotCommitted { zone: Zone::Recommendations, date, key: e.to_string() })?;
    let mut by_track: HashMap<i64, (u64, i32)> = HashMap::new();
    let mut users = std::collections::HashSet::new();
    let mut model_versions = std::collections::BTreeSet::new();
    for r in &rows {
        let entry = by_track.entry(r.track_id).or_insert((0, i32::MAX));
        entry.0 += 1;
        entry.1 = entry.1.min(r.rank);
        users.insert(r.user_id);
        model_versions.insert(r.model_version.clone());
    }
    let mut ranked: Vec<(i64, (u64, i32))> = by_track.into_iter().collect();
    ranked.sort_by(|a, b| b.1.0.cmp(&a.1.0).then(a.1.1.cmp(&b.1.1)).then(a.0.cmp(&b.0)));
    ranked.truncate(TOP_TRACKS);
    let names = track_names(store, date).await.unwrap_or_default();
    let tracks = ranked
        .into_iter()
        .map(|(track_id, (lists, best_rank))| {
            let (name, artist) = names.get(&track_id).cloned().unwrap_or_default();
            TopTrack { track_id, name, artist, lists, best_rank }
        })
        .collect();
    Ok(TopTracks { date, model_versions: model_versions.into_iter().collect(), users: users.len() as u64, tracks })
}

/// The current name and artist of every track of a curated date (empty when it is not there).
async fn track_names(store: Arc<dyn Store>, date: NaiveDate) -> Option<BTreeMap<i64, (Option<String>, Option<String>)>> {
    let committed = read_committed(store.as_ref(), Zone::Curated, date).await.ok()?;
    let tracks = committed.partition(&Partition::new(Zone::Curated, TableName::Tracks.as_str(), date))?;
    let versions: Vec<Version<TrackRow>> = TableReader::new(store, tracks.objects.iter().filter(|o| o.role == crate::manifest::ObjectRole::Data).cloned().collect::<Vec<_>>())
        .read_all()
        .await
        .ok()?;
    Some(
        versions
            .into_iter()
            .filter(|v| v.valid_to.is_none())
            .map(|v| (v.row.id, (v.row.name.as_deref().map(str::to_owned), v.row.artist.as_deref().map(str::to_owned))))
            .collect(),
    )
}

/// The page's key in the data folder when no other place is asked for.
pub const REPORT_KEY: &str = "report.html";

/// Where the page goes: into the data folder itself (a local folder or S3), or a local file.
#[derive(Debug, Clone, PartialEq)]
pub enum Destination {
    DataFolder,
    File(std::path::PathBuf),
}

/// Gathers and renders the page of `store`, writes it to `to`, and returns where it is (a path
/// or an `s3://` URL) with the report it shows.
pub async fn write(store: Arc<dyn Store>, to: &Destination, now: DateTime<Utc>) -> Result<(String, Report), Box<dyn std::error::Error + Send + Sync>> {
    let report = gather(store.clone(), now).await?;
    let html = page::render(&report);
    let location = match to {
        Destination::DataFolder => {
            // One whole object: a reader sees the previous page or this one (local: rename; S3: PUT).
            store.put(REPORT_KEY, bytes::Bytes::from(html), crate::storage::PutMode::Overwrite).await?;
            store.url_of(REPORT_KEY)
        }
        Destination::File(path) => {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent)?;
            }
            let partial = path.with_extension("html.partial");
            std::fs::write(&partial, html)?;
            std::fs::rename(&partial, path)?;
            path.display().to_string()
        }
    };
    Ok((location, report))
}

#[cfg(test)]
mod tests;
