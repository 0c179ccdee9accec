//! [`with_run`]: the one place that owns a run's lease, writer, deadline, commit or abort, release.

use super::clock::Clock;
use super::lease::{Lease, LeaseSettings};
use super::read::read_manifest;
use super::writer::{Base, Committed, PartitionCommit, RunWriter};
use super::{CommitError, RunId};
use crate::partition::{Partition, Zone};
use crate::storage::{PutMode, Store, StoreError};
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// How every stage commits: its lease, its clean-up, its clock.
#[derive(Debug, Clone)]
pub struct CommitSettings {
    pub lease: LeaseSettings,
    /// Objects no commit lists are removed once older than this (by the store's clock): longer
    /// than any run lasts, so that a live run's objects are never taken for a dead one's.
    pub orphan_grace: Duration,
    /// A run with a deadline stops this long before it, to abort and release in time.
    pub deadline_margin: Duration,
    /// The commit write (the run manifest) is abandoned when not answered within this, and is
    /// started only while the lease stays fresh for this long: a write that lands, lands while
    /// the lease is still the run's (give or take the tolerated clock skew). At most half the TTL
    /// is used.
    pub commit_write_timeout: Duration,
    pub clock: Arc<dyn Clock>,
}

impl Default for CommitSettings {
    /// The documented defaults (see `config::SHARED_VARIABLES`) on the system clock.
    fn default() -> Self {
        Self {
            lease: LeaseSettings { ttl: Duration::from_secs(60), max_clock_skew: Duration::from_secs(15), wait: Duration::from_secs(90) },
            orphan_grace: Duration::from_secs(6 * 3600),
            deadline_margin: Duration::from_secs(15),
            commit_write_timeout: Duration::from_secs(10),
            clock: Arc::new(super::clock::SystemClock),
        }
    }
}

/// One run of a stage on one date.
#[derive(Debug, Clone)]
pub struct RunSpec {
    pub store: Arc<dyn Store>,
    pub stage: &'static str,
    pub zone: Zone,
    pub date: NaiveDate,
    pub run_id: RunId,
    /// When the run must be over (the Lambda invocation's deadline), if it has one.
    pub deadline: Option<DateTime<Utc>>,
}

/// What a run's work hands to the commit.
#[derive(Debug)]
pub struct Staged<T> {
    pub partitions: Vec<PartitionCommit>,
    /// The run manifest's `details`.
    pub details: serde_json::Value,
    pub output: T,
}

/// Runs `work` under the date's lease and commits what it staged, or nothing.
///
/// 1. Takes the lease (waiting for a holder to finish or lapse) and reads the run manifest it
///    will replace, with its entity tag.
/// 2. Runs `work`, which writes objects through the [`RunWriter`] into the run's own folders,
///    while a heartbeat renews the lease. The work is stopped when the lease is lost or the
///    deadline (less its margin) comes.
/// 3. Renews the lease once more (proof it still holds it), writes each partition's manifest
///    in the run's folder, and then the run manifest, replacing only the one read in 1: that
///    conditional write is the commit point. A run that lost a race there changes nothing.
/// 4. After the switch: symlink manifests for the query layer, then removal of the replaced
///    commit's objects and of old orphans; failures there are warnings.
/// 5. Releases the lease, whatever happened.
///
/// A run that fails before 3 deletes what it wrote; the previous commit stays whole.
pub async fn with_run<T, E, F, Fut>(spec: RunSpec, settings: &CommitSettings, work: F) -> Result<(Committed, T), E>
where
    F: FnOnce(Arc<RunWriter>) -> Fut,
    Fut: Future<Output = Result<Staged<T>, E>>,
    E: From<CommitError>,
{
    let run = Run::begin(spec, settings).await?;
    let stop_at = run.stop_at;
    let outcome = tokio::select! {
        biased;
        () = run.lease.lost() => Err(E::from(run.lease.lost_reason())),
        () = sleep_until(stop_at, settings.clock.as_ref()) => Err(E::from(CommitError::DeadlineExceeded { deadline: run.spec.deadline.unwrap_or_default() })),
        staged = work(run.writer.clone()) => staged,
    };
    // Work that ended after the stop time leaves no time to commit and release before the
    // deadline: stop now rather than be killed mid-commit.
    let outcome = match outcome {
        Ok(_) if stop_at.is_some_and(|at| settings.clock.now() >= at) => Err(E::from(CommitError::DeadlineExceeded { deadline: run.spec.deadline.unwrap_or_default() })),
        outcome => outcome,
    };
    match outcome {
        Ok(staged) => run.commit(staged.partitions, staged.details).await.map(|c| (c, staged.output)).map_err(E::from),
        Err(e) => {
            run.abort().await;
            Err(e)
        }
    }
}

/// A run in progress: its lease (renewed by a heartbeat), the commit it replaces, its writer.
/// [`with_run`] is the way to use it; tools that write a date from memory (tests, benchmarks)
/// may drive it by hand.
#[derive(Debug)]
pub struct Run {
    spec: RunSpec,
    settings: CommitSettings,
    lease: Arc<Lease>,
    base: Base,
    writer: Arc<RunWriter>,
    heartbeat: tokio::task::JoinHandle<()>,
    stop_at: Option<DateTime<Utc>>,
}

impl Run {
    /// Takes the lease (waiting for a holder to finish or lapse, within the deadline) and reads
    /// the run manifest it will replace, with its entity tag.
    pub async fn begin(spec: RunSpec, settings: &CommitSettings) -> Result<Run, CommitError> {
        let clock = settings.clock.clone();
        let stop_at = spec.deadline.map(|d| d - chrono::Duration::from_std(settings.deadline_margin).unwrap_or_default());
        let mut lease_settings = settings.lease;
        if let Some(stop_at) = stop_at {
            lease_settings.wait = lease_settings.wait.min((stop_at - clock.now()).to_std().unwrap_or_default());
        }
        let lease = Arc::new(Lease::acquire(spec.store.clone(), spec.zone, spec.date, &spec.run_id, lease_settings, clock.clone()).await?);
        let base = match read_base(spec.store.as_ref(), spec.zone, spec.date).await {
            Ok(base) => base,
            Err(e) => {
                release(&lease).await;
                return Err(e);
            }
        };
        // A run id commits a date once: a second run of the same id (a fanned commit step
        // retried after its first attempt switched) would rewrite, and on failure delete, what
        // the committed run's manifest names.
        if base.manifest.as_ref().is_some_and(|m| m.run_id == spec.run_id.as_str()) {
            release(&lease).await;
            return Err(CommitError::AlreadyCommitted { partition: Partition::run(spec.zone, spec.date).prefix(), run_id: spec.run_id.to_string() });
        }
        let writer = Arc::new(RunWriter::new(spec.store.clone(), spec.stage, spec.zone, spec.date, spec.run_id.clone(), clock.now()));
        let heartbeat = tokio::spawn(lease.clone().keep_alive());
        Ok(Run { spec, settings: settings.clone(), lease, base, writer, heartbeat, stop_at })
    }

    pub fn writer(&self) -> &Arc<RunWriter> {
        &self.writer
    }

    /// Commits the staged partitions (steps 3 and 4 of [`with_run`]) and releases the lease; on
    /// a failure before the switch, deletes what the run wrote.
    pub async fn commit(self, partitions: Vec<PartitionCommit>, details: serde_json::Value) -> Result<Committed, CommitError> {
        self.lease.stop_heartbeat(&self.heartbeat).await;
        let result = commit(&self.spec, &self.settings, &self.writer, &self.lease, &self.base, partitions, details).await;
        match &result {
            Ok(_) => {}
            // The run manifest may have landed: deleting its objects could break a commit.
            Err(CommitError::Unknown { .. }) => self.writer.close(),
            Err(_) => self.writer.abort().await,
        }
        release(&self.lease).await;
        result
    }

    /// Deletes what the run wrote and releases the lease; the previous commit stays whole.
    pub async fn abort(self) {
        self.lease.stop_heartbeat(&self.heartbeat).await;
        self.writer.abort().await;
        release(&self.lease).await;
    }
}

impl Drop for Run {
    /// A run dropped mid-way (its future cancelled) stops renewing: its lease lapses.
    fn drop(&mut self) {
        self.heartbeat.abort();
    }
}

/// The run manifest a run will replace, read right after it took the lease.
async fn read_base(store: &dyn Store, zone: Zone, date: NaiveDate) -> Result<Base, CommitError> {
    let key = Partition::run(zone, date).manifest_key();
    Ok(match store.get_opt(&key).await? {
        None => Base::default(),
        // An unreadable run manifest is still replaced (only its entity tag matters for that);
        // its objects are then left to the orphan clean-up.
        Some(object) => Base { etag: Some(object.etag), manifest: crate::manifest::Manifest::from_json(&object.data).ok() },
    })
}

async fn sleep_until(at: Option<DateTime<Utc>>, clock: &dyn Clock) {
    match at {
        Some(at) => tokio::time::sleep((at - clock.now()).to_std().unwrap_or_default()).await,
        None => std::future::pending().await,
    }
}

async fn release(lease: &Lease) {
    if let Err(e) = lease.release().await {
        tracing::warn!(error = %e, lease = lease.key(), "could not release the lease; it lapses by itself");
    }
}

async fn commit(
    spec: &RunSpec,
    settings: &CommitSettings,
    writer: &RunWriter,
    lease: &Lease,
    base: &Base,
    partitions: Vec<PartitionCommit>,
    details: serde_json::Value,
) -> Result<Committed, CommitError> {
    writer.close();
    lease.renew().await?;
    let finished_at = settings.clock.now();
    let entries = writer.write_partition_manifests(&partitions, finished_at).await?;
    let run = writer.run_manifest(&partitions, entries.clone(), finished_at, details);
    let key = Partition::run(spec.zone, spec.date).manifest_key();
    let mode = base.etag.clone().map_or(PutMode::Create, PutMode::Replace);
    // At most half the TTL, so that a lease just renewed leaves room for it.
    let write_timeout = settings.commit_write_timeout.min(settings.lease.ttl / 2);
    lease.check_fresh_for(write_timeout)?;
    let write = spec.store.put(&key, Bytes::from(run.to_json()), mode);
    let written = match tokio::time::timeout(write_timeout, write).await {
        Ok(written) => written,
        Err(_) => Err(StoreError::Backend {
            location: spec.store.location(),
            operation: "put",
            key: key.clone(),
            source: format!("no answer within {write_timeout:?}; abandoned").into(),
        }),
    };
    if let Err(e) = written {
        // Whatever the answer, look: a write refused on a retry may be our own first attempt that
        // landed, and one with no answer may have landed or not.
        let refused = matches!(e, StoreError::AlreadyExists { .. } | StoreError::Precondition { .. });
        match read_manifest(spec.store.as_ref(), &key).await {
            Ok(Some(m)) if m.run_id == run.run_id => tracing::warn!(error = %e, "the run manifest's write answered an error, but it landed"),
            // Another run committed over the base: ours was refused for good.
            Ok(Some(_)) if refused => return Err(CommitError::Superseded { partition: Partition::run(spec.zone, spec.date).to_string() }),
            // Not there (yet): the write may still land, so nothing the run wrote is deleted.
            _ => return Err(CommitError::Unknown { key, source: e }),
        }
    }
    tracing::info!(manifest = %key, "committed");
    let (removed, cleanup_failures) = writer.clean_up(&partitions, &entries, base, settings.orphan_grace, lease).await;
    if cleanup_failures > 0 {
        tracing::warn!(cleanup_failures, "the commit is whole, but some clean-up after it failed; the next run of the date retries it");
    }
    Ok(Committed { run_manifest: key, manifests: entries.into_iter().map(|e| e.key).collect(), removed_stale_objects: removed, cleanup_failures })
}
