//! Stateless randomness for the simulator: keyed hashes, bounded draws, id permutations, timestamps.
//!
//! Every value the simulator serves is a pure function of `(seed, purpose, row, day)`, so
//! rows can be generated lazily, in any order, and identically on every request and day.

use chrono::{DateTime, NaiveDate};

/// Microseconds in one day.
pub(crate) const DAY_MICROS: i64 = 86_400_000_000;

/// The splitmix64 finaliser: a fast, well-mixed bijection on `u64`.
#[inline]
pub(crate) const fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A keyed hash of `(seed, tag, a, b)`; `tag` separates the purposes of draws.
#[inline]
pub(crate) const fn hash(seed: u64, tag: u64, a: u64, b: u64) -> u64 {
    mix(mix(mix(seed ^ tag.wrapping_mul(0xD6E8_FEB8_6659_FD93)) ^ a) ^ b)
}

/// A uniform `f64` in `[0, 1)` from a hash.
#[inline]
pub(crate) fn unit(h: u64) -> f64 {
    (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Number of failures before the first success of a daily Bernoulli(`p`) process.
/// `u64::MAX` when `p <= 0` (the event never happens).
#[inline]
pub(crate) fn geometric(p: f64, h: u64) -> u64 {
    if p.is_nan() || p <= 0.0 {
        return u64::MAX;
    }
    if p >= 1.0 {
        return 0;
    }
    let u = 1.0 - unit(h); // (0, 1]
    let g = (u.ln() / (1.0 - p).ln()).floor();
    if g >= 1e15 { u64::MAX } else { g as u64 }
}

/// Draws `floor(x)` or `floor(x) + 1` so that the mean is `x` (x >= 0).
#[inline]
pub(crate) fn stochastic_round(x: f64, h: u64) -> u64 {
    if x.is_nan() || x <= 0.0 {
        return 0;
    }
    let base = x.floor();
    base as u64 + u64::from(unit(h) < x - base)
}

/// Picks an index with probability proportional to `weights`.
#[inline]
pub(crate) fn weighted_index(weights: &[u32], h: u64) -> usize {
    let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    let mut x = h % total.max(1);
    for (i, &w) in weights.iter().enumerate() {
        if x < u64::from(w) {
            return i;
        }
        x -= u64::from(w);
    }
    weights.len() - 1
}

/// A keyed bijection on `[0, n)`: a 4-round Feistel network on the smallest even-bit
/// power of two covering `n`, with cycle walking (at most ~4 rounds trips on average).
#[derive(Debug, Clone)]
pub(crate) struct Permutation {
    n: u64,
    half_bits: u32,
    key: u64,
}

impl Permutation {
    pub(crate) fn new(n: u64, key: u64) -> Self {
        let bits = 64 - n.saturating_sub(1).leading_zeros();
        let half_bits = bits.div_ceil(2).max(1);
        Self { n, half_bits, key }
    }

    #[inline]
    fn feistel(&self, v: u64) -> u64 {
        let mask = (1u64 << self.half_bits) - 1;
        let (mut l, mut r) = (v >> self.half_bits, v & mask);
        for round in 0..4u64 {
            let f = mix(self.key ^ (round << 58) ^ r) & mask;
            (l, r) = (r, l ^ f);
        }
        (l << self.half_bits) | r
    }

    /// The image of `x < n`.
    #[inline]
    pub(crate) fn apply(&self, x: u64) -> u64 {
        debug_assert!(x < self.n);
        let mut v = x;
        loop {
            v = self.feistel(v);
            if v < self.n {
                return v;
            }
        }
    }
}

/// Microseconds since the Unix epoch of `date` at midnight (UTC).
pub(crate) fn midnight_micros(date: NaiveDate) -> i64 {
    date.and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc()
        .timestamp_micros()
}

/// An instant in `[lo, hi)`; about 2% of draws fall on a whole second, like the rare
/// whole-second values of the real service, so clients meet both printed forms.
#[inline]
pub(crate) fn instant_between(lo: i64, hi: i64, h: u64) -> i64 {
    if hi <= lo {
        return lo;
    }
    let span = (hi - lo) as u64;
    let t = lo + (h % span) as i64;
    if (h >> 48) % 50 == 0 {
        let whole = t - t.rem_euclid(1_000_000);
        if whole >= lo {
            return whole;
        }
    }
    t
}

/// Formats like Python's `datetime.isoformat()` on a naive value: microseconds, except
/// that a whole second prints without a fraction.
pub(crate) fn format_instant(micros: i64) -> String {
    use chrono::{Datelike, Timelike};
    let dt = DateTime::from_timestamp_micros(micros)
        .expect("instant in range")
        .naive_utc();
    let frac = micros.rem_euclid(1_000_000);
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    );
    if frac != 0 {
        s.push_str(&format!(".{frac:06}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutation_is_a_bijection() {
        for n in [1u64, 2, 3, 7, 100, 1000, 99_999] {
            let p = Permutation::new(n, 7);
            let mut seen = vec![false; n as usize];
            for x in 0..n {
                let y = p.apply(x);
                assert!(y < n && !seen[y as usize], "n={n} x={x} y={y}");
                seen[y as usize] = true;
            }
        }
    }

    #[test]
    fn instants_print_like_python_isoformat() {
        assert_eq!(
            format_instant(1_761_846_726_998_307),
            "2025-10-30T17:52:06.998307"
        );
        assert_eq!(format_instant(1_761_846_726_000_000), "2025-10-30T17:52:06");
        assert_eq!(
            format_instant(1_761_846_726_000_010),
            "2025-10-30T17:52:06.000010"
        );
    }

    #[test]
    fn geometric_mean_matches_rate() {
        let p = 0.1;
        let n = 20_000u64;
        let mean = (0..n).map(|i| geometric(p, mix(i)) as f64).sum::<f64>() / n as f64;
        // mean of failures before success is (1 - p) / p = 9
        assert!((mean - 9.0).abs() < 0.5, "mean {mean}");
        assert_eq!(geometric(0.0, 1), u64::MAX);
        assert_eq!(geometric(1.0, 1), 0);
    }
}
