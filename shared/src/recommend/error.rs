//! Why a recommend run fails, and the stable class of each failure (the Lambda error type alarms and retries key on).

use super::inputs::InputError;
use super::model_store::ModelStoreError;
use super::request::RequestError;
use crate::codec::CodecError;
use crate::commit::CommitError;
use crate::fanout::FanoutError;
use crate::job::Classified;
use crate::storage::StoreError;
use crate::trigger::DateError;
use chrono::NaiveDate;

#[derive(Debug, thiserror::Error)]
pub enum RecommendError {
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error(transparent)]
    Date(#[from] DateError),
    #[error(transparent)]
    Input(#[from] InputError),
    #[error(transparent)]
    Models(#[from] ModelStoreError),
    #[error("model version {version}: {detail}")]
    Model { version: String, detail: String },
    #[error("curated {date} has no listen events to train on")]
    NoListens { date: NaiveDate },
    #[error("curated {date}: the sample of users training reads (ALS_TRAIN_USER_SHARE {share}) has no listen events; raise the share (or check that the date has listens)")]
    EmptySample { date: NaiveDate, share: f64 },
    #[error("writing recommendations: {0}")]
    Write(#[from] CodecError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Commit(#[from] CommitError),
    #[error(transparent)]
    Fanout(#[from] FanoutError),
}

impl Classified for RecommendError {
    /// A stable class for the Lambda error type and alarms: retrying helps `Retryable.*` only.
    fn error_type(&self) -> &'static str {
        use crate::commit::ReadError;
        use RecommendError as E;
        match self {
            E::Request(_) => "Permanent.BadEvent",
            E::Date(_) => "Permanent.BadDate",
            E::Input(InputError::NotReadable {
                source: ReadError::NotCommitted { .. },
                ..
            }) => "Permanent.CuratedNotCommitted",
            E::Input(InputError::NotReadable {
                source: ReadError::Mixed { .. },
                ..
            }) => "Retryable.CuratedMidCommit",
            E::Input(InputError::NoCuratedDate) => "Permanent.CuratedNotCommitted",
            E::Input(InputError::Store(_) | InputError::Table { source: CodecError::Store(_), .. }) => "Retryable.Storage",
            E::Input(InputError::NotReadable { source: ReadError::Commit(_), .. }) => "Retryable.Storage",
            E::Input(_) => "Permanent.CuratedCorrupt",
            E::Models(ModelStoreError::NoSuchVersion { .. }) => "Permanent.NoSuchVersion",
            E::Models(ModelStoreError::ChampionMoved) => "Retryable.ChampionMoved",
            E::Models(ModelStoreError::Corrupt { .. }) | E::Model { .. } => "Permanent.ModelCorrupt",
            E::Models(ModelStoreError::Store(_)) => "Retryable.Storage",
            E::NoListens { .. } | E::EmptySample { .. } => "Permanent.NoListens",
            E::Write(CodecError::Store(_)) | E::Store(_) => "Retryable.Storage",
            E::Write(_) => "Permanent.Internal",
            E::Commit(e) => e.error_type(),
            E::Fanout(e) => e.error_type(),
        }
    }
}

