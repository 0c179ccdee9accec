//! Transform's settings: the e-mail hashing key's source, the names policy, the data-quality
//! thresholds and the Parquet layout, with the table that documents them; and the key's
//! resolution at start-up (an SSM read in Lambda, through [`crate::ssm`]).

use crate::aws::AwsConfig;
use crate::config::{ConfigError, Env, Range::*, Secret, Variable};

pub const VARIABLES: &[Variable] = &[
    Variable { name: "PII_SALT_PARAMETER", default: "", range: Text, meaning: "transform: name of the SSM SecureString holding the e-mail hashing key (HMAC-SHA256), read once per container (Lambda sets it; wins over PII_SALT)." },
    Variable { name: "PII_SALT", default: "", range: Text, meaning: "transform: the e-mail hashing key itself, for local runs. Without either variable, Lambda refuses to start and a local run uses a fixed development key (with a warning)." },
    Variable { name: "KEEP_NAMES", default: "false", range: Flag, meaning: "transform: `true` keeps users' first and last names in curated/users; `false` writes them as null." },
    Variable { name: "DQ_MAX_QUARANTINE_SHARE", default: "0.05", range: Real(0.0, 1.0), meaning: "transform: the run fails and commits nothing when a table's quarantined share of its input exceeds this (0..=1)." },
    Variable { name: "DQ_MAX_ROW_COUNT_CHANGE", default: "0.2", range: Real(0.0, 1.0), meaning: "transform: a table whose row count moves by more than this share versus the previous date gets a `row_count_change` warning." },
    Variable { name: "DQ_MAX_CURRENT_DROP", default: "0.1", range: Real(0.0, 1.0), meaning: "transform: the run fails and commits nothing when a table's current rows (listen_events: rows) fall by more than this share versus the previous date (0..=1)." },
    Variable { name: "TRANSFORM_ROW_GROUP_ROWS", default: "131072", range: Whole(1024, 16_777_216), meaning: "transform: rows per Parquet row group; the listen tables write one group per file (see Storage cost)." },
    Variable { name: "TRANSFORM_FILE_ROWS", default: "1048576", range: Whole(1024, 1_000_000_000), meaning: "transform: rows per Parquet file before a new part starts (for the listen tables, also rows per row group)." },
];

/// The key of local runs that set none. Public, so only for simulated data.
pub const DEVELOPMENT_KEY: &str = "moovitamix-development-salt-not-for-real-data";

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

impl TransformConfig {
    pub(crate) fn load(env: &Env<'_>) -> Result<Self, ConfigError> {
        let parameter = env.text("PII_SALT_PARAMETER").trim().to_owned();
        let salt = match (env.raw("PII_SALT").filter(|v| !v.is_empty()), parameter.is_empty()) {
            (_, false) => SaltSource::SsmParameter(parameter),
            (Some(value), true) => SaltSource::Value(Secret::new(value)),
            (None, true) if env.in_lambda() => SaltSource::Missing,
            (None, true) => SaltSource::Development,
        };
        let row_group_rows: usize = env.whole("TRANSFORM_ROW_GROUP_ROWS")?;
        let file_rows: usize = env.whole("TRANSFORM_FILE_ROWS")?;
        if file_rows < row_group_rows {
            let expected = format!("a whole number from {row_group_rows} (TRANSFORM_ROW_GROUP_ROWS) to 1000000000");
            return Err(env.error("TRANSFORM_FILE_ROWS", &file_rows.to_string(), &expected));
        }
        Ok(Self {
            salt,
            keep_names: env.flag("KEEP_NAMES")?,
            max_quarantine_share: env.real("DQ_MAX_QUARANTINE_SHARE")?,
            max_row_count_change: env.real("DQ_MAX_ROW_COUNT_CHANGE")?,
            max_current_drop: env.real("DQ_MAX_CURRENT_DROP")?,
            row_group_rows,
            file_rows,
        })
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

/// Why transform has no e-mail hashing key.
#[derive(Debug, thiserror::Error)]
pub enum SaltError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Ssm(#[from] crate::ssm::SsmError),
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

    /// The key itself: one SSM call for a parameter (with the container's AWS configuration).
    pub async fn resolve(&self, aws: &AwsConfig) -> Result<Secret, SaltError> {
        match self {
            SaltSource::Value(s) => Ok(s.clone()),
            SaltSource::SsmParameter(name) => Ok(crate::ssm::secure_string(&aws.ssm().await, name).await?),
            SaltSource::Development => {
                tracing::warn!("no PII_SALT or PII_SALT_PARAMETER: hashing e-mails with the public development key (local data only)");
                Ok(Secret::new(DEVELOPMENT_KEY))
            }
            SaltSource::Missing => Err(Self::missing_error().into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, load};

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

    #[tokio::test]
    async fn a_lambda_without_a_salt_refuses_to_start() {
        let config = Config::from_lookup(|k| (k == "AWS_LAMBDA_FUNCTION_NAME").then(|| "transform".to_owned())).unwrap();
        let err = config.transform.salt.resolve(&AwsConfig::default()).await.unwrap_err();
        assert!(err.to_string().contains("PII_SALT_PARAMETER"), "{err}");
    }
}
