//! The live slots of an entity: a rank/select bitmap, so the `i`-th row of a listing is found
//! without materialising the listing.

/// A rank/select bitmap: which slots are live, and the `i`-th live slot in O(log n).
#[derive(Clone, Default)]
pub(super) struct RankBitmap {
    words: Vec<u64>,
    /// Number of set bits before each word.
    before: Vec<u64>,
    pub(super) ones: u64,
}

impl RankBitmap {
    pub(super) fn from_fn(n: u64, mut f: impl FnMut(u64) -> bool) -> Self {
        let mut words = vec![0u64; n.div_ceil(64) as usize];
        for i in 0..n {
            if f(i) {
                words[(i / 64) as usize] |= 1 << (i % 64);
            }
        }
        let mut before = Vec::with_capacity(words.len());
        let mut ones = 0u64;
        for w in &words {
            before.push(ones);
            ones += u64::from(w.count_ones());
        }
        Self {
            words,
            before,
            ones,
        }
    }

    #[inline]
    pub(super) fn get(&self, i: u64) -> bool {
        self.words
            .get((i / 64) as usize)
            .is_some_and(|w| w >> (i % 64) & 1 == 1)
    }

    /// The position of the `rank`-th set bit (0-based); `rank < self.ones`.
    pub(super) fn select(&self, rank: u64) -> u64 {
        debug_assert!(rank < self.ones);
        let w = self.before.partition_point(|&b| b <= rank) - 1;
        let mut word = self.words[w];
        for _ in 0..rank - self.before[w] {
            word &= word - 1;
        }
        w as u64 * 64 + u64::from(word.trailing_zeros())
    }
}
