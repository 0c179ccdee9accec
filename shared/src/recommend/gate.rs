//! The promotion gate: a trained model replaces the champion only when the held-out users say,
//! beyond noise, that it is better than popularity and not worse than the champion.
//!
//! Every comparison is paired over the same held-out users: per user, the candidate's NDCG@10
//! minus the other model's ([`Comparison::paired`]). The mean difference gets a percentile
//! interval from a paired bootstrap (users resampled with replacement, [`RESAMPLES`] times, from
//! a fixed seed so a re-run gives the same interval) at the configured confidence level.
//!
//! The candidate is promoted only if
//! 1. at least `min_users` users and `min_listens` listens were held out (otherwise the gate
//!    refuses for lack of evidence: a handful of hits proves nothing);
//! 2. its interval against the popularity baseline lies entirely above zero (a significant win);
//! 3. against the champion (when there is one) it neither trails significantly (the whole
//!    interval below zero) nor trails by more than `tolerance` on average.

use serde::{Deserialize, Serialize};

/// Bootstrap resamples: the interval's bounds move by well under 0.001 NDCG between seeds at 1000.
pub const RESAMPLES: usize = 1000;
const SEED: u64 = 0x6a09_e667_f3bc_c908;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    Promote { reason: String },
    Refuse { reason: String },
}

impl Decision {
    pub fn promoted(&self) -> bool {
        matches!(self, Decision::Promote { .. })
    }

    pub fn reason(&self) -> &str {
        match self {
            Decision::Promote { reason } | Decision::Refuse { reason } => reason,
        }
    }
}

/// The gate's settings (`GATE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GateSettings {
    /// Two-sided confidence level of the intervals, e.g. 0.95.
    pub confidence: f64,
    /// Fewest held-out users the gate decides on.
    pub min_users: u64,
    /// Fewest held-out listens the gate decides on.
    pub min_listens: u64,
    /// How far the candidate's mean NDCG@10 may trail the champion's.
    pub tolerance: f64,
}

/// The candidate against another model on the same held-out users.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Users compared (those with at least one held-out listen); with none, every figure is 0.
    pub users: u64,
    /// Mean over users of (candidate's NDCG@10 - the other's).
    pub mean_difference: f64,
    /// The bootstrap interval of that mean, at `confidence`.
    pub lower: f64,
    pub upper: f64,
    pub confidence: f64,
    /// Users where the candidate did better / worse (the rest tie, usually both at zero).
    pub wins: u64,
    pub losses: u64,
}

impl Comparison {
    /// Compares per-user NDCG@10 values of the candidate and another model (same users, same order).
    pub fn paired(candidate: &[f64], other: &[f64], confidence: f64) -> Self {
        assert_eq!(candidate.len(), other.len(), "paired values of the same users");
        let diffs: Vec<f64> = candidate.iter().zip(other).map(|(c, o)| c - o).collect();
        let (lower, upper) = bootstrap_interval(&diffs, confidence);
        Comparison {
            users: diffs.len() as u64,
            mean_difference: mean(&diffs),
            lower,
            upper,
            confidence,
            wins: diffs.iter().filter(|&&d| d > 0.0).count() as u64,
            losses: diffs.iter().filter(|&&d| d < 0.0).count() as u64,
        }
    }

    fn describe(&self) -> String {
        format!(
            "mean NDCG@10 difference {:+.4}, {:.0}% interval [{:+.4}, {:+.4}] over {} users ({} better, {} worse)",
            self.mean_difference,
            self.confidence * 100.0,
            self.lower,
            self.upper,
            self.users,
            self.wins,
            self.losses
        )
    }
}

/// Zero when empty, so that a card never holds a NaN (JSON has none).
fn mean(values: &[f64]) -> f64 {
    if values.is_empty() { 0.0 } else { values.iter().sum::<f64>() / values.len() as f64 }
}

/// SplitMix64: small, seeded, the same on every machine.
fn next(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Percentile interval of the mean of `diffs` by paired bootstrap; zero when empty (no users:
/// the gate refuses for lack of evidence before it looks at an interval).
pub fn bootstrap_interval(diffs: &[f64], confidence: f64) -> (f64, f64) {
    let n = diffs.len();
    if n == 0 {
        return (0.0, 0.0);
    }
    let mut state = SEED;
    let mut means: Vec<f64> = (0..RESAMPLES)
        .map(|_| (0..n).map(|_| diffs[(next(&mut state) % n as u64) as usize]).sum::<f64>() / n as f64)
        .collect();
    means.sort_unstable_by(f64::total_cmp);
    let tail = (1.0 - confidence) / 2.0;
    let at = |q: f64| means[((q * RESAMPLES as f64).floor() as usize).min(RESAMPLES - 1)];
    (at(tail), at(1.0 - tail))
}

/// What the gate decided on, for the model card.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateEvidence {
    pub settings: GateSettings,
    pub test_users: u64,
    pub test_listens: u64,
    pub versus_baseline: Comparison,
    /// Against the champion, when there is one: which comparison the gate used
    /// (`served` or `recipe`, see [`super::model_store::Evaluation`]) and its figures.
    pub versus_champion: Option<(String, Comparison)>,
}

/// The gate's verdict.
pub fn decide(evidence: &GateEvidence) -> Decision {
    let (s, b) = (&evidence.settings, &evidence.versus_baseline);
    if evidence.test_users < s.min_users || evidence.test_listens < s.min_listens {
        return Decision::Refuse {
            reason: format!(
                "too little evidence: {} held-out users and {} held-out listens, the gate needs at least {} and {} (GATE_MIN_USERS, GATE_MIN_LISTENS)",
                evidence.test_users, evidence.test_listens, s.min_users, s.min_listens
            ),
        };
    }
    // Written so that a NaN bound (an unmeasured model) is refused too.
    if b.lower.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        return Decision::Refuse { reason: format!("not significantly better than the popularity baseline: {}", b.describe()) };
    }
    let Some((which, c)) = &evidence.versus_champion else {
        return Decision::Promote { reason: format!("significantly better than the popularity baseline ({}); there is no champion yet", b.describe()) };
    };
    if c.upper < 0.0 {
        return Decision::Refuse { reason: format!("significantly worse than the champion ({which}): {}", c.describe()) };
    }
    if c.mean_difference.is_nan() || c.mean_difference < -s.tolerance {
        return Decision::Refuse {
            reason: format!("trails the champion ({which}) by more than GATE_NDCG_TOLERANCE {}: {}", s.tolerance, c.describe()),
        };
    }
    Decision::Promote {
        reason: format!(
            "significantly better than the popularity baseline ({}) and not worse than the champion ({which}: {})",
            b.describe(),
            c.describe()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SETTINGS: GateSettings = GateSettings { confidence: 0.95, min_users: 50, min_listens: 50, tolerance: 0.01 };

    /// Per-user NDCG values: `n` users, a share `hit` of them at `value`, the others at 0,
    /// spread deterministically.
    fn users(n: usize, hit: f64, value: f64, offset: usize) -> Vec<f64> {
        (0..n).map(|u| if ((u + offset) * 7919 % n) < (hit * n as f64) as usize { value } else { 0.0 }).collect()
    }

    fn evidence(candidate: &[f64], baseline: &[f64], champion: Option<&[f64]>) -> GateEvidence {
        GateEvidence {
            settings: SETTINGS,
            test_users: candidate.len() as u64,
            test_listens: 2 * candidate.len() as u64,
            versus_baseline: Comparison::paired(candidate, baseline, SETTINGS.confidence),
            versus_champion: champion.map(|c| ("served".to_owned(), Comparison::paired(candidate, c, SETTINGS.confidence))),
        }
    }

    #[test]
    fn a_clear_win_is_promoted_with_an_interval_above_zero() {
        // 1000 users: the candidate hits 30% of them, popularity 10% (independently placed).
        let (candidate, baseline) = (users(1000, 0.3, 0.5, 0), users(1000, 0.1, 0.5, 17));
        let e = evidence(&candidate, &baseline, None);
        let c = e.versus_baseline;
        assert!((c.mean_difference - 0.1).abs() < 1e-9, "{c:?}");
        assert!(c.lower > 0.05 && c.upper < 0.15 && c.lower < c.mean_difference && c.mean_difference < c.upper, "{c:?}");
        let d = decide(&e);
        assert!(d.promoted() && d.reason().contains("no champion"), "{d:?}");
        assert_eq!(Comparison::paired(&candidate, &baseline, 0.95), c, "a fixed seed: the same interval again");
    }

    #[test]
    fn a_clear_loss_is_refused() {
        let (candidate, baseline) = (users(1000, 0.1, 0.5, 0), users(1000, 0.3, 0.5, 17));
        let d = decide(&evidence(&candidate, &baseline, None));
        assert!(!d.promoted() && d.reason().contains("baseline"), "{d:?}");
        // Better than popularity, but clearly worse than the champion.
        let champion = users(1000, 0.5, 0.5, 5);
        let d = decide(&evidence(&candidate, &users(1000, 0.02, 0.5, 3), Some(&champion)));
        assert!(!d.promoted() && d.reason().contains("significantly worse than the champion (served)"), "{d:?}");
    }

    #[test]
    fn noise_is_refused_and_a_tie_with_the_champion_is_not_a_loss() {
        // The case: 13 hits against 7 among 1000 users, at NDCG ~0.5 each: noise.
        let (candidate, baseline) = (users(1000, 0.013, 0.5, 0), users(1000, 0.007, 0.5, 500));
        let e = evidence(&candidate, &baseline, None);
        assert!(e.versus_baseline.mean_difference > 0.0 && e.versus_baseline.lower <= 0.0, "{:?}", e.versus_baseline);
        assert!(!decide(&e).promoted());
        // A real win over popularity, the same as the champion (same values): promoted.
        let (candidate, baseline) = (users(1000, 0.3, 0.5, 0), users(1000, 0.1, 0.5, 17));
        assert!(decide(&evidence(&candidate, &baseline, Some(&candidate))).promoted());
        // Trailing the champion by 0.02 on average (worse on 14% of users, better on 10%),
        // beyond the 0.01 tolerance, is refused even though the interval reaches zero.
        let (candidate, baseline) = (users(200, 0.3, 0.5, 0), users(200, 0.1, 0.5, 17));
        let delta = |u: usize| match u % 50 {
            0..7 => 0.5,
            7..12 => -0.5,
            _ => 0.0,
        };
        let champion: Vec<f64> = candidate.iter().enumerate().map(|(u, v)| v + delta(u)).collect();
        let e = evidence(&candidate, &baseline, Some(&champion));
        let c = e.versus_champion.as_ref().unwrap().1;
        assert!((c.mean_difference + 0.02).abs() < 1e-9 && c.upper > 0.0, "{c:?}");
        let d = decide(&e);
        assert!(!d.promoted() && d.reason().contains("GATE_NDCG_TOLERANCE"), "{d:?}");
    }

    #[test]
    fn too_few_users_or_listens_is_refused_for_that_reason() {
        let (candidate, baseline) = (users(40, 0.9, 0.9, 0), users(40, 0.0, 0.5, 0));
        let d = decide(&evidence(&candidate, &baseline, None));
        assert!(!d.promoted() && d.reason().starts_with("too little evidence: 40 held-out users"), "{d:?}");
        let mut e = evidence(&users(100, 0.9, 0.9, 0), &users(100, 0.0, 0.5, 0), None);
        assert!(decide(&e).promoted());
        e.test_listens = 49;
        assert!(decide(&e).reason().contains("49 held-out listens"));
        assert!(!decide(&evidence(&[f64::NAN; 100], &[0.0; 100], None)).promoted(), "an unmeasured model is refused");
    }
}
