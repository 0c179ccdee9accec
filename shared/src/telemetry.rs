//! Logging set-up: JSON lines in Lambda (CloudWatch Logs); for a person running the local command,
//! warnings on the terminal and the full log in a file ([`init_local`]).
//!
//! The level comes from `AWS_LAMBDA_LOG_LEVEL` (set by the deployment) or `RUST_LOG`, default
//! `info`. Each run's work happens inside a `run` span carrying its run id and logical date, so
//! every line names them.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

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

/// The local command's logging: on the terminal (through `terminal`, e.g. a writer that keeps
/// progress bars intact) the warnings and errors only, or everything at `RUST_LOG`'s level when it
/// is set, or at `info` with `verbose`; the full log at `info` (or `RUST_LOG`'s level) in
/// `log_file`. Later calls do nothing.
pub fn init_local<W>(log_file: Option<std::fs::File>, verbose: bool, terminal: W)
where
    W: for<'a> MakeWriter<'a> + Send + Sync + 'static,
{
    use tracing_subscriber::{Layer, layer::SubscriberExt, util::SubscriberInitExt};
    let rust_log = std::env::var("RUST_LOG").ok().filter(|v| !v.trim().is_empty());
    let terminal_level = match (&rust_log, verbose) {
        (Some(level), _) => level.clone(),
        (None, true) => "info".to_owned(),
        (None, false) => "warn".to_owned(),
    };
    let on_terminal = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(terminal)
        .with_filter(EnvFilter::new(terminal_level));
    let to_file = log_file.map(|file| {
        tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(std::sync::Mutex::new(file))
            .with_filter(EnvFilter::new(rust_log.as_deref().unwrap_or("info")))
    });
    let _ = tracing_subscriber::registry().with(on_terminal).with(to_file).try_init();
}
