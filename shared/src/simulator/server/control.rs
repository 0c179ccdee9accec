//! The handle that changes a running simulator (date, faults) and reads its stats.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::NaiveDate;

use super::super::dataset::Dataset;
use super::super::faults::FaultKind;
use super::super::{Faults, SimulatorConfig};
use super::state::Shared;

/// Requests served and faults injected since the server started (never reset).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimulatorStats {
    /// Every request, any path.
    pub requests: u64,
    /// Requests per endpoint name (`"tracks"`, `"users"`, `"listen_history"`, and `"other"`
    /// for any other path); every key is present.
    pub by_endpoint: BTreeMap<String, u64>,
    /// Injected faults per [`FaultKind::name`]; every key is present. `"malformed"` counts
    /// rows, the others requests.
    pub faults: BTreeMap<String, u64>,
}

/// Changes a running simulator (cheap to clone; every clone controls the same server).
#[derive(Clone)]
pub struct SimulatorControl {
    pub(super) shared: Arc<Shared>,
}

impl std::fmt::Debug for SimulatorControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatorControl")
            .field("date", &self.date())
            .finish_non_exhaustive()
    }
}

impl SimulatorControl {
    /// Serves the data set as of `date` from the next request on, and restarts the fault
    /// clock. Builds the date's index (O(rows), about a second per ten million rows).
    pub fn set_date(&self, date: NaiveDate) {
        let config = SimulatorConfig {
            date,
            ..self.shared.config.clone()
        };
        let dataset = Arc::new(Dataset::new(&config));
        let mut c = self
            .shared
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner());
        c.dataset = dataset;
        self.shared.reset_sequence();
    }

    /// Replaces the faults from the next request on, and restarts the fault clock.
    pub fn set_faults(&self, faults: Faults) {
        let mut c = self
            .shared
            .current
            .write()
            .unwrap_or_else(|e| e.into_inner());
        c.faults = Arc::new(faults);
        self.shared.reset_sequence();
    }

    /// Requests and faults so far.
    pub fn stats(&self) -> SimulatorStats {
        let c = &self.shared.counters;
        let by_endpoint = ["tracks", "users", "listen_history", "other"]
            .into_iter()
            .zip(&c.by_endpoint)
            .map(|(k, v)| (k.to_owned(), v.load(Ordering::Relaxed)))
            .collect();
        let faults = FaultKind::ALL
            .into_iter()
            .map(|k| {
                (
                    k.name().to_owned(),
                    c.faults[k as usize].load(Ordering::Relaxed),
                )
            })
            .collect();
        SimulatorStats {
            requests: c.requests.load(Ordering::Relaxed),
            by_endpoint,
            faults,
        }
    }

    /// The date served.
    pub fn date(&self) -> NaiveDate {
        self.shared.current().0.date()
    }

    /// The data set served now (un-faulted rows).
    pub fn dataset(&self) -> Arc<Dataset> {
        self.shared.current().0
    }
}
