//! Tests of the simulator: the contract over HTTP, the data model, evolution and faults.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use chrono::{NaiveDate, NaiveDateTime};
use serde_json::Value;

use super::faults::{TotalChange, Transient, draw_request, total_change};
use super::*;

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 1, d).unwrap()
}

fn config(tracks: usize, users: usize) -> SimulatorConfig {
    SimulatorConfig {
        tracks,
        users,
        ..SimulatorConfig::default()
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

struct Got {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Got {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().unwrap())
    }
}

async fn get(client: &reqwest::Client, url: &str) -> Got {
    let r = client.get(url).send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let body = r.bytes().await.unwrap().to_vec();
    Got {
        status,
        headers,
        body,
    }
}

async fn page(
    client: &reqwest::Client,
    sim: &RunningSimulator,
    ep: &str,
    page: u64,
    size: u64,
) -> Got {
    get(
        client,
        &format!("{}/{ep}?page={page}&size={size}", sim.url()),
    )
    .await
}

/// Every page of an endpoint (checking the paging fields on the way), concatenated.
async fn fetch_all(
    client: &reqwest::Client,
    sim: &RunningSimulator,
    ep: &str,
    size: u64,
) -> Vec<Value> {
    let mut rows = Vec::new();
    let mut p = 1;
    loop {
        let got = page(client, sim, ep, p, size).await;
        assert_eq!(got.status, 200, "{ep} page {p}");
        let v = got.json();
        let total = v["total"].as_u64().unwrap();
        assert_eq!(v["page"], p);
        assert_eq!(v["size"], size);
        assert_eq!(v["pages"], total.div_ceil(size));
        let items = v["items"].as_array().unwrap();
        rows.extend(items.iter().cloned());
        if p >= v["pages"].as_u64().unwrap() {
            assert_eq!(rows.len() as u64, total);
            return rows;
        }
        assert_eq!(items.len() as u64, size, "a page before the last is full");
        p += 1;
    }
}

fn by_key(rows: Vec<Value>, key: &str) -> BTreeMap<u64, Value> {
    let n = rows.len();
    let map: BTreeMap<u64, Value> = rows
        .into_iter()
        .map(|r| (r[key].as_u64().unwrap(), r))
        .collect();
    assert_eq!(map.len(), n, "{key} unique");
    map
}

fn text<'a>(row: &'a Value, field: &str) -> &'a str {
    row[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field} is a string in {row}"))
}

/// Parses the source's datetime format, checking its two printed forms.
fn instant(s: &str) -> NaiveDateTime {
    match s.len() {
        19 => NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S").unwrap(),
        26 => {
            let t = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.6f").unwrap();
            assert_ne!(
                &s[20..],
                "000000",
                "a whole second prints without fraction: {s}"
            );
            t
        }
        _ => panic!("unexpected datetime form {s:?}"),
    }
}

// ---------------------------------------------------------------- contract over HTTP

#[tokio::test]
async fn same_seed_and_date_give_identical_bytes_and_another_seed_differs() {
    let c = client();
    let cfg = SimulatorConfig {
        seed: 7,
        ..config(250, 250)
    };
    let a = RunningSimulator::start(cfg.clone()).await.unwrap();
    let b = RunningSimulator::start(cfg.clone()).await.unwrap();
    let other = RunningSimulator::start(SimulatorConfig { seed: 8, ..cfg })
        .await
        .unwrap();
    for ep in ["tracks", "users", "listen_history"] {
        for p in 1..=3 {
            let (x, y) = (
                page(&c, &a, ep, p, 100).await,
                page(&c, &b, ep, p, 100).await,
            );
            assert_eq!(x.status, 200);
            assert_eq!(x.body, y.body, "{ep} page {p}");
        }
        let z = page(&c, &other, ep, 1, 100).await;
        assert_ne!(
            page(&c, &a, ep, 1, 100).await.body,
            z.body,
            "{ep}: another seed"
        );
    }
    a.shutdown().await;
    b.shutdown().await;
    other.shutdown().await;
}

#[tokio::test]
async fn pages_cover_the_data_set_exactly() {
    let c = client();
    let sim = RunningSimulator::start(config(237, 150)).await.unwrap();
    let ds = sim.control().dataset();
    for (ep, sizes) in [
        ("tracks", &[1u64, 7, 100][..]),
        ("users", &[13, 100]),
        ("listen_history", &[100]),
    ] {
        let expected: Vec<Value> = ds.rows(ep).collect();
        assert_eq!(expected.len(), ds.len(ep));
        for &size in sizes {
            assert_eq!(
                fetch_all(&c, &sim, ep, size).await,
                expected,
                "{ep} size {size}"
            );
        }
        // Past the last page: 200, no items, the same counts.
        let past = page(&c, &sim, ep, 1000, 100).await.json();
        assert_eq!(past["items"], serde_json::json!([]));
        assert_eq!(past["total"], expected.len());
        assert_eq!(past["pages"], expected.len().div_ceil(100));
    }
    // Defaults: page 1, size 100.
    let v = get(&c, &format!("{}/tracks", sim.url())).await.json();
    assert_eq!(
        (v["page"].as_u64(), v["size"].as_u64(), v["total"].as_u64()),
        (Some(1), Some(100), Some(237))
    );
    assert_eq!(v["items"].as_array().unwrap().len(), 100);
    assert_eq!(v["pages"], 3);
    // Last page is partial; key order is the source's.
    let last = page(&c, &sim, "tracks", 3, 100).await;
    assert_eq!(last.json()["items"].as_array().unwrap().len(), 37);
    assert!(last.body.starts_with(b"{\"items\":[{\"id\":"));
    assert!(
        last.body
            .ends_with(b"],\"total\":237,\"page\":3,\"size\":100,\"pages\":3}")
    );
    assert_eq!(last.header("content-type"), Some("application/json"));
    sim.shutdown().await;

    // An empty entity: total 0, pages 0.
    let empty = RunningSimulator::start(config(0, 0)).await.unwrap();
    for ep in ["tracks", "users", "listen_history"] {
        let v = page(&c, &empty, ep, 1, 100).await.json();
        assert_eq!(
            v,
            serde_json::json!({"items": [], "total": 0, "page": 1, "size": 100, "pages": 0})
        );
    }
    empty.shutdown().await;
}

#[tokio::test]
async fn invalid_paging_is_a_fastapi_422() {
    let c = client();
    let sim = RunningSimulator::start(config(10, 10)).await.unwrap();
    let cases = [
        ("size=101", "size", "less_than_equal", "101"),
        ("size=0", "size", "greater_than_equal", "0"),
        ("page=0", "page", "greater_than_equal", "0"),
        ("page=-3", "page", "greater_than_equal", "-3"),
        ("page=abc", "page", "int_parsing", "abc"),
        ("page=1.5", "page", "int_parsing", "1.5"),
        ("size=", "size", "int_parsing", ""),
    ];
    for (query, field, kind, input) in cases {
        let got = get(&c, &format!("{}/users?{query}", sim.url())).await;
        assert_eq!(got.status, 422, "{query}");
        assert_eq!(got.header("content-type"), Some("application/json"));
        let detail = &got.json()["detail"];
        assert_eq!(detail.as_array().unwrap().len(), 1, "{query}");
        assert_eq!(detail[0]["type"], kind, "{query}");
        assert_eq!(detail[0]["loc"], serde_json::json!(["query", field]));
        assert_eq!(detail[0]["input"], input);
        assert!(
            detail[0]["msg"]
                .as_str()
                .unwrap()
                .starts_with("Input should be")
        );
    }
    let both = get(&c, &format!("{}/tracks?page=0&size=500", sim.url())).await;
    assert_eq!(both.status, 422);
    let detail = both.json()["detail"].clone();
    assert_eq!(detail[0]["loc"][1], "page");
    assert_eq!(detail[1]["loc"][1], "size");
    assert_eq!(detail[1]["ctx"]["le"], 100);
    // Valid edge values, and the last of repeated parameters.
    assert_eq!(
        get(&c, &format!("{}/tracks?size=100&page=1", sim.url()))
            .await
            .status,
        200
    );
    assert_eq!(
        get(&c, &format!("{}/tracks?size=1", sim.url()))
            .await
            .status,
        200
    );
    assert_eq!(
        get(&c, &format!("{}/tracks?size=500&size=2", sim.url()))
            .await
            .json()["size"],
        2
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn root_redirects_to_docs_and_the_schema_is_served() {
    let c = client();
    let sim = RunningSimulator::start(config(5, 5)).await.unwrap();
    let root = get(&c, &format!("{}/", sim.url())).await;
    assert_eq!(root.status, 307);
    assert_eq!(root.header("location"), Some("/docs"));
    let docs = get(&c, &format!("{}/docs", sim.url())).await;
    assert_eq!(docs.status, 200);
    assert!(
        docs.header("content-type")
            .unwrap()
            .starts_with("text/html")
    );
    let api = get(&c, &format!("{}/openapi.json", sim.url())).await.json();
    for path in ["/tracks", "/users", "/listen_history"] {
        let params = &api["paths"][path]["get"]["parameters"];
        assert_eq!(params[1]["schema"]["maximum"], 100, "{path}");
    }
    assert_eq!(
        api["components"]["schemas"]["Track"]["required"]
            .as_array()
            .unwrap()
            .len(),
        9
    );
    let missing = get(&c, &format!("{}/albums", sim.url())).await;
    assert_eq!(
        (missing.status, missing.json()),
        (404, serde_json::json!({"detail": "Not Found"}))
    );
    let post = c
        .post(format!("{}/tracks", sim.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 405);
    let stats = sim.control().stats();
    assert_eq!(stats.requests, 5);
    assert_eq!(stats.by_endpoint["other"], 4);
    assert_eq!(
        stats.by_endpoint["tracks"], 0,
        "a refused method is not a page request"
    );
    sim.shutdown().await;
}

// ---------------------------------------------------------------- the data

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
    for e in Endpoint::ALL {
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
        let key = if e == Endpoint::ListenHistory {
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

// ---------------------------------------------------------------- evolution

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

// ---------------------------------------------------------------- faults

/// Statuses of `n` sequential `size=1` requests to `/tracks`.
async fn statuses(c: &reqwest::Client, sim: &RunningSimulator, n: usize) -> Vec<Got> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        out.push(page(c, sim, "tracks", 1 + (i as u64 % 20), 1).await);
    }
    out
}

fn with_faults(faults: Faults) -> SimulatorConfig {
    SimulatorConfig {
        faults,
        ..config(50, 20)
    }
}

#[tokio::test]
async fn transient_faults_fire_at_their_rates_and_repeat() {
    let c = client();
    let n = 300;
    let within = |count: usize| (36..=84).contains(&count); // 20% of 300 is 60
    let clean = RunningSimulator::start(config(50, 20)).await.unwrap();
    let clean_pages = statuses(&c, &clean, 20).await;

    let cases: [(&str, Faults); 4] = [
        (
            "error",
            Faults {
                error_rate: 0.2,
                ..Faults::default()
            },
        ),
        (
            "rate_limit",
            Faults {
                rate_limit_rate: 0.2,
                retry_after_secs: 7,
                ..Faults::default()
            },
        ),
        (
            "html",
            Faults {
                html_rate: 0.2,
                ..Faults::default()
            },
        ),
        (
            "truncate",
            Faults {
                truncate_rate: 0.2,
                ..Faults::default()
            },
        ),
    ];
    for (kind, faults) in cases {
        let sim = RunningSimulator::start(with_faults(faults.clone()))
            .await
            .unwrap();
        let got = statuses(&c, &sim, n).await;
        let faulted: Vec<(usize, &Got)> = got
            .iter()
            .enumerate()
            .filter(|(i, g)| g.body != clean_pages[i % 20].body)
            .collect();
        assert!(
            within(faulted.len()),
            "{kind}: {} of {n} faulted",
            faulted.len()
        );
        assert_eq!(
            sim.control().stats().faults[kind],
            faulted.len() as u64,
            "{kind}"
        );
        let mut seen_status = HashSet::new();
        for (i, g) in &faulted {
            seen_status.insert(g.status);
            match kind {
                "error" => assert!([500, 502, 503].contains(&g.status)),
                "rate_limit" => {
                    assert_eq!(g.status, 429);
                    assert_eq!(g.header("retry-after"), Some("7"));
                }
                "html" => {
                    assert!([200, 502].contains(&g.status));
                    assert!(g.header("content-type").unwrap().starts_with("text/html"));
                }
                _ => {
                    assert_eq!(g.status, 200);
                    assert_eq!(
                        g.header("content-length"),
                        Some(g.body.len().to_string().as_str())
                    );
                    assert!(
                        serde_json::from_slice::<Value>(&g.body).is_err(),
                        "a cut body is not JSON"
                    );
                    assert!(
                        clean_pages[i % 20].body.starts_with(&g.body),
                        "cut from the real page"
                    );
                }
            }
        }
        let expected_statuses = match kind {
            "error" => 3,
            "html" => 2,
            _ => 1,
        };
        assert_eq!(
            seen_status.len(),
            expected_statuses,
            "{kind}: {seen_status:?}"
        );
        // The unfaulted requests are exactly the clean pages.
        for (i, g) in got.iter().enumerate() {
            assert!(g.body == clean_pages[i % 20].body || faulted.iter().any(|(j, _)| *j == i));
        }
        // Same faults again after a reset of the fault clock, and the draws are the server's.
        sim.control().set_faults(faults.clone());
        let again = statuses(&c, &sim, n).await;
        let pattern = |v: &[Got]| {
            v.iter()
                .map(|g| (g.status, g.body.len()))
                .collect::<Vec<_>>()
        };
        assert_eq!(pattern(&got), pattern(&again), "{kind}: deterministic");
        for (i, g) in got.iter().enumerate() {
            let drawn = draw_request(&faults, 42, 0, Endpoint::Tracks, i as u64).transient;
            assert_eq!(
                drawn != Transient::None,
                g.body != clean_pages[i % 20].body,
                "{kind} request {i}"
            );
        }
        sim.shutdown().await;
    }
    clean.shutdown().await;
}

#[tokio::test]
async fn timeouts_hang_past_the_client_timeout_and_latency_delays() {
    let faults = Faults {
        timeout_rate: 0.5,
        timeout: Duration::from_secs(5),
        ..Faults::default()
    };
    let sim = RunningSimulator::start(with_faults(faults.clone()))
        .await
        .unwrap();
    let c = reqwest::Client::builder()
        .timeout(Duration::from_millis(150))
        .build()
        .unwrap();
    let mut timed_out = Vec::new();
    for i in 0..12u64 {
        let r = c.get(format!("{}/tracks?size=1", sim.url())).send().await;
        timed_out.push(r.is_err_and(|e| e.is_timeout()));
        let drawn =
            draw_request(&faults, 42, 0, Endpoint::Tracks, i).transient == Transient::Timeout;
        assert_eq!(timed_out[i as usize], drawn, "request {i}");
    }
    let n = timed_out.iter().filter(|&&t| t).count();
    assert!((2..=10).contains(&n), "{n} of 12 timed out");
    assert_eq!(sim.control().stats().faults["timeout"], n as u64);
    // Shutdown does not wait for hanging requests.
    let started = Instant::now();
    sim.shutdown().await;
    assert!(started.elapsed() < Duration::from_secs(3));

    let slow = Faults {
        latency: Duration::from_millis(40),
        latency_jitter: Duration::from_millis(20),
        ..Faults::default()
    };
    let sim = RunningSimulator::start(with_faults(slow)).await.unwrap();
    let c = client();
    let started = Instant::now();
    for _ in 0..5 {
        assert_eq!(page(&c, &sim, "users", 1, 10).await.status, 200);
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_millis(2000),
        "{took:?}"
    );
    assert_eq!(sim.control().stats().faults["latency"], 5);
    sim.shutdown().await;
}

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
        .find(|&s| matches!(total_change(s, Endpoint::Tracks), TotalChange::Grow(_)))
        .unwrap();
    let shrink_seed = (0..)
        .find(|&s| matches!(total_change(s, Endpoint::Tracks), TotalChange::Shrink(_)))
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
        match total_change(seed, Endpoint::Tracks) {
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
