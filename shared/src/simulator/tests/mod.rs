//! Tests of the simulator, one family per file: the contract over HTTP (`contract.rs`), the
//! data model (`dataset.rs`), evolution (`evolution.rs`), the faults of a request
//! (`request_faults.rs`) and of a listing (`listing_faults.rs`). The helpers shared by the
//! families are here.

mod contract;
mod dataset;
mod evolution;
mod listing_faults;
mod request_faults;

use std::collections::BTreeMap;

use chrono::{NaiveDate, NaiveDateTime};
use serde_json::Value;

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

/// A small data set (50 tracks, 20 users) served with `faults`.
fn with_faults(faults: Faults) -> SimulatorConfig {
    SimulatorConfig {
        faults,
        ..config(50, 20)
    }
}
