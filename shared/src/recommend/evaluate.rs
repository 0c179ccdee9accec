//! Offline ranking metrics at K (as in the `implicit` library) and the popularity baseline.

use super::interactions::{Csr, Interactions};
use super::topk::Ranked;
use rayon::prelude::*;

/// RankingMetrics averaged over the users with at least one held-out item.
///
/// Per user with relevant (held-out) set `R`, top-K list `L` and `hits = |L ∩ R|`:
/// - `precision` = hits / K;
/// - `recall` = hits / |R| (the textbook definition);
/// - `implicit_precision` = sum hits / sum min(K, |R|) over users: what `implicit`'s
///   `ranking_metrics_at_k` reports as "precision" (a micro-averaged, capped recall);
/// - `ndcg` = DCG / IDCG, binary gains `1/log2(rank+2)`, IDCG over `min(K, |R|)` positions;
/// - `map` = (sum over hits at rank i of hits-so-far / (i+1)) / min(K, |R|), as in `implicit`;
/// - `coverage` = distinct items recommended (top K, evaluated users) / `catalogue`.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RankingMetrics {
    pub users: usize,
    pub precision: f64,
    pub recall: f64,
    pub implicit_precision: f64,
    pub ndcg: f64,
    pub map: f64,
    pub coverage: f64,
}

/// Scores `recs` (indexed by user; users past its end count as empty lists) against the held-out `test`
/// matrix (by user; its distinct items per user are the relevant set), at cut-off `k`.
pub fn evaluate(recs: &[Ranked], test: &Csr, k: usize, catalogue: usize) -> RankingMetrics {
    let mut m = RankingMetrics::default();
    let (mut hits_total, mut capped_total) = (0usize, 0usize);
    let mut seen = vec![false; test.n_cols()];
    for u in 0..test.n_rows() {
        let rec: &[(u32, f32)] = recs.get(u).map_or(&[], |r| r);
        let relevant = test.row(u).0;
        if relevant.is_empty() {
            continue;
        }
        let cap = k.min(relevant.len());
        let idcg: f64 = (0..cap).map(gain).sum();
        let (mut hits, mut dcg, mut ap) = (0usize, 0f64, 0f64);
        for (rank, &(item, _)) in rec.iter().take(k).enumerate() {
            seen[item as usize] = true;
            if relevant.binary_search(&item).is_ok() {
                hits += 1;
                dcg += gain(rank);
                ap += hits as f64 / (rank + 1) as f64;
            }
        }
        m.users += 1;
        m.precision += hits as f64 / k as f64;
        m.recall += hits as f64 / relevant.len() as f64;
        m.ndcg += dcg / idcg;
        m.map += ap / cap as f64;
        hits_total += hits;
        capped_total += cap;
    }
    if m.users > 0 {
        let n = m.users as f64;
        m.precision /= n;
        m.recall /= n;
        m.ndcg /= n;
        m.map /= n;
        m.implicit_precision = hits_total as f64 / capped_total as f64;
    }
    m.coverage = seen.iter().filter(|&&s| s).count() as f64 / catalogue.max(1) as f64;
    m
}

/// Each evaluated user's NDCG@`k` (users with at least one held-out item, in user order), as
/// averaged by [`evaluate`]: the paired values the gate compares.
pub fn per_user_ndcg(recs: &[Ranked], test: &Csr, k: usize) -> Vec<f64> {
    (0..test.n_rows())
        .filter_map(|u| {
            let relevant = test.row(u).0;
            if relevant.is_empty() {
                return None;
            }
            Some(ndcg_of(recs.get(u).map_or(&[], |r| r), relevant, k))
        })
        .collect()
}

/// NDCG@`k` of one list against a user's held-out items (sorted, not empty).
pub fn ndcg_of(rec: &[(u32, f32)], relevant: &[u32], k: usize) -> f64 {
    let idcg: f64 = (0..k.min(relevant.len())).map(gain).sum();
    let dcg: f64 = rec.iter().take(k).enumerate().filter(|(_, (item, _))| relevant.binary_search(item).is_ok()).map(|(rank, _)| gain(rank)).sum();
    dcg / idcg
}

fn gain(rank: usize) -> f64 {
    1.0 / ((rank + 2) as f64).log2()
}

/// The popularity baseline: for each user, the `k` items with the most training interactions
/// (distinct users; ties by lower item index) that the user has not listened to. Score = count.
pub fn popularity(train: &Interactions, k: usize) -> Vec<Ranked> {
    let mut order: Vec<u32> = (0..train.n_items() as u32).filter(|&i| train.by_item.row_len(i as usize) > 0).collect();
    order.sort_by_key(|&i| (std::cmp::Reverse(train.by_item.row_len(i as usize)), i));
    (0..train.n_users())
        .into_par_iter()
        .map(|u| {
            order
                .iter()
                .filter(|&&i| !train.by_user.contains(u, i))
                .take(k)
                .map(|&i| (i, train.by_item.row_len(i as usize) as f32))
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ranked(items: &[u32]) -> Ranked {
        items.iter().map(|&i| (i, 0.0)).collect()
    }

    #[test]
    fn metrics_on_a_hand_computed_case() {
        // K = 3, 10 items in the catalogue.
        // user 0: relevant {1, 5}, recs [1, 2, 5]: hits at ranks 0 and 2.
        //   precision 2/3, recall 2/2 = 1, DCG = 1 + 1/log2(4) = 1.5, IDCG (2 pos) = 1 + 1/log2(3)
        //   = 1.630930, NDCG = 0.919721; AP = (1/1 + 2/3) / min(3, 2) = 0.833333.
        // user 1: relevant {0, 3, 4, 7}, recs [9, 4, 8]: hit at rank 1.
        //   precision 1/3, recall 1/4, DCG = 1/log2(3) = 0.630930, IDCG (3 pos) = 1 + 0.630930 +
        //   0.5 = 2.130930, NDCG = 0.296082; AP = (1/2) / 3 = 0.166667.
        // user 2: no held-out item: not evaluated (its recs still are not counted in coverage).
        let test = Csr::from_triples(3, 10, &[(0, 1, 1.0), (0, 5, 1.0), (1, 0, 1.0), (1, 3, 1.0), (1, 4, 1.0), (1, 7, 1.0)]);
        let recs = vec![ranked(&[1, 2, 5, 6]), ranked(&[9, 4, 8]), ranked(&[0, 1, 2])];
        let m = evaluate(&recs, &test, 3, 10);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-6;
        assert_eq!(m.users, 2);
        assert!(close(m.precision, (2.0 / 3.0 + 1.0 / 3.0) / 2.0));
        assert!(close(m.recall, (1.0 + 0.25) / 2.0));
        assert!(close(m.implicit_precision, 3.0 / (2.0 + 3.0)));
        assert!(close(m.ndcg, (0.919721 + 0.296082) / 2.0), "{}", m.ndcg);
        assert!(close(m.map, (0.833333 + 0.166667) / 2.0), "{}", m.map);
        // Distinct recommended (first 3, users 0 and 1): {1, 2, 5, 9, 4, 8} = 6 of 10.
        assert!(close(m.coverage, 0.6));
        let per_user = per_user_ndcg(&recs, &test, 3);
        assert_eq!(per_user.len(), 2);
        assert!(close(per_user[0], 0.919721) && close(per_user[1], 0.296082), "{per_user:?}");
    }

    #[test]
    fn popularity_skips_listened_items_and_breaks_ties_by_index() {
        // Counts: item 2 -> 3 users, items 0 and 1 -> 2 each, item 3 -> 1, item 4 -> 0.
        let t = [(0, 2, 1.0), (1, 2, 1.0), (2, 2, 1.0), (0, 1, 1.0), (1, 1, 1.0), (1, 0, 1.0), (2, 0, 1.0), (2, 3, 1.0)];
        let train = Interactions::from_triples(4, 5, &t);
        let recs = popularity(&train, 3);
        assert_eq!(recs[0], vec![(0, 2.0), (3, 1.0)]); // has 2 and 1; item 4 never listened: never recommended
        assert_eq!(recs[3], vec![(2, 3.0), (0, 2.0), (1, 2.0)]);
    }
}
