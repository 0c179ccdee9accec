//! Personal data in the curated zone: the keyed e-mail hash, the names policy, and the key's source.
//!
//! `curated/users` never holds an e-mail address: `email_hash = hex(HMAC-SHA256(key,
//! lower(trim(email))))`, so the same address gives the same hash across days (joins and SCD2
//! still work) while neither the address nor a guess at it can be checked without the key.
//! Beside each hash, `email_key_id` names the key that made it: the first 16 hex digits of
//! HMAC-SHA256(key, "moovitamix/pii-key-id"), which identifies the key without revealing it. A new
//! key (rotation) gives new hashes under a new id, so readers can tell which hashes belong
//! together. First and last names are written as null unless `KEEP_NAMES=true`. The key comes
//! from an SSM SecureString in Lambda (`PII_SALT_PARAMETER`, read once per container), from
//! `PII_SALT` locally, or, for local runs with neither, a fixed development key (logged as a
//! warning; a Lambda refuses to start without a key).

use super::curated::{Hash256, Text};
use crate::config::{ConfigError, SaltSource, Secret, TransformConfig};
use crate::records::{Record, User, redact_personal};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The key of local runs that set none. Public, so only for simulated data.
pub const DEVELOPMENT_KEY: &str = "moovitamix-development-salt-not-for-real-data";

/// What the key id is the keyed hash of.
const KEY_ID_MESSAGE: &[u8] = b"moovitamix/pii-key-id";

#[derive(Debug, thiserror::Error)]
pub enum PiiError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("reading the PII salt from SSM parameter {parameter}: {detail}")]
    Ssm { parameter: String, detail: String },
    /// A throttle, a timeout, a 5xx: the read may succeed when tried again.
    #[error("reading the PII salt from SSM parameter {parameter} (may pass on a retry): {detail}")]
    SsmUnavailable { parameter: String, detail: String },
    #[error("the PII salt in SSM parameter {parameter} is empty")]
    EmptySalt { parameter: String },
}

/// The personal-data policy of one container.
#[derive(Debug, Clone)]
pub struct Pii {
    key: Secret,
    key_id: Text,
    pub keep_names: bool,
}

impl Pii {
    pub fn new(key: Secret, keep_names: bool) -> Self {
        let id = hmac(&key, KEY_ID_MESSAGE).to_hex();
        Self { key_id: Text::from(&id[..16]), key, keep_names }
    }

    /// The id of the key, stored beside every hash it made (`email_key_id`).
    pub fn key_id(&self) -> &Text {
        &self.key_id
    }

    /// Resolves the configured salt source (one SSM call in Lambda).
    pub async fn from_config(config: &TransformConfig) -> Result<Self, PiiError> {
        let salt = match &config.salt {
            SaltSource::Value(s) => s.clone(),
            SaltSource::SsmParameter(name) => read_ssm(name).await?,
            SaltSource::Development => {
                tracing::warn!("no PII_SALT or PII_SALT_PARAMETER: hashing e-mails with the public development key (local data only)");
                Secret::new(DEVELOPMENT_KEY)
            }
            SaltSource::Missing => return Err(SaltSource::missing_error().into()),
        };
        Ok(Self::new(salt, config.keep_names))
    }

    /// The keyed hash of an address, after trimming and lower-casing; `None` for a blank one.
    pub fn email_hash(&self, email: &str) -> Option<Hash256> {
        let normalized = email.trim().to_lowercase();
        (!normalized.is_empty()).then(|| hmac(&self.key, normalized.as_bytes()))
    }

    /// A name as written to curated: the name when names are kept, otherwise null.
    pub fn name(&self, name: Option<String>) -> Option<Text> {
        if self.keep_names { name.map(Text::from) } else { None }
    }

    /// A raw user row made fit for `quarantine/`: the address replaced by its hash (and key id),
    /// the names dropped unless kept; a row that is not an object, withheld. Quarantine is for
    /// diagnosis; it needs neither.
    pub fn redact_user_row(&self, row: &serde_json::Value) -> serde_json::Value {
        use serde_json::Value;
        let Some(map) = row.as_object() else { return redact_personal::<User>(row) };
        let mut map = map.clone();
        if let Some(email) = map.remove("email") {
            let hash = email.as_str().and_then(|e| self.email_hash(e)).map(|h| h.to_hex());
            let key_id = hash.as_ref().map(|_| Value::String(self.key_id.to_string()));
            map.insert("email_hash".into(), hash.map_or(Value::Null, Value::String));
            map.insert("email_key_id".into(), key_id.unwrap_or(Value::Null));
        }
        for field in User::PERSONAL.iter().filter(|f| **f != "email") {
            if let Some(v) = map.get_mut(*field)
                && !(self.keep_names && v.is_string())
            {
                *v = Value::Null;
            }
        }
        Value::Object(map)
    }
}

/// HMAC-SHA256 of `message` under `key`.
fn hmac(key: &Secret, message: &[u8]) -> Hash256 {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.expose().as_bytes()).expect("HMAC takes a key of any length");
    mac.update(message);
    Hash256(mac.finalize().into_bytes().into())
}

/// Reads a SecureString (decrypted) with the ambient AWS configuration.
async fn read_ssm(parameter: &str) -> Result<Secret, PiiError> {
    let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let client = aws_sdk_ssm::Client::new(&shared);
    let answer = client.get_parameter().name(parameter).with_decryption(true).send().await.map_err(|e| {
        use aws_sdk_ssm::error::ProvideErrorMetadata;
        // The deployment's mistakes (no such parameter or key, no permission) stay until fixed;
        // anything else (a throttle, a timeout, a 5xx) may pass.
        const DEPLOYMENT: [&str; 5] = ["ParameterNotFound", "ParameterVersionNotFound", "InvalidKeyId", "AccessDeniedException", "ValidationException"];
        let permanent = e.as_service_error().and_then(|s| s.code()).is_some_and(|code| DEPLOYMENT.contains(&code));
        let (parameter, detail) = (parameter.to_owned(), aws_sdk_ssm::error::DisplayErrorContext(e).to_string());
        match permanent {
            true => PiiError::Ssm { parameter, detail },
            false => PiiError::SsmUnavailable { parameter, detail },
        }
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
    fn the_email_hash_is_hmac_sha256_of_the_normalized_address() {
        let pii = Pii::new(Secret::new("pepper"), false);
        // RFC 2104 HMAC by hand, with SHA-256's 64-byte block: an independent check of the crate.
        let hmac_by_hand = |key: &[u8], message: &[u8]| {
            use sha2::Digest;
            let mut block = [0u8; 64];
            block[..key.len()].copy_from_slice(key);
            let pad = |byte: u8| block.iter().map(|b| b ^ byte).collect::<Vec<u8>>();
            let inner = Sha256::digest([pad(0x36), message.to_vec()].concat());
            hex::encode(Sha256::digest([pad(0x5c), inner.to_vec()].concat()))
        };
        assert_eq!(pii.email_hash("ada@example.com").unwrap().to_hex(), hmac_by_hand(b"pepper", b"ada@example.com"));
        assert_eq!(pii.key_id().as_ref(), &hmac_by_hand(b"pepper", b"moovitamix/pii-key-id")[..16]);
        assert_eq!(pii.email_hash("  ADA@Example.COM\t"), pii.email_hash("ada@example.com"), "trimmed and lower-cased");
        assert_ne!(Pii::new(Secret::new("salt2"), false).email_hash("ada@example.com"), pii.email_hash("ada@example.com"));
        assert_eq!(pii.email_hash("   "), None);
        assert_ne!(Pii::new(Secret::new("salt2"), false).key_id(), pii.key_id(), "a rotated key has another id");
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
        assert_eq!(redacted["email_key_id"], json!(pii.key_id().to_string()));
        assert!(redacted.get("email").is_none());
        assert_eq!((redacted["first_name"].clone(), redacted["last_name"].clone()), (json!(null), json!(null)));
        assert_eq!(redacted["gender"], "Female");
        assert!(!redacted.to_string().contains("a@b.c"));
        // A name of the wrong type, or a row that is not an object, is withheld even when names are kept.
        let keeping = Pii::new(Secret::new("s"), true);
        assert_eq!(keeping.redact_user_row(&json!({"id": 1, "first_name": ["Ada"], "last_name": "L"}))["first_name"], json!(null));
        assert_eq!(keeping.redact_user_row(&json!({"id": 1, "last_name": "L"}))["last_name"], "L");
        assert!(!pii.redact_user_row(&json!(["a@b.c", "Ada"])).to_string().contains("a@b.c"));
    }

    #[tokio::test]
    async fn a_lambda_without_a_salt_refuses_to_start() {
        let config = crate::config::Config::from_lookup(|k| (k == "AWS_LAMBDA_FUNCTION_NAME").then(|| "transform".to_owned())).unwrap();
        let err = Pii::from_config(&config.transform).await.unwrap_err();
        assert!(err.to_string().contains("PII_SALT_PARAMETER"), "{err}");
    }
}
