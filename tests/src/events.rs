//! The sample events in `tests/events/` and the workspace's paths, resolved from this crate's manifest.

use std::path::{Path, PathBuf};

/// The cargo workspace's root (the folder holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ has a parent folder").to_path_buf()
}

/// The folder of sample events, `tests/events/`.
pub fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("events")
}

/// The path of one sample event, e.g. `event_path("fetch-manual.json")`; panics if it is missing.
pub fn event_path(name: &str) -> PathBuf {
    let path = events_dir().join(name);
    assert!(path.is_file(), "sample event {} does not exist", path.display());
    path
}

/// One sample event, parsed.
pub fn event(name: &str) -> serde_json::Value {
    let path = event_path(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_event_is_json_and_the_expected_set_is_there() {
        let mut names: Vec<String> = std::fs::read_dir(events_dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".json"))
            .collect();
        names.sort();
        for name in &names {
            event(name);
        }
        for expected in [
            "fetch-backfill.json",
            "fetch-invalid.json",
            "fetch-manual.json",
            "fetch-scheduled-event.json",
            "fetch-scheduler.json",
            "recommend-rollback.json",
            "recommend-score.json",
            "recommend-train.json",
            "recommend-unpin.json",
            "transform-manual.json",
            "transform-s3-object-created.json",
        ] {
            assert!(names.iter().any(|n| n == expected), "missing tests/events/{expected}");
        }
    }

    #[test]
    fn the_events_carry_the_documented_dates_and_keys() {
        let scheduled = event("fetch-scheduled-event.json");
        assert_eq!(scheduled["detail-type"], "Scheduled Event");
        assert_eq!(scheduled["source"], "aws.events");
        assert_eq!(scheduled["time"], "2026-11-21T06:00:00Z");
        assert_eq!(event("fetch-scheduler.json"), serde_json::json!({"date": "2026-11-21T06:00:00Z"}));
        assert_eq!(event("fetch-manual.json"), serde_json::json!({"date": "2026-11-20", "allow_past": true}));
        let created = event("transform-s3-object-created.json");
        assert_eq!(created["detail-type"], "Object Created");
        assert_eq!(created["detail"]["bucket"]["name"], "moovitamix-data");
        assert_eq!(created["detail"]["object"]["key"], "raw/_run/dt=2026-11-21/_manifest.json");
        assert_eq!(event("recommend-train.json"), serde_json::json!({"mode": "train"}));
        assert_eq!(event("recommend-unpin.json"), serde_json::json!({"mode": "unpin"}));
    }
}
