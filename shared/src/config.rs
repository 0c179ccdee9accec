//! Settings from environment variables, read once per container; a bad value fails fast and
//! names the variable.
//!
//! Every variable, its default and its meaning is listed in [`VARIABLES`], which the README's
//! configuration table mirrors.

use crate::storage::DataUrl;
use std::time::Duration;

/// One documented variable: name, default (empty when it has none), meaning.
pub struct Variable {
    pub name: &'static str,
    pub default: &'static str,
    pub meaning: &'static str,
}

pub const VARIABLES: &[Variable] = &[
    Variable { name: "SOURCE_API_URL", default: "http://127.0.0.1:8000", meaning: "Base URL of the MooVitamix source API." },
    Variable { name: "SOURCE_API_TOKEN", default: "", meaning: "Bearer token sent to the source API, if set." },
    Variable { name: "DATA_URL", default: "./data", meaning: "Where data lives: `s3://bucket/prefix` or a local folder." },
    Variable { name: "METRICS_NAMESPACE", default: "MooVitamix/Pipeline", meaning: "CloudWatch namespace of the pipeline's metrics." },
    Variable { name: "METRICS_BACKEND", default: "auto", meaning: "`cloudwatch`, `log`, or `auto` (CloudWatch inside Lambda, log lines elsewhere)." },
    Variable { name: "FETCH_PAGE_SIZE", default: "100", meaning: "Rows per page requested from the source (1..=100)." },
    Variable { name: "FETCH_CONCURRENCY", default: "8", meaning: "Pages in flight at once, per endpoint." },
    Variable { name: "FETCH_TIMEOUT_MS", default: "10000", meaning: "Timeout of one HTTP request, in milliseconds." },
    Variable { name: "FETCH_MAX_ATTEMPTS", default: "6", meaning: "Attempts per page before the endpoint fails." },
    Variable { name: "FETCH_RETRY_BUDGET", default: "200", meaning: "Retries allowed across a whole run before it fails." },
    Variable { name: "FETCH_BACKOFF_BASE_MS", default: "200", meaning: "First retry delay; doubles each attempt, with full jitter." },
    Variable { name: "FETCH_BACKOFF_MAX_MS", default: "20000", meaning: "Cap of one retry delay, and of an honoured `Retry-After`." },
    Variable { name: "FETCH_MAX_BODY_BYTES", default: "16777216", meaning: "Largest response body accepted from the source (bytes, 1024..=1073741824); a larger one fails the run (`Permanent.SourceContract`), read no further than the limit." },
    Variable { name: "FETCH_PART_ROWS", default: "200000", meaning: "Rows per raw data object before a new part starts." },
    Variable { name: "FETCH_MAX_REJECTED_SHARE", default: "0.05", meaning: "fetch: the run fails and commits nothing when an entity's rejected share of the rows served exceeds this (0..=1)." },
    Variable { name: "FETCH_MAX_PAST_DAYS", default: "2", meaning: "fetch: a logical date more than this many days before today (UTC) is refused unless the event says `\"allow_past\": true` (locally `--allow-past`): the source serves only the present (0..=3650)." },
    Variable { name: "LISTEN_BUCKETS", default: "1", meaning: "fetch: the listen-history raw partition is written in this many buckets by a stable hash of `user_id` (1..=4096; 1 is the layout without buckets); transform's listen tables and the fan-out follow a date's buckets (see Fan-out)." },
    Variable { name: "LEASE_TTL_SECONDS", default: "60", meaning: "A run's lease on a date lapses when not renewed for this long (the run renews it every quarter of it), so a crashed run blocks its retry for at most this plus the skew (10..=900)." },
    Variable { name: "LEASE_MAX_CLOCK_SKEW_SECONDS", default: "15", meaning: "Clock skew between two writers tolerated before a lapsed lease is taken over (0..=600)." },
    Variable { name: "LEASE_WAIT_SECONDS", default: "90", meaning: "How long a run waits for another run of the same stage and date to finish or lapse before it fails with `Retryable.DateBusy` (0..=3600; within the invocation's deadline)." },
    Variable { name: "ORPHAN_GRACE_SECONDS", default: "21600", meaning: "Objects that no commit lists (a crashed run's) are removed by a later commit of the date once older than this, by the store's clock; at least the longest a run can last, Lambda's 15 minutes, so that a live run's objects are never taken for a dead one's (900..=2592000)." },
    Variable { name: "PII_SALT_PARAMETER", default: "", meaning: "transform: name of the SSM SecureString holding the e-mail hashing key (HMAC-SHA256), read once per container (Lambda sets it; wins over PII_SALT)." },
    Variable { name: "PII_SALT", default: "", meaning: "transform: the e-mail hashing key itself, for local runs. Without either variable, Lambda refuses to start and a local run uses a fixed development key (with a warning)." },
    Variable { name: "KEEP_NAMES", default: "false", meaning: "transform: `true` keeps users' first and last names in curated/users; `false` writes them as null." },
    Variable { name: "DQ_MAX_QUARANTINE_SHARE", default: "0.05", meaning: "transform: the run fails and commits nothing when a table's quarantined share of its input exceeds this (0..=1)." },
    Variable { name: "DQ_MAX_ROW_COUNT_CHANGE", default: "0.2", meaning: "transform: a table whose row count moves by more than this share versus the previous date gets a `row_count_change` warning." },
    Variable { name: "DQ_MAX_CURRENT_DROP", default: "0.1", meaning: "transform: the run fails and commits nothing when a table's current rows (listen_events: rows) fall by more than this share versus the previous date (0..=1)." },
    Variable { name: "TRANSFORM_ROW_GROUP_ROWS", default: "131072", meaning: "transform: rows per Parquet row group." },
    Variable { name: "TRANSFORM_FILE_ROWS", default: "1048576", meaning: "transform: rows per Parquet file before a new part starts." },
    Variable { name: "RECOMMEND_TOP_K", default: "10", meaning: "recommend: tracks recommended per user." },
    Variable { name: "ALS_FACTORS", default: "64", meaning: "recommend: latent factors of the ALS model." },
    Variable { name: "ALS_REGULARIZATION", default: "40", meaning: "recommend: L2 regularisation (lambda) of every user and track vector." },
    Variable { name: "ALS_ALPHA", default: "0.3", meaning: "recommend: confidence slope, c = 1 + alpha * w, w the pair's recency-weighted listens." },
    Variable { name: "ALS_RECENCY_BETA", default: "300", meaning: "recommend: recency weighting of listens, w = listens * (1 + beta * (rank / n)^power) with rank 1..n the listen's place in the user's history (0: no weighting)." },
    Variable { name: "ALS_RECENCY_POWER", default: "10", meaning: "recommend: the exponent of that recency weighting." },
    Variable { name: "ALS_ITERATIONS", default: "15", meaning: "recommend: ALS iterations (users then tracks)." },
    Variable { name: "ALS_CG_STEPS", default: "2", meaning: "recommend: conjugate-gradient steps per vector per half-iteration." },
    Variable { name: "ALS_SEED", default: "42", meaning: "recommend: seed of the initial factors (training is reproducible)." },
    Variable { name: "EVAL_HOLDOUT_SHARE", default: "0.2", meaning: "recommend: share of each user's most recent listens held out to evaluate a trained model." },
    Variable { name: "GATE_NDCG_TOLERANCE", default: "0.01", meaning: "recommend: a candidate whose mean per-user NDCG@10 trails the champion's by more than this is refused." },
    Variable { name: "GATE_CONFIDENCE", default: "0.95", meaning: "recommend: confidence level of the gate's paired bootstrap intervals (0.5..=0.999): the candidate must beat popularity with the whole interval above zero." },
    Variable { name: "GATE_MIN_USERS", default: "100", meaning: "recommend: the gate refuses, for lack of evidence, when fewer users have held-out listens." },
    Variable { name: "GATE_MIN_LISTENS", default: "200", meaning: "recommend: the gate refuses, for lack of evidence, when fewer listens are held out." },
    Variable { name: "COLD_START_SAMPLE_SHARE", default: "0.1", meaning: "recommend: share of users a training run hides entirely (from the candidate and from popularity) to choose the cold-start policy and the fold-in threshold on (0..=0.5; 0: no choice, the genre policy)." },
    Variable { name: "COLD_START_RECENT_DAYS", default: "7", meaning: "recommend: the recent-popularity policy counts the listens new on the last this many dates, weighted 1 - age / days (1..=365)." },
    Variable { name: "RETRAIN_NEW_LISTENS_SHARE", default: "0.2", meaning: "recommend: a score run trains first when the listen events added since the champion's data date (the days' listen_events_delta) exceed this share of the listens it was trained on, or when there is no champion." },
    Variable { name: "MODEL_KEEP_VERSIONS", default: "10", meaning: "recommend: newest model versions kept (the champion is always kept)." },
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("configuration: {name}={value:?} is invalid: {expected}")]
pub struct ConfigError {
    pub name: &'static str,
    pub value: String,
    pub expected: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsBackend {
    CloudWatch,
    Log,
}

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

/// A secret value: compared and cloned, never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Where transform's e-mail hashing salt comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SaltSource {
    /// An SSM SecureString parameter, read once per container (`PII_SALT_PARAMETER`).
    SsmParameter(String),
    /// The value itself (`PII_SALT`).
    Value(Secret),
    /// Neither is set outside Lambda: a fixed, public development salt (local runs only).
    Development,
    /// Neither is set inside Lambda: transform refuses to start (fetch and recommend do not care).
    Missing,
}

impl SaltSource {
    /// The error transform gives when it has no salt.
    pub fn missing_error() -> ConfigError {
        ConfigError {
            name: "PII_SALT_PARAMETER",
            value: String::new(),
            expected: "the name of the SSM SecureString holding the e-mail hashing salt (or PII_SALT)".into(),
        }
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

/// Everything the transform job needs besides storage and metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct TransformConfig {
    pub salt: SaltSource,
    pub keep_names: bool,
    pub max_quarantine_share: f64,
    pub max_row_count_change: f64,
    /// `DQ_MAX_CURRENT_DROP`: a larger fall of a table's current rows fails the run.
    pub max_current_drop: f64,
    pub row_group_rows: usize,
    pub file_rows: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub source: SourceConfig,
    pub data_url: DataUrl,
    pub metrics_namespace: String,
    pub metrics_backend: MetricsBackend,
    pub part_rows: usize,
    pub fetch: FetchConfig,
    pub lease: crate::commit::LeaseSettings,
    pub orphan_grace: Duration,
    pub transform: TransformConfig,
    pub recommend: RecommendConfig,
}

/// The recommend job's settings: the model's recipe, the evaluation and the gate.
#[derive(Debug, Clone, PartialEq)]
pub struct RecommendConfig {
    pub top_k: usize,
    /// The hyper-parameters new models are trained with (`ALS_*`).
    pub hyper: crate::recommend::model_store::Hyper,
    pub holdout_share: f64,
    pub gate: crate::recommend::gate::GateSettings,
    pub cold_start_sample_share: f64,
    pub cold_start_recent_days: u32,
    pub retrain_share: f64,
    pub keep_versions: usize,
}

impl Config {
    /// How every stage commits, on the system clock.
    pub fn commit(&self) -> crate::commit::CommitSettings {
        crate::commit::CommitSettings { lease: self.lease, orphan_grace: self.orphan_grace, ..Default::default() }
    }

    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env { lookup: &lookup };
        let in_lambda = lookup("AWS_LAMBDA_FUNCTION_NAME").is_some();
        let metrics_backend = match env.text("METRICS_BACKEND").as_str() {
            "auto" if in_lambda => MetricsBackend::CloudWatch,
            "auto" | "log" => MetricsBackend::Log,
            "cloudwatch" => MetricsBackend::CloudWatch,
            other => return Err(env.error("METRICS_BACKEND", other, "one of auto, cloudwatch, log")),
        };
        let base_url = env.text("SOURCE_API_URL").trim_end_matches('/').to_owned();
        if reqwest::Url::parse(&base_url).map(|u| !matches!(u.scheme(), "http" | "https")).unwrap_or(true) {
            return Err(env.error("SOURCE_API_URL", &base_url, "an http:// or https:// URL"));
        }
        let data_url = env.text("DATA_URL");
        Ok(Config {
            source: SourceConfig {
                base_url,
                token: Some(env.text("SOURCE_API_TOKEN")).filter(|t| !t.is_empty()),
                page_size: env.number("FETCH_PAGE_SIZE", 1, 100)?,
                concurrency: env.number("FETCH_CONCURRENCY", 1, 256)?,
                timeout: Duration::from_millis(env.number("FETCH_TIMEOUT_MS", 1, 900_000)?),
                max_attempts: env.number("FETCH_MAX_ATTEMPTS", 1, 100)?,
                retry_budget: env.number("FETCH_RETRY_BUDGET", 0, 1_000_000)?,
                backoff_base: Duration::from_millis(env.number("FETCH_BACKOFF_BASE_MS", 0, 600_000)?),
                backoff_max: Duration::from_millis(env.number("FETCH_BACKOFF_MAX_MS", 0, 900_000)?),
                max_body_bytes: env.number("FETCH_MAX_BODY_BYTES", 1024, 1 << 30)?,
            },
            data_url: DataUrl::parse(&data_url).map_err(|why| env.error("DATA_URL", &data_url, &why))?,
            metrics_namespace: Some(env.text("METRICS_NAMESPACE"))
                .filter(|n| !n.trim().is_empty() && !n.starts_with("AWS/"))
                .ok_or_else(|| env.error("METRICS_NAMESPACE", &env.text("METRICS_NAMESPACE"), "a non-empty namespace not starting with AWS/"))?,
            metrics_backend,
            part_rows: env.number("FETCH_PART_ROWS", 1, 100_000_000)?,
            fetch: FetchConfig { max_rejected_share: env.share("FETCH_MAX_REJECTED_SHARE")?, max_past_days: env.number("FETCH_MAX_PAST_DAYS", 0, 3650)?, listen_buckets: env.number("LISTEN_BUCKETS", 1, crate::buckets::MAX_BUCKETS)? },
            lease: crate::commit::LeaseSettings {
                ttl: Duration::from_secs(env.number("LEASE_TTL_SECONDS", 10, 900)?),
                max_clock_skew: Duration::from_secs(env.number("LEASE_MAX_CLOCK_SKEW_SECONDS", 0, 600)?),
                wait: Duration::from_secs(env.number("LEASE_WAIT_SECONDS", 0, 3600)?),
            },
            orphan_grace: Duration::from_secs(env.number("ORPHAN_GRACE_SECONDS", 900, 2_592_000)?),
            transform: Self::transform(&env, in_lambda)?,
            recommend: RecommendConfig {
                top_k: env.number("RECOMMEND_TOP_K", 1, 1000)?,
                hyper: crate::recommend::model_store::Hyper {
                    als: crate::recommend::als::AlsParams {
                        factors: env.number("ALS_FACTORS", 1, 1024)?,
                        regularization: env.real("ALS_REGULARIZATION", 0.0, 1e6)? as f32,
                        alpha: env.real("ALS_ALPHA", 0.0, 1e6)? as f32,
                        iterations: env.number("ALS_ITERATIONS", 1, 500)?,
                        cg_steps: env.number("ALS_CG_STEPS", 1, 64)?,
                        seed: env.number("ALS_SEED", 0, u64::MAX)?,
                    },
                    recency_beta: env.real("ALS_RECENCY_BETA", 0.0, 1e6)? as f32,
                    recency_power: env.real("ALS_RECENCY_POWER", 0.0, 100.0)? as f32,
                },
                holdout_share: env.real("EVAL_HOLDOUT_SHARE", 0.01, 0.9)?,
                gate: crate::recommend::gate::GateSettings {
                    confidence: env.real("GATE_CONFIDENCE", 0.5, 0.999)?,
                    min_users: env.number("GATE_MIN_USERS", 1, 1_000_000_000)?,
                    min_listens: env.number("GATE_MIN_LISTENS", 1, 1_000_000_000)?,
                    tolerance: env.share("GATE_NDCG_TOLERANCE")?,
                },
                cold_start_sample_share: env.real("COLD_START_SAMPLE_SHARE", 0.0, 0.5)?,
                cold_start_recent_days: env.number("COLD_START_RECENT_DAYS", 1, 365)?,
                retrain_share: env.real("RETRAIN_NEW_LISTENS_SHARE", 0.0, 1e6)?,
                keep_versions: env.number("MODEL_KEEP_VERSIONS", 1, 10_000)?,
            },
        })
    }

    fn transform(env: &Env<'_>, in_lambda: bool) -> Result<TransformConfig, ConfigError> {
        let parameter = env.text("PII_SALT_PARAMETER").trim().to_owned();
        let salt = match ((env.lookup)("PII_SALT").filter(|v| !v.is_empty()), parameter.is_empty()) {
            (_, false) => SaltSource::SsmParameter(parameter),
            (Some(value), true) => SaltSource::Value(Secret::new(value)),
            (None, true) if in_lambda => SaltSource::Missing,
            (None, true) => SaltSource::Development,
        };
        let row_group_rows = env.number("TRANSFORM_ROW_GROUP_ROWS", 1024, 16_777_216)?;
        Ok(TransformConfig {
            salt,
            keep_names: env.flag("KEEP_NAMES")?,
            max_quarantine_share: env.share("DQ_MAX_QUARANTINE_SHARE")?,
            max_row_count_change: env.share("DQ_MAX_ROW_COUNT_CHANGE")?,
            max_current_drop: env.share("DQ_MAX_CURRENT_DROP")?,
            row_group_rows,
            file_rows: env.number("TRANSFORM_FILE_ROWS", row_group_rows, 1_000_000_000)?,
        })
    }
}

struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl Env<'_> {
    fn variable(name: &str) -> &'static Variable {
        VARIABLES.iter().find(|v| v.name == name).unwrap_or_else(|| panic!("{name} is not in config::VARIABLES"))
    }

    /// The variable's value, or its documented default when unset or blank.
    fn text(&self, name: &str) -> String {
        (self.lookup)(name).filter(|v| !v.trim().is_empty()).unwrap_or_else(|| Self::variable(name).default.to_owned())
    }

    fn number<T>(&self, name: &str, min: T, max: T) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        let text = self.text(name);
        match text.trim().parse::<T>() {
            Ok(v) if v >= min && v <= max => Ok(v),
            _ => Err(self.error(name, &text, &format!("a whole number from {min} to {max}"))),
        }
    }

    /// A real number from `min` to `max`.
    fn real(&self, name: &str, min: f64, max: f64) -> Result<f64, ConfigError> {
        let text = self.text(name);
        match text.trim().parse::<f64>() {
            Ok(v) if (min..=max).contains(&v) => Ok(v),
            _ => Err(self.error(name, &text, &format!("a number from {min} to {max}"))),
        }
    }

    /// A share: a number from 0 to 1.
    fn share(&self, name: &str) -> Result<f64, ConfigError> {
        let text = self.text(name);
        match text.trim().parse::<f64>() {
            Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
            _ => Err(self.error(name, &text, "a number from 0 to 1")),
        }
    }

    fn flag(&self, name: &str) -> Result<bool, ConfigError> {
        let text = self.text(name);
        match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            _ => Err(self.error(name, &text, "true or false")),
        }
    }

    fn error(&self, name: &str, value: &str, expected: &str) -> ConfigError {
        ConfigError { name: Self::variable(name).name, value: value.to_owned(), expected: expected.to_owned() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let c = load(&[]).unwrap();
        assert_eq!(c.source.base_url, "http://127.0.0.1:8000");
        assert_eq!(c.data_url, DataUrl::Local("./data".into()));
        assert_eq!(c.metrics_namespace, "MooVitamix/Pipeline");
        assert_eq!(c.metrics_backend, MetricsBackend::Log);
        assert_eq!((c.source.page_size, c.source.concurrency), (100, 8));
        assert_eq!(c.source.token, None);
    }

    #[test]
    fn lambda_defaults_to_cloudwatch_and_values_are_read() {
        let c = load(&[
            ("AWS_LAMBDA_FUNCTION_NAME", "fetch"),
            ("DATA_URL", "s3://bucket/pre"),
            ("SOURCE_API_URL", "https://api.example.com/"),
            ("SOURCE_API_TOKEN", "t0k"),
            ("FETCH_CONCURRENCY", "3"),
        ])
        .unwrap();
        assert_eq!(c.metrics_backend, MetricsBackend::CloudWatch);
        assert_eq!(c.data_url, DataUrl::S3 { bucket: "bucket".into(), prefix: "pre".into() });
        assert_eq!(c.source.base_url, "https://api.example.com");
        assert_eq!(c.source.token.as_deref(), Some("t0k"));
        assert_eq!(c.source.concurrency, 3);
    }

    #[test]
    fn transform_settings_and_the_salt_source() {
        let c = load(&[]).unwrap();
        assert_eq!(c.transform.salt, SaltSource::Development, "a local run without a salt uses the development one");
        assert!(!c.transform.keep_names);
        assert_eq!((c.transform.max_quarantine_share, c.transform.max_row_count_change), (0.05, 0.2));
        assert_eq!((c.transform.row_group_rows, c.transform.file_rows), (131_072, 1_048_576));

        let c = load(&[("PII_SALT", "pepper"), ("KEEP_NAMES", "TRUE"), ("DQ_MAX_QUARANTINE_SHARE", "0.5")]).unwrap();
        assert_eq!(c.transform.salt, SaltSource::Value(Secret::new("pepper")));
        assert!(!format!("{c:?}").contains("pepper"), "the salt never appears in a debug print");
        assert!(c.transform.keep_names);
        assert_eq!(c.transform.max_quarantine_share, 0.5);

        let c = load(&[("PII_SALT", "pepper"), ("PII_SALT_PARAMETER", "/moovitamix/pii-salt")]).unwrap();
        assert_eq!(c.transform.salt, SaltSource::SsmParameter("/moovitamix/pii-salt".into()), "the parameter wins");

        let c = load(&[("AWS_LAMBDA_FUNCTION_NAME", "transform")]).unwrap();
        assert_eq!(c.transform.salt, SaltSource::Missing, "inside Lambda there is no development salt");
    }

    #[test]
    fn the_readme_documents_every_variable_with_its_default() {
        let readme = include_str!("../../README.md");
        for v in VARIABLES {
            let row = match v.default {
                "" => format!("| `{}` | |", v.name),
                default => format!("| `{}` | `{default}` |", v.name),
            };
            assert!(readme.lines().any(|l| l.starts_with(&row)), "README.md has no configuration row `{row}`");
        }
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        for (name, value) in [
            ("FETCH_PAGE_SIZE", "101"),
            ("FETCH_CONCURRENCY", "many"),
            ("DATA_URL", "gs://x"),
            ("SOURCE_API_URL", "ftp://x"),
            ("SOURCE_API_URL", "not a url"),
            ("METRICS_BACKEND", "statsd"),
            ("METRICS_NAMESPACE", "AWS/Lambda"),
            ("KEEP_NAMES", "maybe"),
            ("DQ_MAX_QUARANTINE_SHARE", "1.5"),
            ("DQ_MAX_ROW_COUNT_CHANGE", "lots"),
            ("TRANSFORM_ROW_GROUP_ROWS", "10"),
            ("ALS_FACTORS", "0"),
            ("ALS_ALPHA", "-1"),
            ("EVAL_HOLDOUT_SHARE", "1"),
            ("GATE_CONFIDENCE", "1"),
            ("GATE_MIN_USERS", "0"),
        ] {
            let err = load(&[(name, value)]).unwrap_err();
            assert_eq!(err.name, name);
            assert!(err.to_string().contains(name) && err.to_string().contains(value), "{err}");
        }
    }
}
