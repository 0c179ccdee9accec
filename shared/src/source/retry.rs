//! Retry policy: exponential backoff with full jitter, `Retry-After`, and a run-wide budget.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Delays between attempts: the n-th retry waits a uniformly random time in
/// `[0, min(max, base * 2^(n-1))]` ("full jitter", so that many clients retrying at once spread
/// out), or what the server asked for with `Retry-After` when that is longer, capped at `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub max: Duration,
}

impl Backoff {
    /// The delay before retry number `retry` (1 for the first retry); `unit` is a random draw in [0, 1).
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>, unit: f64) -> Duration {
        let ceiling = self.base.saturating_mul(1u32 << retry.saturating_sub(1).min(20)).min(self.max);
        let jittered = ceiling.mul_f64(unit.clamp(0.0, 1.0));
        match retry_after {
            Some(asked) => asked.min(self.max).max(jittered),
            None => jittered,
        }
    }
}

/// The retries a whole run may spend, shared by every request of the run: a source that keeps
/// failing makes the run fail in bounded time instead of retrying every page to its limit.
#[derive(Debug)]
pub struct RetryBudget {
    left: AtomicU32,
}

impl RetryBudget {
    pub fn new(retries: u32) -> Self {
        Self { left: AtomicU32::new(retries) }
    }

    /// Takes one retry from the budget; false when none is left.
    pub fn take(&self) -> bool {
        self.left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok()
    }

    pub fn left(&self) -> u32 {
        self.left.load(Ordering::Relaxed)
    }
}

/// Parses `Retry-After`: delta-seconds, or an HTTP date relative to `now`.
pub fn parse_retry_after(value: &str, now: chrono::DateTime<chrono::Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some((when.with_timezone(&chrono::Utc) - now).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: fn(u64) -> Duration = Duration::from_millis;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitters_below_it() {
        let b = Backoff { base: MS(100), max: MS(1000) };
        assert_eq!(b.delay(1, None, 1.0), MS(100));
        assert_eq!(b.delay(2, None, 1.0), MS(200));
        assert_eq!(b.delay(4, None, 1.0), MS(800));
        assert_eq!(b.delay(5, None, 1.0), MS(1000));
        assert_eq!(b.delay(60, None, 1.0), MS(1000), "no overflow on long retry chains");
        assert_eq!(b.delay(3, None, 0.5), MS(200));
        assert_eq!(b.delay(3, None, 0.0), MS(0));
    }

    #[test]
    fn retry_after_is_honoured_up_to_the_cap() {
        let b = Backoff { base: MS(100), max: MS(5000) };
        assert_eq!(b.delay(1, Some(MS(2000)), 0.9), MS(2000));
        assert_eq!(b.delay(1, Some(MS(60_000)), 0.9), MS(5000));
        assert_eq!(b.delay(7, Some(MS(10)), 1.0), MS(5000), "a longer backoff wins over a short Retry-After");
    }

    #[test]
    fn the_budget_is_shared_and_bounded() {
        let budget = RetryBudget::new(2);
        assert!(budget.take() && budget.take());
        assert!(!budget.take());
        assert_eq!(budget.left(), 0);
    }

    #[test]
    fn retry_after_parses_seconds_and_dates() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-21T06:00:00Z").unwrap().with_timezone(&chrono::Utc);
        assert_eq!(parse_retry_after("3", now), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("Sat, 21 Nov 2026 06:00:07 GMT", now), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Sat, 21 Nov 2026 05:00:00 GMT", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("soon", now), None);
    }
}
