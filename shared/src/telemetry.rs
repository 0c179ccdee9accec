//! Logging set-up: JSON lines in Lambda (CloudWatch Logs), readable text on a terminal.
//!
//! The level comes from `AWS_LAMBDA_LOG_LEVEL` (set by the deployment) or `RUST_LOG`, default
//! `info`. Each run's work happens inside a `run` span carrying its run id and logical date, so
//! every line names them.

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls do nothing.
pub fn init() {
    let in_lambda = std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_some();
    let json = match std::env::var("AWS_LAMBDA_LOG_FORMAT") {
        Ok(format) => format.eq_ignore_ascii_case("json"),
        Err(_) => in_lambda,
    };
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL").ok().map(|l| l.to_lowercase());
    let filter = match level {
        Some(level) => EnvFilter::new(level),
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if json {
        // Lambda adds its own timestamp and request id; keep the span fields (run_id, date).
        builder.json().with_current_span(true).with_span_list(false).with_target(false).without_time().try_init()
    } else {
        builder.with_target(false).with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())).try_init()
    };
}

/// The span every line of one run is logged in.
pub fn run_span(function: &'static str, run_id: &str, date: chrono::NaiveDate) -> tracing::Span {
    tracing::info_span!("run", function, run_id, date = %date)
}
