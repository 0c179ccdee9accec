//! The faults of a listing: malformed rows, a changed `total`, a failing endpoint, rows served
//! twice, a shifted listing, pages of the wrong shape.

use std::collections::HashSet;

use serde_json::Value;

use super::super::faults::{TotalChange, total_change};
use super::*;

#[tokio::test]
async fn malformed_rows_are_stable_across_requests() {
    let c = client();
    let cfg = SimulatorConfig {
        faults: Faults {
            malformed_rate: 0.2,
            ..Faults::default()
        },
        ..config(400, 600)
    };
    let sim = RunningSimulator::start(cfg).await.unwrap();
    let ds = sim.control().dataset();
    let mut served_malformed = 0;
    for (ep, key) in [
        ("tracks", "id"),
        ("users", "id"),
        ("listen_history", "user_id"),
    ] {
        let first = fetch_all(&c, &sim, ep, 100).await;
        assert_eq!(
            first,
            fetch_all(&c, &sim, ep, 100).await,
            "{ep}: a retry sees the same rows"
        );
        assert_eq!(
            first,
            fetch_all(&c, &sim, ep, 37).await,
            "{ep}: whatever the paging"
        );
        let clean: Vec<Value> = ds.rows(ep).collect();
        let mut kinds = HashSet::new();
        let mut bad = 0;
        for (got, want) in first.iter().zip(&clean) {
            if got == want {
                continue;
            }
            bad += 1;
            let kind = match &got[key] {
                Value::Null if got.get(key).is_none() => "missing id",
                Value::Null => "null id",
                Value::String(_) => "id of wrong type",
                _ if got["items"].is_string() => "items as a string",
                _ if got["created_at"] == "yesterday" || got["updated_at"] == "yesterday" => {
                    "bad datetime"
                }
                _ => {
                    let nulls = got
                        .as_object()
                        .unwrap()
                        .values()
                        .filter(|v| v.is_null())
                        .count();
                    assert_eq!(
                        nulls, 1,
                        "{ep}: unexpected malformation {got} (clean {want})"
                    );
                    "null field"
                }
            };
            kinds.insert(kind);
        }
        let share = bad as f64 / clean.len() as f64;
        assert!((0.13..0.27).contains(&share), "{ep}: {share} malformed");
        assert!(kinds.len() >= 4, "{ep}: kinds {kinds:?}");
        served_malformed += 3 * bad;
    }
    assert_eq!(
        sim.control().stats().faults["malformed"],
        served_malformed as u64
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn total_changes_after_n_requests_and_stays_changed() {
    let c = client();
    // Seeds whose change grows and shrinks the tracks.
    let grow_seed = (0..)
        .find(|&s| matches!(total_change(s, Resource::Tracks), TotalChange::Grow(_)))
        .unwrap();
    let shrink_seed = (0..)
        .find(|&s| matches!(total_change(s, Resource::Tracks), TotalChange::Shrink(_)))
        .unwrap();
    for seed in [grow_seed, shrink_seed] {
        let faults = Faults {
            total_change_after: Some(3),
            ..Faults::default()
        };
        let sim = RunningSimulator::start(SimulatorConfig {
            seed,
            faults: faults.clone(),
            ..config(250, 10)
        })
        .await
        .unwrap();
        let ds = sim.control().dataset();
        let clean: Vec<Value> = ds.rows("tracks").collect();
        let totals: Vec<u64> = {
            let mut t = Vec::new();
            for p in [1, 2, 3, 1, 2, 3, 3] {
                t.push(
                    page(&c, &sim, "tracks", p, 100).await.json()["total"]
                        .as_u64()
                        .unwrap(),
                );
            }
            t
        };
        assert!(totals[..3].iter().all(|&t| t == 250), "{totals:?}");
        let changed = totals[3];
        assert_ne!(changed, 250);
        assert!(
            totals[3..].iter().all(|&t| t == changed),
            "the change stays: {totals:?}"
        );
        let all = fetch_all(&c, &sim, "tracks", 100).await;
        match total_change(seed, Resource::Tracks) {
            TotalChange::Grow(k) => {
                assert_eq!(changed, 250 + k);
                assert_eq!(&all[..250], &clean[..]);
                let ids: HashSet<u64> = all.iter().map(|r| r["id"].as_u64().unwrap()).collect();
                assert_eq!(ids.len() as u64, 250 + k, "new rows have new ids");
            }
            TotalChange::Shrink(k) => {
                assert_eq!(changed, 250 - k);
                assert_eq!(&all[..], &clean[k as usize..], "rows leave from the front");
            }
        }
        assert!(sim.control().stats().faults["total_change"] >= 4);
        // Other endpoints keep their own count.
        assert_eq!(page(&c, &sim, "users", 1, 100).await.json()["total"], 10);
        sim.control().set_faults(faults);
        assert_eq!(
            page(&c, &sim, "tracks", 1, 100).await.json()["total"],
            250,
            "the clock restarts"
        );
        sim.shutdown().await;
    }
}

#[tokio::test]
async fn a_failing_endpoint_always_answers_503() {
    let c = client();
    let faults = Faults {
        fail_endpoint: Some("listen_history".into()),
        ..Faults::default()
    };
    let sim = RunningSimulator::start(with_faults(faults)).await.unwrap();
    for p in 1..=4 {
        assert_eq!(page(&c, &sim, "listen_history", p, 100).await.status, 503);
        assert_eq!(page(&c, &sim, "users", p, 100).await.status, 200);
    }
    let stats = sim.control().stats();
    assert_eq!(stats.faults["fail_endpoint"], 4);
    assert_eq!(
        (
            stats.by_endpoint["listen_history"],
            stats.by_endpoint["users"],
            stats.requests
        ),
        (4, 4, 8)
    );
    sim.control().set_faults(Faults::default());
    assert_eq!(page(&c, &sim, "listen_history", 1, 100).await.status, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn rows_served_twice_keep_a_stable_total() {
    let c = client();
    let faults = Faults {
        duplicate_rows: 2,
        ..Faults::default()
    };
    let sim = RunningSimulator::start(SimulatorConfig {
        faults,
        ..config(250, 10)
    })
    .await
    .unwrap();
    let clean: Vec<Value> = sim.control().dataset().rows("tracks").collect();
    let first = fetch_all(&c, &sim, "tracks", 100).await;
    assert_eq!(first.len(), 252);
    assert_eq!(&first[..250], &clean[..]);
    assert_eq!(&first[250..], &clean[..2], "the first rows come again at the end");
    assert_eq!(fetch_all(&c, &sim, "tracks", 100).await, first, "on every pass");
    assert!(sim.control().stats().faults["duplicate"] >= 6);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_shifted_listing_keeps_its_total_and_moves_every_page() {
    let c = client();
    let faults = Faults {
        shift_after: Some(2),
        ..Faults::default()
    };
    let sim = RunningSimulator::start(SimulatorConfig {
        faults,
        ..config(250, 10)
    })
    .await
    .unwrap();
    let clean: Vec<Value> = sim.control().dataset().rows("tracks").collect();
    let before = page(&c, &sim, "tracks", 1, 100).await.json();
    page(&c, &sim, "tracks", 2, 100).await;
    let after = page(&c, &sim, "tracks", 1, 100).await.json();
    assert_eq!((before["total"].clone(), after["total"].clone()), (250.into(), 250.into()));
    assert_eq!(before["items"].as_array().unwrap()[..], clean[..100]);
    assert_eq!(after["items"].as_array().unwrap()[..], clean[1..101], "every row moved up by one");
    let all = fetch_all(&c, &sim, "tracks", 100).await;
    assert_eq!(&all[..249], &clean[1..]);
    assert!(!clean.contains(&all[249]), "a new row at the end");
    assert!(sim.control().stats().faults["shift"] >= 4);
    sim.shutdown().await;
}

#[tokio::test]
async fn a_wrong_shape_endpoint_answers_valid_json_that_is_not_a_page() {
    let c = client();
    let faults = Faults {
        wrong_shape_endpoint: Some("users".into()),
        ..Faults::default()
    };
    let sim = RunningSimulator::start(with_faults(faults)).await.unwrap();
    let got = page(&c, &sim, "users", 1, 100).await;
    assert_eq!(got.status, 200);
    let v = got.json();
    assert!(v.get("items").is_none() && v["data"].as_array().unwrap().len() == 20, "{v}");
    assert_eq!(v["meta"]["total"], 20);
    assert!(page(&c, &sim, "tracks", 1, 100).await.json()["items"].is_array());
    assert_eq!(sim.control().stats().faults["wrong_shape"], 1);
    sim.shutdown().await;
}
