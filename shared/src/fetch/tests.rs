//! The fetch job over scripted pages (no HTTP): restarts, drift detection and duplicates.

use super::*;
use crate::job::Classified;
use crate::metrics::MemorySink;
use crate::records::Entity;
use crate::source::{Fetched, Page};
use crate::storage::MemoryStore;
use serde_json::json;
use serde_json::value::RawValue;
use std::collections::HashMap;
use std::sync::Mutex;

const PAGE_SIZE: u32 = 2;

/// From which request (0-based) of a path on, which keys it lists.
type Listings = Vec<(usize, Vec<i64>)>;

/// A source whose listing of each path changes at given requests: `(from, keys)` serves `keys`
/// to that path's requests number `from` (0-based, in order) onwards. One page in flight, so the
/// order of requests is the job's.
#[derive(Debug, Clone)]
struct ScriptedPages {
    script: Arc<HashMap<&'static str, Listings>>,
    requests: Arc<Mutex<HashMap<String, usize>>>,
}

impl ScriptedPages {
    fn new(tracks: Listings) -> Self {
        let script = HashMap::from([("tracks", tracks), ("users", vec![(0, vec![7])]), ("listen_history", vec![(0, vec![7])])]);
        Self { script: Arc::new(script), requests: Arc::default() }
    }

    fn stable(keys: &[i64]) -> Self {
        Self::new(vec![(0, keys.to_vec())])
    }
}

/// A served row; a negative key serves a track whose `name` has the wrong type (rejected, key readable).
fn row(path: &str, key: i64) -> String {
    if path == "tracks" && key == RAW_VALUE_MARKER {
        // An object serde_json reads only as raw JSON: no `Value` holds it.
        return format!(r#"{{"$serde_json::private::RawValue": "x", "id": {key}}}"#);
    }
    match path {
        "tracks" if key < 0 => json!({"id": key, "name": 5, "artist": "A", "songwriters": "B", "duration": "03:25", "genres": "rock",
                                      "album": "X", "created_at": "2025-10-30T17:52:06", "updated_at": "2025-11-01T08:00:00"}),
        "tracks" => json!({"id": key, "name": "Song", "artist": "A", "songwriters": "B", "duration": "03:25", "genres": "rock",
                           "album": "X", "created_at": "2025-10-30T17:52:06", "updated_at": "2025-11-01T08:00:00"}),
        "users" => json!({"id": key, "first_name": "A", "last_name": "B", "email": "a@b.c", "gender": "Agender",
                          "favorite_genres": "Hip Hop", "created_at": "2025-01-01T00:00:00", "updated_at": "2025-06-01T00:00:00"}),
        _ => json!({"user_id": key, "items": [3, 1, 2], "created_at": "2025-01-01T00:00:00", "updated_at": "2025-01-02T00:00:00"}),
    }
    .to_string()
}

impl PageSource for ScriptedPages {
    fn base_url(&self) -> &str {
        "scripted:"
    }

    fn page_size(&self) -> u32 {
        PAGE_SIZE
    }

    fn concurrency(&self) -> usize {
        1
    }

    fn for_run(&self) -> Self {
        self.clone()
    }

    async fn page(&self, path: &str, number: u64) -> Result<Fetched, SourceError> {
        let request = {
            let mut requests = self.requests.lock().unwrap();
            let n = requests.entry(path.to_owned()).or_default();
            *n += 1;
            *n - 1
        };
        let (_, keys) = self.script[path].iter().rev().find(|(from, _)| *from <= request).expect("a listing from request 0");
        let size = PAGE_SIZE as usize;
        let start = (number as usize - 1) * size;
        let items = keys.iter().skip(start).take(size).map(|k| RawValue::from_string(row(path, *k)).unwrap()).collect();
        let total = keys.len() as u64;
        let page = Page { items, total, page: number, size: PAGE_SIZE as u64, pages: total.div_ceil(PAGE_SIZE as u64) };
        Ok(Fetched { page, retries: 0, bytes: 0 })
    }
}

fn fetcher(source: ScriptedPages) -> Fetcher<ScriptedPages> {
    Fetcher {
        store: Arc::new(MemoryStore::default()),
        source,
        metrics: Metrics::new(FUNCTION, "MooVitamix/Test", Arc::new(MemorySink::default())),
        part_rows: 100,
        limits: FetchConfig::default(),
        commit: CommitSettings::default(),
    }
}

fn date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 20).unwrap()
}

async fn committed(fetcher: &Fetcher<ScriptedPages>) -> bool {
    crate::commit::read_committed(fetcher.store.as_ref(), Zone::Raw, date()).await.is_ok()
}

#[tokio::test]
async fn a_stable_listing_is_read_once_and_committed() {
    let fetcher = fetcher(ScriptedPages::stable(&[1, 2, 3, 4, 5]));
    let summary = fetcher.run(date(), "run-1").await.unwrap();
    let tracks = &summary.entities[&Entity::Tracks];
    assert_eq!((tracks.accepted, tracks.pages, tracks.restarts, tracks.duplicate_rows), (5, 3, 0, 0));
    assert_eq!(summary.entities[&Entity::Users].accepted, 1);
    assert!(committed(&fetcher).await);
}

/// A fetcher that commits with up to half of the rows rejected.
fn tolerant(source: ScriptedPages) -> Fetcher<ScriptedPages> {
    let fetcher = fetcher(source);
    let mut limits = fetcher.limits;
    limits.max_rejected_share = 0.5;
    Fetcher { limits, ..fetcher }
}

/// The quarantined tracks' lines, every part's in turn.
async fn quarantined_tracks(fetcher: &Fetcher<ScriptedPages>) -> String {
    let mut text = String::new();
    for o in fetcher.store.list("quarantine/tracks/").await.unwrap() {
        let data = fetcher.store.get(&o.key).await.unwrap().data;
        text += &std::io::read_to_string(flate2::read::GzDecoder::new(&data[..])).unwrap();
    }
    text
}

#[tokio::test]
async fn a_rejected_row_is_quarantined_with_its_page_and_place_in_it() {
    // Pages of 2: [1, -2], [3, 4], [-5].
    let fetcher = tolerant(ScriptedPages::stable(&[1, -2, 3, 4, -5]));
    let summary = fetcher.run(date(), "run-q").await.unwrap();
    assert_eq!((summary.entities[&Entity::Tracks].accepted, summary.entities[&Entity::Tracks].rejected), (3, 2));
    let lines: Vec<serde_json::Value> = quarantined_tracks(&fetcher).await.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let places: Vec<_> = lines.iter().map(|q| (q["source"].as_str().unwrap().to_owned(), q["line"].as_u64().unwrap(), q["row"]["id"].as_i64().unwrap())).collect();
    assert_eq!(places, [("tracks?page=1".to_owned(), 2, -2), ("tracks?page=3".to_owned(), 1, -5)]);
    assert!(lines.iter().all(|q| q["reasons"][0]["check"] == "wrong_type" && q["reasons"][0]["field"] == "name"), "{lines:?}");
}

const RAW_VALUE_MARKER: i64 = 1_000_000;

#[tokio::test]
async fn a_row_no_json_value_holds_is_rejected_not_a_panic() {
    let fetcher = tolerant(ScriptedPages::stable(&[1, RAW_VALUE_MARKER, 3]));
    let summary = fetcher.run(date(), "run-raw").await.unwrap();
    assert_eq!((summary.entities[&Entity::Tracks].accepted, summary.entities[&Entity::Tracks].rejected), (2, 1));
    let text = quarantined_tracks(&fetcher).await;
    assert!(text.contains(r#""check":"invalid_row""#) && text.contains("not readable as a JSON value"), "{text}");
}

#[tokio::test]
async fn a_total_that_changes_mid_listing_starts_the_endpoint_over_once() {
    // Page 2 (request 1) already says 6 rows where page 1 said 5.
    let fetcher = fetcher(ScriptedPages::new(vec![(0, vec![1, 2, 3, 4, 5]), (1, vec![1, 2, 3, 4, 5, 6])]));
    let summary = fetcher.run(date(), "run-1").await.unwrap();
    let tracks = &summary.entities[&Entity::Tracks];
    assert_eq!((tracks.accepted, tracks.restarts), (6, 1), "the second pass reads the new listing whole");
    assert!(committed(&fetcher).await);
}

#[tokio::test]
async fn a_listing_that_changes_on_both_passes_fails_and_commits_nothing() {
    // The second pass starts at request 2 and sees the total move again at request 3.
    let fetcher = fetcher(ScriptedPages::new(vec![(0, vec![1, 2, 3, 4, 5]), (1, vec![1, 2, 3, 4, 5, 6]), (3, vec![1, 2, 3, 4, 5, 6, 7])]));
    let err = fetcher.run(date(), "run-1").await.unwrap_err();
    assert!(matches!(err, FetchError::Inconsistent { entity: Entity::Tracks, .. }), "{err}");
    assert_eq!(err.error_type(), "Retryable.SourceInconsistent");
    assert!(!committed(&fetcher).await);
}

#[tokio::test]
async fn an_edge_page_whose_keys_moved_under_the_same_total_is_read_again() {
    // Pass one reads pages 1-3 (requests 0-2); then key 5 is removed and 6 added: the re-read of
    // the last page (request 4) shows it, with the same total and page count.
    let fetcher = fetcher(ScriptedPages::new(vec![(0, vec![1, 2, 3, 4, 5]), (3, vec![1, 2, 3, 4, 6])]));
    let summary = fetcher.run(date(), "run-1").await.unwrap();
    let tracks = &summary.entities[&Entity::Tracks];
    assert_eq!((tracks.accepted, tracks.restarts, tracks.pages), (5, 1, 3));
}

#[tokio::test]
async fn a_duplicate_the_source_holds_is_committed_as_served_after_a_second_pass() {
    let fetcher = fetcher(ScriptedPages::stable(&[1, 2, 2, 3]));
    let summary = fetcher.run(date(), "run-1").await.unwrap();
    let tracks = &summary.entities[&Entity::Tracks];
    assert_eq!((tracks.accepted, tracks.duplicate_rows, tracks.restarts), (4, 1, 1), "kept for transform's duplicate_key rule");
    assert!(committed(&fetcher).await);
}

#[tokio::test]
async fn a_duplicate_of_a_shifted_listing_is_gone_on_the_second_pass() {
    // Pass one (requests 0-3: pages 1, 2 and the two edge re-reads) sees key 2 twice; pass two does not.
    let fetcher = fetcher(ScriptedPages::new(vec![(0, vec![1, 2, 2, 3]), (4, vec![1, 2, 3, 4])]));
    let summary = fetcher.run(date(), "run-1").await.unwrap();
    let tracks = &summary.entities[&Entity::Tracks];
    assert_eq!((tracks.accepted, tracks.duplicate_rows, tracks.restarts), (4, 0, 1));
}

#[tokio::test]
async fn duplicates_that_differ_between_passes_fail_the_run() {
    let fetcher = fetcher(ScriptedPages::new(vec![(0, vec![1, 2, 2, 3]), (4, vec![1, 3, 3, 4])]));
    let err = fetcher.run(date(), "run-1").await.unwrap_err();
    assert!(matches!(&err, FetchError::Inconsistent { detail, .. } if detail.contains("keys served twice")), "{err}");
    assert!(!committed(&fetcher).await);
}
