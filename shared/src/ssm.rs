//! The SSM adapter: one SecureString parameter, decrypted (transform's e-mail hashing key).

use crate::config::Secret;

#[derive(Debug, thiserror::Error)]
pub enum SsmError {
    #[error("reading the PII salt from SSM parameter {parameter}: {detail}")]
    Read { parameter: String, detail: String },
    #[error("the PII salt in SSM parameter {parameter} is empty")]
    Empty { parameter: String },
}

/// The decrypted value of a SecureString; an empty or missing value is an error.
pub async fn secure_string(client: &aws_sdk_ssm::Client, parameter: &str) -> Result<Secret, SsmError> {
    let answer = client.get_parameter().name(parameter).with_decryption(true).send().await.map_err(|e| SsmError::Read {
        parameter: parameter.to_owned(),
        detail: aws_sdk_ssm::error::DisplayErrorContext(e).to_string(),
    })?;
    match answer.parameter.and_then(|p| p.value).filter(|v| !v.is_empty()) {
        Some(value) => Ok(Secret::new(value)),
        None => Err(SsmError::Empty { parameter: parameter.to_owned() }),
    }
}
