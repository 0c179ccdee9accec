//! One pass over an endpoint's pages: each row judged, accepted rows to `raw/` and rejected
//! ones (with their reasons, personal fields redacted) to `quarantine/`, keys counted for
//! duplicates, the edge pages' keys kept for the end-of-pass drift check ([`super::drift`]).

use super::bucket_sinks::BucketSinks;
use super::drift::{check_listing_held, page_keys};
use super::endpoints::Verdict;
use super::restarts::{Attempt, Duplicates};
use super::{Endpoint, EntitySummary, FetchError, Fetcher};
use crate::commit::{PartitionCommit, RunWriter};
use crate::manifest::{ObjectEntry, ObjectRole};
use crate::partition::{Partition, Zone};
use crate::quarantine::{QuarantineLine, QuarantineReason};
use crate::records::{Check, Entity, Issue};
use crate::source::{Fetched, PageSource};
use chrono::NaiveDate;
use futures::StreamExt;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashSet};

impl<S: PageSource> Fetcher<S> {
    /// One pass over `endpoint`, written under `date`: the partition to commit, what it read,
    /// and the keys it saw twice; or why the pass ended (a changed listing, a failure).
    pub(super) async fn read_once(&self, source: &S, endpoint: &Endpoint, writer: &RunWriter, date: NaiveDate) -> Result<(PartitionCommit, EntitySummary, Duplicates), Attempt> {
        let entity = endpoint.entity;
        let source_err = |source| Attempt::from_source(entity, source);
        let raw = Partition::new(Zone::Raw, entity.as_str(), date);
        let quarantine = Partition::new(Zone::Quarantine, entity.as_str(), date);
        // Listen history is written in buckets of users (the fan-out's unit); the rest whole.
        let buckets = if entity == Entity::ListenHistory { self.limits.listen_buckets } else { 1 };
        let mut reader = EndpointReader {
            endpoint,
            data: BucketSinks::new(writer, &raw, ObjectRole::Data, self.part_rows, buckets),
            rejected: BucketSinks::new(writer, &quarantine, ObjectRole::Quarantine, self.part_rows, buckets),
            keys: HashSet::new(),
            duplicates: BTreeSet::new(),
            edges: BTreeMap::new(),
            last_page: 1,
            rows_seen: 0,
            summary: EntitySummary::default(),
        };
        let first = source.first_page(endpoint.path).await.map_err(source_err)?;
        let (total, pages) = (first.page.total, first.page.pages);
        reader.last_page = pages.max(1);
        let mut rest = std::pin::pin!(source.remaining_pages(endpoint.path, &first.page));
        let progress = crate::progress::Task::start(&format!("fetch {entity}: pages"), pages);
        reader.take(first).await?;
        progress.advance(1);
        while let Some(fetched) = rest.next().await {
            reader.take(fetched.map_err(source_err)?).await?;
            progress.advance(1);
            progress.describe(|| format!("{} rows", reader.rows_seen));
        }
        check_listing_held(source, endpoint, reader.rows_seen, (total, pages), &reader.edges, &mut reader.summary.retries).await?;
        let mut objects: Vec<ObjectEntry> = reader.data.finish().await.map_err(|source| Attempt::Failed(FetchError::Store { entity, source }))?;
        objects.extend(reader.rejected.finish().await.map_err(|source| Attempt::Failed(FetchError::Store { entity, source }))?);
        let mut summary = reader.summary;
        summary.bytes_written = objects.iter().map(|o| o.bytes).sum();
        let counts = BTreeMap::from([
            ("accepted".to_owned(), summary.accepted),
            ("warned".to_owned(), summary.warned),
            ("rejected".to_owned(), summary.rejected),
        ]);
        let details = serde_json::to_value(&summary).expect("a summary serialises");
        let commit = PartitionCommit {
            partition: raw,
            counts,
            objects,
            source: format!("{}/{}", source.base_url(), endpoint.path),
            details,
            also_owns: vec![quarantine],
        };
        Ok((commit, summary, Duplicates { keys: reader.duplicates, total }))
    }
}

/// The state of one pass over an endpoint's pages.
struct EndpointReader<'a> {
    endpoint: &'a Endpoint,
    data: BucketSinks<'a>,
    rejected: BucketSinks<'a>,
    keys: HashSet<i64>,
    /// Keys seen again in this pass.
    duplicates: BTreeSet<i64>,
    /// The keys of the first and the last page, by page number.
    edges: BTreeMap<u64, Vec<String>>,
    last_page: u64,
    rows_seen: u64,
    summary: EntitySummary,
}

impl EndpointReader<'_> {
    async fn take(&mut self, fetched: Fetched) -> Result<(), Attempt> {
        let entity = self.endpoint.entity;
        let page = fetched.page;
        self.summary.pages += 1;
        self.summary.retries += fetched.retries as u64;
        self.rows_seen += page.items.len() as u64;
        if page.page == 1 || page.page == self.last_page {
            self.edges.insert(page.page, page_keys(&page.items, entity));
        }
        let source = format!("{}?page={}", self.endpoint.path, page.page);
        for (position, raw) in page.items.iter().enumerate() {
            // A row serde_json reads only as raw JSON (an object whose first name is its private
            // raw-value marker) is no row to validate: rejected, not a panic.
            let (value, verdict) = match serde_json::from_str::<Value>(raw.get()) {
                Ok(value) => {
                    let verdict = (self.endpoint.validate)(&value);
                    (value, verdict)
                }
                Err(e) => (Value::Null, Verdict::Rejected { reasons: vec![Issue { field: String::new(), check: Check::InvalidRow, detail: format!("not readable as a JSON value: {e}") }] }),
            };
            match verdict {
                Verdict::Accepted { key, warnings } => {
                    if !self.keys.insert(key) {
                        self.duplicates.insert(key);
                        self.summary.duplicate_rows += 1;
                    }
                    self.summary.accepted += 1;
                    if !warnings.is_empty() {
                        self.summary.warned += 1;
                    }
                    for w in warnings {
                        *self.summary.warnings_by_check.entry(w.check).or_default() += 1;
                    }
                    self.data.push(key, raw.get().as_bytes());
                }
                Verdict::Rejected { reasons } => {
                    self.summary.rejected += 1;
                    for r in &reasons {
                        *self.summary.rejections_by_check.entry(r.check).or_default() += 1;
                    }
                    let (line, reasons) = (position as u64 + 1, reasons.iter().map(QuarantineReason::from_issue).collect::<Vec<_>>());
                    let line = if self.endpoint.personal {
                        let row = (self.endpoint.redact)(&value);
                        serde_json::to_vec(&QuarantineLine { source: &source, line, reasons: &reasons, row: &row })
                    } else {
                        serde_json::to_vec(&QuarantineLine { source: &source, line, reasons: &reasons, row: raw.as_ref() })
                    }
                    .expect("serialises");
                    // A rejected row goes with its user's bucket when its key is readable.
                    let key = value.get(entity.key_field()).and_then(Value::as_i64).unwrap_or(0);
                    self.rejected.push(key, &line);
                }
            }
        }
        let store_err = |source| Attempt::Failed(FetchError::Store { entity, source });
        self.data.flush_if_full().await.map_err(store_err)?;
        self.rejected.flush_if_full().await.map_err(store_err)
    }
}
