//! Progress of long work, for a person at a terminal: a tiny handle the jobs call, and a
//! [`Reporter`] the local command installs (bars on a terminal). Nothing is installed in Lambda,
//! in tests, or when the output is not a terminal, and then every call does nothing.
//!
//! The jobs never depend on how progress is shown: they open a [`Task`] with a total, advance it
//! and describe it; the reporter decides what to draw.

use std::sync::OnceLock;

/// Draws tasks; installed once per process with [`install`].
pub trait Reporter: Send + Sync {
    /// A task of `total` steps (0: unknown), labelled `label` (e.g. `fetch tracks: pages`).
    fn start(&self, label: &str, total: u64) -> Box<dyn TaskView>;
}

/// One task as the reporter draws it.
pub trait TaskView: Send + Sync {
    fn set_position(&self, done: u64);
    fn set_message(&self, message: String);
    fn finish(&self);
}

static REPORTER: OnceLock<Box<dyn Reporter>> = OnceLock::new();

/// Installs the process's reporter; later calls do nothing (the first one wins).
pub fn install(reporter: Box<dyn Reporter>) {
    let _ = REPORTER.set(reporter);
}

/// True when a reporter is installed: work whose only purpose is a progress message (e.g. a
/// training loss) is done only then.
pub fn enabled() -> bool {
    REPORTER.get().is_some()
}

/// A task in progress; finished when dropped. Does nothing without a reporter.
pub struct Task {
    view: Option<Box<dyn TaskView>>,
    done: std::sync::atomic::AtomicU64,
}

impl Task {
    /// Opens a task of `total` steps (0 when unknown).
    pub fn start(label: &str, total: u64) -> Self {
        Self { view: REPORTER.get().map(|r| r.start(label, total)), done: 0.into() }
    }

    /// Advances by `n` steps.
    pub fn advance(&self, n: u64) {
        let done = self.done.fetch_add(n, std::sync::atomic::Ordering::Relaxed) + n;
        if let Some(v) = &self.view {
            v.set_position(done);
        }
    }

    /// Describes the latest state (rows so far, a loss); built only when a reporter is there.
    pub fn describe(&self, message: impl FnOnce() -> String) {
        if let Some(v) = &self.view {
            v.set_message(message());
        }
    }
}

impl Drop for Task {
    fn drop(&mut self) {
        if let Some(v) = &self.view {
            v.finish();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_reporter_a_task_does_nothing_and_builds_no_message() {
        // No test in this crate installs a reporter: the process-wide default is none.
        assert!(!enabled());
        let task = Task::start("work", 3);
        task.advance(2);
        task.describe(|| unreachable!("no message is built without a reporter"));
    }
}
