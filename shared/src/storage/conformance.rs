//! The behaviour every [`Store`] backend must share, run against each of them (S3 included).

use super::{PutMode, Store, StoreError};
use bytes::Bytes;

/// Runs the whole suite against `store`, which must be empty. Panics on the first divergence.
pub async fn run(store: &dyn Store) {
    round_trip_and_overwrite(store).await;
    missing_objects(store).await;
    listing_is_by_prefix_and_sorted(store).await;
    create_refuses_an_existing_key(store).await;
    replace_needs_the_current_etag(store).await;
    delete_is_idempotent(store).await;
}

async fn round_trip_and_overwrite(store: &dyn Store) {
    let key = "raw/tracks/dt=2026-01-01/part-00000-r1.jsonl.gz";
    store.put(key, Bytes::from_static(b"first"), PutMode::Overwrite).await.unwrap();
    assert_eq!(store.get(key).await.unwrap().data, Bytes::from_static(b"first"));
    store.put(key, Bytes::from_static(b"second, longer"), PutMode::Overwrite).await.unwrap();
    assert_eq!(store.get(key).await.unwrap().data, Bytes::from_static(b"second, longer"));
    store.put("empty/dt=2026-01-01/x", Bytes::new(), PutMode::Overwrite).await.unwrap();
    assert!(store.get("empty/dt=2026-01-01/x").await.unwrap().data.is_empty());
    for k in [key, "empty/dt=2026-01-01/x"] {
        store.delete(k).await.unwrap();
    }
}

async fn missing_objects(store: &dyn Store) {
    let err = store.get("nothing/here.json").await.unwrap_err();
    assert!(matches!(err, StoreError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("nothing/here.json"), "the error names the key: {err}");
    assert!(store.get_opt("nothing/here.json").await.unwrap().is_none());
    assert!(store.list("nothing/").await.unwrap().is_empty());
}

async fn listing_is_by_prefix_and_sorted(store: &dyn Store) {
    let keys = [
        "list/a/dt=2026-01-02/part-00001-r.jsonl.gz",
        "list/a/dt=2026-01-01/_manifest.json",
        "list/a/dt=2026-01-01/part-00000-r.jsonl.gz",
        "list/ab/dt=2026-01-01/x",
        "list/b/y",
    ];
    for (i, k) in keys.iter().enumerate() {
        store.put(k, Bytes::from(vec![b'x'; i + 1]), PutMode::Overwrite).await.unwrap();
    }
    let listed = store.list("list/a/").await.unwrap();
    let names: Vec<&str> = listed.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(
        names,
        [
            "list/a/dt=2026-01-01/_manifest.json",
            "list/a/dt=2026-01-01/part-00000-r.jsonl.gz",
            "list/a/dt=2026-01-02/part-00001-r.jsonl.gz",
        ]
    );
    assert_eq!(listed.iter().map(|o| o.size).collect::<Vec<_>>(), [2, 3, 1]);
    assert_eq!(store.list("list/").await.unwrap().len(), keys.len());
    // A prefix that is not a folder boundary still matches by string prefix, as S3 does.
    assert_eq!(store.list("list/a").await.unwrap().len(), 4);
    for k in keys {
        store.delete(k).await.unwrap();
    }
    assert!(store.list("list/").await.unwrap().is_empty());
}

async fn create_refuses_an_existing_key(store: &dyn Store) {
    let key = "raw/_run/dt=2026-01-01/_lease.json";
    store.put(key, Bytes::from_static(b"run-1"), PutMode::Create).await.unwrap();
    let err = store.put(key, Bytes::from_static(b"run-2"), PutMode::Create).await.unwrap_err();
    assert!(matches!(err, StoreError::AlreadyExists { .. }), "{err:?}");
    assert_eq!(store.get(key).await.unwrap().data, Bytes::from_static(b"run-1"), "the loser wrote nothing");
    store.delete(key).await.unwrap();
    store.put(key, Bytes::from_static(b"run-3"), PutMode::Create).await.unwrap();
    store.delete(key).await.unwrap();
}

async fn replace_needs_the_current_etag(store: &dyn Store) {
    let key = "models/als/champion.json";
    store.put(key, Bytes::from_static(b"v1"), PutMode::Overwrite).await.unwrap();
    let seen = store.get(key).await.unwrap().etag;
    store.put(key, Bytes::from_static(b"v2"), PutMode::Replace(seen.clone())).await.unwrap();
    let now = store.get(key).await.unwrap();
    assert_eq!(now.data, Bytes::from_static(b"v2"));
    assert_ne!(now.etag, seen, "a new content has a new etag");
    let err = store.put(key, Bytes::from_static(b"v3"), PutMode::Replace(seen)).await.unwrap_err();
    assert!(matches!(err, StoreError::Precondition { .. }), "{err:?}");
    assert_eq!(store.get(key).await.unwrap().data, Bytes::from_static(b"v2"));
    store.delete(key).await.unwrap();
}

async fn delete_is_idempotent(store: &dyn Store) {
    store.delete("never/written").await.unwrap();
    store.put("gone/x", Bytes::from_static(b"x"), PutMode::Overwrite).await.unwrap();
    store.delete("gone/x").await.unwrap();
    store.delete("gone/x").await.unwrap();
    assert!(store.get_opt("gone/x").await.unwrap().is_none());
}
