//! Reading an endpoint completely: a pass is repeated once when the listing changed under it,
//! or to tell a key the source really serves twice (the same on both passes, committed as served)
//! from a listing that shifted.

use super::{Endpoint, EntitySummary, FetchError, Fetcher};
use crate::commit::{PartitionCommit, RunWriter};
use crate::records::Entity;
use crate::source::{PageSource, SourceError};
use chrono::NaiveDate;
use std::collections::BTreeSet;

impl<S: PageSource> Fetcher<S> {
    /// Reads one endpoint completely, starting over once if its listing changes under us, or to
    /// tell a duplicate the source holds (the same on both passes) from a listing that shifted.
    pub(super) async fn read_endpoint(&self, source: &S, endpoint: &Endpoint, writer: &RunWriter, date: NaiveDate) -> Result<(PartitionCommit, EntitySummary, Entity), FetchError> {
        let entity = endpoint.entity;
        let mut restarts = 0;
        // The duplicates of the first pass, when it ended on them.
        let mut first_duplicates: Option<Duplicates> = None;
        loop {
            // Objects of an abandoned attempt are overwritten, or removed at the commit.
            let detail = match self.read_once(source, endpoint, writer, date).await {
                Ok((commit, mut summary, duplicates)) => {
                    match (&first_duplicates, duplicates.keys.is_empty()) {
                        (_, true) => {}
                        (Some(first), false) if *first == duplicates => {
                            tracing::warn!(%entity, keys = ?duplicates.keys, total = duplicates.total,
                                "the source serves the same keys twice on two passes, with a stable total: committed as served for transform's duplicate_key rule");
                        }
                        (Some(first), false) => {
                            let detail = format!("keys served twice: {:?} of {} rows, then {:?} of {}", first.keys, first.total, duplicates.keys, duplicates.total);
                            return Err(FetchError::Inconsistent { entity, detail });
                        }
                        (None, false) if restarts == 0 => {
                            tracing::warn!(%entity, keys = ?duplicates.keys, "keys served twice: reading the endpoint again to tell a shifted listing from a duplicate the source holds");
                            first_duplicates = Some(duplicates);
                            restarts += 1;
                            continue;
                        }
                        (None, false) => {
                            let detail = format!("keys served twice after a restart: {:?}", duplicates.keys);
                            return Err(FetchError::Inconsistent { entity, detail });
                        }
                    }
                    summary.restarts = restarts;
                    tracing::info!(%entity, accepted = summary.accepted, warned = summary.warned, rejected = summary.rejected,
                        pages = summary.pages, retries = summary.retries, restarts, duplicate_rows = summary.duplicate_rows, "endpoint read");
                    return Ok((commit, summary, entity));
                }
                Err(Attempt::Changed(detail)) => detail,
                Err(Attempt::Failed(e)) => return Err(e),
            };
            if restarts > 0 {
                return Err(FetchError::Inconsistent { entity, detail });
            }
            tracing::warn!(%entity, %detail, "the listing changed while it was read; starting the endpoint over");
            restarts += 1;
        }
    }
}

/// Why one attempt at an endpoint ended.
pub(super) enum Attempt {
    /// The listing changed under us: worth starting over once.
    Changed(String),
    Failed(FetchError),
}

impl Attempt {
    /// A listing that changed is worth starting over; any other source error fails the run.
    pub(super) fn from_source(entity: Entity, source: SourceError) -> Self {
        match source {
            SourceError::Changed { detail, .. } => Attempt::Changed(detail),
            source => Attempt::Failed(FetchError::Source { entity, source }),
        }
    }
}

/// The keys one pass saw twice, and the `total` it read them under.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Duplicates {
    pub(super) keys: BTreeSet<i64>,
    pub(super) total: u64,
}
