//! The source API: its pages, the listing rules over them ([`PageSource`]), and the HTTP client
//! that gets one page with retries ([`SourceClient`]).
//!
//! Transient failures (connection errors, timeouts, 5xx, 429, 408, and bodies that are not the
//! expected JSON: truncated, or an HTML error page) are retried with [`retry::Backoff`] within
//! [`retry::RetryBudget`]; other 4xx answers fail at once, naming the URL and the answer.
//! Two answers break the source's contract and fail the run as such: a `200` whose body is valid
//! JSON of another shape than a page (retried once, in case a proxy served something else for a
//! moment, then [`SourceError::WrongShape`]), and a body larger than `FETCH_MAX_BODY_BYTES`
//! ([`SourceError::TooLarge`], read no further than the limit).

mod pages;
pub mod retry;

pub use pages::PageSource;

use crate::fetch::config::SourceConfig;
use retry::{Backoff, RetryBudget, parse_retry_after};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::sync::Arc;
use std::time::Duration;

/// One page as served: the rows are kept as their exact source text.
#[derive(Debug, Deserialize)]
pub struct Page {
    pub items: Vec<Box<RawValue>>,
    pub total: u64,
    pub page: u64,
    pub size: u64,
    pub pages: u64,
}

/// A page and what it cost to get.
#[derive(Debug)]
pub struct Fetched {
    pub page: Page,
    pub retries: u32,
    pub bytes: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{url}: answered {status}, which retrying will not fix: {body}")]
    Refused { url: String, status: u16, body: String },
    #[error("{url}: gave up after {attempts} attempts; last failure: {last}")]
    Exhausted { url: String, attempts: u32, last: String },
    #[error("{url}: the run's retry budget is spent ({budget} retries); last failure: {last}")]
    BudgetSpent { url: String, budget: u32, last: String },
    #[error("{url}: the page does not match its request: {detail}")]
    BadPage { url: String, detail: String },
    #[error("{url}: answered 200 with JSON that is not a page (twice in a row), which retrying will not fix: {detail}")]
    WrongShape { url: String, detail: String },
    #[error("{url}: the response body exceeds FETCH_MAX_BODY_BYTES ({limit} bytes); raise it if the source's pages are really that large")]
    TooLarge { url: String, limit: usize },
    #[error("{path}: the listing changed while it was read: {detail}")]
    Changed { path: String, detail: String },
    #[error("could not build the HTTP client: {0}")]
    Client(String),
}

/// Why one attempt failed, and whether another may succeed.
struct Failure {
    retryable: bool,
    kind: FailureKind,
    retry_after: Option<Duration>,
    status: u16,
    message: String,
}

/// The failures that are not the usual transient kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FailureKind {
    Transient,
    /// Valid JSON, but not a page: retried once only.
    WrongShape,
    /// Over the body size limit: never retried.
    TooLarge,
}

/// Wrong-shape answers in a row after which a page fails: the first is retried once.
const WRONG_SHAPE_ATTEMPTS: u32 = 2;

#[derive(Debug, Clone)]
pub struct SourceClient {
    http: reqwest::Client,
    config: SourceConfig,
    budget: Arc<RetryBudget>,
}

impl SourceClient {
    pub fn new(config: SourceConfig) -> Result<Self, SourceError> {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::ACCEPT, "application/json".parse().expect("a valid header"));
        if let Some(token) = &config.token {
            let value = format!("Bearer {token}").parse().map_err(|_| SourceError::Client("SOURCE_API_TOKEN is not a valid header value".into()))?;
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        let http = reqwest::Client::builder()
            .user_agent(concat!("moovitamix-pipeline/", env!("CARGO_PKG_VERSION")))
            .default_headers(headers)
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(10)))
            .pool_max_idle_per_host(config.concurrency)
            .build()
            .map_err(|e| SourceError::Client(e.to_string()))?;
        let budget = Arc::new(RetryBudget::new(config.retry_budget));
        Ok(Self { http, config, budget })
    }

    pub fn config(&self) -> &SourceConfig {
        &self.config
    }

    /// A copy of this client with a fresh retry budget: one per run.
    pub fn for_run(&self) -> Self {
        Self { budget: Arc::new(RetryBudget::new(self.config.retry_budget)), ..self.clone() }
    }

    /// Gets one page, retrying transient failures.
    pub async fn page(&self, path: &str, number: u64) -> Result<Fetched, SourceError> {
        let url = self.url(path, number);
        let backoff = Backoff { base: self.config.backoff_base, max: self.config.backoff_max };
        let (mut retries, mut wrong_shapes) = (0, 0);
        loop {
            let failure = match self.attempt(&url).await {
                Ok((page, bytes)) => {
                    check_page(&page, number, self.config.page_size).map_err(|detail| SourceError::BadPage { url: url.clone(), detail })?;
                    return Ok(Fetched { page, retries, bytes });
                }
                Err(f) => f,
            };
            match failure.kind {
                FailureKind::TooLarge => return Err(SourceError::TooLarge { url, limit: self.config.max_body_bytes }),
                FailureKind::WrongShape => {
                    wrong_shapes += 1;
                    if wrong_shapes >= WRONG_SHAPE_ATTEMPTS {
                        return Err(SourceError::WrongShape { url, detail: failure.message });
                    }
                }
                FailureKind::Transient => wrong_shapes = 0,
            }
            if !failure.retryable {
                return Err(SourceError::Refused { url, status: failure.status, body: failure.message });
            }
            if retries + 1 >= self.config.max_attempts {
                return Err(SourceError::Exhausted { url, attempts: retries + 1, last: failure.message });
            }
            if !self.budget.take() {
                return Err(SourceError::BudgetSpent { url, budget: self.config.retry_budget, last: failure.message });
            }
            retries += 1;
            let delay = backoff.delay(retries, failure.retry_after, fastrand::f64());
            tracing::warn!(%url, retry = retries, delay_ms = delay.as_millis() as u64, reason = %failure.message, "retrying");
            tokio::time::sleep(delay).await;
        }
    }

    async fn attempt(&self, url: &str) -> Result<(Page, usize), Failure> {
        let transport = |e: reqwest::Error| Failure {
            retryable: true,
            kind: FailureKind::Transient,
            retry_after: None,
            status: 0,
            message: format!("{} ({e})", if e.is_timeout() { "timed out" } else { "transport error" }),
        };
        let response = self.http.get(url).send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, chrono::Utc::now()));
        let is_html = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("html"));
        let limit = self.config.max_body_bytes;
        let too_large = Failure { retryable: false, kind: FailureKind::TooLarge, retry_after: None, status, message: format!("over {limit} bytes") };
        if response.content_length().is_some_and(|n| n > limit as u64) {
            return Err(too_large);
        }
        let body = read_body(response, limit).await.map_err(transport)?.ok_or(too_large)?;
        let transient = |message| Failure { retryable: true, kind: FailureKind::Transient, retry_after, status, message };
        if status != 200 {
            let retryable = matches!(status, 408 | 429) || status >= 500;
            return Err(Failure { retryable, ..transient(format!("HTTP {status}: {}", excerpt(&body))) });
        }
        if is_html || body.trim_ascii_start().starts_with(b"<") {
            return Err(transient(format!("an HTML page instead of JSON: {}", excerpt(&body))));
        }
        match serde_json::from_slice::<Page>(&body) {
            Ok(page) => Ok((page, body.len())),
            // Valid JSON that is not a page: a changed API, not a glitch of the transport.
            Err(e) if e.classify() == serde_json::error::Category::Data => {
                Err(Failure { kind: FailureKind::WrongShape, ..transient(format!("{e}; the body starts {}", excerpt(&body))) })
            }
            Err(e) => Err(transient(format!("unparsable body ({e}; {} bytes{})", body.len(), if e.is_eof() { ", truncated" } else { "" }))),
        }
    }
}

impl PageSource for SourceClient {
    fn base_url(&self) -> &str {
        &self.config.base_url
    }

    fn page_size(&self) -> u32 {
        self.config.page_size
    }

    fn concurrency(&self) -> usize {
        self.config.concurrency
    }

    fn for_run(&self) -> Self {
        SourceClient::for_run(self)
    }

    async fn page(&self, path: &str, number: u64) -> Result<Fetched, SourceError> {
        SourceClient::page(self, path, number).await
    }
}

/// The body, chunk by chunk, or `None` as soon as it exceeds `limit` bytes: a source that
/// answers without end (or with a wrong `content-length`) never makes us buffer it all.
async fn read_body(mut response: reqwest::Response, limit: usize) -> Result<Option<Vec<u8>>, reqwest::Error> {
    // A declared length is a hint, never a reason to allocate much before the bytes arrive.
    let mut body = Vec::with_capacity(response.content_length().map_or(64 * 1024, |n| n as usize).min(limit).min(1 << 20));
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

/// A page must be the one asked for, and hold no more rows than its size.
fn check_page(page: &Page, number: u64, size: u32) -> Result<(), String> {
    if page.page != number || page.size != size as u64 {
        return Err(format!("asked for page {number} of size {size}, got page {} of size {}", page.page, page.size));
    }
    if page.items.len() as u64 > page.size {
        return Err(format!("{} rows on a page of size {}", page.items.len(), page.size));
    }
    Ok(())
}

/// The start of a body, for messages.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(200)]);
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if body.len() > 200 { format!("{flat}…") } else { flat }
}

#[cfg(test)]
mod tests;
