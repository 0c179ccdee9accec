//! Fetch's settings: the source client's (`SOURCE_*`, `FETCH_*` of the HTTP side) and the job's
//! data contract, with the table that documents them.

use crate::config::{ConfigError, Env, Range::*, Variable};
use std::time::Duration;

pub const VARIABLES: &[Variable] = &[
    Variable { name: "SOURCE_API_URL", default: "http://127.0.0.1:8000", range: Text, meaning: "Base URL of the MooVitamix source API." },
    Variable { name: "SOURCE_API_TOKEN", default: "", range: Text, meaning: "Bearer token sent to the source API, if set." },
    Variable { name: "FETCH_PAGE_SIZE", default: "100", range: Whole(1, 100), meaning: "Rows per page requested from the source (1..=100)." },
    Variable { name: "FETCH_CONCURRENCY", default: "8", range: Whole(1, 256), meaning: "Pages in flight at once, per endpoint." },
    Variable { name: "FETCH_TIMEOUT_MS", default: "10000", range: Whole(1, 900_000), meaning: "Timeout of one HTTP request, in milliseconds." },
    Variable { name: "FETCH_MAX_ATTEMPTS", default: "6", range: Whole(1, 100), meaning: "Attempts per page before the endpoint fails." },
    Variable { name: "FETCH_RETRY_BUDGET", default: "200", range: Whole(0, 1_000_000), meaning: "Retries allowed across a whole run before it fails." },
    Variable { name: "FETCH_BACKOFF_BASE_MS", default: "200", range: Whole(0, 600_000), meaning: "First retry delay; doubles each attempt, with full jitter." },
    Variable { name: "FETCH_BACKOFF_MAX_MS", default: "20000", range: Whole(0, 900_000), meaning: "Cap of one retry delay, and of an honoured `Retry-After`." },
    Variable { name: "FETCH_MAX_BODY_BYTES", default: "16777216", range: Whole(1024, 1 << 30), meaning: "Largest response body accepted from the source (bytes, 1024..=1073741824); a larger one fails the run (`Permanent.SourceContract`), read no further than the limit." },
    Variable { name: "FETCH_PART_ROWS", default: "200000", range: Whole(1, 100_000_000), meaning: "Rows per raw data object before a new part starts." },
    Variable { name: "FETCH_MAX_REJECTED_SHARE", default: "0.05", range: Real(0.0, 1.0), meaning: "fetch: the run fails and commits nothing when an entity's rejected share of the rows served exceeds this (0..=1)." },
    Variable { name: "FETCH_MAX_PAST_DAYS", default: "2", range: Whole(0, 3650), meaning: "fetch: a logical date more than this many days before today (UTC) is refused unless the event says `\"allow_past\": true` (locally `--allow-past`): the source serves only the present (0..=3650)." },
    Variable { name: "LISTEN_BUCKETS", default: "1", range: Whole(1, crate::buckets::MAX_BUCKETS as u64), meaning: "fetch: the listen-history raw partition is written in this many buckets by a stable hash of `user_id` (1..=4096; 1 is the layout without buckets); transform's listen tables and the fan-out follow a date's buckets (see Fan-out)." },
];

/// Everything the source client needs.
#[derive(Debug, Clone, PartialEq)]
pub struct SourceConfig {
    pub base_url: String,
    pub token: Option<String>,
    pub page_size: u32,
    pub concurrency: usize,
    pub timeout: Duration,
    pub max_attempts: u32,
    pub retry_budget: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// The largest response body read (`FETCH_MAX_BODY_BYTES`).
    pub max_body_bytes: usize,
}

impl SourceConfig {
    pub(crate) fn load(env: &Env<'_>) -> Result<Self, ConfigError> {
        let base_url = env.text("SOURCE_API_URL").trim_end_matches('/').to_owned();
        if reqwest::Url::parse(&base_url).map(|u| !matches!(u.scheme(), "http" | "https")).unwrap_or(true) {
            return Err(env.error("SOURCE_API_URL", &base_url, "an http:// or https:// URL"));
        }
        Ok(Self {
            base_url,
            token: Some(env.text("SOURCE_API_TOKEN")).filter(|t| !t.is_empty()),
            page_size: env.whole("FETCH_PAGE_SIZE")?,
            concurrency: env.whole("FETCH_CONCURRENCY")?,
            timeout: Duration::from_millis(env.whole("FETCH_TIMEOUT_MS")?),
            max_attempts: env.whole("FETCH_MAX_ATTEMPTS")?,
            retry_budget: env.whole("FETCH_RETRY_BUDGET")?,
            backoff_base: Duration::from_millis(env.whole("FETCH_BACKOFF_BASE_MS")?),
            backoff_max: Duration::from_millis(env.whole("FETCH_BACKOFF_MAX_MS")?),
            max_body_bytes: env.whole("FETCH_MAX_BODY_BYTES")?,
        })
    }
}

/// The fetch job's data contract: how much it may refuse, and which dates it may store.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FetchConfig {
    /// `FETCH_MAX_REJECTED_SHARE`: above it, per entity, the run fails.
    pub max_rejected_share: f64,
    /// `FETCH_MAX_PAST_DAYS`: older logical dates need `allow_past`.
    pub max_past_days: u32,
    /// `LISTEN_BUCKETS`: buckets of the listen-history raw partition ([`crate::buckets`]).
    pub listen_buckets: u32,
}

impl Default for FetchConfig {
    fn default() -> Self {
        Self { max_rejected_share: 0.05, max_past_days: 2, listen_buckets: 1 }
    }
}

impl FetchConfig {
    pub(crate) fn load(env: &Env<'_>) -> Result<Self, ConfigError> {
        Ok(Self { max_rejected_share: env.real("FETCH_MAX_REJECTED_SHARE")?, max_past_days: env.whole("FETCH_MAX_PAST_DAYS")?, listen_buckets: env.whole("LISTEN_BUCKETS")? })
    }
}
