//! The terminal of a person running `moovitamix`: summary lines on stdout, warnings on stderr,
//! the full log in a file, and progress bars for long work.
//!
//! Bars are drawn only when stdout and stderr are both terminals (never in a pipe, a CI log or
//! Lambda); every line this command prints goes through [`suspend`] so that a bar never cuts it.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use moovitamix::progress::{Reporter, TaskView};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::OnceLock;

static BARS: OnceLock<MultiProgress> = OnceLock::new();

/// Runs `print` with the bars cleared, and redraws them after.
pub fn suspend<R>(print: impl FnOnce() -> R) -> R {
    match BARS.get() {
        Some(bars) => bars.suspend(print),
        None => print(),
    }
}

/// Prints a line on stdout, above the bars.
macro_rules! say {
    ($($arg:tt)*) => { $crate::console::suspend(|| println!($($arg)*)) };
}
pub(crate) use say;

/// Sets up the terminal: logging (to `log_file` when given), and bars when a person is watching.
pub fn init(log_file: Option<PathBuf>, verbose: bool) -> Result<Option<PathBuf>, std::io::Error> {
    let watching = std::io::stdout().is_terminal() && std::io::stderr().is_terminal() && std::env::var_os("AWS_LAMBDA_FUNCTION_NAME").is_none();
    if watching {
        let bars = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        let _ = BARS.set(bars.clone());
        moovitamix::progress::install(Box::new(Bars(bars)));
    }
    let file = match &log_file {
        Some(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            Some(std::fs::OpenOptions::new().create(true).append(true).open(path)?)
        }
        None => None,
    };
    moovitamix::telemetry::init_local(file, verbose || log_file.is_none(), || TerminalLog);
    Ok(log_file)
}

/// Log lines for the terminal: written to stderr with the bars cleared.
struct TerminalLog;

impl Write for TerminalLog {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        suspend(|| std::io::stderr().write_all(buf)).map(|()| buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// The bars: one line per task, `label [bar] done/total message (eta)`.
struct Bars(MultiProgress);

impl Reporter for Bars {
    fn start(&self, label: &str, total: u64) -> Box<dyn TaskView> {
        let template = "{prefix:>24} [{bar:30}] {pos}/{len} {msg} ({eta} left)";
        let style = ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> ");
        let bar = self.0.add(ProgressBar::new(total).with_style(style).with_prefix(label.to_owned()));
        Box::new(Bar(bar))
    }
}

struct Bar(ProgressBar);

impl TaskView for Bar {
    fn set_position(&self, done: u64) {
        self.0.set_position(done);
    }

    fn set_message(&self, message: String) {
        self.0.set_message(message);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}
