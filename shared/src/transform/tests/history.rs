//! Transform over several dates: history and deltas, keys carried forward, falls of current rows.

use super::*;

#[tokio::test]
async fn history_and_deltas_across_three_days() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    // Day 1: tracks 1, 2, 3. Day 2: 2 changes, 3 leaves, 4 arrives. Day 3: 3 comes back, 2 changes again.
    raw(&store, 1, vec![track(1, "a"), track(2, "b"), track(3, "c")], vec![user(10)], vec![listen(10, &[1, 2])]).await;
    raw(&store, 2, vec![track(1, "a"), track(2, "B"), track(4, "d")], vec![user(10)], vec![listen(10, &[1, 2, 4])]).await;
    raw(&store, 3, vec![track(1, "a"), track(2, "β"), track(3, "c"), track(4, "d")], vec![user(10)], vec![listen(10, &[2, 3, 4])]).await;
    let (t, metrics) = transformer(&store, &[("DQ_MAX_ROW_COUNT_CHANGE", "1")]);
    for d in 1..=3 {
        t.run(day(d), &format!("run-{d}")).await.unwrap();
    }
    type Row = (i64, String, u32, Option<u32>, DateTime<Utc>);
    let rows = |h: Vec<Version<TrackRow>>| -> Vec<Row> {
        use chrono::Datelike;
        h.into_iter().map(|v| (v.row.id, v.row.name.unwrap().to_string(), v.valid_from.day(), v.valid_to.map(|t| t.day()), v.ingested_at)).collect()
    };
    let s = |x: &str| x.to_owned();
    assert_eq!(
        rows(tracks_of(&store, 3).await),
        [
            (1, s("a"), 1, None, fetched_at(1)),
            (2, s("b"), 1, Some(2), fetched_at(1)),
            (2, s("B"), 2, Some(3), fetched_at(2)),
            (2, s("β"), 3, None, fetched_at(3)),
            (3, s("c"), 1, Some(2), fetched_at(1)),
            (3, s("c"), 3, None, fetched_at(3)),
            (4, s("d"), 2, None, fetched_at(2)),
        ]
    );
    // Each date's partition is that date's whole history: day 2's is unchanged by day 3.
    assert_eq!(tracks_of(&store, 2).await.len(), 5);
    // Opened: 3 on day 1, 2 and 4 on day 2, 2 and 3 on day 3. Closed: 2 and 3 on day 2, 2 on day 3.
    assert_eq!(metrics.total(Metric::NewVersions, Some(TableName::Tracks.as_str())), 7.0);
    assert_eq!(metrics.total(Metric::ClosedVersions, Some(TableName::Tracks.as_str())), 3.0);

    assert_eq!(events_of(&store, 2, TableName::ListenEventsDelta).await, [(10, 4, 2, true)]);
    assert_eq!(events_of(&store, 3, TableName::ListenEvents).await, [(10, 2, 0, false), (10, 3, 1, true), (10, 4, 2, false)]);
    assert_eq!(events_of(&store, 3, TableName::ListenEventsDelta).await, [(10, 3, 1, true)]);
}

#[tokio::test]
async fn a_row_rejected_today_carries_its_key_forward_instead_of_closing_it() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    clean_raw(&store, 1).await;
    // Day 2: track 2 and user 11 have an unparsable datetime, user 10's listen row has items as
    // text, and one track row has no readable id (it cannot be carried by key).
    let mut bad_track = track(2, "t2");
    bad_track["updated_at"] = json!("yesterday");
    let mut bad_user = user(11);
    bad_user["created_at"] = json!("01/01/2025");
    let mut bad_listen = listen(10, &[]);
    bad_listen["items"] = json!("[1, 2]");
    let mut no_id = track(9, "t9");
    no_id["id"] = json!("n/a");
    let tracks = vec![track(1, "t1"), bad_track, track(3, "t3"), no_id];
    raw(
        &store,
        2,
        tracks,
        vec![user(10), bad_user],
        vec![bad_listen, listen(11, &[3, 1])],
    )
    .await;
    let (t, metrics) = transformer(
        &store,
        &[
            ("DQ_MAX_QUARANTINE_SHARE", "0.6"),
            ("DQ_MAX_CURRENT_DROP", "1"),
        ],
    );
    t.run(day(1), "run-1").await.unwrap();
    let summary = t.run(day(2), "run-2").await.unwrap();

    let tracks = tracks_of(&store, 2).await;
    let state: Vec<(i64, bool, bool)> = tracks
        .iter()
        .map(|v| (v.row.id, v.is_current(), v.carried_forward))
        .collect();
    assert_eq!(
        state,
        [(1, true, false), (2, true, true), (3, true, false)],
        "track 2 is unknown today, not gone"
    );
    assert_eq!(
        tracks[1].valid_from,
        as_of(day(1)),
        "the carried version is yesterday's, untouched"
    );
    let users: Vec<Version<UserRow>> = read_curated(store.clone(), day(2), TableName::Users).await.unwrap();
    assert_eq!(
        users
            .iter()
            .map(|v| (v.row.id, v.is_current(), v.carried_forward))
            .collect::<Vec<_>>(),
        [(10, true, false), (11, true, true)]
    );

    // User 10's events are yesterday's, carried and never new; user 11 (carried) keeps today's row.
    let events: Vec<ListenEvent> = read_curated(store.clone(), day(2), TableName::ListenEvents)
        .await
        .unwrap();
    let got: Vec<(i64, i64, i32, bool, bool)> = events
        .iter()
        .map(|e| {
            (
                e.user_id,
                e.track_id,
                e.position,
                e.is_new,
                e.carried_forward,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (10, 1, 0, false, true),
            (10, 2, 1, false, true),
            (11, 3, 0, false, false),
            (11, 1, 1, true, false)
        ]
    );
    assert_eq!(
        events_of(&store, 2, TableName::ListenEventsDelta).await,
        [(11, 1, 1, true)],
        "a carried pair is never new"
    );

    let tables = &run_manifest(&store, 2).await.unwrap().details["dq_report"]["tables"];
    assert_eq!(
        (
            tables["tracks"]["carried_forward"].as_u64(),
            tables["tracks"]["uncarriable"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(
        (
            tables["users"]["carried_forward"].as_u64(),
            tables["listen_events"]["carried_forward"].as_u64()
        ),
        (Some(1), Some(1))
    );
    assert_eq!(
        (
            summary.tables[&TableName::Tracks].carried_forward,
            summary.tables[&TableName::Tracks].closed_versions
        ),
        (1, Some(0))
    );
    assert_eq!(
        metrics.total_where(Metric::CarriedForward, "Entity", TableName::Tracks.as_str()),
        1.0
    );

    // Day 3 serves everything again: the same history as if day 2 had been good.
    clean_raw(&store, 3).await;
    t.run(day(3), "run-3").await.unwrap();
    let after = tracks_of(&store, 3).await;
    assert!(
        after
            .iter()
            .all(|v| v.is_current() && !v.carried_forward && v.valid_from == as_of(day(1))),
        "{after:?}"
    );
    let events = events_of(&store, 3, TableName::ListenEvents).await;
    assert_eq!(
        events,
        [(10, 1, 0, false), (10, 2, 1, false), (11, 3, 0, false)]
    );
    assert!(
        events_of(&store, 3, TableName::ListenEventsDelta).await.is_empty(),
        "the carried pairs were never new, nor are they now"
    );
}

#[tokio::test]
async fn a_fall_of_current_rows_beyond_the_threshold_fails_and_commits_nothing() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let tracks = |n: i64| (1..=n).map(|i| track(i, "t")).collect::<Vec<_>>();
    raw(
        &store,
        1,
        tracks(10),
        vec![user(10)],
        vec![listen(10, &[1])],
    )
    .await;
    raw(&store, 2, tracks(8), vec![user(10)], vec![listen(10, &[1])]).await;
    let (t, metrics) = transformer(&store, &[("DQ_MAX_CURRENT_DROP", "0.15")]);
    t.run(day(1), "run-1").await.unwrap();
    let err = t.run(day(2), "run-2").await.unwrap_err();
    assert_eq!(err.error_type(), "Permanent.DataQuality");
    let text = err.to_string();
    assert!(
        text.contains("tracks: 8 current rows against 10")
            && text.contains("20.00%")
            && text.contains("DQ_MAX_CURRENT_DROP"),
        "{text}"
    );
    assert!(run_manifest(&store, 2).await.is_none(), "nothing committed");
    assert_eq!(
        metrics.total(Metric::CurrentRowsDrop, None),
        0.2,
        "the alarm sees the fall"
    );
    let (relaxed, _) = transformer(&store, &[("DQ_MAX_CURRENT_DROP", "0.2")]);
    relaxed.run(day(2), "run-2b").await.unwrap();
}
