//! The data model: unique ids at every scale, the rows' shapes, the taste structure.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::*;

#[tokio::test]
async fn ids_are_unique_across_pages_at_every_scale() {
    let c = client();
    // One row: an id in the service's range.
    let one = RunningSimulator::start(config(1, 1)).await.unwrap();
    for ep in ["tracks", "users"] {
        let rows = fetch_all(&c, &one, ep, 100).await;
        assert_eq!(rows.len(), 1);
        assert!((1..=99_999).contains(&rows[0]["id"].as_u64().unwrap()));
    }
    one.shutdown().await;

    // A few thousand rows over HTTP: unique, not sequential, in 1..=99_999.
    let mid = RunningSimulator::start(config(3000, 3000)).await.unwrap();
    for ep in ["tracks", "users"] {
        let ids: Vec<u64> = fetch_all(&c, &mid, ep, 100)
            .await
            .iter()
            .map(|r| r["id"].as_u64().unwrap())
            .collect();
        assert_eq!(ids.iter().collect::<HashSet<_>>().len(), 3000, "{ep}");
        assert!(ids.iter().all(|id| (1..=99_999).contains(id)));
        assert!(
            ids.windows(2).filter(|w| w[1] == w[0] + 1).count() < 30,
            "{ep}: ids look sequential"
        );
    }
    let users: Vec<u64> = fetch_all(&c, &mid, "listen_history", 100)
        .await
        .iter()
        .map(|r| r["user_id"].as_u64().unwrap())
        .collect();
    assert_eq!(
        users.iter().collect::<HashSet<_>>().len(),
        users.len(),
        "one history per user"
    );
    mid.shutdown().await;

    // 250 000 rows (and 30 days of evolution on top): unique ids via the id index, and
    // the deep pages are served quickly.
    let cfg = SimulatorConfig {
        date: day(31),
        ..config(250_000, 250_000)
    };
    let started = Instant::now();
    let sim = RunningSimulator::start(cfg).await.unwrap();
    let built = started.elapsed();
    let ds = sim.control().dataset();
    for e in Resource::ALL {
        let n = ds.count(e);
        assert!(n > 200_000, "{e:?}: {n}");
        let mut seen = HashSet::with_capacity(n as usize);
        for i in 0..n {
            assert!(seen.insert(ds.id_at(e, i)), "{e:?}: duplicate id at {i}");
        }
        assert!(seen.iter().all(|&id| (1..=i32::MAX as u64).contains(&id)));
        let pages = n.div_ceil(100);
        let started = Instant::now();
        let last = page(&c, &sim, e.name(), pages, 100).await.json();
        assert_eq!(last["total"], n);
        assert_eq!(
            last["items"].as_array().unwrap().len() as u64,
            n - (pages - 1) * 100
        );
        let key = if e == Resource::ListenHistory {
            "user_id"
        } else {
            "id"
        };
        assert_eq!(
            last["items"][0][key].as_u64(),
            Some(ds.id_at(e, (pages - 1) * 100))
        );
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{e:?}: a deep page took {:?}",
            started.elapsed()
        );
    }
    assert!(
        built < Duration::from_secs(10),
        "building 250k rows x 30 days took {built:?}"
    );
    sim.shutdown().await;
}

#[test]
fn listen_rows_of_some_users_are_their_rows_of_the_whole_listing() {
    let ds = Dataset::new(&SimulatorConfig { users: 300, tracks: 200, listens_per_user: 8, date: SimulatorConfig::default().start_date + chrono::Days::new(3), ..SimulatorConfig::default() });
    let keep = |u: i64| u % 3 == 1;
    let whole: Vec<Value> = ds.rows("listen_history").filter(|r| keep(r["user_id"].as_i64().unwrap())).collect();
    let some: Vec<Value> = ds.listen_rows_where(keep).collect();
    assert!(whole.len() > 50 && whole.len() < ds.len("listen_history"), "{} of {}", whole.len(), ds.len("listen_history"));
    assert_eq!(some, whole);
}

#[test]
fn rows_have_the_documented_shapes() {
    let ds = Dataset::new(&config(1000, 1000));
    let now = ds.now();
    assert_eq!(now, day(2).and_hms_opt(0, 0, 0).unwrap());
    let tracks: Vec<Value> = ds.rows("tracks").collect();
    let users: Vec<Value> = ds.rows("users").collect();
    let histories: Vec<Value> = ds.rows("listen_history").collect();
    let mut whole_seconds = 0;
    let mut updated_before_created = 0;
    let mut stamp = |row: &Value, created_within: i64, updated_within: i64| {
        let (c, u) = (
            instant(text(row, "created_at")),
            instant(text(row, "updated_at")),
        );
        assert!(
            c < now && now - c <= chrono::Duration::days(created_within),
            "{row}"
        );
        assert!(
            u < now && now - u <= chrono::Duration::days(updated_within),
            "{row}"
        );
        whole_seconds += [c, u]
            .iter()
            .filter(|t| t.and_utc().timestamp_subsec_micros() == 0)
            .count();
        updated_before_created += usize::from(u < c);
    };
    let mut canonical_genre = 0;
    for t in &tracks {
        let keys: Vec<&str> = t.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys.len(), 9, "{t}");
        assert!(t["id"].is_u64());
        for f in ["name", "artist", "songwriters", "album"] {
            assert!(!text(t, f).is_empty());
        }
        let d = text(t, "duration");
        assert!(
            d.len() == 5 && &d[2..3] == ":" && d[3..].parse::<u32>().unwrap() < 60,
            "{d}"
        );
        let g = text(t, "genres");
        assert!(GENRES.iter().any(|x| x.eq_ignore_ascii_case(g)), "{g}");
        canonical_genre += usize::from(GENRES.contains(&g));
        stamp(t, 730, 365);
    }
    assert!(
        (500..950).contains(&canonical_genre),
        "genres vary in case: {canonical_genre}"
    );
    for u in &users {
        assert_eq!(u.as_object().unwrap().len(), 8);
        assert!(u["id"].is_u64());
        assert!(GENDERS.contains(&text(u, "gender")));
        assert!(GENRES.contains(&text(u, "favorite_genres")));
        assert!(text(u, "email").contains('@') && !text(u, "first_name").is_empty());
        stamp(u, 730, 365);
    }
    let share = updated_before_created as f64 / 2000.0;
    assert!(
        (0.18..0.32).contains(&share),
        "updated_at < created_at in {share} of rows (expected ~1/4)"
    );

    let track_ids: HashSet<u64> = tracks.iter().map(|t| t["id"].as_u64().unwrap()).collect();
    let user_ids: HashSet<u64> = users.iter().map(|u| u["id"].as_u64().unwrap()).collect();
    for h in &histories {
        assert!(user_ids.contains(&h["user_id"].as_u64().unwrap()));
        let items: Vec<u64> = h["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i.as_u64().unwrap())
            .collect();
        assert_eq!(items.len(), 5, "{h}");
        assert_eq!(
            items.iter().collect::<HashSet<_>>().len(),
            5,
            "distinct items: {h}"
        );
        assert!(
            items.iter().all(|i| track_ids.contains(i)),
            "items exist in /tracks: {h}"
        );
        let (c, u) = (
            instant(text(h, "created_at")),
            instant(text(h, "updated_at")),
        );
        assert!(c <= u && u < now, "{h}");
    }
    // ~5% cold-start users have no history.
    assert!(
        (920..=980).contains(&histories.len()),
        "{} histories",
        histories.len()
    );
    assert!(whole_seconds > 0, "some timestamps fall on a whole second");
}

/// Share of listen items whose track genre is the user's favourite (case-insensitive).
fn taste_share(ds: &Dataset) -> (f64, Vec<usize>) {
    let genre: HashMap<u64, String> = ds
        .rows("tracks")
        .map(|t| (t["id"].as_u64().unwrap(), text(&t, "genres").to_lowercase()))
        .collect();
    let fav: HashMap<u64, String> = ds
        .rows("users")
        .map(|u| {
            (
                u["id"].as_u64().unwrap(),
                text(&u, "favorite_genres").to_lowercase(),
            )
        })
        .collect();
    let (mut hits, mut all) = (0, 0);
    let mut plays: HashMap<u64, usize> = HashMap::new();
    for h in ds.rows("listen_history") {
        let f = &fav[&h["user_id"].as_u64().unwrap()];
        for i in h["items"].as_array().unwrap() {
            let id = i.as_u64().unwrap();
            hits += usize::from(&genre[&id] == f);
            all += 1;
            *plays.entry(id).or_default() += 1;
        }
    }
    let mut counts: Vec<usize> = plays.into_values().collect();
    counts.sort_unstable_by(|a, b| b.cmp(a));
    (hits as f64 / all as f64, counts)
}

#[test]
fn listen_items_follow_favourite_genres_and_popularity() {
    let strong = Dataset::new(&SimulatorConfig {
        taste_strength: 0.9,
        ..config(2000, 1500)
    });
    let (share, _) = taste_share(&strong);
    assert!(
        share > 0.85,
        "taste 0.9: {share} of items in the favourite genre"
    );
    let none = Dataset::new(&SimulatorConfig {
        taste_strength: 0.0,
        ..config(2000, 1500)
    });
    let (share, counts) = taste_share(&none);
    assert!(
        share < 0.25,
        "taste 0: {share} of items in the favourite genre by chance"
    );
    // Zipf-like popularity: the top 10% of the catalogue takes far more than 10% of plays.
    let total: usize = counts.iter().sum();
    let top: usize = counts.iter().take(200).sum();
    assert!(
        top as f64 / total as f64 > 0.35,
        "top 10% of tracks: {top} of {total} plays"
    );
    // Long histories for benchmarks.
    let long = Dataset::new(&SimulatorConfig {
        listens_per_user: 50,
        ..config(500, 50)
    });
    for h in long.rows("listen_history") {
        let items = h["items"].as_array().unwrap();
        assert_eq!(items.len(), 50);
        assert_eq!(items.iter().collect::<HashSet<_>>().len(), 50);
    }
}
