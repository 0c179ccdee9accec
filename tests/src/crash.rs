//! Crash-point enumeration of one stage's run: count its store operations, then for every k crash
//! it before operation k (that operation and every later one fail, as a dead process does
//! nothing more), restart it, and check what readers see at each step.
//!
//! Invariants checked after each crash: the date's committed run is the previous one or the
//! crashed one, whole (every listed object present with its SHA-256), and each symlink
//! manifest lists exactly the data files of one of those two commits, all present. After the
//! restart: it succeeds, its data objects have the same bytes as an uninterrupted run's, and no
//! object of the stage's partitions is left that no manifest lists.

use chrono::{NaiveDate, Utc};
use moovitamix::commit::{CommitSettings, CommittedRun, LeaseSettings, ManualClock, read_committed};
use moovitamix::manifest::{ObjectRole, sha256_hex};
use moovitamix::partition::{Partition, Zone};
use moovitamix::storage::{ScriptedStore, Store};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

/// The stage under test.
pub struct Stage<'a> {
    pub name: &'a str,
    /// The zone its run manifest commits.
    pub zone: Zone,
    pub date: NaiveDate,
    /// Prefixes of every object it may write for the date (its zone's and its quarantine's).
    pub owned: Vec<String>,
}

/// Settings for a run on a clock `offset` after now; orphans are cleaned at once (no run of the
/// test is alive when another commits).
pub fn settings(offset: Duration) -> CommitSettings {
    let clock = Arc::new(ManualClock::new(Utc::now()));
    clock.advance(offset);
    CommitSettings {
        lease: LeaseSettings { ttl: Duration::from_secs(60), max_clock_skew: Duration::from_secs(5), wait: Duration::ZERO },
        orphan_grace: Duration::ZERO,
        deadline_margin: Duration::from_secs(1),
        commit_write_timeout: Duration::from_secs(10),
        clock,
    }
}

/// What the commit's data are, whatever the run ids: (partition, role, rows, sha256).
fn fingerprint(run: &CommittedRun) -> BTreeSet<(String, String, u64, String)> {
    run.partitions
        .iter()
        .flat_map(|m| m.objects.iter().map(move |o| (m.partition.clone(), format!("{:?}", o.role), o.rows, o.sha256.clone())))
        .collect()
}

/// Crash points and restarts tried.
#[derive(Debug)]
pub struct Report {
    pub operations: u64,
    pub crashes: u64,
}

/// Enumerates the crash points of `run` (a stage run on a store, with a run id and commit
/// settings) over stores from `fresh`, each seeded by `seed` with a previous commit of the date.
pub async fn enumerate(
    stage: &Stage<'_>,
    fresh: impl AsyncFn() -> Arc<dyn Store>,
    seed: impl AsyncFn(Arc<dyn Store>),
    run: impl AsyncFn(Arc<dyn Store>, String, CommitSettings) -> Result<(), String>,
) -> Report {
    // The uninterrupted run: its operation count and its data.
    let inner = fresh().await;
    seed(inner.clone()).await;
    let previous = read_committed(inner.as_ref(), stage.zone, stage.date).await.expect("the seed commits the date");
    let counting = Arc::new(ScriptedStore::new(inner.clone()));
    run(counting.clone(), "reference".into(), settings(Duration::from_secs(3600))).await.expect("the uninterrupted run succeeds");
    let operations = counting.ops();
    let reference = fingerprint(&read_committed(inner.as_ref(), stage.zone, stage.date).await.unwrap());
    assert_ne!(fingerprint(&previous).len(), 0);

    for k in 1..=operations {
        let inner = fresh().await;
        seed(inner.clone()).await;
        let previous = read_committed(inner.as_ref(), stage.zone, stage.date).await.unwrap();
        let scripted = Arc::new(ScriptedStore::new(inner.clone()));
        scripted.crash_before(k);
        let crashed_id = format!("crash-{k}");
        let _ = run(scripted.clone(), crashed_id.clone(), settings(Duration::from_secs(3600))).await;
        let at = format!("{} crashed before operation {k} of {operations}", stage.name);

        // What readers see now: the previous commit or the crashed run's, whole.
        let now = read_committed(inner.as_ref(), stage.zone, stage.date).await.unwrap_or_else(|e| panic!("{at}: unreadable: {e}"));
        assert!(now.run.run_id == previous.run.run_id || now.run.run_id == crashed_id, "{at}: committed {}", now.run.run_id);
        assert_whole(inner.as_ref(), &now, &at).await;
        let crashed = (now.run.run_id == crashed_id).then_some(&now);
        assert_symlinks(inner.as_ref(), &previous, crashed, &at).await;

        // The restart, later (the crashed run's lease has lapsed), succeeds like an uninterrupted run.
        run(inner.clone(), format!("restart-{k}"), settings(Duration::from_secs(3 * 3600))).await.unwrap_or_else(|e| panic!("{at}: the restart failed: {e}"));
        let after = read_committed(inner.as_ref(), stage.zone, stage.date).await.unwrap();
        assert_eq!(fingerprint(&after), reference, "{at}: the restart wrote other bytes than an uninterrupted run");
        assert_whole(inner.as_ref(), &after, &at).await;
        assert_symlinks(inner.as_ref(), &after, None, &at).await;
        assert_no_orphans(inner.as_ref(), stage, &after, &at).await;
    }
    Report { operations, crashes: operations }
}

async fn assert_whole(store: &dyn Store, run: &CommittedRun, at: &str) {
    for m in &run.partitions {
        for o in &m.objects {
            let data = store.get(&o.key).await.unwrap_or_else(|e| panic!("{at}: {} of the committed run is missing: {e}", o.key)).data;
            assert_eq!(sha256_hex(&data), o.sha256, "{at}: {} differs from its manifest", o.key);
        }
    }
}

/// Each partition's symlink manifest lists the data files of the previous or the crashed
/// commit, every one present.
async fn assert_symlinks(store: &dyn Store, previous: &CommittedRun, crashed: Option<&CommittedRun>, at: &str) {
    for m in &previous.partitions {
        let partition = Partition::parse_prefix(&m.partition).unwrap();
        let Some(symlink) = store.get_opt(&partition.symlink_key()).await.unwrap() else { panic!("{at}: no symlink manifest for {partition}") };
        let listed: Vec<String> = String::from_utf8(symlink.data.to_vec()).unwrap().lines().map(str::to_owned).collect();
        let files_of = |run: &CommittedRun| -> Option<Vec<String>> {
            run.partition(&partition).map(|m| m.objects.iter().filter(|o| o.role == ObjectRole::Data).map(|o| store.url_of(&o.key)).collect())
        };
        let candidates: Vec<Vec<String>> = [Some(previous), crashed].into_iter().flatten().filter_map(files_of).collect();
        assert!(candidates.contains(&listed), "{at}: the symlink manifest of {partition} lists {listed:?}, not one commit's files");
        for m2 in [Some(previous), crashed].into_iter().flatten() {
            if files_of(m2).as_ref() == Some(&listed) {
                for o in m2.partition(&partition).unwrap().objects.iter().filter(|o| o.role == ObjectRole::Data) {
                    assert!(store.get_opt(&o.key).await.unwrap().is_some(), "{at}: the symlink manifest of {partition} names a missing {}", o.key);
                }
            }
        }
    }
}

async fn assert_no_orphans(store: &dyn Store, stage: &Stage<'_>, run: &CommittedRun, at: &str) {
    let mut listed: BTreeSet<String> = run.run.objects.iter().map(|o| o.key.clone()).collect();
    listed.extend(run.partitions.iter().flat_map(|m| m.objects.iter().map(|o| o.key.clone())));
    let dt = format!("dt={}", stage.date);
    for prefix in &stage.owned {
        for o in store.list(prefix).await.unwrap() {
            let bookkeeping = o.key.ends_with("_lease.json") || o.key.contains("/_run/") || o.key.contains("/_symlink_format_manifest/");
            if o.key.contains(&dt) && !bookkeeping {
                assert!(listed.contains(&o.key), "{at}: {} is left behind, listed by no manifest", o.key);
            }
        }
    }
}
