//! Why a transform run fails, and the stable class of each failure (the Lambda error type alarms and retries key on).

use super::listen_events::PairsError;
use super::config::SaltError;
use crate::fanout::FanoutError;
use super::quality::{CurrentRowsDropped, QuarantineExceeded};
use super::raw_date::RawError;
use super::scd2::MergeError;
use crate::codec::CodecError;
use crate::commit::{CommitError, ReadError};
use crate::curated::TableName;
use crate::job::Classified;
use crate::metrics::{Metric, Metrics};
use crate::partition::Zone;
use crate::storage::StoreError;
use crate::trigger::{DateError, TriggerError};
use chrono::NaiveDate;

#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    #[error(transparent)]
    Pii(#[from] SaltError),
    #[error(transparent)]
    Trigger(#[from] TriggerError),
    #[error(transparent)]
    Date(#[from] DateError),
    #[error(
        "transform runs on fetch's commits (raw/_run/dt=.../_manifest.json), but this event is for {zone}: `{key}`"
    )]
    WrongZone { zone: Zone, key: String },
    #[error(transparent)]
    Raw(#[from] RawError),
    #[error(
        "transform {date} needs curated {previous} first ({previous} is the latest earlier date fetch committed, and its curated tables are {date}'s starting history): run transform for {previous}, then {date}"
    )]
    OutOfOrder { date: NaiveDate, previous: NaiveDate },
    #[error("curated {previous} (the starting history): {source}")]
    PreviousUnreadable { previous: NaiveDate, source: ReadError },
    #[error("curated {previous} (the starting history) has no {table} partition; re-run transform for {previous}")]
    PreviousIncomplete { previous: NaiveDate, table: TableName },
    #[error("reading the previous {table}: {source}")]
    Previous { table: TableName, source: CodecError },
    #[error("{table}: {source}; re-run the previous date")]
    Merge { table: TableName, source: MergeError },
    #[error(transparent)]
    Pairs(#[from] PairsError),
    #[error("writing {table}: {source}")]
    Write { table: TableName, source: CodecError },
    #[error(transparent)]
    Quality(#[from] QuarantineExceeded),
    #[error(transparent)]
    Dropped(#[from] CurrentRowsDropped),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Commit(#[from] CommitError),
    #[error(transparent)]
    Fanout(#[from] FanoutError),
}

impl Classified for TransformError {
    /// A stable class for the Lambda error type and alarms: retrying helps `Retryable.*` only.
    fn error_type(&self) -> &'static str {
        use TransformError as E;
        match self {
            E::Pii(SaltError::Ssm(crate::ssm::SsmError::Unavailable { .. })) => "Retryable.SaltUnavailable",
            E::Pii(_) => "Permanent.Configuration",
            E::Trigger(_) | E::WrongZone { .. } => "Permanent.BadEvent",
            E::Date(_) => "Permanent.BadDate",
            E::Raw(RawError::NotReadable(ReadError::NotCommitted { .. })) => {
                "Permanent.RawNotCommitted"
            }
            E::Raw(RawError::NotReadable(ReadError::Mixed { .. })) => "Retryable.RawMidCommit",
            E::Raw(RawError::Incomplete { .. } | RawError::Corrupt { .. }) => "Permanent.RawCorrupt",
            E::Raw(_) => "Retryable.Storage",
            E::OutOfOrder { .. } => "Retryable.OutOfOrder",
            E::PreviousUnreadable { source: ReadError::Commit(CommitError::Store(_)), .. } => "Retryable.Storage",
            // The previous date was being re-committed while this run read it: read it again.
            E::PreviousUnreadable { source: ReadError::Mixed { .. }, .. } => "Retryable.CuratedMidCommit",
            E::Previous { source: CodecError::Store(_), .. } | E::Pairs(PairsError::Read(CodecError::Store(_))) => "Retryable.Storage",
            E::PreviousUnreadable { .. } | E::PreviousIncomplete { .. } | E::Previous { .. } | E::Merge { .. } | E::Pairs(_) => {
                "Permanent.CuratedCorrupt"
            }
            E::Write { source: CodecError::Store(_), .. } => "Retryable.Storage",
            E::Write { .. } => "Permanent.Internal",
            E::Quality(_) | E::Dropped(_) => "Permanent.DataQuality",
            E::Store(_) => "Retryable.Storage",
            E::Commit(e) => e.error_type(),
            E::Fanout(e) => e.error_type(),
        }
    }

    fn record_failure(&self, metrics: &Metrics) {
        if let TransformError::Quality(q) = self {
            // The quarantine alarm watches this even when the run fails because of it.
            metrics.record(Metric::QuarantineShare, q.share);
            metrics.record_for(Metric::RowsQuarantined, q.table.as_str(), q.quarantined as f64);
        }
    }
}

