//! Buckets of users: the unit of fan-out of the listen tables.
//!
//! Fetch writes the listen-history raw partition (and its quarantine) in `LISTEN_BUCKETS` buckets
//! by a stable hash of `user_id`; transform's listen tables follow the raw date's buckets. Bucket
//! k of a date needs only bucket k of the day's raw rows and of the previous date's curated
//! listen events, so buckets are processed apart with no shuffle. One bucket (the default) is the
//! layout without buckets, byte for byte.
//!
//! A bucket's objects live in a sub-folder of the run's folder,
//! `<partition>/run=<id>/bucket-KKKKK-of-BBBBB/part-NNNNN.<ext>`: each object says which bucket
//! of how many it belongs to, and the folder name has no `=`, so Hive-style readers (DuckDB's
//! `hive_partitioning`) add no column for it.

use std::fmt;

/// The most buckets a date may have: the folder name holds five digits.
pub const MAX_BUCKETS: u32 = 4096;

/// Bucket `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Bucket {
    pub index: u32,
    pub count: u32,
}

impl Bucket {
    /// The one bucket of an unbucketed layout.
    pub const WHOLE: Bucket = Bucket { index: 0, count: 1 };

    pub fn new(index: u32, count: u32) -> Self {
        assert!(count >= 1 && index < count, "bucket {index} of {count}");
        Self { index, count }
    }

    /// The bucket of a user among `count`.
    pub fn of_user(user_id: i64, count: u32) -> Self {
        Self::new(index_of(user_id, count), count)
    }

    /// Every bucket of `count`, in order.
    pub fn all(count: u32) -> impl Iterator<Item = Bucket> {
        (0..count).map(move |i| Bucket::new(i, count))
    }

    pub fn contains(self, user_id: i64) -> bool {
        index_of(user_id, self.count) == self.index
    }

    /// The sub-folder of the run's folder holding this bucket's objects, ending with `/`; empty
    /// for the whole (unbucketed) layout.
    pub fn folder(self) -> String {
        match self.count {
            1 => String::new(),
            _ => format!("bucket-{:05}-of-{:05}/", self.index, self.count),
        }
    }

    /// The bucket an object's key names ([`Bucket::folder`]); [`Bucket::WHOLE`] when it names none.
    pub fn of_key(key: &str) -> Bucket {
        key.split('/').find_map(parse_folder).unwrap_or(Bucket::WHOLE)
    }
}

impl fmt::Display for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "bucket {} of {}", self.index, self.count)
    }
}

fn parse_folder(segment: &str) -> Option<Bucket> {
    let (index, count) = segment.strip_prefix("bucket-")?.split_once("-of-")?;
    let (index, count): (u32, u32) = (index.parse().ok()?, count.parse().ok()?);
    (count >= 1 && index < count).then_some(Bucket { index, count })
}

/// The stable hash of a user id: the SplitMix64 finaliser, fixed here so that a bucket never
/// depends on the platform, the build or a library's version.
pub fn user_hash(user_id: i64) -> u64 {
    let mut z = (user_id as u64).wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn index_of(user_id: i64, count: u32) -> u32 {
    (user_hash(user_id) % u64::from(count.max(1))) as u32
}

/// How many buckets the objects of a partition are in (their largest `count`; 1 for none), or an
/// error when they mix layouts.
pub fn count_of<'a>(keys: impl IntoIterator<Item = &'a str>) -> Result<u32, String> {
    let counts: std::collections::BTreeSet<u32> = keys.into_iter().map(|k| Bucket::of_key(k).count).collect();
    match counts.len() {
        0 => Ok(1),
        1 => Ok(*counts.first().expect("one count")),
        _ => Err(format!("objects in several bucket layouts ({counts:?} buckets)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_users_bucket_is_fixed_and_spreads_users_evenly() {
        // Pinned values: a change of the hash would move every user to another bucket.
        assert_eq!(user_hash(0), 0xE220_A839_7B1D_CDAF);
        assert_eq!([1, 2, 3, 4, 5].map(|u| Bucket::of_user(u, 16).index), PINNED);
        let mut counts = [0u32; 16];
        for u in 1..=160_000 {
            counts[Bucket::of_user(u, 16).index as usize] += 1;
        }
        assert!(counts.iter().all(|&c| (9_500..10_500).contains(&c)), "{counts:?}");
        assert!((1..1000).all(|u| Bucket::of_user(u, 1) == Bucket::WHOLE));
    }

    const PINNED: [u32; 5] = [1, 14, 13, 10, 10];

    #[test]
    fn a_buckets_folder_parses_back_and_the_whole_layout_has_none() {
        assert_eq!(Bucket::WHOLE.folder(), "");
        let b = Bucket::new(3, 16);
        assert_eq!(b.folder(), "bucket-00003-of-00016/");
        let key = format!("curated/listen_events/dt=2026-11-01/run=r1/{}part-00000.parquet", b.folder());
        assert_eq!(Bucket::of_key(&key), b);
        assert_eq!(Bucket::of_key("curated/listen_events/dt=2026-11-01/run=r1/part-00000.parquet"), Bucket::WHOLE);
        assert_eq!(Bucket::of_key("x/bucket-00016-of-00016/part"), Bucket::WHOLE, "an index out of range is not a bucket");
        assert_eq!(count_of([key.as_str()]), Ok(16));
        // One bucket names its parts exactly as the layout without buckets did.
        let p = crate::partition::Partition::new(crate::partition::Zone::Raw, "listen_history", chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap());
        assert_eq!(p.run_file("r1", &format!("{}part-{:05}.jsonl.gz", Bucket::WHOLE.folder(), 3)), p.part_key(3, "r1", "jsonl.gz"));
        assert_eq!(count_of([]), Ok(1));
        assert!(count_of([key.as_str(), "a/run=r/part-00000.parquet"]).is_err());
    }
}
