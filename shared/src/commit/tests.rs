//! The commit protocol on its own, with a small job of two partitions; the stages' crash points
//! are enumerated in `faults` (here on memory and local folders, and on S3 in the tests crate).

use super::*;
use crate::manifest::ObjectRole;
use crate::partition::{Partition, Zone};
use crate::storage::{MemoryStore, PutMode, ScriptedStore, Store};
use bytes::Bytes;
use chrono::NaiveDate;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

fn date() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 21).unwrap()
}

fn settings(clock: Arc<dyn Clock>) -> CommitSettings {
    CommitSettings {
        lease: LeaseSettings { ttl: Duration::from_secs(60), max_clock_skew: Duration::from_secs(5), wait: Duration::ZERO },
        orphan_grace: Duration::ZERO,
        deadline_margin: Duration::from_millis(50),
        commit_write_timeout: Duration::from_secs(5),
        clock,
    }
}

/// A job that writes `rows` as one object each into `raw/tracks`, and one quarantined object.
async fn write_run(store: &Arc<dyn Store>, run_id: &str, rows: &[&str], settings: &CommitSettings) -> Result<Committed, CommitError> {
    let spec = RunSpec { store: store.clone(), stage: "fetch", zone: Zone::Raw, date: date(), run_id: RunId::from(run_id), deadline: None };
    let rows: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
    let (committed, ()) = with_run(spec, settings, |w| async move {
        let p = Partition::new(Zone::Raw, "tracks", date());
        let q = Partition::new(Zone::Quarantine, "tracks", date());
        let mut objects = Vec::new();
        for (i, r) in rows.iter().enumerate() {
            objects.push(w.put_object(p.part_key(i, w.run_id(), "txt"), Bytes::from(r.clone()), 1, ObjectRole::Data).await?);
        }
        objects.push(w.put_object(q.part_key(0, w.run_id(), "txt"), Bytes::from_static(b"bad"), 1, ObjectRole::Quarantine).await?);
        let commit = PartitionCommit {
            partition: p,
            counts: BTreeMap::from([("accepted".into(), rows.len() as u64)]),
            objects,
            source: "test".into(),
            details: serde_json::Value::Null,
            also_owns: vec![q],
        };
        Ok::<_, CommitError>(Staged { partitions: vec![commit], details: serde_json::Value::Null, output: () })
    })
    .await?;
    Ok(committed)
}

/// The test settings on the system clock.
fn system() -> CommitSettings {
    settings(Arc::new(SystemClock))
}

/// A store whose date already holds a commit, of the run `prev`.
async fn seeded() -> Arc<dyn Store> {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    write_run(&store, "prev", &["p"], &system()).await.unwrap();
    store
}

/// How many store operations the run `A` (two rows) makes over a seeded date, uninterrupted.
async fn operations_of_a() -> u64 {
    let counting = Arc::new(ScriptedStore::new(seeded().await));
    let store: Arc<dyn Store> = counting.clone();
    write_run(&store, "A", &["a1", "a2"], &system()).await.unwrap();
    counting.ops()
}

/// Every key in the store but the lease.
async fn keys(store: &Arc<dyn Store>) -> Vec<String> {
    store.list("").await.unwrap().into_iter().map(|o| o.key).filter(|k| !k.ends_with("_lease.json")).collect()
}

#[tokio::test]
async fn a_run_commits_a_date_once_and_a_second_attempt_of_it_changes_nothing() {
    // A fanned commit step retried after its first attempt switched: the same run id again.
    let store = seeded().await;
    write_run(&store, "A", &["a1", "a2"], &system()).await.unwrap();
    let before = keys(&store).await;
    let again = write_run(&store, "A", &["a1", "a2"], &system()).await;
    assert!(matches!(again, Err(CommitError::AlreadyCommitted { .. })), "{again:?}");
    assert_eq!(again.unwrap_err().error_type(), "Permanent.AlreadyCommitted");
    assert_eq!(keys(&store).await, before, "nothing rewritten, nothing deleted");
    assert_eq!(read_committed(store.as_ref(), Zone::Raw, date()).await.unwrap().run.run_id, "A", "the commit stays whole");
}

#[tokio::test]
async fn a_rerun_replaces_the_partition_and_leaves_no_stray_objects() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let s = system();
    write_run(&store, "run1", &["a", "b", "c"], &s).await.unwrap();
    let second = write_run(&store, "run2", &["x"], &s).await.unwrap();
    assert_eq!(second.removed_stale_objects, 5, "three old parts, the old quarantine object, the old manifest");
    assert_eq!(
        keys(&store).await,
        [
            "quarantine/tracks/dt=2026-11-21/run=run2/part-00000.txt",
            "raw/_run/dt=2026-11-21/_manifest.json",
            "raw/tracks/_symlink_format_manifest/dt=2026-11-21/manifest",
            "raw/tracks/dt=2026-11-21/run=run2/_manifest.json",
            "raw/tracks/dt=2026-11-21/run=run2/part-00000.txt",
        ]
    );
    let committed = read_committed(store.as_ref(), Zone::Raw, date()).await.unwrap();
    assert_eq!(committed.run.run_id, "run2");
    assert_eq!(committed.partitions[0].data_keys().collect::<Vec<_>>(), ["raw/tracks/dt=2026-11-21/run=run2/part-00000.txt"]);
    let symlink = store.get("raw/tracks/_symlink_format_manifest/dt=2026-11-21/manifest").await.unwrap().data;
    assert_eq!(&symlink[..], b"memory://raw/tracks/dt=2026-11-21/run=run2/part-00000.txt\n");
}

#[tokio::test]
async fn a_failed_run_leaves_the_previous_commit_whole() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let s = system();
    write_run(&store, "run1", &["a"], &s).await.unwrap();
    let before = keys(&store).await;
    let spec = RunSpec { store: store.clone(), stage: "fetch", zone: Zone::Raw, date: date(), run_id: RunId::from("run2"), deadline: None };
    let err = with_run(spec, &s, |w| async move {
        let p = Partition::new(Zone::Raw, "tracks", date());
        w.put_object(p.part_key(0, w.run_id(), "txt"), Bytes::from_static(b"partial"), 1, ObjectRole::Data).await?;
        Err::<Staged<()>, _>(CommitError::Store(crate::storage::StoreError::NotFound { location: "test".into(), key: "source".into() }))
    })
    .await
    .unwrap_err();
    assert!(matches!(err, CommitError::Store(_)));
    assert_eq!(keys(&store).await, before);
    assert_eq!(read_committed(store.as_ref(), Zone::Raw, date()).await.unwrap().run.run_id, "run1");
    // The lease was released: the next run goes ahead at once.
    write_run(&store, "run3", &["b"], &s).await.unwrap();
}

#[tokio::test]
async fn readers_refuse_missing_and_mixed_commits() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let err = read_committed(store.as_ref(), Zone::Raw, date()).await.unwrap_err();
    assert!(matches!(err, ReadError::NotCommitted { .. }), "{err}");
    write_run(&store, "run1", &["a"], &system()).await.unwrap();
    // A partition manifest of another run under the run manifest's name (hand-edited storage).
    let key = Partition::new(Zone::Raw, "tracks", date()).run_manifest_key("run1");
    let mut m = read_manifest(store.as_ref(), &key).await.unwrap().unwrap();
    m.run_id = "run2".into();
    store.put(&key, Bytes::from(m.to_json()), PutMode::Overwrite).await.unwrap();
    let err = read_committed(store.as_ref(), Zone::Raw, date()).await.unwrap_err();
    assert!(matches!(err, ReadError::Mixed { .. }), "{err}");
    assert!(err.to_string().contains("re-run"));
}

#[tokio::test]
async fn a_run_stops_itself_before_its_deadline_and_releases_its_lease() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let s = system();
    write_run(&store, "run1", &["a"], &s).await.unwrap();
    let before = keys(&store).await;
    let deadline = chrono::Utc::now() + chrono::Duration::milliseconds(300);
    let spec = RunSpec { store: store.clone(), stage: "fetch", zone: Zone::Raw, date: date(), run_id: RunId::from("slow"), deadline: Some(deadline) };
    let started = std::time::Instant::now();
    let err = with_run(spec, &s, |w| async move {
        let p = Partition::new(Zone::Raw, "tracks", date());
        w.put_object(p.part_key(0, w.run_id(), "txt"), Bytes::from_static(b"half"), 1, ObjectRole::Data).await?;
        tokio::time::sleep(Duration::from_secs(30)).await;
        Ok::<_, CommitError>(Staged { partitions: vec![], details: serde_json::Value::Null, output: () })
    })
    .await
    .unwrap_err();
    assert!(matches!(err, CommitError::DeadlineExceeded { .. }), "{err}");
    assert_eq!(err.error_type(), "Retryable.DeadlineExceeded");
    assert!(started.elapsed() < Duration::from_secs(2), "stopped at the deadline less its margin");
    assert!(chrono::Utc::now() < deadline, "and before the deadline itself");
    assert_eq!(keys(&store).await, before, "what it wrote is gone");
    // The retry does not wait for a lease: the stopped run released it.
    write_run(&store, "retry", &["b"], &s).await.unwrap();
}

/// A takes the lease and stalls past its expiry; B takes the date over and commits; A resumes at
/// every point of its sequence in turn. A must fail clearly and change nothing; B's commit stays
/// whole. Then the same with A stalled but not expired: B is refused, A commits.
#[tokio::test]
async fn a_stale_writer_is_fenced_at_every_step() {
    let ops = operations_of_a().await;
    let mut tried = 0;
    for expired in [true, false] {
        for k in 1..=ops {
            let inner = seeded().await;
            let scripted = Arc::new(ScriptedStore::new(inner.clone()));
            let pause = scripted.pause_before(k);
            let clock_a = Arc::new(ManualClock::new(chrono::Utc::now()));
            let a_store: Arc<dyn Store> = scripted.clone();
            let a_settings = settings(clock_a.clone());
            let a = tokio::spawn(async move { write_run(&a_store, "A", &["a1", "a2"], &a_settings).await });
            pause.reached().await;
            tried += 1;
            // Did A hold the lease when it stalled? (Its first operations are taking it.)
            let lease = inner.get("raw/_run/dt=2026-11-21/_lease.json").await.unwrap().data;
            let lease: serde_json::Value = serde_json::from_slice(&lease).unwrap();
            let a_held = lease["run_id"] == "A" && lease["released"] != true;
            let a_committed = read_committed(inner.as_ref(), Zone::Raw, date()).await.unwrap().run.run_id == "A";
            // B's clock reads later: A's lease has lapsed by it (or not).
            let clock_b = Arc::new(ManualClock::new(clock_a.now()));
            if expired {
                clock_b.advance(Duration::from_secs(120));
                clock_a.advance(Duration::from_secs(120));
            }
            let b = write_run(&inner, "B", &["b1"], &settings(clock_b)).await;
            pause.resume();
            let a = a.await.unwrap();
            let committed = read_committed(inner.as_ref(), Zone::Raw, date()).await.unwrap();
            match (a_held, expired) {
                // A stalled in its clean-up, after its switch: B replaced that commit whole.
                (true, true) if a_committed => {
                    assert!(a.is_ok() && b.is_ok(), "k={k}: {a:?} {b:?}");
                    assert_eq!(committed.run.run_id, "B", "k={k}");
                }
                // A stale holder fails, names why, and B's commit stands.
                (true, true) => {
                    let e = a.as_ref().expect_err(&format!("k={k}: the stale A committed"));
                    assert!(matches!(e, CommitError::LeaseLost { .. } | CommitError::Superseded { .. }), "k={k}: {e}");
                    assert!(b.is_ok(), "k={k}: {b:?}");
                    assert_eq!(committed.run.run_id, "B", "k={k}");
                }
                // A live holder keeps B out and commits.
                (true, false) => {
                    assert!(matches!(b, Err(CommitError::Busy { .. })), "k={k}: {b:?}");
                    assert!(a.is_ok(), "k={k}: {a:?}");
                    assert_eq!(committed.run.run_id, "A", "k={k}");
                }
                // A had not taken the lease yet: B commits, then A commits over B's commit.
                (false, _) => {
                    let lease_now = String::from_utf8_lossy(&inner.get("raw/_run/dt=2026-11-21/_lease.json").await.unwrap().data).into_owned();
                    assert!(b.is_ok() && a.is_ok(), "k={k}: {a:?} {b:?} {lease_now}");
                    assert_eq!(committed.run.run_id, "A", "k={k}");
                }
            }
            let winner = committed.run.run_id.clone();
            // The committed run is whole: every object it lists is there, as listed.
            for m in &committed.partitions {
                for o in &m.objects {
                    let data = inner.get(&o.key).await.unwrap_or_else(|e| panic!("k={k}: {winner}'s {} is gone: {e}", o.key)).data;
                    assert_eq!(crate::manifest::sha256_hex(&data), o.sha256, "k={k}");
                }
            }
            let symlink = inner.get("raw/tracks/_symlink_format_manifest/dt=2026-11-21/manifest").await.unwrap().data;
            let expected: String = committed.partitions[0].data_keys().map(|k| format!("memory://{k}\n")).collect();
            assert_eq!(String::from_utf8_lossy(&symlink), expected, "k={k}: the query layer shows {winner}'s commit");
            // The losing run left nothing but what a grace-period clean-up removes later.
            let loser = if committed.run.run_id == "A" { "B" } else { "A" };
            let leftovers: Vec<String> = keys(&inner).await.into_iter().filter(|key| key.contains(&format!("run={loser}/"))).collect();
            assert!(leftovers.is_empty(), "k={k}: {loser} left {leftovers:?}");
        }
    }
    eprintln!("stale writer: {ops} operations of A, {tried} interleavings");
}

/// A run killed mid-write (its future dropped: no abort, no release, as a SIGKILL or a Lambda
/// timeout leaves it) is followed by a retry that waits for the dead lease to lapse, about a
/// TTL, and succeeds without anyone's help; its clean-up removes the dead run's objects.
#[tokio::test]
async fn a_retry_after_a_killed_run_succeeds_once_the_dead_lease_lapses() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let s = CommitSettings {
        lease: LeaseSettings { ttl: Duration::from_millis(1500), max_clock_skew: Duration::from_millis(200), wait: Duration::from_secs(10) },
        ..system()
    };
    write_run(&store, "run1", &["a"], &s).await.unwrap();
    let spec = RunSpec { store: store.clone(), stage: "fetch", zone: Zone::Raw, date: date(), run_id: RunId::from("killed"), deadline: None };
    let killed = with_run(spec, &s, |w| async move {
        let p = Partition::new(Zone::Raw, "tracks", date());
        w.put_object(p.part_key(0, w.run_id(), "txt"), Bytes::from_static(b"half"), 1, ObjectRole::Data).await?;
        tokio::time::sleep(Duration::from_secs(60)).await;
        Ok::<_, CommitError>(Staged { partitions: vec![], details: serde_json::Value::Null, output: () })
    });
    assert!(tokio::time::timeout(Duration::from_millis(300), killed).await.is_err(), "killed mid-write");
    assert!(keys(&store).await.iter().any(|k| k.contains("run=killed/")), "the dead run left its part");
    let started = std::time::Instant::now();
    write_run(&store, "retry", &["b"], &s).await.unwrap();
    let waited = started.elapsed();
    assert!(waited >= Duration::from_millis(1000) && waited < Duration::from_secs(4), "waited {waited:?}: about TTL plus skew, no more");
    assert_eq!(read_committed(store.as_ref(), Zone::Raw, date()).await.unwrap().run.run_id, "retry");
    assert!(!keys(&store).await.iter().any(|k| k.contains("run=killed/")), "the dead run's part was cleaned up");
}

/// Every store operation of a run in turn is done, its answer lost and the request retried (what
/// an SDK does after a timeout or a reset): the run either commits, and says so, or fails and
/// leaves the previous commit whole; it never reports a failure for a commit that landed, nor
/// deletes what a landed commit lists; and it leaves the date free for the next run.
#[tokio::test]
async fn a_lost_answer_at_any_operation_neither_fakes_nor_breaks_a_commit() {
    let ops = operations_of_a().await;
    let mut committed_runs = 0;
    for k in 1..=ops {
        let inner = seeded().await;
        let scripted = Arc::new(ScriptedStore::new(inner.clone()));
        scripted.lose_answer_of(k);
        let a_store: Arc<dyn Store> = scripted.clone();
        let a = write_run(&a_store, "A", &["a1", "a2"], &system()).await;
        let committed = read_committed(inner.as_ref(), Zone::Raw, date()).await.unwrap_or_else(|e| panic!("k={k}: unreadable: {e}"));
        assert_eq!(a.is_ok(), committed.run.run_id == "A", "k={k}: A answered {a:?} but {} is committed", committed.run.run_id);
        committed_runs += usize::from(a.is_ok());
        for m in &committed.partitions {
            for o in &m.objects {
                let data = inner.get(&o.key).await.unwrap_or_else(|e| panic!("k={k}: {} of the commit is gone: {e}", o.key)).data;
                assert_eq!(crate::manifest::sha256_hex(&data), o.sha256, "k={k}");
            }
        }
        let symlink = inner.get("raw/tracks/_symlink_format_manifest/dt=2026-11-21/manifest").await.unwrap().data;
        let expected: String = committed.partitions[0].data_keys().map(|k| format!("memory://{k}\n")).collect();
        assert_eq!(String::from_utf8_lossy(&symlink), expected, "k={k}: the query layer shows the committed run");
        // The lease was released (or adopted and released): a run that does not wait gets the date.
        write_run(&inner, "next", &["n"], &system()).await.unwrap_or_else(|e| panic!("k={k}: the next run: {e}"));
    }
    assert_eq!(committed_runs, ops as usize, "every run commits through a lost answer");
    eprintln!("lost answers: {ops} operations, {committed_runs} runs committed through them");
}

/// A stale writer that passed its last check and then stalled inside its commit write gives the
/// write up after `commit_write_timeout` (before its lease can lapse), fails, and changes
/// nothing; the run that takes the date over then commits whole.
#[tokio::test]
async fn a_commit_write_that_stalls_is_abandoned_before_the_lease_lapses() {
    let inner = seeded().await;
    let scripted = Arc::new(ScriptedStore::new(inner.clone()));
    let pause = scripted.pause_before_put_to("raw/_run/dt=2026-11-21/_manifest.json");
    let clock_a = Arc::new(ManualClock::new(chrono::Utc::now()));
    let a_settings = CommitSettings { commit_write_timeout: Duration::from_millis(200), ..settings(clock_a.clone()) };
    let a_store: Arc<dyn Store> = scripted.clone();
    let a = tokio::spawn(async move { write_run(&a_store, "A", &["a1"], &a_settings).await });
    pause.reached().await;
    let a = a.await.unwrap();
    assert!(matches!(a, Err(CommitError::Unknown { .. })), "{a:?}");
    assert_eq!(read_committed(inner.as_ref(), Zone::Raw, date()).await.unwrap().run.run_id, "prev", "A changed nothing");
    // A's lease lapses; B takes the date over and commits. A's paused write was dropped.
    let clock_b = Arc::new(ManualClock::new(clock_a.now()));
    clock_b.advance(Duration::from_secs(120));
    write_run(&inner, "B", &["b1"], &settings(clock_b)).await.unwrap();
    pause.resume();
    tokio::task::yield_now().await;
    let committed = read_committed(inner.as_ref(), Zone::Raw, date()).await.unwrap();
    assert_eq!(committed.run.run_id, "B");
    assert!(!keys(&inner).await.iter().any(|k| k.contains("run=A/")), "B's clean-up removed A's orphans");
}

/// A released lease is free at once, and a lease left by a holder whose clock runs far ahead
/// lapses after a TTL (plus the skew) of this run's own clock, not of the holder's.
#[tokio::test]
async fn a_holder_whose_clock_runs_ahead_blocks_the_date_no_longer_than_a_ttl() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let ahead = Arc::new(ManualClock::new(chrono::Utc::now()));
    ahead.advance(Duration::from_secs(3600));
    let lease = settings(ahead.clone()).lease;
    let dead = Lease::acquire(store.clone(), Zone::Raw, date(), &RunId::from("fast"), lease, ahead.clone()).await.unwrap();
    drop(dead);
    let ours = Arc::new(ManualClock::new(chrono::Utc::now()));
    let t0 = ours.now();
    let waiting = LeaseSettings { wait: Duration::from_secs(120), ..lease };
    Lease::acquire(store.clone(), Zone::Raw, date(), &RunId::from("next"), waiting, ours.clone()).await.unwrap();
    let waited = (ours.now() - t0).num_seconds();
    assert!((60..=70).contains(&waited), "waited {waited} s on our clock: a TTL plus the skew, not the holder's hour");
}

/// Two writers racing at every pair of steps: A stalls at its k-th operation, its lease lapses
/// (both clocks move on), B starts and stalls at its j-th; then A goes on to its end, then B.
/// Whatever the pair, the date holds one whole commit (A's, B's or the previous one), the query
/// layer shows a whole commit, and the run that did not commit leaves none of its objects.
#[tokio::test]
async fn two_writers_interleaved_at_every_pair_of_steps_leave_one_whole_commit() {
    let ops = operations_of_a().await;
    let mut tried = 0;
    for k in 1..=ops {
        for j in 1..=ops {
            let inner = seeded().await;
            let (a_scripted, b_scripted) = (Arc::new(ScriptedStore::new(inner.clone())), Arc::new(ScriptedStore::new(inner.clone())));
            let (a_pause, b_pause) = (a_scripted.pause_before(k), b_scripted.pause_before(j));
            let clock_a = Arc::new(ManualClock::new(chrono::Utc::now()));
            let (a_store, a_settings): (Arc<dyn Store>, _) = (a_scripted.clone(), settings(clock_a.clone()));
            let a = tokio::spawn(async move { write_run(&a_store, "A", &["a1", "a2"], &a_settings).await });
            a_pause.reached().await;
            clock_a.advance(Duration::from_secs(120));
            let clock_b = Arc::new(ManualClock::new(clock_a.now()));
            let (b_store, b_settings): (Arc<dyn Store>, _) = (b_scripted.clone(), settings(clock_b));
            let b = tokio::spawn(async move { write_run(&b_store, "B", &["b1"], &b_settings).await });
            // B stalls at j, or finishes (or fails) before it: either way A goes on next.
            let b_stalled = tokio::select! { () = b_pause.reached() => true, _ = tokio::time::sleep(Duration::from_millis(200)) => false };
            a_pause.resume();
            let a = a.await.unwrap();
            b_pause.resume();
            let b = b.await.unwrap();
            tried += 1;
            let at = format!("A at {k}, B at {j} (stalled: {b_stalled})");

            let committed = read_committed(inner.as_ref(), Zone::Raw, date()).await.unwrap_or_else(|e| panic!("{at}: unreadable: {e}"));
            let winner = committed.run.run_id.clone();
            assert!(["prev", "A", "B"].contains(&winner.as_str()), "{at}: {winner}");
            // Both may commit, one after the other: then the one that finished last stands (B,
            // unless it ran to its end before A went on).
            if a.is_ok() && b.is_ok() {
                assert_eq!(winner, if b_stalled { "B" } else { "A" }, "{at}: both committed, and the later commit stands");
            }
            if winner != "prev" {
                assert!((winner == "A" && a.is_ok()) || (winner == "B" && b.is_ok()), "{at}: {winner} is committed but answered {a:?} / {b:?}");
            }
            for m in &committed.partitions {
                for o in &m.objects {
                    let data = inner.get(&o.key).await.unwrap_or_else(|e| panic!("{at}: {winner}'s {} is gone: {e}", o.key)).data;
                    assert_eq!(crate::manifest::sha256_hex(&data), o.sha256, "{at}");
                }
            }
            // The query layer lists one commit's files, every one of them present.
            let symlink = String::from_utf8_lossy(&inner.get("raw/tracks/_symlink_format_manifest/dt=2026-11-21/manifest").await.unwrap().data).into_owned();
            for line in symlink.lines() {
                assert!(inner.get(line.trim_start_matches("memory://")).await.is_ok(), "{at}: the symlink manifest names a missing {line}");
            }
            let runs: BTreeSet<&str> = symlink.lines().filter_map(|l| l.split("/run=").nth(1)?.split('/').next()).collect();
            assert_eq!(runs.len(), 1, "{at}: the symlink manifest mixes runs: {symlink}");
            // A run that reported a failure left nothing, unless its outcome is unknown (then
            // its objects wait for the orphan clean-up). (A commit replaced by the other run's
            // may stay until a clean-up succeeds: those are warnings, counted in the result.)
            for (name, result) in [("A", &a), ("B", &b)] {
                if result.is_err() && !matches!(result, Err(CommitError::Unknown { .. })) {
                    let left: Vec<String> = keys(&inner).await.into_iter().filter(|key| key.contains(&format!("run={name}/"))).collect();
                    assert!(left.is_empty(), "{at}: {name} ({result:?}) left {left:?}");
                }
            }
        }
    }
    eprintln!("two writers: {ops} x {ops} = {tried} interleavings");
}

/// A part uploaded on its own task ([`RunWriter::spawn_put_object`]) cannot land after an abort
/// deleted the run's objects: the abort waits for it, and later puts are refused.
#[tokio::test]
async fn an_abort_waits_for_a_put_in_flight_before_deleting() {
    let memory: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let scripted = Arc::new(ScriptedStore::new(memory.clone()));
    let writer = RunWriter::new(scripted.clone(), "transform", Zone::Curated, date(), RunId::from("r1"), chrono::Utc::now());
    let p = Partition::new(Zone::Curated, "tracks", date());
    let key = p.part_key_in("r1", "", 0, "parquet");
    let pause = scripted.pause_before_put_to(&key);
    let put = writer.spawn_put_object(key.clone(), Bytes::from_static(b"part"), 1, ObjectRole::Data).unwrap();
    pause.reached().await;
    let abort = writer.abort();
    tokio::pin!(abort);
    assert!(tokio::time::timeout(Duration::from_millis(200), &mut abort).await.is_err(), "the abort waits while the put is held");
    pause.resume();
    abort.await;
    assert_eq!(put.await.unwrap().unwrap().key, key, "the put itself succeeded");
    assert!(memory.get_opt(&key).await.unwrap().is_none(), "and the abort deleted it after it landed");
    let later = writer.spawn_put_object(p.part_key_in("r1", "", 1, "parquet"), Bytes::from_static(b"late"), 1, ObjectRole::Data);
    assert!(later.unwrap_err().to_string().contains("was stopped"), "refused after the abort");
}

/// On a runtime of one thread the put's task has not run when the abort starts: the task finds
/// the run stopped and uploads nothing, so nothing lands after the abort's deletes.
#[tokio::test(flavor = "current_thread")]
async fn an_abort_right_after_a_put_was_spawned_still_waits_for_it() {
    let memory: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let writer = RunWriter::new(memory.clone(), "transform", Zone::Curated, date(), RunId::from("r1"), chrono::Utc::now());
    let key = Partition::new(Zone::Curated, "tracks", date()).part_key_in("r1", "", 0, "parquet");
    let put = writer.spawn_put_object(key.clone(), Bytes::from_static(b"part"), 1, ObjectRole::Data).unwrap();
    writer.abort().await;
    assert!(put.await.unwrap().unwrap_err().to_string().contains("was stopped"), "the put's task refused to upload");
    assert!(memory.get_opt(&key).await.unwrap().is_none(), "nothing landed");
}
