//! A run's identity: sortable by start time, unique, and the name of every folder the run writes.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(String);

impl RunId {
    /// `YYYYMMDDTHHMMSSZ-<8 hex>`: the start time, then enough randomness that two runs started
    /// in the same second never collide.
    pub fn new(now: DateTime<Utc>) -> Self {
        Self(format!("{}-{}", now.format("%Y%m%dT%H%M%SZ"), &uuid::Uuid::new_v4().simple().to_string()[..8]))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A given id (tests, tools); it must be usable as a folder name.
impl From<&str> for RunId {
    fn from(s: &str) -> Self {
        assert!(!s.is_empty() && !s.contains(['/', '\\']), "a run id is one path segment: {s:?}");
        Self(s.to_owned())
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for RunId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_sort_by_start_and_never_collide() {
        let t = DateTime::parse_from_rfc3339("2026-12-02T10:00:00Z").unwrap().to_utc();
        let (a, b) = (RunId::new(t), RunId::new(t));
        assert_ne!(a, b);
        assert!(a.as_str().starts_with("20261202T100000Z-"));
        assert!(RunId::new(t + chrono::Duration::seconds(1)) > a.max(b));
    }
}
