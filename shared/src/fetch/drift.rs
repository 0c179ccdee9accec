//! Catching a listing that changed while a pass read it, when `total` alone does not show it:
//! the rows received must add up to `total`, and the first and last pages, read again at the
//! end, must list the same keys. Either failing is an [`Attempt::Changed`]: the endpoint starts over.

use super::Endpoint;
use super::restarts::Attempt;
use crate::records::Entity;
use crate::source::PageSource;
use serde_json::Value;
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// The end-of-pass checks of a pass that saw `rows_seen` rows under `total` rows in `pages`
/// pages, with the `edges` (first and last pages' keys) it recorded; the re-reads' retries are
/// added to `retries`.
pub(super) async fn check_listing_held<S: PageSource>(
    source: &S,
    endpoint: &Endpoint,
    rows_seen: u64,
    (total, pages): (u64, u64),
    edges: &BTreeMap<u64, Vec<String>>,
    retries: &mut u64,
) -> Result<(), Attempt> {
    let entity = endpoint.entity;
    if rows_seen != total {
        return Err(Attempt::Changed(format!("received {rows_seen} rows in {pages} pages, but `total` says {total}")));
    }
    // A row deleted from a page already read and another inserted leave `total` and the row
    // count as they were, but move the keys of the first or the last page: read them again.
    for (&number, keys) in edges {
        let again = source.page(endpoint.path, number).await.map_err(|source| Attempt::from_source(entity, source))?;
        *retries += again.retries as u64;
        if (again.page.total, again.page.pages) != (total, pages) {
            return Err(Attempt::Changed(format!("page {number} read again says {} rows in {} pages, not {total} in {pages}", again.page.total, again.page.pages)));
        }
        if &page_keys(&again.page.items, entity) != keys {
            return Err(Attempt::Changed(format!("the keys of page {number} moved while the listing was read (a row removed and another added)")));
        }
    }
    Ok(())
}

/// The key field of each row of a page, as served (`null` when missing): what the end-of-pass
/// check compares, so that a row that only changed its content does not count as moved.
pub(super) fn page_keys(items: &[Box<RawValue>], entity: Entity) -> Vec<String> {
    items
        .iter()
        .map(|raw| match serde_json::from_str::<Value>(raw.get()) {
            Ok(row) => row.get(entity.key_field()).map_or_else(|| "null".to_owned(), Value::to_string),
            Err(_) => raw.get().to_owned(),
        })
        .collect()
}
