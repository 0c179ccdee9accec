//! The SSM adapter: one SecureString parameter, decrypted (transform's e-mail hashing key).

use crate::config::Secret;

#[derive(Debug, thiserror::Error)]
pub enum SsmError {
    #[error("reading the PII salt from SSM parameter {parameter}: {detail}")]
    Read { parameter: String, detail: String },
    /// A throttle, a timeout, a 5xx: the read may succeed when tried again.
    #[error("reading the PII salt from SSM parameter {parameter} (may pass on a retry): {detail}")]
    Unavailable { parameter: String, detail: String },
    #[error("the PII salt in SSM parameter {parameter} is empty")]
    Empty { parameter: String },
}

/// The decrypted value of a SecureString; an empty or missing value is an error.
pub async fn secure_string(client: &aws_sdk_ssm::Client, parameter: &str) -> Result<Secret, SsmError> {
    let answer = client.get_parameter().name(parameter).with_decryption(true).send().await.map_err(|e| {
        use aws_sdk_ssm::error::ProvideErrorMetadata;
        // The deployment's mistakes (no such parameter or key, no permission) stay until fixed;
        // anything else (a throttle, a timeout, a 5xx) may pass.
        const DEPLOYMENT: [&str; 5] = ["ParameterNotFound", "ParameterVersionNotFound", "InvalidKeyId", "AccessDeniedException", "ValidationException"];
        let permanent = e.as_service_error().and_then(|s| s.code()).is_some_and(|code| DEPLOYMENT.contains(&code));
        let (parameter, detail) = (parameter.to_owned(), aws_sdk_ssm::error::DisplayErrorContext(e).to_string());
        match permanent {
            true => SsmError::Read { parameter, detail },
            false => SsmError::Unavailable { parameter, detail },
        }
    })?;
    match answer.parameter.and_then(|p| p.value).filter(|v| !v.is_empty()) {
        Some(value) => Ok(Secret::new(value)),
        None => Err(SsmError::Empty { parameter: parameter.to_owned() }),
    }
}
