//! The promotion gate: a trained model replaces the champion only when it evaluates better.
//!
//! On the same held-out listens, the candidate must beat the popularity baseline on NDCG@10 and
//! must not fall below the champion's NDCG@10 by more than `tolerance` (an absolute NDCG
//! difference). With no champion yet, beating the baseline is enough.

use serde::{Deserialize, Serialize};

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

/// The gate's verdict on NDCG@10 values measured on the same test listens.
pub fn decide(candidate: f64, baseline: f64, champion: Option<f64>, tolerance: f64) -> Decision {
    // Written so that a NaN (an unmeasured model) is refused too.
    if candidate.partial_cmp(&baseline) != Some(std::cmp::Ordering::Greater) {
        return Decision::Refuse { reason: format!("NDCG@10 {candidate:.4} does not beat the popularity baseline's {baseline:.4}") };
    }
    match champion {
        None => Decision::Promote { reason: format!("NDCG@10 {candidate:.4} beats the baseline's {baseline:.4}; there is no champion yet") },
        Some(champion) if candidate + tolerance < champion => Decision::Refuse {
            reason: format!("NDCG@10 {candidate:.4} is below the champion's {champion:.4} by more than the tolerance {tolerance}"),
        },
        Some(champion) => Decision::Promote {
            reason: format!(
                "NDCG@10 {candidate:.4} beats the baseline's {baseline:.4} and is within {tolerance} of (or above) the champion's {champion:.4}"
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn promotes_a_model_that_beats_the_baseline_and_holds_against_the_champion() {
        assert!(decide(0.20, 0.11, None, 0.01).promoted(), "first model");
        assert!(decide(0.20, 0.11, Some(0.19), 0.01).promoted(), "better than the champion");
        assert!(decide(0.20, 0.11, Some(0.205), 0.01).promoted(), "worse, but within the tolerance");
        assert!(decide(0.20, 0.11, Some(0.21), 0.01).promoted(), "exactly at the tolerance");
    }

    #[test]
    fn refuses_a_model_below_the_baseline_or_the_champion() {
        let d = decide(0.10, 0.11, None, 0.01);
        assert!(!d.promoted() && d.reason().contains("baseline"), "{d:?}");
        assert!(!decide(0.11, 0.11, None, 0.01).promoted(), "a tie with popularity is not a win");
        let d = decide(0.20, 0.11, Some(0.2101), 0.01);
        assert!(!d.promoted() && d.reason().contains("champion"), "{d:?}");
        assert!(!decide(0.20, 0.11, Some(0.21), 0.0).promoted() && decide(0.21, 0.11, Some(0.21), 0.0).promoted(), "zero tolerance");
        assert!(!decide(f64::NAN, 0.11, None, 0.01).promoted(), "an unmeasured model is refused");
    }
}
