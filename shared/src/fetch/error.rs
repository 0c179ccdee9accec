//! Why a fetch run fails, and the stable class each failure reports (retry or not).

use crate::commit::CommitError;
use crate::job::Classified;
use crate::records::Entity;
use crate::source::SourceError;
use crate::storage::StoreError;
use crate::trigger::{DateError, TriggerError};

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Trigger(#[from] TriggerError),
    #[error(transparent)]
    Date(#[from] DateError),
    #[error(transparent)]
    TooManyRejected(#[from] TooManyRejected),
    #[error("{entity}: {source}")]
    Source { entity: Entity, source: SourceError },
    #[error("{entity}: the source's listing is inconsistent, even after starting over once: {detail}")]
    Inconsistent { entity: Entity, detail: String },
    #[error("{entity}: could not write the partition: {source}")]
    Store { entity: Entity, source: StoreError },
    #[error(transparent)]
    Commit(#[from] CommitError),
}

impl Classified for FetchError {
    /// A stable class for the Lambda error type and alarms: retrying helps `Retryable.*` only.
    fn error_type(&self) -> &'static str {
        match self {
            FetchError::Trigger(_) => "Permanent.BadEvent",
            FetchError::Date(_) => "Permanent.BadDate",
            FetchError::TooManyRejected(_) => "Permanent.DataQuality",
            FetchError::Source { source: SourceError::Refused { .. } | SourceError::BadPage { .. }, .. } => "Permanent.SourceRefused",
            FetchError::Source { source: SourceError::WrongShape { .. } | SourceError::TooLarge { .. }, .. } => "Permanent.SourceContract",
            FetchError::Source { .. } => "Retryable.SourceUnavailable",
            FetchError::Inconsistent { .. } => "Retryable.SourceInconsistent",
            FetchError::Store { .. } => "Retryable.Storage",
            FetchError::Commit(e) => e.error_type(),
        }
    }
}

/// An entity whose rejected share of the rows served is above `FETCH_MAX_REJECTED_SHARE`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error(
    "{entity}: {rejected} of {served} rows served were rejected ({:.2}%), above FETCH_MAX_REJECTED_SHARE={max} ({by_check}); nothing was committed. Look at the source's rows (the reasons above), then re-run the date (or raise the threshold)",
    share * 100.0
)]
pub struct TooManyRejected {
    pub entity: Entity,
    pub rejected: u64,
    pub served: u64,
    pub share: f64,
    pub max: f64,
    pub by_check: String,
}
