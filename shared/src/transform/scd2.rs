//! SCD type 2 history: the pure merge of (previous history, today's snapshot, as_of) into today's history.
//!
//! Each version of a row carries `valid_from`, `valid_to` (null while current), `is_current`
//! (`valid_to` is null) and `ingested_at`. For every key:
//!
//! | previous current version | in today's snapshot | result |
//! | --- | --- | --- |
//! | none (new key) | yes | a version opens at `as_of` (insert) |
//! | hash H | yes, hash H | unchanged, kept as it was |
//! | hash H | yes, hash H' | the old version closes at `as_of`, a new one opens at `as_of` (change) |
//! | hash H | no, and not rejected today | the version closes at `as_of` (delete) |
//! | hash H | no, but its row was rejected today | kept open, `carried_forward` (unknown is not absent) |
//! | none, only closed versions | yes | a new version opens at `as_of` (re-insert) |
//!
//! `carried_forward` describes the date's snapshot: true only on a current version kept because
//! the key's row could not be read today; a later merge that reads the row again clears it (the
//! version goes on, or closes if the row changed meanwhile).
//!
//! Closed versions are never touched again. The merge reads no clock: `as_of` and `ingested_at`
//! are inputs, so a re-run of a date gives the same history.
//!
//! It streams: the previous history arrives in `(key, valid_from)` order (as the tables are
//! written) one version at a time through [`Merger::push`], today's snapshot is a key-sorted
//! vector, and versions leave in the same order as they are decided, so memory holds the
//! snapshot and one key's versions, not the history.

use super::curated::Hash256;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A business row with a key and a hash of its business columns.
pub trait Versioned {
    fn key(&self) -> i64;
    fn row_hash(&self) -> Hash256;
}

/// One version of a row in a history table.
#[derive(Debug, Clone, PartialEq)]
pub struct Version<R> {
    pub row: R,
    pub valid_from: DateTime<Utc>,
    /// Null while the version is current.
    pub valid_to: Option<DateTime<Utc>>,
    /// When the source served this version (the raw run that first held it).
    pub ingested_at: DateTime<Utc>,
    /// Current only because today's row for the key was rejected: the state is yesterday's.
    pub carried_forward: bool,
}

impl<R> Version<R> {
    pub fn is_current(&self) -> bool {
        self.valid_to.is_none()
    }
}

/// The merge's notion of "now", both chosen by the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergeAt {
    /// The logical date's run time: new versions open and closed ones end here.
    pub as_of: DateTime<Utc>,
    /// Stamped on the versions this merge opens.
    pub ingested_at: DateTime<Utc>,
}

/// What one merge decided, per key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MergeStats {
    /// Keys seen for the first time.
    pub inserted: u64,
    /// Keys whose row hash changed.
    pub changed: u64,
    pub unchanged: u64,
    /// Keys whose current version closed because they left the snapshot.
    pub deleted: u64,
    /// Keys absent from the snapshot because their row was rejected today, whose current
    /// version was kept (`carried_forward`).
    pub carried: u64,
    /// Keys that came back after a deletion.
    pub reinserted: u64,
    /// Versions in the resulting history.
    pub versions: u64,
    /// Current versions in the resulting history (the snapshot's rows).
    pub current: u64,
}

impl MergeStats {
    pub fn new_versions(&self) -> u64 {
        self.inserted + self.changed + self.reinserted
    }

    pub fn closed_versions(&self) -> u64 {
        self.changed + self.deleted
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error("the snapshot is not sorted by unique key: key {key} follows key {previous}")]
    SnapshotOrder { previous: i64, key: i64 },
    #[error("the previous history is not in (key, valid_from) order: key {key} valid from {valid_from} follows key {previous_key} valid from {previous_from}")]
    HistoryOrder { key: i64, valid_from: DateTime<Utc>, previous_key: i64, previous_from: DateTime<Utc> },
    #[error("the previous history has a version of key {key} after its current one")]
    AfterCurrent { key: i64 },
    #[error("the previous history has a version of key {key} valid from {valid_from}, not before as_of {as_of}: it is not the history of an earlier date")]
    NotBeforeAsOf { key: i64, valid_from: DateTime<Utc>, as_of: DateTime<Utc> },
}

/// The streaming merge. Push the previous history in order, then `finish`; every call appends
/// the versions it decided to `out`, in `(key, valid_from)` order.
#[derive(Debug)]
pub struct Merger<R> {
    at: MergeAt,
    snapshot: std::iter::Peekable<std::vec::IntoIter<R>>,
    /// Keys whose row was rejected today, sorted: their current version is carried, not closed.
    rejected: Vec<i64>,
    /// The versions of the key being read.
    group: Vec<Version<R>>,
    last: Option<(i64, DateTime<Utc>)>,
    stats: MergeStats,
}

impl<R: Versioned> Merger<R> {
    /// `snapshot` must be sorted by key, each key once; `rejected` are the keys whose row was
    /// rejected today (any order, repeats allowed; a key also in the snapshot is not carried).
    pub fn new(snapshot: Vec<R>, mut rejected: Vec<i64>, at: MergeAt) -> Result<Self, MergeError> {
        if let Some(w) = snapshot.windows(2).find(|w| w[0].key() >= w[1].key()) {
            return Err(MergeError::SnapshotOrder { previous: w[0].key(), key: w[1].key() });
        }
        rejected.sort_unstable();
        rejected.dedup();
        Ok(Self {
            at,
            snapshot: snapshot.into_iter().peekable(),
            rejected,
            group: Vec::new(),
            last: None,
            stats: MergeStats::default(),
        })
    }

    /// Takes the next version of the previous history.
    pub fn push(&mut self, version: Version<R>, out: &mut Vec<Version<R>>) -> Result<(), MergeError> {
        let (key, from) = (version.row.key(), version.valid_from);
        if from >= self.at.as_of {
            return Err(MergeError::NotBeforeAsOf { key, valid_from: from, as_of: self.at.as_of });
        }
        match self.last {
            Some((k, f)) if (key, from) <= (k, f) => {
                return Err(MergeError::HistoryOrder { key, valid_from: from, previous_key: k, previous_from: f });
            }
            Some((k, _)) if k == key && self.group.last().is_some_and(Version::is_current) => {
                return Err(MergeError::AfterCurrent { key });
            }
            Some((k, _)) if k != key => self.close_group(out),
            _ => {}
        }
        if self.group.is_empty() {
            // Keys of the snapshot before this one have no history: inserts.
            while let Some(row) = self.snapshot.next_if(|r| r.key() < key) {
                self.open(row, out);
                self.stats.inserted += 1;
            }
        }
        self.last = Some((key, from));
        self.group.push(version);
        Ok(())
    }

    /// Decides the last key, inserts what is left of the snapshot, and returns the counts.
    pub fn finish(mut self, out: &mut Vec<Version<R>>) -> MergeStats {
        self.close_group(out);
        while let Some(row) = self.snapshot.next() {
            self.open(row, out);
            self.stats.inserted += 1;
        }
        self.stats
    }

    /// Decides one key from its previous versions and its snapshot row, if any.
    fn close_group(&mut self, out: &mut Vec<Version<R>>) {
        let Some(key) = self.group.first().map(|v| v.row.key()) else { return };
        let today = self.snapshot.next_if(|r| r.key() == key);
        let mut group = std::mem::take(&mut self.group);
        let current = if group.last().is_some_and(Version::is_current) { group.pop() } else { None };
        self.stats.versions += group.len() as u64;
        out.append(&mut group);
        self.group = group; // keeps the allocation
        match (current, today) {
            (Some(mut current), Some(row)) if current.row.row_hash() == row.row_hash() => {
                self.stats.unchanged += 1;
                self.stats.versions += 1;
                self.stats.current += 1;
                current.carried_forward = false;
                out.push(current);
            }
            (Some(mut current), None) if self.rejected.binary_search(&key).is_ok() => {
                self.stats.carried += 1;
                self.stats.versions += 1;
                self.stats.current += 1;
                current.carried_forward = true;
                out.push(current);
            }
            (Some(current), Some(row)) => {
                self.stats.changed += 1;
                self.close(current, out);
                self.open(row, out);
            }
            (Some(current), None) => {
                self.stats.deleted += 1;
                self.close(current, out);
            }
            (None, Some(row)) => {
                self.stats.reinserted += 1;
                self.open(row, out);
            }
            (None, None) => {}
        }
    }

    fn close(&mut self, mut version: Version<R>, out: &mut Vec<Version<R>>) {
        version.valid_to = Some(self.at.as_of);
        version.carried_forward = false;
        self.stats.versions += 1;
        out.push(version);
    }

    fn open(&mut self, row: R, out: &mut Vec<Version<R>>) {
        self.stats.versions += 1;
        self.stats.current += 1;
        out.push(Version {
            row,
            valid_from: self.at.as_of,
            valid_to: None,
            ingested_at: self.at.ingested_at,
            carried_forward: false,
        });
    }
}

/// The whole merge at once, for callers that hold the previous history in memory (and tests).
pub fn merge<R: Versioned>(
    previous: Vec<Version<R>>,
    snapshot: Vec<R>,
    rejected: Vec<i64>,
    at: MergeAt,
) -> Result<(Vec<Version<R>>, MergeStats), MergeError> {
    let mut merger = Merger::new(snapshot, rejected, at)?;
    let mut out = Vec::with_capacity(previous.len() + 16);
    for version in previous {
        merger.push(version, &mut out)?;
    }
    let stats = merger.finish(&mut out);
    Ok((out, stats))
}

#[cfg(test)]
mod tests {
    //! Each test is a before/after table: the history before, today's snapshot, the history after.
    use super::*;
    use chrono::NaiveDate;
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
}
