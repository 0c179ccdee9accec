//! Each test is a before/after table: the history before, today's snapshot, the history after.

use super::*;
use chrono::NaiveDate;
use crate::curated::Hash256;
use sha2::{Digest, Sha256};

/// A business row: a key and one business column.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    id: i64,
    value: &'static str,
}

impl Versioned for Row {
    fn key(&self) -> i64 {
        self.id
    }
    fn row_hash(&self) -> Hash256 {
        Hash256(Sha256::digest(self.value.as_bytes()).into())
    }
}

fn day(d: u32) -> DateTime<Utc> {
    NaiveDate::from_ymd_opt(2026, 11, d).unwrap().and_hms_opt(0, 0, 0).unwrap().and_utc()
}

/// Day `d`'s run: as_of is the date at 00:00 UTC; the source was read at 06:00.
fn at(d: u32) -> MergeAt {
    MergeAt { as_of: day(d), ingested_at: day(d) + chrono::Duration::hours(6) }
}

fn snapshot(rows: &[(i64, &'static str)]) -> Vec<Row> {
    rows.iter().map(|&(id, value)| Row { id, value }).collect()
}

/// The history as a table: `id value valid_from valid_to is_current`, dates as MM-DD.
fn table(history: &[Version<Row>]) -> String {
    let date = |t: DateTime<Utc>| t.format("%m-%d").to_string();
    history
        .iter()
        .map(|v| {
            let to = v.valid_to.map_or("-".to_owned(), date);
            format!("{} {} {} {} {}", v.row.id, v.row.value, date(v.valid_from), to, v.is_current())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn expect(history: &[Version<Row>], rows: &str) {
    let want: Vec<&str> = rows.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    assert_eq!(table(history), want.join("\n"));
}

/// Runs days in order from an empty history, returning each day's history and counts.
fn run_days(days: &[(u32, &[(i64, &'static str)])]) -> Vec<(Vec<Version<Row>>, MergeStats)> {
    let mut history = Vec::new();
    let mut out = Vec::new();
    for &(d, rows) in days {
        let (next, stats) = merge(history, snapshot(rows), vec![], at(d)).unwrap();
        out.push((next.clone(), stats));
        history = next;
    }
    out
}

#[test]
fn insert_change_unchanged_and_delete_across_three_days() {
    let days = run_days(&[
        (1, &[(1, "a"), (2, "b"), (3, "c")]),
        (2, &[(1, "a"), (2, "B"), (4, "d")]), // 2 changes, 3 leaves, 4 arrives
        (3, &[(1, "a"), (2, "B"), (4, "d")]), // nothing happens
    ]);
    expect(
        &days[0].0,
        "1 a 11-01 - true
         2 b 11-01 - true
         3 c 11-01 - true",
    );
    expect(
        &days[1].0,
        "1 a 11-01 - true
         2 b 11-01 11-02 false
         2 B 11-02 - true
         3 c 11-01 11-02 false
         4 d 11-02 - true",
    );
    assert_eq!(days[2].0, days[1].0, "an unchanged snapshot leaves the history as it was");
    let s = &days[1].1;
    assert_eq!((s.inserted, s.changed, s.unchanged, s.deleted, s.reinserted), (1, 1, 1, 1, 0));
    assert_eq!((s.new_versions(), s.closed_versions(), s.versions, s.current), (2, 2, 5, 3));
    assert_eq!((days[2].1.new_versions(), days[2].1.closed_versions(), days[2].1.unchanged), (0, 0, 3));
}

#[test]
fn a_deleted_row_that_comes_back_opens_a_new_version() {
    let days = run_days(&[(1, &[(1, "a")]), (2, &[]), (3, &[(1, "a")])]);
    expect(&days[1].0, "1 a 11-01 11-02 false");
    expect(
        &days[2].0,
        "1 a 11-01 11-02 false
         1 a 11-03 - true",
    );
    assert_eq!((days[1].1.deleted, days[2].1.reinserted, days[2].1.inserted), (1, 1, 0));
}

#[test]
fn a_rejected_key_keeps_its_version_carried_forward_and_a_bad_day_leaves_no_trace_after_a_good_one()
 {
    let day1 = merge(
        vec![],
        snapshot(&[(1, "a"), (2, "b"), (3, "c")]),
        vec![],
        at(1),
    )
    .unwrap()
    .0;
    // Day 2: the rows of 2 and 3 were rejected (9 too, which has no history), 1's was
    // rejected and served again (a duplicate): only 2 and 3 are carried.
    let (bad, stats) = merge(
        day1.clone(),
        snapshot(&[(1, "a")]),
        vec![9, 3, 2, 1, 2],
        at(2),
    )
    .unwrap();
    expect(
        &bad,
        "1 a 11-01 - true
         2 b 11-01 - true
         3 c 11-01 - true",
    );
    assert_eq!(
        bad.iter().map(|v| v.carried_forward).collect::<Vec<_>>(),
        [false, true, true]
    );
    assert_eq!(
        (
            stats.carried,
            stats.deleted,
            stats.current,
            stats.closed_versions(),
            stats.new_versions()
        ),
        (2, 0, 3, 0, 0)
    );

    // Day 3 serves everything again (3 changed meanwhile): the history equals two good days.
    let day3 = snapshot(&[(1, "a"), (2, "b"), (3, "C")]);
    let after_bad = merge(bad, day3.clone(), vec![], at(3)).unwrap().0;
    let good = merge(
        day1,
        snapshot(&[(1, "a"), (2, "b"), (3, "c")]),
        vec![],
        at(2),
    )
    .unwrap()
    .0;
    let after_good = merge(good, day3, vec![], at(3)).unwrap().0;
    assert_eq!(after_bad, after_good);
    assert!(
        after_bad.iter().all(|v| !v.carried_forward),
        "a row read again is no longer carried"
    );
    expect(
        &after_bad,
        "1 a 11-01 - true
         2 b 11-01 - true
         3 c 11-01 11-03 false
         3 C 11-03 - true",
    );
}

#[test]
fn two_changes_in_a_row() {
    let days = run_days(&[(1, &[(7, "x")]), (2, &[(7, "y")]), (3, &[(7, "z")])]);
    expect(
        &days[2].0,
        "7 x 11-01 11-02 false
         7 y 11-02 11-03 false
         7 z 11-03 - true",
    );
    assert_eq!(days[2].1.changed, 1);
}

#[test]
fn unchanged_versions_keep_their_ingestion_time_and_new_ones_get_todays() {
    let days = run_days(&[(1, &[(1, "a"), (2, "b")]), (2, &[(1, "a"), (2, "c")])]);
    let h = &days[1].0;
    assert_eq!(h[0].ingested_at, at(1).ingested_at, "key 1 unchanged since day 1");
    assert_eq!(h[1].ingested_at, at(1).ingested_at, "the closed version keeps its own");
    assert_eq!(h[2].ingested_at, at(2).ingested_at, "the new version of key 2");
}

#[test]
fn the_merge_is_a_function_of_its_inputs() {
    let day1 = merge(vec![], snapshot(&[(1, "a"), (2, "b")]), vec![], at(1))
        .unwrap()
        .0;
    let once = merge(day1.clone(), snapshot(&[(2, "c"), (3, "d")]), vec![], at(2)).unwrap();
    let again = merge(day1, snapshot(&[(2, "c"), (3, "d")]), vec![], at(2)).unwrap();
    assert_eq!(once, again);
}

#[test]
fn streaming_in_pieces_gives_the_same_history() {
    let day1 = merge(
        vec![],
        snapshot(&[(1, "a"), (2, "b"), (5, "e")]),
        vec![],
        at(1),
    )
    .unwrap()
    .0;
    let day2 = merge(
        day1,
        snapshot(&[(1, "A"), (3, "c"), (5, "e")]),
        vec![],
        at(2),
    )
    .unwrap()
    .0;
    let today = snapshot(&[(0, "z"), (1, "A"), (2, "b"), (4, "d"), (6, "f")]);
    let (whole, whole_stats) = merge(day2.clone(), today.clone(), vec![], at(3)).unwrap();
    let mut merger = Merger::new(today, vec![], at(3)).unwrap();
    let mut pieces = Vec::new();
    for v in day2 {
        let mut out = Vec::new();
        merger.push(v, &mut out).unwrap();
        pieces.extend(out);
    }
    let stats = merger.finish(&mut pieces);
    assert_eq!((pieces, stats), (whole.clone(), whole_stats));
    let keys: Vec<(i64, DateTime<Utc>)> = whole.iter().map(|v| (v.row.id, v.valid_from)).collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "the output is in (key, valid_from) order");
}

#[test]
fn inputs_out_of_order_are_refused() {
    let err = merge(vec![], snapshot(&[(2, "b"), (1, "a")]), vec![], at(1)).unwrap_err();
    assert_eq!(
        err,
        MergeError::SnapshotOrder {
            previous: 2,
            key: 1
        }
    );
    assert!(matches!(
        merge(vec![], snapshot(&[(1, "a"), (1, "b")]), vec![], at(1)),
        Err(MergeError::SnapshotOrder { .. })
    ));

    let day1 = merge(vec![], snapshot(&[(1, "a"), (2, "b")]), vec![], at(1))
        .unwrap()
        .0;
    let mut reversed = day1.clone();
    reversed.reverse();
    assert!(matches!(
        merge(reversed, vec![], vec![], at(2)),
        Err(MergeError::HistoryOrder { .. })
    ));
    // The history of day 1 cannot be merged "as of" day 1 again, nor of an earlier day.
    assert!(matches!(
        merge(day1.clone(), vec![], vec![], at(1)),
        Err(MergeError::NotBeforeAsOf { .. })
    ));
    let mut two_current = day1;
    two_current[1].row.id = 1;
    two_current[1].valid_from = day(1) + chrono::Duration::hours(1);
    assert_eq!(
        merge(two_current, vec![], vec![], at(2)).unwrap_err(),
        MergeError::AfterCurrent { key: 1 }
    );
}
