use super::*;
use crate::recommend::als::AlsParams;

fn listen(user_id: i64, track_id: i64, created: i64, position: i32) -> Listen {
    Listen { user_id, track_id, created_at_micros: created, position }
}

#[test]
fn pairs_are_deduplicated_weighted_and_stamped_with_their_latest_rank() {
    // User 7 listened to 30, 10, 30 (in that order), user 3 to 20 then 10.
    let data = TrainingData::new(&[listen(7, 30, 5, 0), listen(3, 10, 9, 1), listen(7, 10, 5, 1), listen(3, 20, 9, 0), listen(7, 30, 6, 0)]);
    assert_eq!((data.users.ids(), data.tracks.ids()), (&[3, 7][..], &[10, 20, 30][..]));
    let got: Vec<(u32, u32, f32, i64)> = data.pairs.iter().map(|p| (p.user, p.item, p.weight, p.timestamp)).collect();
    assert_eq!(got, [(0, 1, 1.0, 0), (0, 0, 1.0, 1), (1, 2, 2.0, 2), (1, 0, 1.0, 1)]);
    assert_eq!((data.first_listen_micros, data.last_listen_micros), (Some(5), Some(9)));
    let ids = data.id_table(&data.matrix(&data.pairs, &hyper()));
    assert_eq!(ids.user_hashes, [listens_hash(&[10, 20]), listens_hash(&[10, 30])]);
}

/// Two taste groups: users 0..40 like tracks 0..20, users 40..80 tracks 20..40, with
/// track 40 listened by everyone (popular, but nobody's taste).
fn clustered() -> Vec<Listen> {
    let mut out = Vec::new();
    for u in 0..80i64 {
        let base = if u < 40 { 0 } else { 20 };
        out.push(listen(u, 40, 0, 0));
        for j in 0..8i64 {
            let t = base + (u * 7 + j * 3) % 20;
            out.push(listen(u, t, 1 + j, 0));
        }
    }
    out
}

fn hyper() -> Recipe {
    let als = AlsParams { factors: 8, regularization: 0.5, alpha: 4.0, iterations: 10, cg_steps: 3, seed: 7 };
    Recipe { als, recency_beta: 0.0, recency_power: 1.0, max_tracks_per_user: 0, train_user_share: 1.0 }
}

fn settings(tolerance: f64) -> TrainSettings {
    TrainSettings { holdout_share: 0.2, gate: GateSettings { confidence: 0.95, min_users: 20, min_listens: 20, tolerance } }
}

/// A champion trained on `listens` with `hyper`, stored as it would be served.
fn stored(listens: &[Listen], hyper: Recipe) -> ChampionInput {
    let data = TrainingData::new(listens);
    let matrix = data.matrix(&data.pairs, &hyper);
    let model = ServingModel { version: "v1".into(), als: AlsModel::train(&hyper.als, &matrix.fit), ids: data.id_table(&matrix), hyper, cold_start: Default::default(), drift: Default::default() };
    let mut seen: Vec<(i64, i64)> = listens.iter().map(|l| (l.user_id, l.track_id)).collect();
    seen.sort_unstable();
    seen.dedup();
    ChampionInput { version: "v1".into(), data_date: NaiveDate::MIN, hyper, served: Ok(ServedChampion { model, seen }) }
}

fn weak() -> Recipe {
    Recipe { als: AlsParams { factors: 1, iterations: 1, ..hyper().als }, ..hyper() }
}

#[test]
fn a_model_that_learns_the_tastes_beats_popularity_and_is_promoted() {
    let data = TrainingData::new(&clustered());
    let t = train(&data, hyper(), None, &settings(0.01), None, None);
    assert!(t.evaluation.candidate.ndcg_at_10 > t.evaluation.baseline.ndcg_at_10 + 0.05, "{:?}", t.evaluation);
    assert!(t.decision.promoted(), "{:?}", t.decision);
    assert_eq!(t.evaluation.test_users, 80);
    let gate = t.evaluation.gate.as_ref().unwrap();
    assert!(gate.versus_baseline.lower > 0.0 && gate.versus_baseline.users == 80 && gate.versus_champion.is_none(), "{gate:?}");
    // The promoted model was refitted on every listen: its users' hashes cover all of them.
    assert_eq!(t.ids, data.id_table(&data.matrix(&data.pairs, &hyper())));
    assert_eq!(t.model.n_users(), 80);
    // Too few held-out users for the gate: refused for that reason, whatever the scores.
    let strict = TrainSettings { gate: GateSettings { min_users: 81, ..settings(0.01).gate }, ..settings(0.01) };
    let t = train(&data, hyper(), None, &strict, None, None);
    assert!(!t.decision.promoted() && t.decision.reason().starts_with("too little evidence"), "{:?}", t.decision);
}

#[test]
fn a_capped_recipe_trains_on_each_users_latest_tracks() {
    let listens = clustered();
    let data = TrainingData::new(&listens);
    let capped = Recipe { max_tracks_per_user: 3, ..hyper() };
    let t = train(&data, capped, None, &settings(0.01), None, None);
    assert!(t.decision.promoted(), "{:?}", t.evaluation);
    // Every user's trained row is their 3 latest tracks, and that is what the id table hashes.
    for (u, &user_id) in t.ids.users.iter().enumerate() {
        let mut own: Vec<&Listen> = listens.iter().filter(|l| l.user_id == user_id).collect();
        own.sort_by_key(|l| l.time_key());
        let latest: Vec<i64> = own[own.len() - 3..].iter().map(|l| l.track_id).collect();
        assert_eq!(t.ids.user_hashes[u], listens_hash(&latest), "user {user_id}");
    }
    // Track 40, everyone's oldest listen, was fitted for nobody: the stored model does not know
    // it (its factors would be the solver's noise), and knows every other track.
    assert_eq!(t.ids.tracks, (0..40).collect::<Vec<i64>>());
    assert_eq!(t.model.n_items(), 40);
    // The uncapped recipe is another recipe: a champion of it is retrained for the comparison.
    assert_ne!(capped, hyper());
}

#[test]
fn the_champion_is_evaluated_as_its_recipe_when_it_cannot_be_served() {
    let data = TrainingData::new(&clustered());
    let recipe_only = |hyper: Recipe| ChampionInput { version: "v1".into(), data_date: NaiveDate::MIN, hyper, served: Err("not readable".into()) };
    let same = train(&data, hyper(), Some(&recipe_only(hyper())), &settings(0.0), None, None);
    assert_eq!(same.evaluation.champion, Some(same.evaluation.candidate), "same recipe, same scores");
    assert_eq!(same.evaluation.served_unavailable.as_deref(), Some("not readable"));
    assert!(same.decision.promoted());
    // A one-factor, one-iteration candidate against a good champion recipe.
    let t = train(&data, weak(), Some(&recipe_only(hyper())), &settings(0.01), None, None);
    assert!(t.evaluation.champion.unwrap().ndcg_at_10 > t.evaluation.candidate.ndcg_at_10 + 0.01, "{:?}", t.evaluation);
    let (which, c) = t.evaluation.gate.as_ref().unwrap().versus_champion.clone().unwrap();
    assert!(which == "recipe" && c.upper < 0.0, "significantly worse than the champion's recipe: {c:?}");
    assert!(!t.decision.promoted(), "{:?}", t.decision);
    assert_eq!(t.evaluation.champion_version.as_deref(), Some("v1"));
}

#[test]
fn the_stored_champion_is_evaluated_as_served_on_listens_it_never_saw() {
    let all = clustered();
    // The champion was trained on each user's first five taste listens (and the popular
    // track); since then each user listened to three more. The split holds out the latest.
    let older: Vec<Listen> = all.iter().filter(|l| l.created_at_micros <= 5).copied().collect();
    let data = TrainingData::new(&all);

    // A good stored champion blocks a weak candidate, on the served comparison.
    let t = train(&data, weak(), Some(&stored(&older, hyper())), &settings(0.01), None, None);
    let served = t.evaluation.served.as_ref().expect("a served evaluation");
    assert_eq!((served.users, served.listens, served.cold_start_users), (80, 80, 0), "every user's latest listen is new to the champion");
    assert!(served.champion.ndcg_at_10 > served.candidate.ndcg_at_10 + 0.05, "{served:?}");
    let (which, c) = t.evaluation.gate.as_ref().unwrap().versus_champion.clone().unwrap();
    assert!(which == "served" && c == served.versus_champion && c.upper < 0.0, "significantly worse than the served champion: {c:?}");
    assert!(!t.decision.promoted(), "{:?}", t.decision);

    // A weak stored champion does not block a good candidate. Its other recipe is not trained
    // again: the served comparison decided.
    let t = train(&data, hyper(), Some(&stored(&older, weak())), &settings(0.01), None, None);
    let served = t.evaluation.served.as_ref().unwrap();
    assert!(served.candidate.ndcg_at_10 > served.champion.ndcg_at_10 && served.versus_champion.lower > 0.0, "{served:?}");
    assert!(t.decision.promoted() && t.decision.reason().contains("the champion (served"), "{:?}", t.decision);
    assert!(t.evaluation.champion.is_none(), "{:?}", t.evaluation.champion);

    // A champion that saw every held-out listen is not scored on them: no served users,
    // and the gate falls back to the recipe comparison.
    let t = train(&data, hyper(), Some(&stored(&all, hyper())), &settings(0.01), None, None);
    assert_eq!(t.evaluation.served.as_ref().unwrap().users, 0);
    assert_eq!(t.evaluation.gate.as_ref().unwrap().versus_champion.as_ref().unwrap().0, "recipe");
    assert!(t.decision.promoted(), "{:?}", t.decision);
}
