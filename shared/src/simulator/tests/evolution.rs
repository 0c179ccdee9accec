//! Evolution: day-to-day changes, a running server switching dates, the "new hit" mode.

use std::collections::HashMap;

use chrono::NaiveDate;
use serde_json::Value;

use super::*;

fn on_day(row: &Value, date: NaiveDate) -> bool {
    instant(text(row, "updated_at")).date() == date
}

#[test]
fn day_to_day_evolution_is_small_and_consistent() {
    let cfg = config(2000, 2000);
    let d0 = Dataset::new(&cfg);
    let d1 = Dataset::new(&SimulatorConfig {
        date: day(2),
        ..cfg.clone()
    });
    let d8 = Dataset::new(&SimulatorConfig {
        date: day(9),
        ..cfg.clone()
    });
    let tracks1 = by_key(d1.rows("tracks").collect(), "id");
    for ep in ["tracks", "users"] {
        let (a, b) = (
            by_key(d0.rows(ep).collect(), "id"),
            by_key(d1.rows(ep).collect(), "id"),
        );
        let removed = a.keys().filter(|k| !b.contains_key(k)).count();
        let added: Vec<&Value> = b
            .iter()
            .filter(|(k, _)| !a.contains_key(k))
            .map(|(_, v)| v)
            .collect();
        assert!(
            (2..=30).contains(&removed),
            "{ep}: {removed} removed (expected ~10)"
        );
        assert!(
            (8..=35).contains(&added.len()),
            "{ep}: {} added (expected ~20)",
            added.len()
        );
        for r in &added {
            assert_eq!(instant(text(r, "created_at")).date(), day(2), "{r}");
            assert!(on_day(r, day(2)));
        }
        let (mut same, mut changed) = (0, 0);
        for (id, old) in &a {
            let Some(new) = b.get(id) else { continue };
            if old == new {
                same += 1;
                continue;
            }
            changed += 1;
            assert!(
                on_day(new, day(2)),
                "{ep}: a changed row moves updated_at to the day: {new}"
            );
            assert_eq!(old["created_at"], new["created_at"]);
            let differing: Vec<&String> = old
                .as_object()
                .unwrap()
                .keys()
                .filter(|k| old[k.as_str()] != new[k.as_str()])
                .collect();
            assert!(
                differing.len() <= 3,
                "{ep}: one business field (and updated_at) changes: {differing:?}"
            );
        }
        assert!(
            (15..=70).contains(&changed),
            "{ep}: {changed} changed (expected ~40)"
        );
        assert!(
            same as f64 / a.len() as f64 > 0.95,
            "{ep}: {same} identical"
        );
        // Rows untouched since day 1 are identical on day 8: no replay, no drift.
        let c = by_key(d8.rows(ep).collect(), "id");
        for (id, row) in &c {
            if instant(text(row, "updated_at")) < day(3).and_hms_opt(0, 0, 0).unwrap() {
                assert_eq!(Some(row), b.get(id), "{ep} {id}");
            }
        }
        assert!(c.len() > b.len(), "{ep}: net growth by day 8");
    }

    // Histories: identical, or grown (old items kept in order, minus removed tracks).
    let (a, b) = (
        by_key(d0.rows("listen_history").collect(), "user_id"),
        by_key(d1.rows("listen_history").collect(), "user_id"),
    );
    let (mut same, mut grown, mut shrunk) = (0, 0, 0);
    for (user, old) in &a {
        let Some(new) = b.get(user) else { continue };
        if old == new {
            same += 1;
            continue;
        }
        assert!(on_day(new, day(2)), "{new}");
        assert_eq!(old["created_at"], new["created_at"]);
        let kept: Vec<&Value> = old["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| tracks1.contains_key(&i.as_u64().unwrap()))
            .collect();
        let now: Vec<&Value> = new["items"].as_array().unwrap().iter().collect();
        assert_eq!(
            &now[..kept.len()],
            &kept[..],
            "old items stay first: {old} -> {new}"
        );
        assert!(
            now.iter()
                .all(|i| tracks1.contains_key(&i.as_u64().unwrap()))
        );
        grown += usize::from(now.len() > kept.len());
        shrunk += usize::from(kept.len() < old["items"].as_array().unwrap().len());
    }
    assert!(
        (40..=150).contains(&grown),
        "{grown} histories grew (expected ~95)"
    );
    assert!(shrunk > 0, "histories lose removed tracks");
    assert!(
        same as f64 / a.len() as f64 > 0.85,
        "{same} identical histories"
    );
}

#[tokio::test]
async fn set_date_switches_a_running_server() {
    let c = client();
    let sim = RunningSimulator::start(config(300, 300)).await.unwrap();
    let day0 = fetch_all(&c, &sim, "users", 100).await;
    sim.control().set_date(day(2));
    assert_eq!(sim.control().date(), day(2));
    let day1 = fetch_all(&c, &sim, "users", 100).await;
    let expected: Vec<Value> = Dataset::new(&SimulatorConfig {
        date: day(2),
        ..config(300, 300)
    })
    .rows("users")
    .collect();
    assert_eq!(day1, expected);
    assert_ne!(day0, day1);
    sim.control().set_date(day(1));
    assert_eq!(fetch_all(&c, &sim, "users", 100).await, day0);
    sim.shutdown().await;
}

/// The "new hit" mode: on its day a track is born that takes about `share` of the items drawn
/// from then on (growing histories' new items), is never in a history before, and the next hit
/// replaces it; without the mode the day is served as before the hit, and every day before the
/// first hit is byte-identical with and without it.
#[test]
fn a_new_hit_takes_its_share_of_the_listens_from_its_day() {
    let base = SimulatorConfig {
        evolution: Evolution { changed: 0.0, added: 0.0, removed: 0.0, listens_added: 0.5 },
        ..config(300, 1000)
    };
    let hits = Some(NewHits { first_day: 3, every_days: 4, share: 0.4 });
    let at = |k: u32, new_hits| Dataset::new(&SimulatorConfig { date: day(k + 1), new_hits, ..base.clone() });
    let histories = |d: &Dataset| -> HashMap<i64, Vec<i64>> {
        d.rows("listen_history").map(|r| (r["user_id"].as_i64().unwrap(), r["items"].as_array().unwrap().iter().map(|t| t.as_i64().unwrap()).collect())).collect()
    };
    let rows = |d: &Dataset, ep: &str| d.rows(ep).collect::<Vec<_>>();
    for ep in ["tracks", "users", "listen_history"] {
        assert_eq!(rows(&at(2, hits), ep), rows(&at(2, None), ep), "{ep}: nothing changes before the first hit");
    }
    assert_eq!((at(2, hits).hit_track_id(), at(3, None).hit_track_id()), (None, None));
    let hit = at(3, hits).hit_track_id().expect("the hit of day 3") as i64;
    assert!(rows(&at(3, hits), "tracks").iter().any(|t| t["id"].as_i64() == Some(hit)), "the hit is served in /tracks");
    assert!(!rows(&at(2, hits), "tracks").iter().any(|t| t["id"].as_i64() == Some(hit)), "a new track");
    let (before, after) = (histories(&at(2, hits)), histories(&at(3, hits)));
    let new_items: Vec<i64> = after.iter().flat_map(|(u, items)| items[before.get(u).map_or(0, Vec::len)..].to_vec()).collect();
    let share = new_items.iter().filter(|&&t| t == hit).count() as f64 / new_items.len() as f64;
    assert!((0.3..0.5).contains(&share), "the hit takes about 40% of the day's new items: {share} of {}", new_items.len());
    let next = at(7, hits).hit_track_id().expect("the hit of day 7") as i64;
    assert_ne!(next, hit);
    assert_eq!(at(6, hits).hit_track_id(), Some(hit as u64), "the first hit plays until the next");
}
