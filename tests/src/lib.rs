//! Test support for the MooVitamix end-to-end tests: the loopback AWS-API server, cargo-lambda's
//! Lambda emulator, and the sample events.
//!
//! | module | what it is for |
//! | --- | --- |
//! | [`aws`] | find the loopback AWS-API server (LocalStack, started by `tests/run.sh`), build S3 and CloudWatch clients for it, make a fresh bucket per test |
//! | [`cloudformation`] | a small reader of CloudFormation templates as data, for the checks of `infra/template.yaml` |
//! | [`crash`] | enumerate a stage run's crash points: crash before each store operation, restart, check what readers see |
//! | [`lambda`] | run `cargo lambda watch` as a child process and `cargo lambda invoke` functions through it |
//! | [`events`] | the sample events in `tests/events/`, and the workspace's paths |
//! | [`jobs`] | the fetch and transform jobs of a test, over its store and source, from one constructor |
//! | [`readme`] | the README's `sh` blocks and their commands, as a user reads them |
//!
//! The AWS-backed tests are built `#[ignore]`d when no loopback AWS server is configured
//! (`tests/build.rs`), so `cargo test` lists them as `ignored, needs the loopback AWS server`
//! rather than `ok`; tests that need another tool skip (printing `skipped: ...`) when a developer
//! runs plain `cargo test` without it. Both fail when `CI` or `MOOVITAMIX_TEST_AWS` says the tool
//! or server must be there.

pub mod aws;
pub mod cloudformation;
pub mod crash;
pub mod events;
pub mod jobs;
pub mod lambda;
pub mod readme;

pub use jobs::{Jobs, jobs};

/// The Python that has `duckdb`, the independent Parquet reader of the tests:
/// `MOOVITAMIX_PYTHON`, else the one `tests/run.sh` installs into `.tools/venv-readers/`.
/// `None` (after printing why) when it is missing on a developer's machine; a panic when
/// `CI` or `MOOVITAMIX_TEST_AWS` says the reader tests must run.
pub fn duckdb_python() -> Option<std::path::PathBuf> {
    let python = std::env::var_os("MOOVITAMIX_PYTHON")
        .map(Into::into)
        .unwrap_or_else(|| events::workspace_root().join(".tools/venv-readers/bin/python"));
    if python.exists() {
        return Some(python);
    }
    let reason = format!("no DuckDB reader at {} (bash tests/run.sh installs it)", python.display());
    if required_by_environment() {
        panic!("{reason}, and CI or MOOVITAMIX_TEST_AWS says the reader tests must run");
    }
    println!("skipped: {reason}");
    None
}

/// True when `name` is set to something other than empty, `0` or `false`.
pub fn env_flag(name: &str) -> bool {
    std::env::var(name).map(|v| !matches!(v.trim().to_ascii_lowercase().as_str(), "" | "0" | "false")).unwrap_or(false)
}

/// True when the environment says the full test set-up must be present (CI, or `tests/run.sh`).
pub fn required_by_environment() -> bool {
    env_flag("CI") || env_flag("MOOVITAMIX_TEST_AWS")
}

/// The variables `cargo test` sets for a test process (`CARGO_MANIFEST_DIR`, `CARGO_PKG_*`...):
/// a `cargo` started by a test (cargo-lambda's `cargo run`, a README command) must not inherit
/// them, or build scripts that track them see a change and the shared build is redone.
pub fn cargo_test_variables() -> Vec<String> {
    std::env::vars_os()
        .filter_map(|(k, _)| k.into_string().ok())
        .filter(|k| k == "CARGO" || (k.starts_with("CARGO_") && !matches!(k.as_str(), "CARGO_HOME" | "CARGO_TARGET_DIR")))
        .collect()
}
