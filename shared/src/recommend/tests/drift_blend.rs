//! The drift blend in the simulator's "new hit" world: a hit born after the champion was trained
//! reaches the lists the day after, without retraining; without hits the lists stay the model's.

use super::*;

/// Day `k` of the "new hit" world of the drift test, as recommend reads it: the listens, the
/// catalogue and the listens new on each of the last 7 days (the days' histories compared).
fn hit_world(k: u64, hits: Option<crate::simulator::NewHits>) -> (inputs::Inputs, Option<i64>) {
    use crate::simulator::Evolution;
    let config = |k: u64| SimulatorConfig {
        seed: 5,
        tracks: 300,
        users: 600,
        listens_per_user: 10,
        cold_start_share: 0.0,
        start_date: day(0),
        date: day(k),
        evolution: Evolution { changed: 0.0, added: 0.0, removed: 0.0, listens_added: 0.3 },
        new_hits: hits,
        ..SimulatorConfig::default()
    };
    let items = |k: u64| -> HashMap<i64, HashSet<i64>> {
        let mut out: HashMap<i64, HashSet<i64>> = HashMap::new();
        for l in simulated_listens(&config(k)) {
            out.entry(l.user_id).or_default().insert(l.track_id);
        }
        out
    };
    let mut recent = Vec::new();
    for age_days in 0..7u32 {
        let Some(d) = k.checked_sub(u64::from(age_days)).filter(|&d| d >= 1) else { break };
        let (now, before) = (items(d), items(d - 1));
        for (user_id, tracks) in &now {
            let known = before.get(user_id);
            for &track_id in tracks.iter().filter(|t| known.is_none_or(|k| !k.contains(t))) {
                recent.push(cold_start::RecentListen { user_id: *user_id, track_id, age_days });
            }
        }
    }
    let dataset = Dataset::new(&config(k));
    let mut tracks: Vec<(i64, Option<std::sync::Arc<str>>)> = dataset.rows("tracks").map(|r| (r["id"].as_i64().unwrap(), None)).collect();
    let mut users: Vec<(i64, Option<std::sync::Arc<str>>)> = dataset.rows("users").map(|r| (r["id"].as_i64().unwrap(), None)).collect();
    tracks.sort_unstable_by_key(|t| t.0);
    users.sort_unstable_by_key(|u| u.0);
    let inputs = inputs::Inputs { date: day(k), listens: simulated_listens(&config(k)), catalog: inputs::Catalog { users, tracks }, recent, ..inputs::Inputs::default() };
    (inputs, dataset.hit_track_id().map(|t| t as i64))
}

/// The share of the users scored by the model whose list holds `track`, among those who never
/// listened to it; and the mean share of each list taken by the 10 most listened tracks lately.
fn reach(s: &scoring::Scored, inputs: &inputs::Inputs, track: i64) -> (f64, f64) {
    let heard: HashSet<i64> = inputs.listens.iter().filter(|l| l.track_id == track).map(|l| l.user_id).collect();
    let mut lists: HashMap<i64, Vec<i64>> = HashMap::new();
    for r in s.rows.iter().filter(|r| r.reason != crate::curated::Reason::ColdStart) {
        lists.entry(r.user_id).or_default().push(r.track_id);
    }
    let eligible: Vec<&Vec<i64>> = lists.iter().filter(|(u, _)| !heard.contains(u)).map(|(_, l)| l).collect();
    let with = eligible.iter().filter(|l| l.contains(&track)).count();
    let mut recent: HashMap<i64, f64> = HashMap::new();
    inputs.recent.iter().for_each(|r| *recent.entry(r.track_id).or_default() += 1.0 - f64::from(r.age_days) / 7.0);
    let mut top: Vec<(i64, f64)> = recent.into_iter().collect();
    top.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let top: HashSet<i64> = top.into_iter().take(10).map(|t| t.0).collect();
    let trending = lists.values().map(|l| l.iter().filter(|t| top.contains(t)).count() as f64 / l.len() as f64).sum::<f64>() / lists.len().max(1) as f64;
    (with as f64 / eligible.len().max(1) as f64, trending)
}

/// Drift. A first hit plays from day 3 (the "new hit" mode: a new track takes 30% of the listens
/// drawn); the champion is trained on day 9, so its held-out listens saw popularity shift and the
/// drift weight it chooses is above 0. A second hit appears on day 13: scored that night with the
/// day-9 champion (no retraining), the hit, which the model has never seen, is in most lists of
/// the users who have not heard it yet; without the blend it is in none. In the same world
/// without hits the blend leaves the lists to the model: no list collapses to popularity.
#[test]
fn a_new_hit_reaches_the_lists_the_day_after_without_retraining() {
    use crate::simulator::NewHits;
    let hits = Some(NewHits { first_day: 3, every_days: 10, share: 0.3 });
    let recommend = config(&[]).recommend;
    let settings = training::TrainSettings { holdout_share: recommend.holdout_share, gate: recommend.gate };
    let (trained_on, first_hit) = hit_world(9, hits);
    let data = TrainingData::new(&trained_on.listens);
    let d = training::DriftInputs { recent: &trained_on.recent, recent_days: 7 };
    let t = training::train(&data, recommend.hyper, None, &settings, None, Some(&d));
    let choice = t.evaluation.drift.clone().expect("a drift choice");
    println!("drift choice on day 9 (first hit {first_hit:?}): {choice:?}");
    assert!(t.decision.promoted(), "{:?}", t.decision);
    assert!(choice.weight > 0.0 && choice.versus_none.lower > 0.0, "a shift in the held-out listens calls for a blend: {choice:?}");
    let (calm, _) = hit_world(9, None);
    let calm_data = TrainingData::new(&calm.listens);
    let calm_drift = training::DriftInputs { recent: &calm.recent, recent_days: 7 };
    let calm_choice = training::train(&calm_data, recommend.hyper, None, &settings, None, Some(&calm_drift)).evaluation.drift.unwrap();
    println!("drift choice on day 9 without hits: weight {}, best against 0: {:?}", calm_choice.weight, calm_choice.versus_none);
    let champion = scoring::ServingModel {
        version: "v9".into(),
        als: t.model,
        ids: t.ids,
        hyper: recommend.hyper,
        cold_start: Default::default(),
        drift: (&choice).into(),
    };
    let unblended = scoring::ServingModel { drift: Default::default(), ..champion.clone() };

    let (today, hit) = hit_world(13, hits);
    let hit = hit.expect("a hit plays on day 13");
    assert!(hit != first_hit.unwrap() && champion.ids.tracks.binary_search(&hit).is_err(), "a new track the champion never saw");
    let (blended, plain) = (scoring::score_all(&today, &today.counts(), Some(&champion), 10), scoring::score_all(&today, &today.counts(), Some(&unblended), 10));
    let (with_blend, _) = reach(&blended, &today, hit);
    let (without, _) = reach(&plain, &today, hit);
    println!("day 13: the new hit is in {with_blend:.3} of the lists with the blend, {without:.3} without");
    assert!(with_blend >= 0.5, "the hit reaches most lists the day it appears: {with_blend}");
    assert_eq!(without, 0.0, "the model alone cannot know it");

    let (calm, none) = hit_world(13, None);
    assert!(none.is_none());
    let (blended, plain) = (scoring::score_all(&calm, &calm.counts(), Some(&champion), 10), scoring::score_all(&calm, &calm.counts(), Some(&unblended), 10));
    let (_, trending_blended) = reach(&blended, &calm, 0);
    let (_, trending_plain) = reach(&plain, &calm, 0);
    let by_track = |s: &scoring::Scored| -> usize {
        let mut n: HashMap<i64, usize> = HashMap::new();
        s.rows.iter().for_each(|r| *n.entry(r.track_id).or_default() += 1);
        n.into_values().max().unwrap_or(0)
    };
    let users = blended.users as f64;
    println!(
        "no hit: the 10 most listened tracks lately fill {trending_blended:.3} of the lists with the blend, {trending_plain:.3} without; the most listed track is in {:.3} of the lists (without: {:.3}); coverage {:.3} ({:.3})",
        by_track(&blended) as f64 / users, by_track(&plain) as f64 / users, blended.coverage, plain.coverage
    );
    let rows = |s: &scoring::Scored| -> HashSet<(i64, i64)> { s.rows.iter().map(|r| (r.user_id, r.track_id)).collect() };
    let same = rows(&blended).intersection(&rows(&plain)).count() as f64 / plain.rows.len() as f64;
    println!("no hit: {same:.3} of the listed (user, track) pairs are the model's own");
    assert!(same > 0.9, "without a shift the lists stay the model's: {same}");
    assert!(trending_blended < trending_plain + 0.05, "no collapse to popularity: {trending_blended} vs {trending_plain}");
    assert!((by_track(&blended) as f64) < 1.1 * by_track(&plain) as f64, "no track goes to more users than the model sends it to");
    assert!(blended.coverage > 0.95 * plain.coverage, "{} vs {}", blended.coverage, plain.coverage);
}
