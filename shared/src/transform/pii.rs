//! Personal data in the curated zone: the salted e-mail hash, the names policy, and the salt's source.
//!
//! `curated/users` never holds an e-mail address: `email_hash = hex(SHA-256(salt || lower(trim(email))))`,
//! so the same address gives the same hash across days (joins and SCD2 still work) while the
//! address cannot be recovered without the salt. First and last names are written as null unless
//! `KEEP_NAMES=true`. The salt comes from an SSM SecureString in Lambda (`PII_SALT_PARAMETER`,
//! read once per container), from `PII_SALT` locally, or, for local runs with neither, a fixed
//! development salt (logged as a warning; a Lambda refuses to start without a salt).

use super::curated::{Hash256, Text};
use crate::config::{ConfigError, SaltSource, Secret, TransformConfig};
use sha2::{Digest, Sha256};

/// The salt of local runs that set none. Public, so only for simulated data.
pub const DEVELOPMENT_SALT: &str = "moovitamix-development-salt-not-for-real-data";

#[derive(Debug, thiserror::Error)]
pub enum PiiError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("reading the PII salt from SSM parameter {parameter}: {detail}")]
    Ssm { parameter: String, detail: String },
    #[error("the PII salt in SSM parameter {parameter} is empty")]
    EmptySalt { parameter: String },
}

/// The personal-data policy of one container.
#[derive(Debug, Clone)]
pub struct Pii {
    salt: Secret,
    pub keep_names: bool,
}

impl Pii {
    pub fn new(salt: Secret, keep_names: bool) -> Self {
        Self { salt, keep_names }
    }

    /// Resolves the configured salt source (one SSM call in Lambda).
    pub async fn from_config(config: &TransformConfig) -> Result<Self, PiiError> {
        let salt = match &config.salt {
            SaltSource::Value(s) => s.clone(),
            SaltSource::SsmParameter(name) => read_ssm(name).await?,
            SaltSource::Development => {
                tracing::warn!("no PII_SALT or PII_SALT_PARAMETER: hashing e-mails with the public development salt (local data only)");
                Secret::new(DEVELOPMENT_SALT)
            }
            SaltSource::Missing => return Err(SaltSource::missing_error().into()),
        };
        Ok(Self::new(salt, config.keep_names))
    }

    /// The salted hash of an address, after trimming and lower-casing; `None` for a blank one.
    pub fn email_hash(&self, email: &str) -> Option<Hash256> {
        let normalized = email.trim().to_lowercase();
        if normalized.is_empty() {
            return None;
        }
        let mut h = Sha256::new();
        h.update(self.salt.expose().as_bytes());
        h.update(normalized.as_bytes());
        Some(Hash256(h.finalize().into()))
    }

    /// A name as written to curated: the name when names are kept, otherwise null.
    pub fn name(&self, name: Option<String>) -> Option<Text> {
        if self.keep_names { name.map(Text::from) } else { None }
    }

    /// A raw user row made fit for `quarantine/`: the address replaced by its hash, the names
    /// dropped unless kept. Quarantine is for diagnosis; it needs neither.
    pub fn redact_user_row(&self, row: &serde_json::Value) -> serde_json::Value {
        let mut row = row.clone();
        if let Some(map) = row.as_object_mut() {
            if let Some(email) = map.remove("email") {
                let hash = email.as_str().and_then(|e| self.email_hash(e)).map(|h| h.to_hex());
                map.insert("email_hash".into(), hash.map_or(serde_json::Value::Null, serde_json::Value::String));
            }
            if !self.keep_names {
                for field in ["first_name", "last_name"] {
                    if map.contains_key(field) {
                        map.insert(field.into(), serde_json::Value::Null);
                    }
                }
            }
        }
        row
    }
}

/// Reads a SecureString (decrypted) with the ambient AWS configuration.
async fn read_ssm(parameter: &str) -> Result<Secret, PiiError> {
    let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = aws_sdk_ssm::Client::new(&shared);
    let answer = client.get_parameter().name(parameter).with_decryption(true).send().await.map_err(|e| PiiError::Ssm {
        parameter: parameter.to_owned(),
        detail: aws_sdk_ssm::error::DisplayErrorContext(e).to_string(),
    })?;
    match answer.parameter.and_then(|p| p.value).filter(|v| !v.is_empty()) {
        Some(value) => Ok(Secret::new(value)),
        None => Err(PiiError::EmptySalt { parameter: parameter.to_owned() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_email_hash_is_salted_sha256_of_the_normalized_address() {
        let pii = Pii::new(Secret::new("pepper"), false);
        let expected = hex::encode(Sha256::digest(b"pepperada@example.com"));
        assert_eq!(pii.email_hash("ada@example.com").unwrap().to_hex(), expected);
        assert_eq!(pii.email_hash("  ADA@Example.COM\t"), pii.email_hash("ada@example.com"), "trimmed and lower-cased");
        assert_ne!(Pii::new(Secret::new("salt2"), false).email_hash("ada@example.com"), pii.email_hash("ada@example.com"));
        assert_eq!(pii.email_hash("   "), None);
    }

    #[test]
    fn names_are_dropped_unless_kept() {
        assert_eq!(Pii::new(Secret::new("s"), false).name(Some("Ada".into())), None);
        assert_eq!(Pii::new(Secret::new("s"), true).name(Some("Ada".into())).as_deref(), Some("Ada"));
    }

    #[test]
    fn quarantined_user_rows_lose_the_address_and_names() {
        let pii = Pii::new(Secret::new("s"), false);
        let row = json!({"id": 1, "first_name": "Ada", "last_name": "L", "email": "a@b.c", "gender": "Female"});
        let redacted = pii.redact_user_row(&row);
        assert_eq!(redacted["email_hash"], json!(pii.email_hash("a@b.c").unwrap().to_hex()));
        assert!(redacted.get("email").is_none());
        assert_eq!((redacted["first_name"].clone(), redacted["last_name"].clone()), (json!(null), json!(null)));
        assert_eq!(redacted["gender"], "Female");
        assert!(!redacted.to_string().contains("a@b.c"));
    }

    #[tokio::test]
    async fn a_lambda_without_a_salt_refuses_to_start() {
        let config = crate::config::Config::from_lookup(|k| (k == "AWS_LAMBDA_FUNCTION_NAME").then(|| "transform".to_owned())).unwrap();
        let err = Pii::from_config(&config.transform).await.unwrap_err();
        assert!(err.to_string().contains("PII_SALT_PARAMETER"), "{err}");
    }
}
