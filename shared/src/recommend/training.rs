//! One training run, as a pure function of the listens: split, train, evaluate, gate, final fit.
//!
//! The candidate is trained on each user's older listens and evaluated on their most recent
//! `holdout_share` (a temporal split). The popularity baseline and the champion are evaluated on
//! the same held-out users, and no model is scored on listens it was trained on: the champion
//! both as its recipe (its hyper-parameters trained on the same training split) and as the
//! stored model that is serving, on the held-out listens it never saw ([`evaluate_served`]).
//! The gate ([`gate`]) compares per-user NDCG@10, paired. A promoted candidate is then retrained
//! on every listen, which is the model stored and served.

use super::als::AlsModel;
use super::evaluate::{self, RankingMetrics};
use super::gate::{self, Decision, GateEvidence, GateSettings};
use super::cold_start::{self, ColdStartChoice, FewListens, RecentListen};
use super::drift;
use super::inputs::{Catalog, Listen};
use super::interactions::{Csr, IdMap, Interactions};
use super::evaluation::{Evaluation, Scores, ServedEvaluation};
use super::ids::{IdTable, listens_hash};
use super::recipe::{Recipe, TrainMatrix};
use super::scoring::ServingModel;
use super::topk::Ranked;
use rayon::prelude::*;
use super::split;
use super::topk;
use std::collections::{BTreeMap, HashMap, HashSet};
use chrono::NaiveDate;

/// Metrics are taken at this cut-off, whatever the number of tracks served.
pub const EVAL_K: usize = 10;

impl From<RankingMetrics> for Scores {
    fn from(m: RankingMetrics) -> Self {
        Scores { precision_at_10: m.precision, recall_at_10: m.recall, ndcg_at_10: m.ndcg, map_at_10: m.map, coverage: m.coverage }
    }
}

/// The listens of a date in dense indices: one entry per (user, track) pair, weighted by how
/// often the pair occurs, stamped with the rank of its latest occurrence in the user's history.
#[derive(Debug, Clone, Default)]
pub struct TrainingData {
    pub users: IdMap,
    pub tracks: IdMap,
    pub pairs: Vec<split::WeightedListen>,
    pub first_listen_micros: Option<i64>,
    pub last_listen_micros: Option<i64>,
}

impl TrainingData {
    pub fn new(listens: &[Listen]) -> Self {
        let users = IdMap::from_ids(listens.iter().map(|l| l.user_id));
        let tracks = IdMap::from_ids(listens.iter().map(|l| l.track_id));
        let mut ordered: Vec<&Listen> = listens.iter().collect();
        ordered.sort_unstable_by_key(|l| (l.user_id, l.time_key()));
        let mut pairs: Vec<split::WeightedListen> = Vec::with_capacity(listens.len());
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
                        pairs.push(split::WeightedListen { user, item, weight: 1.0, timestamp: rank as i64 });
                    }
                }
            }
        }
        let first_listen_micros = listens.iter().map(|l| l.created_at_micros).min();
        let last_listen_micros = listens.iter().map(|l| l.created_at_micros).max();
        Self { users, tracks, pairs, first_listen_micros, last_listen_micros }
    }

    /// Every distinct `(user id, track id)` pair, sorted: what a model trained on this data has
    /// seen (stored with it, [`super::seen`]). `pairs` come grouped by user in id order, so only
    /// each user's tracks are sorted, and no copy of all the pairs is made.
    pub fn seen_pairs(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.pairs.chunk_by(|a, b| a.user == b.user).flat_map(|row| {
            let user = self.users.id(row[0].user);
            let mut tracks: Vec<i64> = row.iter().map(|p| self.tracks.id(p.item)).collect();
            tracks.sort_unstable();
            tracks.into_iter().map(move |track| (user, track))
        })
    }

    /// The matrix a model of `hyper` trains on, and the listens it was cut from ([`Recipe::matrix`]).
    pub fn matrix(&self, pairs: &[split::WeightedListen], hyper: &Recipe) -> TrainMatrix {
        hyper.matrix(self.users.len(), self.tracks.len(), pairs)
    }

    /// The id maps of a model trained on `matrix`, with each user's trained row hashed.
    pub fn id_table(&self, matrix: &TrainMatrix) -> IdTable {
        let user_hashes = (0..self.users.len())
            .map(|u| listens_hash(&matrix.fit.by_user.row(u).0.iter().map(|&i| self.tracks.id(i)).collect::<Vec<_>>()))
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
}

/// How a training run splits and gates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainSettings {
    pub holdout_share: f64,
    pub gate: GateSettings,
}

/// The champion a candidate is compared with.
#[derive(Debug, Clone)]
pub struct ChampionInput {
    pub version: String,
    /// The curated date it was trained on: a candidate trained on an older date does not replace it.
    pub data_date: NaiveDate,
    /// Its recipe, for the recipe comparison.
    pub hyper: Recipe,
    /// The stored model with the listens it was trained on, for the served comparison; or why
    /// it could not be read.
    pub served: Result<ServedChampion, String>,
}

/// What the cold-start evaluation reads: the date's listens (by id), catalogue and recent listens.
#[derive(Debug, Clone, Copy)]
pub struct ColdStartInputs<'a> {
    pub listens: &'a [Listen],
    pub catalog: &'a Catalog,
    pub recent: &'a [RecentListen],
    pub recent_days: u32,
    /// Share of users hidden from the candidate and from popularity, to evaluate cold start on.
    pub sample_share: f64,
}

/// The listens new on the last `recent_days` dates, for the drift weight ([`drift::choose`]).
#[derive(Debug, Clone, Copy)]
pub struct DriftInputs<'a> {
    pub recent: &'a [RecentListen],
    pub recent_days: u32,
}

/// The stored champion and the `(user id, track id)` pairs it was trained on (sorted, distinct).
#[derive(Debug, Clone)]
pub struct ServedChampion {
    pub model: ServingModel,
    pub seen: Vec<(i64, i64)>,
}

fn scores(recs: &[Ranked], test: &Csr, catalogue: usize) -> Scores {
    evaluate::evaluate(recs, test, EVAL_K, catalogue).into()
}

/// Splits, trains the candidate with `hyper`, evaluates it beside the popularity baseline and the
/// champion (its recipe, and the stored model as served), applies the gate, and fits the final
/// model when the gate promotes. With `cold`, a sample of users is hidden from the candidate to
/// choose the cold-start policy and the fold-in threshold on ([`choose_cold_start`]). With
/// recent listens in `drift`, the drift weight is chosen on the candidate's held-out listens.
pub fn train(data: &TrainingData, hyper: Recipe, champion: Option<&ChampionInput>, settings: &TrainSettings, cold: Option<&ColdStartInputs>, drift: Option<&DriftInputs>) -> Trained {
    let hidden = |user: u32| cold.is_some_and(|c| cold_start::is_sampled(data.users.id(user), c.sample_share));
    let visible: Vec<split::WeightedListen> = data.pairs.iter().filter(|p| !hidden(p.user)).copied().collect();
    let (train_pairs, test_pairs) = split::temporal_split(&visible, settings.holdout_share, 2);
    let train = data.matrix(&train_pairs, &hyper);
    let n_items = data.tracks.len();
    let test = Csr::from_triples(data.users.len(), n_items, &split::triples(&test_pairs));
    let candidate = AlsModel::train(&hyper.als, &train.fit);
    let candidate_recs = topk::recommend_all(&candidate, &train, EVAL_K);
    let baseline_recs = evaluate::popularity(train.heard(), EVAL_K);
    let candidate_ndcg = evaluate::per_user_ndcg(&candidate_recs, &test, EVAL_K);
    let (candidate_scores, baseline) = (scores(&candidate_recs, &test, n_items), scores(&baseline_recs, &test, n_items));
    let confidence = settings.gate.confidence;
    let versus_baseline = gate::Comparison::paired(&candidate_ndcg, &evaluate::per_user_ndcg(&baseline_recs, &test, EVAL_K), confidence);

    let served = champion.and_then(|c| c.served.as_ref().ok()).map(|s| evaluate_served(data, &train_pairs, &test_pairs, s, &candidate_recs, &baseline_recs, confidence));
    // The served comparison decides when it has the evidence the gate asks for; else the recipe.
    let enough = |s: &&ServedEvaluation| s.users >= settings.gate.min_users && s.listens >= settings.gate.min_listens;
    let served_decides = served.as_ref().filter(enough).is_some();
    // The recipe comparison: the champion's hyper-parameters on the same split. Free with the
    // same recipe; another recipe is trained only when it decides, so a run that changes the
    // recipe (a cap turned on, say) trains no third model when the served comparison decides.
    // A recipe that differs only by the share of users read fits this split as the candidate
    // does: the same model, so only the served comparison can measure what a share costs.
    let recipe = champion.filter(|c| c.hyper.fits_like(&hyper) || !served_decides).map(|c| match c.hyper.fits_like(&hyper) {
        true => (candidate_scores, candidate_ndcg.clone()), // same recipe, same data, deterministic training: the same model
        false => {
            let weighted = data.matrix(&train_pairs, &c.hyper);
            let recs = topk::recommend_all(&AlsModel::train(&c.hyper.als, &weighted.fit), &weighted, EVAL_K);
            (scores(&recs, &test, n_items), evaluate::per_user_ndcg(&recs, &test, EVAL_K))
        }
    });
    let versus_champion = match (served.as_ref().filter(enough), &recipe) {
        (Some(s), _) => Some(("served".to_owned(), s.versus_champion)),
        (None, Some((_, ndcg))) => Some(("recipe".to_owned(), gate::Comparison::paired(&candidate_ndcg, ndcg, confidence))),
        (None, None) => None,
    };
    let test_users = candidate_ndcg.len() as u64;
    let evidence = GateEvidence { settings: settings.gate, test_users, test_listens: test.nnz() as u64, versus_baseline, versus_champion };
    let decision = gate::decide(&evidence);
    let cold_start = cold.map(|c| choose_cold_start(data, c, &candidate, &hyper, &train.fit));
    let drift = drift
        .filter(|d| !d.recent.is_empty())
        .map(|d| drift::choose(&candidate, &train, &test, &data.users, &data.tracks, d.recent, d.recent_days, confidence, EVAL_K));
    let (model, matrix) = match decision.promoted() {
        true => {
            let all = data.matrix(&data.pairs, &hyper);
            (AlsModel::train(&hyper.als, &all.fit), all)
        }
        false => (candidate, train),
    };
    let evaluation = Evaluation {
        candidate: candidate_scores,
        baseline,
        champion: recipe.map(|r| r.0),
        champion_version: champion.map(|c| c.version.clone()),
        test_users,
        test_listens: test.nnz() as u64,
        served_unavailable: champion.and_then(|c| c.served.as_ref().err().cloned()),
        served,
        gate: Some(evidence),
        cold_start,
        drift,
    };
    let (model, ids) = fitted_tracks_only(model, data.id_table(&matrix), &matrix.fit);
    Trained { evaluation, decision, ids, model }
}

/// The model as stored: only the tracks it was fitted on. A track none of whose listens is in
/// the fitted rows (all held out, or all dropped by the recipe's cap) keeps only the solver's
/// leftovers, noise that must not be scored; dropped, it is a track the model does not know.
fn fitted_tracks_only(mut model: AlsModel, mut ids: IdTable, fit: &Interactions) -> (AlsModel, IdTable) {
    let fitted = |i: usize| fit.by_item.row_len(i) > 0;
    if (0..ids.tracks.len()).all(fitted) {
        return (model, ids);
    }
    let f = model.factors();
    let kept: Vec<usize> = (0..ids.tracks.len()).filter(|&i| fitted(i)).collect();
    model.item_factors = kept.iter().flat_map(|&i| model.item_factors[i * f..(i + 1) * f].to_vec()).collect();
    ids.tracks = kept.iter().map(|&i| ids.tracks[i]).collect();
    (model, ids)
}

/// Compares the cold-start policies on the hidden users, then the candidate against the winner
/// for hidden users of whom only their first few listens are known (folded in, as scoring
/// would), on their later listens; the threshold between fold-in and cold start follows.
fn choose_cold_start(data: &TrainingData, c: &ColdStartInputs, candidate: &AlsModel, hyper: &Recipe, train: &Interactions) -> ColdStartChoice {
    let hidden = |user_id: i64| cold_start::is_sampled(user_id, c.sample_share);
    let (policies, popularity) = cold_start::evaluate_policies(c.listens, c.catalog, c.recent, c.recent_days, hidden, EVAL_K);
    let genres: HashMap<i64, Option<&str>> = c.catalog.users.iter().map(|(u, g)| (*u, g.as_deref())).collect();
    let mut histories: BTreeMap<u32, Vec<split::WeightedListen>> = BTreeMap::new();
    for p in data.pairs.iter().filter(|p| hidden(data.users.id(p.user))) {
        histories.entry(p.user).or_default().push(*p);
    }
    histories.values_mut().for_each(|h| h.sort_by_key(|l| (l.timestamp, l.item)));
    let eligible: Vec<bool> = (0..train.n_items()).map(|i| train.by_item.row_len(i) > 0).collect();
    let yty = candidate.item_gramian();
    let few_listens: Vec<FewListens> = cold_start::FEW_LISTENS
        .iter()
        .map(|&known| {
            let users: Vec<(i64, &[split::WeightedListen], &[split::WeightedListen])> = histories
                .iter()
                .filter(|(_, h)| h.len() > known as usize)
                .map(|(&u, h)| (data.users.id(u), &h[..known as usize], &h[known as usize..]))
                .collect();
            let folded: Vec<(Vec<f32>, Vec<u32>)> = users
                .par_iter()
                .map(|(_, seen, _)| {
                    // Folded in from the row the recipe keeps; every known listen excluded.
                    let (idx, w): (Vec<u32>, Vec<f32>) = hyper.weighted(seen).into_iter().map(|(_, i, w)| (i, w)).unzip();
                    (candidate.fold_in(&yty, &idx, &w), seen.iter().map(|l| l.item).collect::<Vec<u32>>())
                })
                .collect();
            let factors: Vec<f32> = folded.iter().flat_map(|f| f.0.iter().copied()).collect();
            let triples: Vec<(u32, u32, f32)> = folded.iter().enumerate().flat_map(|(row, f)| f.1.iter().map(move |&i| (row as u32, i, 1.0))).collect();
            let exclude = Csr::from_triples(users.len(), train.n_items(), &triples);
            let rows: Vec<u32> = (0..users.len() as u32).collect();
            let ranked = topk::top_k(&factors, &candidate.item_factors, candidate.factors(), &rows, &exclude, &eligible, EVAL_K);
            let (mut cf, mut cold) = (0.0, 0.0);
            for ((user_id, seen, later), list) in users.iter().zip(ranked) {
                let relevant: HashSet<i64> = later.iter().map(|l| data.tracks.id(l.item)).collect();
                let listened: HashSet<i64> = seen.iter().map(|l| data.tracks.id(l.item)).collect();
                let cf_list: Vec<i64> = list.iter().map(|&(i, _)| data.tracks.id(i)).collect();
                let genre = genres.get(user_id).copied().flatten();
                let cold_list: Vec<i64> = popularity.recommend(policies.winner, genre, &listened, EVAL_K).into_iter().map(|t| t.0).collect();
                cf += cold_start::ndcg(&cf_list, &relevant, EVAL_K);
                cold += cold_start::ndcg(&cold_list, &relevant, EVAL_K);
            }
            let n = users.len().max(1) as f64;
            FewListens { known, users: users.len() as u64, cf_ndcg_at_10: cf / n, cold_start_ndcg_at_10: cold / n }
        })
        .collect();
    ColdStartChoice {
        policy: policies.winner,
        recent_days: c.recent_days,
        sample_share: c.sample_share,
        fold_in_min_listens: cold_start::fold_in_threshold(&few_listens),
        policies,
        few_listens,
    }
}

/// The stored champion as served, on the held-out listens it was not trained on: each such
/// user folded in from their training-side listens (weighted with the champion's recipe, as
/// scoring folds in a user whose listens changed), their known listens excluded; a user with no
/// listen the champion knows gets the popularity list, as cold start would serve them.
fn evaluate_served(
    data: &TrainingData,
    train_pairs: &[split::WeightedListen],
    test_pairs: &[split::WeightedListen],
    champion: &ServedChampion,
    candidate_recs: &[Ranked],
    baseline_recs: &[Ranked],
    confidence: f64,
) -> ServedEvaluation {
    let (n_users, n_items) = (data.users.len(), data.tracks.len());
    let unseen: Vec<(u32, u32, f32)> = test_pairs
        .iter()
        .filter(|p| champion.seen.binary_search(&(data.users.id(p.user), data.tracks.id(p.item))).is_err())
        .map(|p| (p.user, p.item, 1.0))
        .collect();
    let test = Csr::from_triples(n_users, n_items, &unseen);
    let users: Vec<u32> = (0..n_users as u32).filter(|&u| test.row_len(u as usize) > 0).collect();
    let m = &champion.model;
    // Both id lists are sorted, so the index maps are monotone.
    let to_champion: Vec<Option<u32>> = data.tracks.ids().iter().map(|t| m.ids.tracks.binary_search(t).ok().map(|j| j as u32)).collect();
    let weighted = data.matrix(train_pairs, &m.hyper);
    let yty = m.als.item_gramian();
    // Per held-out user: the factors folded in from the row the recipe keeps, and the champion's
    // indices of every known listen (to exclude).
    type Folded = (Vec<f32>, Vec<u32>);
    let folded: Vec<Option<Folded>> = users
        .par_iter()
        .map(|&u| {
            let (items, weights) = weighted.fit.by_user.row(u as usize);
            let (idx, w): (Vec<u32>, Vec<f32>) = items.iter().zip(weights).filter_map(|(&i, &w)| to_champion[i as usize].map(|j| (j, w))).unzip();
            let heard = || weighted.heard().by_user.row(u as usize).0.iter().filter_map(|&i| to_champion[i as usize]).collect();
            (!idx.is_empty()).then(|| (m.als.fold_in(&yty, &idx, &w), heard()))
        })
        .collect();
    let cf: Vec<(u32, &Folded)> = users.iter().zip(&folded).filter_map(|(&u, f)| f.as_ref().map(|f| (u, f))).collect();
    let factors: Vec<f32> = cf.iter().flat_map(|(_, (f, _))| f.iter().copied()).collect();
    let triples: Vec<(u32, u32, f32)> = cf.iter().enumerate().flat_map(|(row, (_, (_, idx)))| idx.iter().map(move |&i| (row as u32, i, 1.0))).collect();
    let exclude = Csr::from_triples(cf.len(), m.ids.tracks.len(), &triples);
    let current: Vec<bool> = m.ids.tracks.iter().map(|t| data.tracks.index(*t).is_some()).collect();
    let rows: Vec<u32> = (0..cf.len() as u32).collect();
    let ranked = topk::top_k(&factors, &m.als.item_factors, m.als.factors(), &rows, &exclude, &current, EVAL_K);
    let mut recs: Vec<Ranked> = vec![Vec::new(); n_users];
    for &u in &users {
        recs[u as usize] = baseline_recs[u as usize].clone();
    }
    for ((u, _), list) in cf.iter().zip(ranked) {
        recs[*u as usize] = list.into_iter().map(|(j, s)| (data.tracks.index(m.ids.tracks[j as usize]).expect("a current track"), s)).collect();
    }
    ServedEvaluation {
        users: users.len() as u64,
        listens: test.nnz() as u64,
        champion: scores(&recs, &test, n_items),
        candidate: scores(candidate_recs, &test, n_items),
        cold_start_users: (users.len() - cf.len()) as u64,
        versus_champion: gate::Comparison::paired(
            &evaluate::per_user_ndcg(candidate_recs, &test, EVAL_K),
            &evaluate::per_user_ndcg(&recs, &test, EVAL_K),
            confidence,
        ),
    }
}

#[cfg(test)]
mod tests;
