//! The recommend job over simulated days on an in-memory store: the first score run trains and
//! promotes, later days fold changed users in, train mode gates, rollback, re-runs, refusals.
//! The training path alone is in [`gate_and_cold_start`], the drift blend in [`drift_blend`].

use super::*;
use crate::config::Secret;
use crate::curated::Recommendation;
use crate::job::Classified;
use crate::metrics::Metric;
use inputs::InputError;
use training::TrainingData;
use serde_json::json;
use crate::metrics::MemorySink;
use crate::records::Entity;
use crate::simulator::{Dataset, SimulatorConfig};
use crate::storage::MemoryStore;
use crate::transform::Transformer;
use crate::transform::pii::Pii;
use crate::transform::raw_date::RawWriter;
use std::collections::{HashMap, HashSet};

mod drift_blend;
mod gate_and_cold_start;

fn day(k: u64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 1).unwrap() + chrono::Days::new(k)
}

fn sim(k: u64) -> SimulatorConfig {
    SimulatorConfig { tracks: 300, users: 400, listens_per_user: 10, start_date: day(0), date: day(k), ..SimulatorConfig::default() }
}

fn config(overrides: &[(&str, &str)]) -> Config {
    let env: HashMap<String, String> = overrides.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    Config::from_lookup(|k| env.get(k).cloned()).unwrap()
}

/// Commits raw day `k` from the simulator and transforms it, as fetch and transform would.
async fn curated_day(store: &Arc<dyn Store>, k: u64) {
    curated_day_in(store, k, 1).await;
}

/// [`curated_day`] with the listen history in `buckets` buckets, transformed fanned out (its
/// phases in this process) when more than one.
async fn curated_day_in(store: &Arc<dyn Store>, k: u64, buckets: u32) {
    let dataset = Dataset::new(&sim(k));
    let at = crate::transform::as_of(day(k)) + chrono::Duration::hours(6);
    let mut raw = RawWriter::new(store.clone(), day(k), &format!("fetch-{k}"), at, 10_000).await.unwrap();
    for entity in Entity::ALL {
        match entity {
            Entity::ListenHistory => raw.entity_in_buckets(entity, dataset.rows(entity.as_str()), buckets, |r| r["user_id"].as_i64().unwrap()).await.unwrap(),
            _ => raw.entity(entity, dataset.rows(entity.as_str())).await.unwrap(),
        };
    }
    raw.commit(at).await.unwrap();
    // Fanned out, parts of 1,024 rows: a bucket's users are split between files.
    let c = match buckets {
        1 => config(&[("DQ_MAX_ROW_COUNT_CHANGE", "1")]),
        _ => config(&[("DQ_MAX_ROW_COUNT_CHANGE", "1"), ("TRANSFORM_ROW_GROUP_ROWS", "1024"), ("TRANSFORM_FILE_ROWS", "1024")]),
    };
    let sink = Arc::new(MemorySink::default());
    let t = Transformer {
        store: store.clone(),
        metrics: Metrics::new(crate::transform::FUNCTION, "Test", sink),
        pii: Pii::new(Secret::new("salt"), false),
        config: c.transform,
        commit: crate::commit::CommitSettings::default(),
    };
    let run_id = format!("transform-{k}");
    if buckets == 1 {
        t.run(day(k), &run_id).await.unwrap();
        return;
    }
    let run = crate::commit::RunId::from(run_id.as_str());
    t.prepare(day(k), &run).await.unwrap();
    for bucket in crate::buckets::Bucket::all(buckets) {
        t.transform_bucket(day(k), &run, bucket).await.unwrap();
    }
    t.commit_fanned(day(k), &run_id).await.unwrap();
}

#[tokio::test]
async fn a_fanned_plan_counts_everyone_while_training_reads_its_sample_as_a_second_read_would() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    curated_day_in(&store, 0, 4).await;
    let (r, _) = recommender(&store, &[("ALS_TRAIN_USER_SHARE", "0.5")]);
    let committed = inputs::read_committed_date(store.as_ref(), day(0)).await.unwrap();
    let mut everyone = counts::ListenCounter::new(4);
    let sample = r.read_for_training_from(day(0), &committed, Some(&mut everyone)).await.unwrap();
    let mut reread = counts::TrackCounts::default();
    let mut listens = 0;
    for bucket in crate::buckets::Bucket::all(4) {
        let read = inputs::read_listens(&store, day(0), &committed, Some(bucket), &|_| true, None).await.unwrap();
        listens += read.len();
        reread.add(counts::TrackCounts::new(&read, &[]));
    }
    assert!(0 < sample.listens.len() && sample.listens.len() < listens * 3 / 4, "training kept its sample: {} of {listens}", sample.listens.len());
    let counted = everyone.finish().expect("transform's buckets stream in the order the count needs");
    assert_eq!(counted.listens.values().sum::<u64>(), listens as u64);
    assert_eq!(counted, reread);
}

#[tokio::test]
async fn a_fanned_plan_that_trains_records_the_counts_of_a_whole_scoring_from_its_one_read() {
    // Two days (the second merges onto the first), in 2 buckets of about 2,000 rows each.
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    for k in 0..2 {
        curated_day_in(&store, k, 2).await;
    }
    let (r, _) = recommender(&store, &[("ALS_TRAIN_USER_SHARE", "0.5")]);
    let plan = r.plan_score(day(1), &crate::job::Invocation::from("plan-1")).await.unwrap();
    assert!(plan.trained.is_some(), "no champion: the plan trains");
    assert!(plan.counts_read_with_training, "the training read counted everyone");
    assert_eq!(plan.counts, r.read_with_recent(day(1)).await.unwrap().counts(), "the counts of a whole scoring");
}

fn recommender(store: &Arc<dyn Store>, overrides: &[(&str, &str)]) -> (Recommender, Arc<MemorySink>) {
    let sink = Arc::new(MemorySink::default());
    let r = Recommender {
        store: store.clone(),
        metrics: Metrics::new(FUNCTION, "Test", sink.clone()),
        config: config(overrides).recommend,
        commit: crate::commit::CommitSettings::default(),
    };
    (r, sink)
}

async fn score(r: &Recommender, k: u64, run_id: &str) -> ScoreSummary {
    match r.run(Request::Score { date: day(k) }, run_id).await.unwrap() {
        Outcome::Score(s) => s,
        other => panic!("{other:?}"),
    }
}

async fn train(r: &Recommender, date: Option<NaiveDate>, run_id: &str) -> TrainSummary {
    match r.run(Request::Train { date, scheduled: false }, run_id).await.unwrap() {
        Outcome::Train(t) => t,
        other => panic!("{other:?}"),
    }
}

/// Each user's listened tracks on day `k`, as the simulator served them.
fn listened(k: u64) -> HashMap<i64, HashSet<i64>> {
    let mut out: HashMap<i64, HashSet<i64>> = HashMap::new();
    for row in Dataset::new(&sim(k)).rows("listen_history") {
        let tracks = row["items"].as_array().unwrap().iter().map(|t| t.as_i64().unwrap());
        out.entry(row["user_id"].as_i64().unwrap()).or_default().extend(tracks);
    }
    out
}

fn ids(k: u64, entity: &str) -> HashSet<i64> {
    Dataset::new(&sim(k)).rows(entity).map(|r| r["id"].as_i64().unwrap()).collect()
}

/// Every current user has `k` distinct, current, unheard tracks ranked 1..=k, and users without
/// listens are served by cold start, users whose listens are the ones the model was trained on
/// (`trained`) by the model (the others are folded in, or get cold start when the model knows
/// too few of their listens).
fn check_lists(rows: &[Recommendation], day_k: u64, k: usize, trained: &HashMap<i64, HashSet<i64>>) {
    let (heard, users, tracks) = (listened(day_k), ids(day_k, "users"), ids(day_k, "tracks"));
    let mut by_user: HashMap<i64, Vec<&Recommendation>> = HashMap::new();
    for r in rows {
        by_user.entry(r.user_id).or_default().push(r);
    }
    assert_eq!(by_user.keys().copied().collect::<HashSet<_>>(), users, "one list per current user");
    for (user, list) in &by_user {
        assert_eq!(list.iter().map(|r| r.rank).collect::<Vec<_>>(), (1..=k as i32).collect::<Vec<_>>(), "user {user}");
        let distinct: HashSet<i64> = list.iter().map(|r| r.track_id).collect();
        assert_eq!(distinct.len(), k, "user {user}: distinct tracks");
        let none = HashSet::new();
        let own = heard.get(user).unwrap_or(&none);
        assert!(list.iter().all(|r| tracks.contains(&r.track_id) && !own.contains(&r.track_id)), "user {user}: current, unheard tracks");
        if own.is_empty() {
            assert_eq!(list[0].reason, crate::curated::Reason::ColdStart, "user {user}");
        } else if trained.get(user) == Some(own) {
            // The model's list; a track new since training may lead it by its trend (the drift blend).
            assert!(list[0].reason != crate::curated::Reason::ColdStart && list.iter().any(|r| r.reason == crate::curated::Reason::Cf), "user {user}: {list:?}");
        }
    }
}

#[tokio::test]
async fn bounded_training_through_the_job_keeps_users_trained_and_lists_unheard() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    curated_day(&store, 0).await;
    curated_day(&store, 1).await;
    // The simulator's users hear 10 items a day: a cap of 4 cuts most histories.
    let (r, _) = recommender(&store, &[("ALS_MAX_TRACKS_PER_USER", "4"), ("RETRAIN_NEW_LISTENS_SHARE", "1000")]);
    let heavy = listened(0).values().filter(|t| t.len() > 4).count();
    assert!(heavy > 100, "{heavy}");

    let s0 = score(&r, 0, "20261101T070000Z-aaaa0000").await;
    let t0 = s0.trained.clone().expect("the first score run trains");
    assert!(t0.promoted, "{t0:?}");
    assert_eq!(t0.hyper.max_tracks_per_user, 4);
    let card = ModelStore::new(store.clone()).load(&t0.version).await.unwrap().card;
    assert_eq!(card.hyper.max_tracks_per_user, 4, "the card records the cap");
    // The fold-in threshold chosen exceeds the cap here, so day 1 below checks that a capped
    // row does not send every changed user to cold start.
    let threshold = card.evaluation.cold_start.as_ref().map(|c| c.fold_in_min_listens);
    assert!(threshold.is_some_and(|t| t > 4), "{threshold:?}");
    // Right after training nobody changed: every user with listens keeps their trained factors
    // (the model hashed their capped row), and no list holds a track heard before the cap.
    assert_eq!(s0.cf_folded_in, 0, "{s0:?}");
    assert_eq!(s0.cf_trained + s0.cold_start, s0.users);
    check_lists(&read_recommendations(store.clone(), day(0)).await.unwrap(), 0, 10, &listened(0));

    // Day 1, no retraining: the users whose latest four changed are folded in, with the cap.
    let s1 = score(&r, 1, "20261102T070000Z-bbbb0000").await;
    assert!(s1.trained.is_none() && s1.cf_folded_in > 0, "{s1:?}");
    check_lists(&read_recommendations(store.clone(), day(1)).await.unwrap(), 1, 10, &listened(0));
}

#[tokio::test]
async fn training_on_a_user_sample_reads_only_its_users_and_scoring_folds_in_the_others() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    curated_day(&store, 0).await;
    curated_day(&store, 1).await;
    let (r, _) = recommender(&store, &[("ALS_TRAIN_USER_SHARE", "0.5"), ("RETRAIN_NEW_LISTENS_SHARE", "1000")]);
    let hyper = r.config.hyper;
    let heard = listened(0);
    let sampled: HashMap<i64, HashSet<i64>> = heard.iter().filter(|(u, _)| hyper.trains_on(**u)).map(|(u, t)| (*u, t.clone())).collect();
    assert!(sampled.len() > heard.len() / 3 && sampled.len() < heard.len() * 2 / 3, "{} of {}", sampled.len(), heard.len());

    // A training read holds only the sample's listens, recent ones included.
    let read = r.read_for_training(day(1)).await.unwrap();
    let everyone = r.read_with_recent(day(1)).await.unwrap();
    assert!(read.listens.iter().all(|l| hyper.trains_on(l.user_id)) && read.recent.iter().all(|l| hyper.trains_on(l.user_id)));
    assert_eq!(read.listens, everyone.of_users(|u| hyper.trains_on(u)).listens);
    assert!(read.listens.len() < everyone.listens.len() && !read.recent.is_empty());

    // The score run's training (from everyone's inputs, sampled in memory) trains on the sample.
    let s0 = score(&r, 0, "20261101T070000Z-aaaa0000").await;
    let t0 = s0.trained.clone().expect("the first score run trains");
    assert!(t0.promoted, "{t0:?}");
    assert_eq!(t0.users, sampled.len() as u64, "the users trained on are the sample's");
    let card = ModelStore::new(store.clone()).load(&t0.version).await.unwrap().card;
    assert_eq!(card.hyper.train_user_share, 0.5, "the card records the share");
    // An explicit train reads the sample from the store: the same candidate as the score run's.
    let t = train(&r, Some(day(0)), "20261101T080000Z-cccc0000").await;
    assert_eq!((t.users, t.listens, t.evaluation.candidate), (t0.users, t0.listens, t0.evaluation.candidate));

    // Everyone is scored: the sample with their trained vectors, the others folded in (or cold
    // start when the model knows too few of their tracks).
    assert_eq!(s0.cf_trained, sampled.len() as u64, "{s0:?}");
    let cold = (ids(0, "users").len() - heard.len()) as u64;
    assert_eq!(s0.cf_folded_in + s0.cold_start - cold, (heard.len() - sampled.len()) as u64, "{s0:?}");
    assert!(s0.cf_folded_in > 0);
    check_lists(&read_recommendations(store.clone(), day(0)).await.unwrap(), 0, 10, &sampled);

    // A sample without listens is refused with what to change, not as a date without listens.
    let none = Arc::new(everyone.of_users(|_| false));
    let empty = r.train_on(&none, "20261101T090000Z-dddd0000", true).await.unwrap_err();
    assert!(matches!(empty, RecommendError::EmptySample { .. }) && empty.to_string().contains("ALS_TRAIN_USER_SHARE 0.5"), "{empty}");
    // A score run's training of it leaves the champion serving instead.
    assert!(r.train_for_scoring(&none, "20261101T091000Z-dddd0001").await.unwrap().is_none());

    // Retraining compares everyone's new listens with the listens the sample stands for (its
    // own over the share): a threshold the sample's own count alone would pass does not retrain.
    let added = inputs::listens_added(store.as_ref(), day(0), day(1)).await.unwrap() as f64;
    let share = added / (t0.listens as f64 * 1.5);
    let (r1, _) = recommender(&store, &[("ALS_TRAIN_USER_SHARE", "0.5"), ("RETRAIN_NEW_LISTENS_SHARE", &share.to_string())]);
    assert!(!r1.needs_training(day(1), Utc::now()).await.unwrap());
    let (r2, _) = recommender(&store, &[("ALS_TRAIN_USER_SHARE", "0.5"), ("RETRAIN_NEW_LISTENS_SHARE", &(share / 2.0).to_string())]);
    assert!(r2.needs_training(day(1), Utc::now()).await.unwrap());
}

#[tokio::test]
async fn days_of_scoring_training_gating_and_rollback() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    curated_day(&store, 0).await;
    let (r, metrics) = recommender(&store, &[]);

    // Day 0: no champion, so the score run trains first; the model beats popularity on the
    // simulator's taste structure and is promoted.
    let s0 = score(&r, 0, "20261101T070000Z-aaaa0000").await;
    let t0 = s0.trained.clone().expect("the first score run trains");
    assert!(t0.promoted, "{t0:?}");
    let (cf, pop) = (t0.evaluation.candidate.ndcg_at_10, t0.evaluation.baseline.ndcg_at_10);
    assert!(cf > pop * 1.5, "a measurable lift over popularity: NDCG@10 {cf} vs {pop}");
    assert_eq!(s0.model_version.as_deref(), Some(t0.version.as_str()));
    let rows0 = read_recommendations(store.clone(), day(0)).await.unwrap();
    check_lists(&rows0, 0, 10, &listened(0));
    let cold = ids(0, "users").len() - listened(0).len();
    assert!(cold > 0);
    assert_eq!(s0.cold_start, cold as u64);
    assert_eq!(s0.cf_folded_in, 0, "everyone is as the model saw them");
    assert_eq!(metrics.total(Metric::ColdStartUsers, None), cold as f64);
    assert_eq!(metrics.total(Metric::Promoted, None), 1.0);

    // Day 1: a few histories grew (well below the retraining share): no training, the changed
    // users are folded in, the others keep their trained factors.
    curated_day(&store, 1).await;
    let s1 = score(&r, 1, "20261102T070000Z-bbbb0000").await;
    assert!(s1.trained.is_none());
    assert_eq!(s1.model_version, s0.model_version);
    let (before, after) = (listened(0), listened(1));
    let changed = after.iter().filter(|(u, t)| before.get(*u) != Some(*t)).count() as u64;
    assert!(changed > 0);
    // Exactly the users whose listens changed are folded in, but for those with fewer known
    // listens than the training run found the model needs to beat cold start.
    let cold_day1 = (ids(1, "users").len() - after.len()) as u64;
    assert_eq!(s1.cf_folded_in + (s1.cold_start - cold_day1), changed, "{s1:?}");
    let rows1 = read_recommendations(store.clone(), day(1)).await.unwrap();
    check_lists(&rows1, 1, 10, &before);
    // Recent listens: the pairs new on each date of the window, by age.
    let recent = inputs::read_recent(&store, day(1), 7, &|_| true).await.unwrap();
    assert_eq!(recent.iter().map(|r| r.age_days).collect::<HashSet<_>>(), HashSet::from([0, 1]));
    let new_on_day1: HashSet<(i64, i64)> = recent.iter().filter(|r| r.age_days == 0).map(|r| (r.user_id, r.track_id)).collect();
    let expected: HashSet<(i64, i64)> =
        after.iter().flat_map(|(u, tracks)| tracks.iter().filter(|t| !before.get(u).is_some_and(|b| b.contains(*t))).map(|t| (*u, *t))).collect();
    assert_eq!(new_on_day1, expected);
    assert!(inputs::read_recent(&store, day(1), 1, &|_| true).await.unwrap().iter().all(|r| r.age_days == 0), "a one-day window");
    // A re-run of the date gives the same lists.
    score(&r, 1, "20261102T080000Z-cccc0000").await;
    assert_eq!(read_recommendations(store.clone(), day(1)).await.unwrap(), rows1);

    // Train mode, same recipe: evaluated against the champion's recipe, within tolerance: promoted.
    let t1 = train(&r, None, "20261102T090000Z-dddd0000").await;
    assert_eq!(t1.date, day(1), "the latest curated date");
    assert!(t1.promoted && t1.evaluation.champion.is_some(), "{t1:?}");
    // A much weaker recipe is refused and the champion stays.
    let (weak, weak_metrics) = recommender(&store, &[("ALS_FACTORS", "1"), ("ALS_ITERATIONS", "1")]);
    let t2 = train(&weak, Some(day(1)), "20261102T100000Z-eeee0000").await;
    assert!(!t2.promoted, "{t2:?}");
    assert_eq!(t2.champion.as_deref(), Some(t1.version.as_str()));
    assert_eq!((t2.refused_streak, weak_metrics.total(Metric::GateRefusedStreak, None)), (1, 1.0));
    let models = ModelStore::new(store.clone());
    assert_eq!(models.versions().await.unwrap(), [t0.version.clone(), t1.version.clone(), t2.version.clone()], "every trained model is kept");

    // Rollback to the first model, by event; an unknown version is refused naming the stored ones.
    let rolled = r.handle(&json!({"mode": "rollback", "version": t0.version}), crate::job::Invocation::new()).await.unwrap();
    let Outcome::Rollback(rolled) = rolled else { panic!("{rolled:?}") };
    assert_eq!((rolled.champion.version.as_str(), rolled.champion.previous.as_deref()), (t0.version.as_str(), Some(t1.version.as_str())));
    let err = r.handle(&json!({"mode": "rollback", "version": "19990101T000000Z-x"}), crate::job::Invocation::new()).await.unwrap_err();
    assert_eq!(err.error_type(), "Permanent.NoSuchVersion");
    assert!(err.to_string().contains(&t0.version), "{err}");
    let s = score(&r, 1, "20261102T110000Z-ffff0000").await;
    assert_eq!(s.model_version.as_deref(), Some(t0.version.as_str()), "scoring follows the champion pointer");
}

#[tokio::test]
async fn the_retraining_share_and_the_version_limit() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    curated_day(&store, 0).await;
    curated_day(&store, 1).await;
    // Any growth of the listens triggers a training; at most two versions are kept.
    let (r, _) = recommender(&store, &[("RETRAIN_NEW_LISTENS_SHARE", "0"), ("MODEL_KEEP_VERSIONS", "2")]);
    assert!(score(&r, 0, "20261101T070000Z-a").await.trained.is_some());
    assert!(score(&r, 0, "20261101T080000Z-b").await.trained.is_none(), "nothing added since: no retraining");
    let s = score(&r, 1, "20261102T070000Z-c").await;
    let t = s.trained.expect("day 1 added listens since the champion's day 0");
    assert!(t.promoted);
    train(&r, None, "20261102T080000Z-d").await;
    let versions = ModelStore::new(store.clone()).versions().await.unwrap();
    assert_eq!(versions.len(), 2, "{versions:?}");
}

#[tokio::test]
async fn refusals_say_what_to_do() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    let (r, metrics) = recommender(&store, &[]);
    let err = r.run(Request::Score { date: day(0) }, "r1").await.unwrap_err();
    assert_eq!(err.error_type(), "Permanent.CuratedNotCommitted");
    assert!(err.to_string().contains("run the stage that writes it first"), "{err}");
    assert_eq!(metrics.total(Metric::RunFailed, None), 1.0);
    let err = r.run(Request::Train { date: None, scheduled: false }, "r2").await.unwrap_err();
    assert!(matches!(err, RecommendError::Input(InputError::NoCuratedDate)), "{err}");
    let raw_commit = json!({"detail-type": "Object Created", "source": "aws.s3",
        "detail": {"bucket": {"name": "b"}, "object": {"key": "raw/_run/dt=2026-11-01/_manifest.json"}}});
    assert_eq!(r.handle(&raw_commit, crate::job::Invocation::new()).await.unwrap_err().error_type(), "Permanent.BadEvent");
    assert!(store.list("recommendations/").await.unwrap().is_empty(), "nothing written");
}

#[tokio::test]
async fn a_curated_date_in_the_future_does_not_steer_training() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    curated_day(&store, 0).await;
    let future = 10; // committed before dates were checked: 9 days after tomorrow, by `now`
    curated_day(&store, future).await;
    let (r, _) = recommender(&store, &[]);
    let now = crate::transform::as_of(day(0)) + chrono::Duration::hours(7);
    let trained = match r.run(Request::Train { date: None, scheduled: false }, Invocation::with_id("v1").at(now)).await.unwrap() {
        Outcome::Train(t) => t,
        other => panic!("{other:?}"),
    };
    assert_eq!(trained.date, day(0), "the latest plausible curated date, not {}", day(future));
    let refused = r.handle(&json!({"mode": "train", "date": day(future).to_string()}), Invocation::with_id("v2").at(now)).await.unwrap_err();
    assert_eq!(refused.error_type(), "Permanent.BadDate", "{refused}");
}

/// Automatic training (a score run's, the weekly schedule's) never replaces a champion set by
/// rollback; it stores its candidates. An unpin (event) lets the next automatic training promote again; an explicit train
/// replaces a pinned champion at once.
#[tokio::test]
async fn a_rollback_holds_across_days_and_the_weekly_schedule_until_an_unpin_or_an_explicit_train() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
    for k in 0..5 {
        curated_day(&store, k).await;
    }
    // Any growth of the listens triggers a training.
    let (r, metrics) = recommender(&store, &[("RETRAIN_NEW_LISTENS_SHARE", "0")]);
    let v0 = score(&r, 0, "20261101T070000Z-aaaa0000").await.trained.unwrap();
    let v1 = train(&r, Some(day(1)), "20261102T060000Z-bbbb0000").await;
    assert!(v0.promoted && v1.promoted, "{v0:?} {v1:?}");
    let Outcome::Rollback(rolled) = r.handle(&json!({"mode": "rollback", "version": v0.version}), crate::job::Invocation::new()).await.unwrap() else { panic!() };
    assert!(rolled.champion.pinned);

    // Days 2 and 3: the listens grew, so each score run trains; the gate would promote, but the
    // pinned champion stays and serves; the candidates are stored, saying why they wait.
    for (k, run) in [(2, "20261103T070000Z-cccc0000"), (3, "20261104T070000Z-dddd0000")] {
        let s = score(&r, k, run).await;
        let t = s.trained.as_ref().unwrap_or_else(|| panic!("day {k}: the listens grew since the newest version: {s:?}"));
        assert!(!t.promoted && t.reason.contains(&format!("the champion {} is pinned", v0.version)), "day {k}: {t:?}");
        assert_eq!((t.champion.as_deref(), s.model_version.as_deref()), (Some(v0.version.as_str()), Some(v0.version.as_str())), "day {k}");
        let card = ModelStore::new(store.clone()).card(run).await.unwrap().unwrap();
        assert!(card.decision.promoted() && card.held_by_pin.as_deref() == Some(v0.version.as_str()), "day {k}: {card:?}");
    }
    assert_eq!(metrics.total(Metric::Promoted, None), 2.0, "v0 and v1 only");
    // No growth since the newest version: no daily retraining while pinned.
    assert!(score(&r, 3, "20261104T080000Z-eeee0000").await.trained.is_none());

    // Unpin: the next automatic training (day 4) replaces the champion.
    let Outcome::Unpin(u) = r.handle(&json!({"mode": "unpin"}), crate::job::Invocation::new()).await.unwrap() else { panic!() };
    assert!(u.was_pinned && !u.champion.as_ref().unwrap().pinned && u.champion.unwrap().version == v0.version);
    let s = score(&r, 4, "20261105T070000Z-ffff0000").await;
    let t = s.trained.unwrap();
    assert!(t.promoted, "{t:?}");
    assert_eq!(s.model_version.as_deref(), Some(t.version.as_str()));

    // Rolled back again, an explicit train replaces the pinned champion and clears the pin.
    r.run(Request::Rollback { version: v1.version.clone() }, "rb").await.unwrap();
    let explicit = train(&r, Some(day(4)), "20261105T080000Z-gggg0000").await;
    assert!(explicit.promoted, "{explicit:?}");
    let (champion, _) = ModelStore::new(store.clone()).champion().await.unwrap().unwrap();
    assert!(champion.version == explicit.version && !champion.pinned, "{champion:?}");

    // The weekly schedule's train is automatic: rolled back to v1, the scheduled event trains and
    // stores a candidate the gate promotes, and v1 stays, pinned.
    r.run(Request::Rollback { version: v1.version.clone() }, "rb2").await.unwrap();
    let Outcome::Train(weekly) = r.run(Request::parse(&json!({"mode": "train", "scheduled": true})).unwrap(), "20261105T090000Z-hhhh0000").await.unwrap() else { panic!() };
    assert!(!weekly.promoted && weekly.reason.contains(&format!("the champion {} is pinned", v1.version)), "{weekly:?}");
    let (champion, _) = ModelStore::new(store.clone()).champion().await.unwrap().unwrap();
    assert!(champion.version == v1.version && champion.pinned, "{champion:?}");

    // Unpinned, an explicit train on an older date than the champion's (v1: day 1) is kept as a
    // candidate even though the gate promotes it: going back is a rollback's job.
    r.run(Request::Unpin, "unpin2").await.unwrap();
    let old = train(&r, Some(day(0)), "20261105T100000Z-iiii0000").await;
    let card = ModelStore::new(store.clone()).card(&old.version).await.unwrap().unwrap();
    assert!(!old.promoted && card.decision.promoted() && card.held_by_newer_champion == Some(day(1)), "{old:?} {card:?}");
    assert_eq!(ModelStore::new(store.clone()).champion().await.unwrap().unwrap().0.version, v1.version);
}

/// The listens of a simulated day, as curated would hold them (no transform: the pure training path).
fn simulated_listens(config: &SimulatorConfig) -> Vec<inputs::Listen> {
    let mut out = Vec::new();
    for row in Dataset::new(config).rows("listen_history") {
        let user_id = row["user_id"].as_i64().unwrap();
        let created: chrono::NaiveDateTime = row["created_at"].as_str().unwrap().parse().unwrap();
        for (position, track) in row["items"].as_array().unwrap().iter().enumerate() {
            let created_at_micros = created.and_utc().timestamp_micros();
            out.push(inputs::Listen { user_id, track_id: track.as_i64().unwrap(), created_at_micros, position: position as i32 });
        }
    }
    out
}

#[tokio::test]
async fn the_champion_is_compared_as_served_through_the_pairs_stored_with_it_without_rereading_its_date() {
    // A champion trained on day 0, then a training on day 1: at the same share, and at a share
    // raised from 0.5 (the champion never trained on the users the larger sample adds).
    for (champion_share, candidate_share) in [("1", "1"), ("0.5", "1")] {
        let mut evaluations = Vec::new();
        for pairs in ["stored", "missing", "damaged"] {
            let store: Arc<dyn Store> = Arc::new(MemoryStore::default());
            curated_day(&store, 0).await;
            curated_day(&store, 1).await;
            let (r0, _) = recommender(&store, &[("ALS_TRAIN_USER_SHARE", champion_share)]);
            let t0 = train(&r0, Some(day(0)), "20261101T070000Z-aaaa0000").await;
            assert!(t0.promoted, "{t0:?}");
            let models = ModelStore::new(store.clone());
            // The version holds the distinct (user, track) pairs of the listens it was trained on.
            let day0 = inputs::read_inputs(&store, day(0), &|u| r0.config.hyper.trains_on(u)).await.unwrap();
            let expected: std::collections::BTreeSet<(i64, i64)> = day0.listens.iter().map(|l| (l.user_id, l.track_id)).collect();
            assert_eq!(models.seen(&t0.version, &|_| true).await.unwrap(), Some(expected.into_iter().collect::<Vec<_>>()));
            let seen_key = crate::partition::model_version_key(&t0.version, "seen.bin");
            match pairs {
                // With the pairs stored, day 0's listens are not read again: without their files
                // (the date's commit left whole) the run still compares.
                "stored" => {
                    let day0_listens = format!("dt={}", day(0));
                    for o in store.list("curated/listen_events/").await.unwrap().iter().filter(|o| o.key.contains(&day0_listens) && o.key.ends_with(".parquet")) {
                        store.delete(&o.key).await.unwrap();
                    }
                    assert!(inputs::read_inputs(&store, day(0), &|_| true).await.is_err(), "day 0's listens are gone");
                }
                // A version stored before the pairs were kept, or whose pairs are damaged: its
                // date is re-read.
                "missing" => store.delete(&seen_key).await.unwrap(),
                _ => {
                    store.put(&seen_key, bytes::Bytes::from_static(b"MVSEEN01 damaged"), crate::storage::PutMode::Overwrite).await.unwrap();
                }
            }
            let (r1, _) = recommender(&store, &[("ALS_TRAIN_USER_SHARE", candidate_share)]);
            let t1 = train(&r1, Some(day(1)), "20261102T070000Z-bbbb0000").await;
            assert_eq!(t1.evaluation.served_unavailable, None, "pairs {pairs}");
            let served = t1.evaluation.served.clone().expect("the champion is evaluated as served");
            assert!(served.users > 0, "{served:?}");
            evaluations.push(served);
        }
        assert!(evaluations.iter().all(|e| *e == evaluations[0]), "shares {champion_share} then {candidate_share}: the stored pairs compare exactly as the re-read does: {evaluations:?}");
    }
}
