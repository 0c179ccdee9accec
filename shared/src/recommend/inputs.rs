//! What recommend reads from curated: a date's listens, and its current users and tracks; the
//! listens new on the last days (for recent popularity).

use crate::buckets::Bucket;
use crate::commit::{ReadError, read_committed};
use crate::manifest::{FetchStarted, ObjectRole};
use crate::partition::{MANIFEST_FILE, Partition, RUN_DATASET, Zone};
use crate::storage::{Store, StoreError};
use crate::codec::{CodecError, Interner, Table, TableReader};
use crate::curated::{ListenItem, TableName, TrackRow, UserRow, Version};
use super::cold_start::RecentListen;
use super::counts::{ListenCounter, TrackCounts};
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::HashMap;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("curated {date}: {source}")]
    NotReadable { date: NaiveDate, source: ReadError },
    #[error("curated {date} has no {table} partition; re-run transform for {date}")]
    Incomplete { date: NaiveDate, table: TableName },
    #[error("curated {date} {table}: {source}")]
    Table { date: NaiveDate, table: TableName, source: CodecError },
    #[error("there is no committed curated date to train on (curated/_run/ is empty): run fetch and transform first")]
    NoCuratedDate,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One listened item: who, what, and its place in time (the listen row's `created_at`, then
/// its position in `items`, later positions being more recent).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen {
    pub user_id: i64,
    pub track_id: i64,
    pub created_at_micros: i64,
    pub position: i32,
}

impl Listen {
    /// A total order of a user's listens in time; equal times fall back to the track id.
    pub fn time_key(&self) -> (i64, i32, i64) {
        (self.created_at_micros, self.position, self.track_id)
    }
}

/// The date's current users and tracks, with the genre used for cold start.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// User id and normalised favourite genre, sorted by id.
    pub users: Vec<(i64, Option<Arc<str>>)>,
    /// Track id and normalised genre, sorted by id.
    pub tracks: Vec<(i64, Option<Arc<str>>)>,
}

/// Everything one date gives recommend.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    pub date: NaiveDate,
    /// When fetch started reading the source for this date (from transform's run manifest).
    pub fetch_started_at: Option<DateTime<Utc>>,
    pub listens: Vec<Listen>,
    pub catalog: Catalog,
    /// Listens new on the last days ([`read_recent`]); empty unless read.
    pub recent: Vec<RecentListen>,
}

impl Inputs {
    /// The counts scoring takes from these listens, when they are everyone's.
    pub fn counts(&self) -> TrackCounts {
        TrackCounts::new(&self.listens, &self.recent)
    }

    /// These inputs with only the listens (and recent listens) of the users `keep` accepts.
    pub fn of_users(&self, keep: impl Fn(i64) -> bool) -> Inputs {
        Inputs {
            date: self.date,
            fetch_started_at: self.fetch_started_at,
            listens: self.listens.iter().filter(|l| keep(l.user_id)).copied().collect(),
            catalog: self.catalog.clone(),
            recent: self.recent.iter().filter(|l| keep(l.user_id)).copied().collect(),
        }
    }
}

/// The latest date transform committed, on or before `until` when given.
pub async fn latest_curated_date(store: &dyn Store, until: Option<NaiveDate>) -> Result<NaiveDate, InputError> {
    let runs = store.list(&Partition::dataset_prefix(Zone::Curated, RUN_DATASET)).await?;
    runs.iter()
        .filter_map(|o| Partition::parse_key(&o.key).ok())
        .filter(|(p, file)| file == MANIFEST_FILE && until.is_none_or(|u| p.date <= u))
        .map(|(p, _)| p.date)
        .max()
        .ok_or(InputError::NoCuratedDate)
}

/// Listen events added after `after` up to `until` included: the rows of the committed
/// `listen_events_delta` partitions of those dates.
pub async fn listens_added(store: &dyn Store, after: NaiveDate, until: NaiveDate) -> Result<u64, InputError> {
    let runs = store.list(&Partition::dataset_prefix(Zone::Curated, RUN_DATASET)).await?;
    let mut added = 0;
    for date in runs.iter().filter_map(|o| Partition::parse_key(&o.key).ok()).filter(|(p, f)| f == MANIFEST_FILE && p.date > after && p.date <= until).map(|(p, _)| p.date) {
        let committed = read_committed(store, Zone::Curated, date).await.map_err(|source| InputError::NotReadable { date, source })?;
        let delta = Partition::new(Zone::Curated, TableName::ListenEventsDelta.as_str(), date).prefix();
        added += committed.partitions.iter().filter(|m| m.partition == delta).map(|m| m.count("rows")).sum::<u64>();
    }
    Ok(added)
}

/// Streams one committed curated table of `date`, batch by batch: the objects of `bucket` only
/// when given (its users' rows of a table written in buckets, [`crate::buckets`]).
async fn for_each_batch<T: Table>(
    store: &Arc<dyn Store>,
    date: NaiveDate,
    committed: &crate::commit::CommittedRun,
    table: TableName,
    bucket: Option<Bucket>,
    mut each: impl FnMut(Vec<T>),
) -> Result<(), InputError> {
    let prefix = Partition::new(Zone::Curated, table.as_str(), date).prefix();
    let manifest = committed.partitions.iter().find(|m| m.partition == prefix).ok_or(InputError::Incomplete { date, table })?;
    let objects = manifest.objects.iter().filter(|o| o.role == ObjectRole::Data && bucket.is_none_or(|b| Bucket::of_key(&o.key) == b));
    let mut reader = TableReader::new(store.clone(), objects.cloned());
    let mut interner = Interner::default();
    while let Some(batch) = reader.next_batch::<T>(&mut interner).await.map_err(|source| InputError::Table { date, table, source })? {
        each(batch);
    }
    Ok(())
}

/// The listen events of a committed curated date, of one bucket of users when given, of the
/// users `keep` accepts (the others' are dropped batch by batch, never held); `everyone`, when
/// given, counts every row read, kept or not.
pub async fn read_listens(
    store: &Arc<dyn Store>,
    date: NaiveDate,
    committed: &crate::commit::CommittedRun,
    bucket: Option<Bucket>,
    keep: &dyn Fn(i64) -> bool,
    mut everyone: Option<&mut ListenCounter>,
) -> Result<Vec<Listen>, InputError> {
    let mut listens = Vec::new();
    for_each_batch::<ListenItem>(store, date, committed, TableName::ListenEvents, bucket, |batch| {
        if let Some(counter) = everyone.as_deref_mut() {
            batch.iter().for_each(|e| counter.count(e.user_id, e.track_id));
        }
        listens.extend(batch.into_iter().filter(|e| keep(e.user_id)).map(|e| Listen {
            user_id: e.user_id,
            track_id: e.track_id,
            created_at_micros: e.created_at.timestamp_micros(),
            position: e.position,
        }))
    })
    .await?;
    Ok(listens)
}

/// Reads `date`'s committed curated tables, with the listens of the users `keep` accepts;
/// refuses a date transform has not committed.
pub async fn read_inputs(store: &Arc<dyn Store>, date: NaiveDate, keep: &dyn Fn(i64) -> bool) -> Result<Inputs, InputError> {
    read_committed_inputs(store, date, &read_committed_date(store.as_ref(), date).await?, None, keep, None).await
}

/// The curated commit of `date`.
pub async fn read_committed_date(store: &dyn Store, date: NaiveDate) -> Result<crate::commit::CommittedRun, InputError> {
    read_committed(store, Zone::Curated, date).await.map_err(|source| InputError::NotReadable { date, source })
}

/// The inputs of a committed curated date: of the users of `bucket` only when given (their
/// listens and their rows), with every track; the listens of the users `keep` accepts, and
/// every listen read counted into `everyone` when given ([`read_listens`]).
pub async fn read_committed_inputs(
    store: &Arc<dyn Store>,
    date: NaiveDate,
    committed: &crate::commit::CommittedRun,
    bucket: Option<Bucket>,
    keep: &dyn Fn(i64) -> bool,
    everyone: Option<&mut ListenCounter>,
) -> Result<Inputs, InputError> {
    let fetch_started_at = FetchStarted::recorded(&committed.run);
    let listens = read_listens(store, date, committed, bucket, keep, everyone).await?;
    let mut inputs = Inputs { date, fetch_started_at, listens, ..Inputs::default() };
    let mut genres: HashMap<Arc<str>, Arc<str>> = HashMap::new();
    let mut genre = |g: Option<&str>| g.map(|g| genres.entry(g.into()).or_insert_with(|| g.into()).clone());
    let (mut users, mut tracks) = (Vec::new(), Vec::new());
    let in_bucket = |user_id: i64| bucket.is_none_or(|b| b.contains(user_id));
    for_each_batch::<Version<UserRow>>(store, date, committed, TableName::Users, None, |batch| {
        users.extend(batch.into_iter().filter(|v| v.is_current() && in_bucket(v.row.id)).map(|v| (v.row.id, v.row.favorite_genres_normalized.as_deref().map(str::to_owned))))
    })
    .await?;
    for_each_batch::<Version<TrackRow>>(store, date, committed, TableName::Tracks, None, |batch| {
        tracks.extend(batch.into_iter().filter(|v| v.is_current()).map(|v| (v.row.id, v.row.genres_normalized.as_deref().map(str::to_owned))))
    })
    .await?;
    inputs.catalog.users = users.into_iter().map(|(id, g)| (id, genre(g.as_deref()))).collect();
    inputs.catalog.tracks = tracks.into_iter().map(|(id, g)| (id, genre(g.as_deref()))).collect();
    inputs.catalog.users.sort_unstable_by_key(|u| u.0);
    inputs.catalog.tracks.sort_unstable_by_key(|t| t.0);
    Ok(inputs)
}

/// The listens that were new (`listen_events_delta`) on each committed curated date of the
/// `days` days ending at `date`, with their age in days, of the users `keep` accepts. A date not
/// committed, or committed without the delta table, is skipped.
pub async fn read_recent(store: &Arc<dyn Store>, date: NaiveDate, days: u32, keep: &dyn Fn(i64) -> bool) -> Result<Vec<RecentListen>, InputError> {
    let mut out = Vec::new();
    for_each_recent(store, date, days, |batch| out.extend(batch.into_iter().filter(|l| keep(l.user_id)))).await?;
    Ok(out)
}

/// [`read_recent`]'s listens, batch by batch, none kept: at a billion listen items a day, a
/// week of new listens is more than a scoring plan should hold.
pub async fn for_each_recent(store: &Arc<dyn Store>, date: NaiveDate, days: u32, mut each: impl FnMut(Vec<RecentListen>)) -> Result<(), InputError> {
    let runs = store.list(&Partition::dataset_prefix(Zone::Curated, RUN_DATASET)).await?;
    for (p, _) in runs.iter().filter_map(|o| Partition::parse_key(&o.key).ok()).filter(|(p, f)| f == MANIFEST_FILE && p.date <= date) {
        let age_days = (date - p.date).num_days();
        if age_days >= i64::from(days) {
            continue;
        }
        let committed = read_committed(store.as_ref(), Zone::Curated, p.date).await.map_err(|source| InputError::NotReadable { date: p.date, source })?;
        let delta = Partition::new(Zone::Curated, TableName::ListenEventsDelta.as_str(), p.date).prefix();
        if !committed.partitions.iter().any(|m| m.partition == delta) {
            continue; // a commit without the table (as `listens_added` counts it: nothing new)
        }
        for_each_batch::<ListenItem>(store, p.date, &committed, TableName::ListenEventsDelta, None, |batch| {
            each(batch.into_iter().map(|e| RecentListen { user_id: e.user_id, track_id: e.track_id, age_days: age_days as u32 }).collect())
        })
        .await?;
    }
    Ok(())
}
