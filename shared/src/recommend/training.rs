//! One training run, as a pure function of the listens: split, train, evaluate, gate, final fit.
//!
//! The candidate is trained on each user's older listens and evaluated on their most recent
//! `holdout_share` (a temporal split). The popularity baseline and the champion are evaluated on
//! the same held-out listens; the champion as its recipe (its hyper-parameters trained on the
//! same training split), so that no model is scored on listens it was trained on. A promoted
//! candidate is then retrained on every listen, which is the model stored and served.

use super::als::AlsModel;
use super::evaluate::{self, Metrics};
use super::gate::{self, Decision};
use super::inputs::Listen;
use super::interactions::{Csr, IdMap, Interactions};
use super::model_store::{Evaluation, Hyper, IdTable, Scores, listens_hash};
use super::split;
use super::topk;
use std::collections::HashMap;
use std::time::Instant;

/// Metrics are taken at this cut-off, whatever the number of tracks served.
pub const EVAL_K: usize = 10;

impl From<Metrics> for Scores {
    fn from(m: Metrics) -> Self {
        Scores { precision_at_10: m.precision, recall_at_10: m.recall, ndcg_at_10: m.ndcg, map_at_10: m.map, coverage: m.coverage }
    }
}

/// The listens of a date in dense indices: one entry per (user, track) pair, weighted by how
/// often the pair occurs, stamped with the rank of its latest occurrence in the user's history.
#[derive(Debug, Clone, Default)]
pub struct TrainingData {
    pub users: IdMap,
    pub tracks: IdMap,
    pub pairs: Vec<split::Listen>,
    pub first_listen_micros: Option<i64>,
    pub last_listen_micros: Option<i64>,
}

impl TrainingData {
    pub fn new(listens: &[Listen]) -> Self {
        let users = IdMap::from_ids(listens.iter().map(|l| l.user_id));
        let tracks = IdMap::from_ids(listens.iter().map(|l| l.track_id));
        let mut ordered: Vec<&Listen> = listens.iter().collect();
        ordered.sort_unstable_by_key(|l| (l.user_id, l.time_key()));
        let mut pairs: Vec<split::Listen> = Vec::with_capacity(listens.len());
        for history in ordered.chunk_by(|a, b| a.user_id == b.user_id) {
            let user = users.index(history[0].user_id).expect("a listed user");
            let mut at: HashMap<u32, usize> = HashMap::with_capacity(history.len());
            for (rank, l) in history.iter().enumerate() {
                let item = tracks.index(l.track_id).expect("a listed track");
                match at.get(&item) {
                    Some(&i) => {
                        pairs[i].weight += 1.0;
                        pairs[i].timestamp = rank as i64;
                    }
                    None => {
                        at.insert(item, pairs.len());
                        pairs.push(split::Listen { user, item, weight: 1.0, timestamp: rank as i64 });
                    }
                }
            }
        }
        let first_listen_micros = listens.iter().map(|l| l.created_at_micros).min();
        let last_listen_micros = listens.iter().map(|l| l.created_at_micros).max();
        Self { users, tracks, pairs, first_listen_micros, last_listen_micros }
    }

    /// The matrix ALS trains on: the pairs with their recency-weighted listens.
    pub fn matrix(&self, pairs: &[split::Listen], hyper: &Hyper) -> Interactions {
        Interactions::from_triples(self.users.len(), self.tracks.len(), &split::recency_weighted(pairs, hyper.recency_beta, hyper.recency_power))
    }

    /// The id maps of a model trained on `matrix`, with each user's listens hashed.
    pub fn id_table(&self, matrix: &Interactions) -> IdTable {
        let user_hashes = (0..self.users.len())
            .map(|u| listens_hash(&matrix.by_user.row(u).0.iter().map(|&i| self.tracks.id(i)).collect::<Vec<_>>()))
            .collect();
        IdTable { users: self.users.ids().to_vec(), user_hashes, tracks: self.tracks.ids().to_vec() }
    }
}

/// What one training run decided and the model it keeps.
#[derive(Debug, Clone)]
pub struct Trained {
    pub evaluation: Evaluation,
    pub decision: Decision,
    /// The model to store: retrained on every listen when promoted, the candidate otherwise.
    pub model: AlsModel,
    pub ids: IdTable,
    pub train_ms: u64,
}

fn evaluate_model(model: &AlsModel, train: &Interactions, test: &Csr) -> Scores {
    evaluate::evaluate(&topk::recommend_all(model, train, EVAL_K), test, EVAL_K, train.n_items()).into()
}

/// Splits, trains the candidate with `hyper`, evaluates it, the baseline and the champion's
/// recipe, applies the gate, and fits the final model when the gate promotes.
pub fn train(data: &TrainingData, hyper: Hyper, champion: Option<(String, Hyper)>, holdout_share: f64, tolerance: f64) -> Trained {
    let clock = Instant::now();
    let (train_pairs, test_pairs) = split::temporal_split(&data.pairs, holdout_share, 2);
    let train = data.matrix(&train_pairs, &hyper);
    let test = Csr::from_triples(data.users.len(), data.tracks.len(), &split::triples(&test_pairs));
    let candidate = AlsModel::train(&hyper.als, &train);
    let candidate_scores = evaluate_model(&candidate, &train, &test);
    let baseline: Scores = evaluate::evaluate(&evaluate::popularity(&train, EVAL_K), &test, EVAL_K, train.n_items()).into();
    let champion_scores = champion.as_ref().map(|(_, h)| match *h == hyper {
        true => candidate_scores, // same recipe, same data, deterministic training: the same model
        false => {
            let weighted = data.matrix(&train_pairs, h);
            evaluate_model(&AlsModel::train(&h.als, &weighted), &weighted, &test)
        }
    });
    let decision = gate::decide(candidate_scores.ndcg_at_10, baseline.ndcg_at_10, champion_scores.map(|s| s.ndcg_at_10), tolerance);
    let (model, matrix) = match decision.promoted() {
        true => {
            let all = data.matrix(&data.pairs, &hyper);
            (AlsModel::train(&hyper.als, &all), all)
        }
        false => (candidate, train),
    };
    let evaluation = Evaluation {
        candidate: candidate_scores,
        baseline,
        champion: champion_scores,
        champion_version: champion.map(|(v, _)| v),
        test_users: (0..test.n_rows()).filter(|&u| test.row_len(u) > 0).count() as u64,
        test_listens: test.nnz() as u64,
    };
    Trained { evaluation, decision, ids: data.id_table(&matrix), model, train_ms: clock.elapsed().as_millis() as u64 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::recommend::als::AlsParams;

    fn listen(user_id: i64, track_id: i64, created: i64, position: i32) -> Listen {
        Listen { user_id, track_id, created_at_micros: created, position }
    }

    #[test]
    fn pairs_are_deduplicated_weighted_and_stamped_with_their_latest_rank() {
        // User 7 listened to 30, 10, 30 (in that order), user 3 to 20 then 10.
        let data = TrainingData::new(&[listen(7, 30, 5, 0), listen(3, 10, 9, 1), listen(7, 10, 5, 1), listen(3, 20, 9, 0), listen(7, 30, 6, 0)]);
        assert_eq!((data.users.ids(), data.tracks.ids()), (&[3, 7][..], &[10, 20, 30][..]));
        let got: Vec<(u32, u32, f32, i64)> = data.pairs.iter().map(|p| (p.user, p.item, p.weight, p.timestamp)).collect();
        assert_eq!(got, [(0, 1, 1.0, 0), (0, 0, 1.0, 1), (1, 2, 2.0, 2), (1, 0, 1.0, 1)]);
        assert_eq!((data.first_listen_micros, data.last_listen_micros), (Some(5), Some(9)));
        let ids = data.id_table(&data.matrix(&data.pairs, &hyper()));
        assert_eq!(ids.user_hashes, [listens_hash(&[10, 20]), listens_hash(&[10, 30])]);
    }

    /// Two taste groups: users 0..40 like tracks 0..20, users 40..80 tracks 20..40, with
    /// track 40 listened by everyone (popular, but nobody's taste).
    fn clustered() -> Vec<Listen> {
        let mut out = Vec::new();
        for u in 0..80i64 {
            let base = if u < 40 { 0 } else { 20 };
            out.push(listen(u, 40, 0, 0));
            for j in 0..8i64 {
                let t = base + (u * 7 + j * 3) % 20;
                out.push(listen(u, t, 1 + j, 0));
            }
        }
        out
    }

    fn hyper() -> Hyper {
        let als = AlsParams { factors: 8, regularization: 0.5, alpha: 4.0, iterations: 10, cg_steps: 3, seed: 7 };
        Hyper { als, recency_beta: 0.0, recency_power: 1.0 }
    }

    #[test]
    fn a_model_that_learns_the_tastes_beats_popularity_and_is_promoted() {
        let data = TrainingData::new(&clustered());
        let t = train(&data, hyper(), None, 0.2, 0.01);
        assert!(t.evaluation.candidate.ndcg_at_10 > t.evaluation.baseline.ndcg_at_10 + 0.05, "{:?}", t.evaluation);
        assert!(t.decision.promoted(), "{:?}", t.decision);
        assert_eq!(t.evaluation.test_users, 80);
        // The promoted model was refitted on every listen: its users' hashes cover all of them.
        assert_eq!(t.ids, data.id_table(&data.matrix(&data.pairs, &hyper())));
        assert_eq!(t.model.n_users(), 80);
    }

    #[test]
    fn the_champion_is_evaluated_as_its_recipe_and_can_block_a_worse_candidate() {
        let data = TrainingData::new(&clustered());
        let same = train(&data, hyper(), Some(("v1".into(), hyper())), 0.2, 0.0);
        assert_eq!(same.evaluation.champion, Some(same.evaluation.candidate), "same recipe, same scores");
        assert!(same.decision.promoted());
        // A one-factor, one-iteration candidate against a good champion recipe.
        let weak = Hyper { als: AlsParams { factors: 1, iterations: 1, ..hyper().als }, ..hyper() };
        let t = train(&data, weak, Some(("v1".into(), hyper())), 0.2, 0.01);
        assert!(t.evaluation.champion.unwrap().ndcg_at_10 > t.evaluation.candidate.ndcg_at_10 + 0.01, "{:?}", t.evaluation);
        assert!(!t.decision.promoted(), "{:?}", t.decision);
        assert_eq!(t.evaluation.champion_version.as_deref(), Some("v1"));
    }
}
