//! Test support for the MooVitamix end-to-end tests: the loopback AWS-API server, cargo-lambda's
//! Lambda emulator, and the sample events.
//!
//! | module | what it is for |
//! | --- | --- |
//! | [`aws`] | find the loopback AWS-API server (LocalStack, started by `tests/run.sh`), build S3 and CloudWatch clients for it, make a fresh bucket per test |
//! | [`lambda`] | run `cargo lambda watch` as a child process and `cargo lambda invoke` functions through it |
//! | [`events`] | the sample events in `tests/events/`, and the workspace's paths |
//!
//! Tests that need a tool or a server skip (printing `skipped: ...`) when a developer runs plain
//! `cargo test` without it, and fail when `CI` or `MOOVITAMIX_TEST_AWS` says it must be there.

pub mod aws;
pub mod events;
pub mod lambda;

/// True when `name` is set to something other than empty, `0` or `false`.
pub fn env_flag(name: &str) -> bool {
    std::env::var(name).map(|v| !matches!(v.trim().to_ascii_lowercase().as_str(), "" | "0" | "false")).unwrap_or(false)
}

/// True when the environment says the full test set-up must be present (CI, or `tests/run.sh`).
pub fn required_by_environment() -> bool {
    env_flag("CI") || env_flag("MOOVITAMIX_TEST_AWS")
}
