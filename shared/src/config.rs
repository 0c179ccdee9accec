//! Settings from environment variables, read once per container; a bad value fails fast and
//! names the variable.
//!
//! This module is the loader ([`Env`]) and the settings every stage shares (where data lives,
//! metrics, the commit protocol's lease and clean-up). Each stage's own settings, and the table
//! of its variables, live with the stage: [`crate::fetch::config`], [`crate::transform::config`],
//! [`crate::recommend::config`]. Each table row gives a variable's default, the values accepted
//! (checked when it is read) and its meaning; the README's configuration table mirrors
//! [`variables`], all tables together.

use crate::storage::DataUrl;
use std::time::Duration;

/// One documented variable: name, default (empty when it has none), the values accepted, meaning.
pub struct Variable {
    pub name: &'static str,
    pub default: &'static str,
    pub range: Range,
    pub meaning: &'static str,
}

/// The values a variable accepts; [`Env`] checks them when the variable is read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Range {
    /// Text, checked by the setting's own parser (a URL, a name, one of a few words).
    Text,
    /// `true` or `false` (also `1`/`0`, `yes`/`no`).
    Flag,
    /// A whole number from the first to the second, both included.
    Whole(u64, u64),
    /// A real number from the first to the second, both included.
    Real(f64, f64),
}

use Range::{Text, Whole};

/// The variables every stage reads.
pub const SHARED_VARIABLES: &[Variable] = &[
    Variable { name: "DATA_URL", default: "./data", range: Text, meaning: "Where data lives: `s3://bucket/prefix` or a local folder." },
    Variable { name: "METRICS_NAMESPACE", default: "MooVitamix/Pipeline", range: Text, meaning: "CloudWatch namespace of the pipeline's metrics." },
    Variable { name: "METRICS_BACKEND", default: "auto", range: Text, meaning: "`cloudwatch`, `log`, or `auto` (CloudWatch inside Lambda, log lines elsewhere)." },
    Variable { name: "LEASE_TTL_SECONDS", default: "60", range: Whole(10, 900), meaning: "A run's lease on a date lapses when not renewed for this long (the run renews it every quarter of it), so a crashed run blocks its retry for at most this plus the skew (10..=900)." },
    Variable { name: "LEASE_MAX_CLOCK_SKEW_SECONDS", default: "15", range: Whole(0, 600), meaning: "Clock skew between two writers tolerated before a lapsed lease is taken over (0..=600)." },
    Variable { name: "LEASE_WAIT_SECONDS", default: "90", range: Whole(0, 3600), meaning: "How long a run waits for another run of the same stage and date to finish or lapse before it fails with `Retryable.DateBusy` (0..=3600; within the invocation's deadline)." },
    Variable { name: "ORPHAN_GRACE_SECONDS", default: "21600", range: Whole(900, 2_592_000), meaning: "Objects that no commit lists (a crashed run's) are removed by a later commit of the date once older than this, by the store's clock; at least the longest a run can last, Lambda's 15 minutes, so that a live run's objects are never taken for a dead one's (900..=2592000)." },
];

/// Every documented variable: the shared ones, then fetch's, transform's and recommend's.
pub fn variables() -> impl Iterator<Item = &'static Variable> {
    [SHARED_VARIABLES, crate::fetch::config::VARIABLES, crate::transform::config::VARIABLES, crate::recommend::config::VARIABLES]
        .into_iter()
        .flatten()
}

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

/// Every setting of a container: the shared ones, and each stage's.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub source: crate::fetch::config::SourceConfig,
    pub data_url: DataUrl,
    pub metrics_namespace: String,
    pub metrics_backend: MetricsBackend,
    pub part_rows: usize,
    pub fetch: crate::fetch::config::FetchConfig,
    pub lease: crate::commit::LeaseSettings,
    pub orphan_grace: Duration,
    pub transform: crate::transform::config::TransformConfig,
    pub recommend: crate::recommend::config::RecommendConfig,
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
        let metrics_backend = match env.text("METRICS_BACKEND").as_str() {
            "auto" if env.in_lambda() => MetricsBackend::CloudWatch,
            "auto" | "log" => MetricsBackend::Log,
            "cloudwatch" => MetricsBackend::CloudWatch,
            other => return Err(env.error("METRICS_BACKEND", other, "one of auto, cloudwatch, log")),
        };
        let data_url = env.text("DATA_URL");
        Ok(Config {
            source: crate::fetch::config::SourceConfig::load(&env)?,
            data_url: DataUrl::parse(&data_url).map_err(|why| env.error("DATA_URL", &data_url, &why))?,
            metrics_namespace: Some(env.text("METRICS_NAMESPACE"))
                .filter(|n| !n.trim().is_empty() && !n.starts_with("AWS/"))
                .ok_or_else(|| env.error("METRICS_NAMESPACE", &env.text("METRICS_NAMESPACE"), "a non-empty namespace not starting with AWS/"))?,
            metrics_backend,
            part_rows: env.whole("FETCH_PART_ROWS")?,
            fetch: crate::fetch::config::FetchConfig::load(&env)?,
            lease: crate::commit::LeaseSettings {
                ttl: Duration::from_secs(env.whole("LEASE_TTL_SECONDS")?),
                max_clock_skew: Duration::from_secs(env.whole("LEASE_MAX_CLOCK_SKEW_SECONDS")?),
                wait: Duration::from_secs(env.whole("LEASE_WAIT_SECONDS")?),
            },
            orphan_grace: Duration::from_secs(env.whole("ORPHAN_GRACE_SECONDS")?),
            transform: crate::transform::config::TransformConfig::load(&env)?,
            recommend: crate::recommend::config::RecommendConfig::load(&env)?,
        })
    }
}

/// The environment as the settings read it: each variable by its table row, which gives its
/// default and the values it accepts.
pub struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl Env<'_> {
    fn variable(name: &str) -> &'static Variable {
        variables().find(|v| v.name == name).unwrap_or_else(|| panic!("{name} is in no table of config::variables()"))
    }

    /// Whether this runs inside Lambda (some defaults differ there).
    pub fn in_lambda(&self) -> bool {
        (self.lookup)("AWS_LAMBDA_FUNCTION_NAME").is_some()
    }

    /// The variable's value as set, blank or not: `None` when unset.
    pub fn raw(&self, name: &str) -> Option<String> {
        (self.lookup)(Self::variable(name).name)
    }

    /// The variable's value, or its documented default when unset or blank.
    pub fn text(&self, name: &str) -> String {
        self.raw(name).filter(|v| !v.trim().is_empty()).unwrap_or_else(|| Self::variable(name).default.to_owned())
    }

    /// A whole number within the variable's [`Range::Whole`].
    pub fn whole<T: TryFrom<u64>>(&self, name: &str) -> Result<T, ConfigError> {
        let Range::Whole(min, max) = Self::variable(name).range else { panic!("{name} is not a whole number in its table") };
        let text = self.text(name);
        match text.trim().parse::<u64>() {
            Ok(v) if (min..=max).contains(&v) => Ok(T::try_from(v).unwrap_or_else(|_| panic!("{name}'s range does not fit its type"))),
            _ => Err(self.error(name, &text, &format!("a whole number from {min} to {max}"))),
        }
    }

    /// A real number within the variable's [`Range::Real`].
    pub fn real(&self, name: &str) -> Result<f64, ConfigError> {
        let Range::Real(min, max) = Self::variable(name).range else { panic!("{name} is not a real number in its table") };
        let text = self.text(name);
        match text.trim().parse::<f64>() {
            Ok(v) if (min..=max).contains(&v) => Ok(v),
            _ => Err(self.error(name, &text, &format!("a number from {min} to {max}"))),
        }
    }

    /// A [`Range::Flag`].
    pub fn flag(&self, name: &str) -> Result<bool, ConfigError> {
        assert_eq!(Self::variable(name).range, Range::Flag, "{name} is not a flag in its table");
        let text = self.text(name);
        match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" => Ok(false),
            _ => Err(self.error(name, &text, "true or false")),
        }
    }

    pub fn error(&self, name: &str, value: &str, expected: &str) -> ConfigError {
        ConfigError { name: Self::variable(name).name, value: value.to_owned(), expected: expected.to_owned() }
    }
}

/// The settings an environment of these `pairs` gives (for unit tests of the settings).
#[cfg(test)]
pub(crate) fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::from_lookup(|k| pairs.iter().find(|(name, _)| *name == k).map(|(_, v)| v.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn the_readme_documents_every_variable_with_its_default() {
        let readme = include_str!("../../README.md");
        for v in variables() {
            let row = match v.default {
                "" => format!("| `{}` | |", v.name),
                default => format!("| `{}` | `{default}` |", v.name),
            };
            assert!(readme.lines().any(|l| l.starts_with(&row)), "README.md has no configuration row `{row}`");
        }
    }

    #[test]
    fn every_variable_is_in_one_table_and_its_default_is_in_its_range() {
        let mut names: Vec<&str> = variables().map(|v| v.name).collect();
        let count = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), count, "a variable is in two tables");
        for v in variables() {
            let within = match v.range {
                Range::Text => true,
                Range::Flag => matches!(v.default, "true" | "false"),
                Range::Whole(min, max) => v.default.parse::<u64>().is_ok_and(|d| (min..=max).contains(&d)),
                Range::Real(min, max) => v.default.parse::<f64>().is_ok_and(|d| (min..=max).contains(&d)),
            };
            assert!(within, "{}'s default {:?} is outside its range {:?}", v.name, v.default, v.range);
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
