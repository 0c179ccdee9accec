//! What every request shares: the data set and faults served now, the fault clock, counters.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use tokio::sync::watch;

use super::super::dataset::Dataset;
use super::super::faults::FaultKind;
use super::super::{Faults, SimulatorConfig};

/// The stats' counters: atomics, so counting never makes requests wait on each other.
#[derive(Default)]
pub(super) struct Counters {
    pub(super) requests: AtomicU64,
    /// Tracks, users, listen history, other.
    pub(super) by_endpoint: [AtomicU64; 4],
    pub(super) faults: [AtomicU64; FaultKind::ALL.len()],
}

impl Counters {
    pub(super) fn fault(&self, kind: FaultKind, n: u64) {
        self.faults[kind as usize].fetch_add(n, Ordering::Relaxed);
    }
}

/// What is served now, swapped whole by `set_date`/`set_faults`: a request sees one date and
/// one fault set.
pub(super) struct Current {
    pub(super) dataset: Arc<Dataset>,
    pub(super) faults: Arc<Faults>,
}

/// The state behind the router and every control handle.
pub(super) struct Shared {
    pub(super) config: SimulatorConfig,
    pub(super) current: RwLock<Current>,
    /// Requests per endpoint since the last `set_date`/`set_faults`: the fault clock.
    pub(super) sequence: [AtomicU64; 3],
    pub(super) counters: Counters,
    /// Set to `true` on shutdown: hanging requests give up at once.
    pub(super) shutdown: watch::Sender<bool>,
}

impl Shared {
    pub(super) fn current(&self) -> (Arc<Dataset>, Arc<Faults>) {
        let c = self.current.read().unwrap_or_else(|e| e.into_inner());
        (c.dataset.clone(), c.faults.clone())
    }

    pub(super) fn reset_sequence(&self) {
        for s in &self.sequence {
            s.store(0, Ordering::Relaxed);
        }
    }
}
