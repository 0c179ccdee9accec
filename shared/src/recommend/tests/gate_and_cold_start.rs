//! The training path alone (no store, no transform): the gate on random and structured taste,
//! and the cold-start policy against declared and misleading genres.

use super::*;

fn gate_on(taste_strength: f64, seed: u64) -> training::Trained {
    let config = SimulatorConfig { seed, taste_strength, ..sim(0) };
    let recommend = self::config(&[]).recommend;
    let data = TrainingData::new(&simulated_listens(&config));
    let settings = training::TrainSettings { holdout_share: recommend.holdout_share, gate: recommend.gate };
    training::train(&data, recommend.hyper, None, &settings, None, None)
}

/// Random taste (listens drawn by popularity alone): with the default settings the gate refuses
/// on at least 19 of 20 seeds, and for lack of a significant win, not for lack of evidence.
#[test]
fn the_gate_refuses_random_taste_data_and_promotes_structured_data() {
    let mut promoted = Vec::new();
    for seed in 0..20 {
        let t = gate_on(0.0, seed);
        let gate = t.evaluation.gate.as_ref().unwrap();
        assert!(gate.test_users >= gate.settings.min_users && gate.test_listens >= gate.settings.min_listens, "seed {seed}: {gate:?}");
        if t.decision.promoted() {
            promoted.push((seed, gate.versus_baseline));
        } else {
            assert!(t.decision.reason().contains("not significantly better than the popularity baseline"), "seed {seed}: {:?}", t.decision);
        }
    }
    println!("random taste: promoted on {} of 20 seeds {promoted:?}", promoted.len());
    assert!(promoted.len() <= 1, "random taste promoted on {} of 20 seeds: {promoted:?}", promoted.len());
    for seed in [1, 2, 3] {
        let t = gate_on(0.8, seed);
        assert!(t.decision.promoted(), "structured data, seed {seed}: {:?}", t.decision);
    }
}

/// The cold-start choice on the simulator's users: with their declared favourite genres the
/// genre policy wins; when the hidden users declare a misleading genre (not theirs), global
/// popularity wins for them.
#[test]
fn the_cold_start_policy_follows_the_evidence_and_a_misleading_genre_loses() {
    use crate::simulator::GENRES;
    use crate::curated::normalize_genre;
    use std::sync::Arc;
    let config = sim(0);
    let dataset = Dataset::new(&config);
    let listens = simulated_listens(&config);
    let genre = |v: &Value| v.as_str().and_then(normalize_genre).map(Arc::<str>::from);
    let tracks: Vec<(i64, Option<Arc<str>>)> = dataset.rows("tracks").map(|r| (r["id"].as_i64().unwrap(), genre(&r["genres"]))).collect();
    let users: Vec<(i64, Option<Arc<str>>)> = dataset.rows("users").map(|r| (r["id"].as_i64().unwrap(), genre(&r["favorite_genres"]))).collect();
    let hidden = |u: i64| cold_start::is_sampled(u, 0.2);
    let truthful = inputs::Catalog { users: users.clone(), tracks: tracks.clone() };
    let (e, _) = cold_start::evaluate_policies(&listens, &truthful, &[], 7, hidden, 10);
    assert!(e.users > 40 && e.winner == cold_start::Policy::Genre, "{e:?}");

    let normalized: Vec<Arc<str>> = GENRES.iter().map(|g| normalize_genre(g).unwrap().into()).collect();
    let other = |g: &Option<Arc<str>>| {
        let at = normalized.iter().position(|n| Some(n) == g.as_ref()).expect("a simulator genre");
        Some(normalized[(at + normalized.len() / 2) % normalized.len()].clone())
    };
    let misleading = users.iter().map(|(u, g)| (*u, if hidden(*u) { other(g) } else { g.clone() })).collect();
    let (e, _) = cold_start::evaluate_policies(&listens, &inputs::Catalog { users: misleading, tracks }, &[], 7, hidden, 10);
    assert_eq!(e.winner, cold_start::Policy::Overall, "{e:?}");
    assert!(e.ndcg_at_10["overall"] > e.ndcg_at_10["genre"], "{e:?}");
}
