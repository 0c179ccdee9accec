//! What the fetch job reads: a source of numbered pages, and the listing rules built on it.
//!
//! [`PageSource`] is the seam between the fetch job and the HTTP client ([`super::SourceClient`]):
//! the client implements one page (with its retries); the listing (page 1 gives `total` and
//! `pages`, the others must agree with it, a bounded number in flight) is written once here, so
//! the job's restarts, drift detection and duplicates are tested with scripted pages.

use super::{Fetched, Page, SourceError};
use futures::{Stream, StreamExt, stream};
use std::future::Future;

/// A source of pages of rows, by endpoint path and page number (1-based).
pub trait PageSource: Clone + Send + Sync + std::fmt::Debug + 'static {
    /// Where the pages come from (`SOURCE_API_URL`), named in manifests and messages.
    fn base_url(&self) -> &str;
    /// Rows per page asked for.
    fn page_size(&self) -> u32;
    /// Pages in flight at once.
    fn concurrency(&self) -> usize;
    /// A copy for one run (the HTTP client's retry budget is per run).
    fn for_run(&self) -> Self;
    /// One page, or why it cannot be had.
    fn page(&self, path: &str, number: u64) -> impl Future<Output = Result<Fetched, SourceError>> + Send;

    /// The address of a page, for messages.
    fn url(&self, path: &str, page: u64) -> String {
        format!("{}/{path}?page={page}&size={}", self.base_url(), self.page_size())
    }

    /// Page 1 of `path`, which gives `total` and `pages` for the rest of the listing.
    fn first_page(&self, path: &str) -> impl Future<Output = Result<Fetched, SourceError>> + Send {
        async move {
            let first = self.page(path, 1).await?;
            let (total, pages) = (first.page.total, first.page.pages);
            if pages != total.div_ceil(self.page_size() as u64) {
                let detail = format!("page 1 says {pages} pages for {total} rows of {} per page", self.page_size());
                return Err(SourceError::BadPage { url: self.url(path, 1), detail });
            }
            Ok(first)
        }
    }

    /// Pages 2 onwards of `path`, in page order, with at most `concurrency` requests in flight.
    /// A page reporting another `total` or `pages` than `first` ends the stream with
    /// [`SourceError::Changed`], for the caller to start the endpoint over.
    fn remaining_pages<'a>(&'a self, path: &'a str, first: &Page) -> impl Stream<Item = Result<Fetched, SourceError>> + Send + 'a {
        let (total, pages) = (first.total, first.pages);
        stream::iter(2..=pages).map(move |n| self.page(path, n)).buffered(self.concurrency()).map(move |fetched| {
            let fetched = fetched?;
            let p = &fetched.page;
            if p.total != total || p.pages != pages {
                let detail = format!("page 1 said {total} rows in {pages} pages; page {} says {} rows in {} pages", p.page, p.total, p.pages);
                return Err(SourceError::Changed { path: path.to_owned(), detail });
            }
            Ok(fetched)
        })
    }
}
