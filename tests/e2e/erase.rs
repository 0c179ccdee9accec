//! Erasure end to end: three days fetched and transformed from the simulator (with rows served
//! twice, so transform's quarantine holds users, and malformed rows, so fetch's does), then one
//! user erased; every object of the store is read back (gzipped JSON lines decompressed,
//! Parquet decoded row by row) and none holds that user's personal data; a re-run of transform
//! on an erased date brings none of it back. On a local folder and on S3 (LocalStack).

use chrono::{Days, NaiveDate};
use flate2::read::GzDecoder;
use moovitamix::job::Invocation;
use moovitamix::simulator::{Evolution, Faults, RunningSimulator, SimulatorConfig};
use moovitamix::storage::{LocalStore, S3Store, Store};
use moovitamix::curated::{TableName, TrackRow, UserRow, Version};
use moovitamix::transform::read_curated;
use moovitamix_tests::{Jobs, jobs};
use parquet::file::reader::{FileReader, SerializedFileReader};
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::Read;
use std::sync::Arc;

/// The jobs' settings over the defaults: small raw parts, every day's change accepted.
const ENV: &[(&str, &str)] = &[("DQ_MAX_ROW_COUNT_CHANGE", "1"), ("DQ_MAX_QUARANTINE_SHARE", "0.2"), ("FETCH_PART_ROWS", "40"), ("PII_SALT", "erase-key")];

const DAYS: u64 = 3;

fn day(k: u64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 1).unwrap() + Days::new(k)
}

fn sim_config() -> SimulatorConfig {
    SimulatorConfig {
        tracks: 200,
        users: 150,
        start_date: day(0),
        date: day(0),
        evolution: Evolution { changed: 0.1, added: 0.05, removed: 0.02, listens_added: 0.3 },
        faults: Faults { duplicate_rows: 2, malformed_rate: 0.04, ..Faults::default() },
        ..SimulatorConfig::default()
    }
}

/// Every object of the store as text: JSON as it is, gzipped JSON lines decompressed, Parquet
/// decoded row by row (every column's value printed).
async fn every_object(store: &dyn Store) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for o in store.list("").await.unwrap() {
        let data = store.get(&o.key).await.unwrap().data;
        let text = if o.key.ends_with(".gz") {
            let mut text = String::new();
            GzDecoder::new(&data[..]).read_to_string(&mut text).unwrap();
            text
        } else if o.key.ends_with(".parquet") {
            let reader = SerializedFileReader::new(data).unwrap();
            reader.get_row_iter(None).unwrap().map(|row| row.unwrap().to_string()).collect::<Vec<_>>().join("\n")
        } else {
            String::from_utf8(data.to_vec()).unwrap()
        };
        out.push((o.key, text));
    }
    out
}

/// The user rows (raw) and quarantined user rows (fetch's and transform's) among the objects.
fn user_rows(objects: &[(String, String)]) -> Vec<(String, Value)> {
    let mut rows = Vec::new();
    for (key, text) in objects.iter().filter(|(k, _)| k.ends_with(".gz") && (k.starts_with("raw/users/") || k.contains("users/dt="))) {
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            rows.push((key.clone(), if v.get("row").is_some() { v["row"].clone() } else { v }));
        }
    }
    rows
}

async fn erase_one_user(store: Arc<dyn Store>) {
    let sim = RunningSimulator::start(sim_config()).await.unwrap();
    let Jobs { fetcher, transformer, .. } = jobs(&sim.url(), store.clone(), ENV);
    for k in 0..DAYS {
        sim.control().set_date(day(k));
        fetcher.run(day(k), &format!("fetch-{k}")).await.unwrap_or_else(|e| panic!("day {k}: {e}"));
        transformer.run(day(k), &format!("transform-{k}")).await.unwrap_or_else(|e| panic!("day {k}: {e}"));
    }
    sim.shutdown().await;

    let before = every_object(store.as_ref()).await;
    let rows = user_rows(&before);
    // Fetch's quarantine keeps no personal value of any user.
    let fetch_quarantine: Vec<&Value> = rows.iter().filter(|(k, _)| k.starts_with("quarantine/users/")).map(|(_, r)| r).collect();
    assert!(!fetch_quarantine.is_empty(), "malformed user rows were quarantined by fetch");
    for row in &fetch_quarantine {
        assert!(["email", "first_name", "last_name"].iter().all(|f| row.get(*f).is_none_or(Value::is_null)) || row.is_string(), "{row}");
    }
    // The user served twice (first in the listing): in raw, in curated, in transform's quarantine.
    let first: Value = rows.iter().find(|(k, _)| k.starts_with("raw/users/dt=2026-11-01/")).unwrap().1.clone();
    let user = first["id"].as_i64().unwrap();
    let in_transform_quarantine = rows.iter().filter(|(k, r)| k.starts_with("quarantine/curated_users/") && r["id"] == user).count();
    assert!(in_transform_quarantine >= 1, "the user's second copy is quarantined by transform");
    // Values only this user has (names are shared with other users and with artists: the rows
    // of the user are checked for them field by field below).
    let mut secrets: BTreeSet<String> = BTreeSet::new();
    for (_, row) in rows.iter().filter(|(_, r)| r["id"] == user) {
        for field in ["email", "email_hash"] {
            if let Some(text) = row[field].as_str() {
                secrets.insert(text.to_owned());
            }
        }
    }
    let curated: Vec<Version<UserRow>> = read_curated(store.clone(), day(DAYS - 1), TableName::Users).await.unwrap();
    let hashes: BTreeSet<String> = curated.iter().filter(|v| v.row.id == user).filter_map(|v| v.row.email_hash.map(|h| h.to_hex())).collect();
    assert!(!hashes.is_empty());
    secrets.extend(hashes);
    // The simulator's addresses are not unique: what another user shares stays (checked by id below).
    let others: BTreeSet<String> = rows.iter().filter(|(_, r)| r["id"] != user).filter_map(|(_, r)| r["email"].as_str().map(str::to_owned)).collect();
    let other_hashes: BTreeSet<String> = curated.iter().filter(|v| v.row.id != user).filter_map(|v| v.row.email_hash.map(|h| h.to_hex())).collect();
    secrets.retain(|s| !others.contains(s) && !other_hashes.contains(s));
    assert!(!secrets.is_empty(), "the user has an address or hash of their own");
    // Another user's e-mail: the search below finds what is there.
    let other = rows.iter().find(|(k, r)| k.starts_with("raw/users/") && r["id"] != user && r["email"].is_string()).unwrap().1["email"].as_str().unwrap().to_owned();
    assert!(secrets.iter().all(|s| before.iter().any(|(_, text)| text.contains(s.as_str()))) && before.iter().any(|(_, text)| text.contains(&other)));
    let tracks_before: Vec<Version<TrackRow>> = read_curated(store.clone(), day(DAYS - 1), TableName::Tracks).await.unwrap();

    // The lifecycle rule has expired the first date's raw users partition: nothing to erase there.
    for o in store.list("raw/users/dt=2026-11-01/").await.unwrap() {
        store.delete(&o.key).await.unwrap();
    }

    let summary = transformer.eraser().erase(&[user], Invocation::with_id("erase-1")).await.unwrap();
    assert!(!summary.rewritten.iter().any(|d| d.zone == "raw" && d.date == day(0)), "{summary:?}");
    let zones: Vec<&str> = summary.rewritten.iter().map(|d| d.zone.as_str()).collect();
    assert_eq!(zones[..DAYS as usize], ["curated"; DAYS as usize], "every curated date (the history keeps the user), first: {summary:?}");
    assert!(zones[DAYS as usize..].iter().all(|z| *z == "raw"), "then the raw dates that served the user: {summary:?}");

    let after = every_object(store.as_ref()).await;
    for (key, text) in &after {
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "{key} still holds {secret:?}");
        }
    }
    for (key, row) in user_rows(&after).iter().filter(|(_, r)| r["id"] == user) {
        for field in ["email", "first_name", "last_name", "email_hash", "email_key_id"] {
            assert!(row.get(field).is_none_or(Value::is_null), "{key}: {field} of user {user} remains: {row}");
        }
        assert!(row["gender"].is_string() || key.starts_with("quarantine/"), "other fields stay: {row}");
    }
    assert!(after.iter().any(|(_, text)| text.contains(&other)), "other users keep their data");
    assert_eq!(read_curated::<Version<TrackRow>>(store.clone(), day(DAYS - 1), TableName::Tracks).await.unwrap(), tracks_before, "other tables are copied as they were");
    let erased: Vec<Version<UserRow>> = read_curated(store.clone(), day(DAYS - 1), TableName::Users).await.unwrap();
    assert_eq!(erased.len(), curated.len(), "no version removed");
    for v in erased.iter().filter(|v| v.row.id == user) {
        assert_eq!((v.row.email_hash, v.row.email_key_id.clone()), (None, None));
        assert_eq!(v.row.row_hash, v.row.compute_hash(), "the row hash follows the erased columns");
    }

    // A re-run of transform on an erased date (what the rewritten raw commit triggers) builds
    // on erased history from erased raw: the same rows, nothing personal back.
    transformer.run(day(DAYS - 1), "transform-again").await.unwrap();
    assert_eq!(read_curated::<Version<UserRow>>(store.clone(), day(DAYS - 1), TableName::Users).await.unwrap(), erased);
    for (key, text) in every_object(store.as_ref()).await {
        assert!(secrets.iter().all(|s| !text.contains(s.as_str())), "{key} after the re-run");
    }
    // Erasing again finds nothing left to do.
    let again = transformer.eraser().erase(&[user], Invocation::with_id("erase-2")).await.unwrap();
    assert!(again.rewritten.is_empty(), "{again:?}");
}

#[tokio::test]
async fn an_erased_user_is_gone_from_every_object_of_a_local_folder() {
    let dir = tempfile::tempdir().unwrap();
    erase_one_user(Arc::new(LocalStore::new(dir.path().to_path_buf()))).await;
}

#[tokio::test]
#[cfg_attr(not(loopback_aws), ignore = "needs the loopback AWS server: AWS_ENDPOINT_URL (bash tests/run.sh starts LocalStack)")]
async fn an_erased_user_is_gone_from_every_object_on_s3() {
    let Some(aws) = moovitamix_tests::aws::loopback_aws() else { return };
    let bucket = aws.fresh_bucket("erase").await;
    erase_one_user(Arc::new(S3Store::new(aws.s3(), bucket, "pipeline".into()))).await;
}
