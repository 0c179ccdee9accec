//! The commit protocol every stage writes through, owned by one function: [`with_run`].
//!
//! | key | what |
//! | --- | --- |
//! | `<zone>/_run/dt=D/_lease.json` | the date's lease ([`lease`]): one run of a stage and date at a time |
//! | `<zone>/<dataset>/dt=D/run=<id>/part-NNNNN.<ext>` | a run's data objects, in its own folder |
//! | `<zone>/<dataset>/dt=D/run=<id>/_manifest.json` | a run's manifest of that partition, written once |
//! | `<zone>/_run/dt=D/_manifest.json` | the run manifest: names the partition manifests; its conditional write is the commit point and the event that starts the next stage |
//! | `<zone>/<dataset>/_symlink_format_manifest/dt=D/manifest` | the committed files' addresses, for readers outside the code (Athena, DuckDB) |
//!
//! A run never writes outside its own folders before the switch, so a crashed or stale run
//! leaves the previous commit whole; the switch is one conditional write, so two runs never both
//! commit over the same base; clean-up removes only what the replaced manifests list, and
//! orphans older than a grace period, never the objects of a run that may be alive.

pub mod clock;
pub mod lease;
mod read;
mod run;
mod run_id;
mod writer;

#[cfg(test)]
mod tests;

pub use clock::{Clock, ManualClock, SystemClock};
pub use lease::{Lease, LeaseSettings};
pub use read::{CommittedRun, ReadError, read_committed, read_manifest};
pub use run::{CommitSettings, Run, RunSpec, Staged, with_run};
pub use run_id::RunId;
pub use writer::{Committed, PartitionCommit, RunWriter};

use crate::storage::StoreError;
use chrono::{DateTime, Utc};

#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error("another run ({holder}) holds the lease on {partition} until {until}; retry after that")]
    Busy { partition: String, holder: String, until: DateTime<Utc> },
    #[error("{partition}: this run lost its lease ({why}); it committed nothing")]
    LeaseLost { partition: String, why: String },
    #[error("{partition}: another run committed the date while this one ran; this run committed nothing (re-run it to replace that commit)")]
    Superseded { partition: String },
    #[error("stopped before the invocation's deadline ({deadline}) to abort cleanly; nothing committed; give the function more time or memory")]
    DeadlineExceeded { deadline: DateTime<Utc> },
    #[error("{key}: the commit write failed ({source}) and whether it landed is not known; nothing was deleted; re-run the date")]
    Unknown { key: String, source: StoreError },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{key}: unreadable manifest: {source}")]
    BadManifest { key: String, source: serde_json::Error },
    #[error("{partition}: run {run_id} has already committed the date; a run commits once")]
    AlreadyCommitted { partition: String, run_id: String },
}

impl CommitError {
    /// The stable Lambda error type: every stage maps its commit errors through this.
    pub fn error_type(&self) -> &'static str {
        match self {
            CommitError::Busy { .. } => "Retryable.DateBusy",
            CommitError::LeaseLost { .. } => "Retryable.LeaseLost",
            CommitError::Superseded { .. } => "Retryable.DateSuperseded",
            CommitError::DeadlineExceeded { .. } => "Retryable.DeadlineExceeded",
            CommitError::Unknown { .. } | CommitError::Store(_) | CommitError::BadManifest { .. } => "Retryable.Storage",
            CommitError::AlreadyCommitted { .. } => "Permanent.AlreadyCommitted",
        }
    }
}
