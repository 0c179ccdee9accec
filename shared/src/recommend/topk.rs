//! Top-K items for many users from factor matrices: blocked sgemm scores, then per-user selection.

use super::als::AlsModel;
use super::interactions::Csr;
use super::recipe::TrainMatrix;
use rayon::prelude::*;

/// One user's recommendations: `(item index, score)`, best first, ties by lower item index.
pub type Ranked = Vec<(u32, f32)>;

/// Users scored per sgemm block (the unit of parallelism).
const USER_BATCH: usize = 256;
/// Items per score block: `USER_BATCH x ITEM_CHUNK` f32 = 2 MiB, cache-sized.
const ITEM_CHUNK: usize = 2048;

/// Top `k` for every user of the model, excluding items the user has heard and items the model
/// was not fitted on (it knows nothing about those).
pub fn recommend_all(model: &AlsModel, train: &TrainMatrix, k: usize) -> Vec<Ranked> {
    let users: Vec<u32> = (0..model.n_users() as u32).collect();
    let eligible: Vec<bool> = (0..train.fit.n_items()).map(|i| train.fit.by_item.row_len(i) > 0).collect();
    top_k(&model.user_factors, &model.item_factors, model.factors(), &users, &train.heard().by_user, &eligible, k)
}

/// Top `k` items by `user . item` for each of `users` (result in the same order), skipping the
/// items in the user's row of `exclude` and items whose `eligible` flag is false: [`top_k_blended`]
/// without a bias.
pub fn top_k(user_factors: &[f32], item_factors: &[f32], factors: usize, users: &[u32], exclude: &Csr, eligible: &[bool], k: usize) -> Vec<Ranked> {
    top_k_blended(user_factors, item_factors, factors, users, exclude, eligible, &[], k)
}

/// [`top_k`] by `user . item + bias[item]` (`bias` empty: none), the drift blend ([`super::drift`]).
#[allow(clippy::too_many_arguments)]
pub fn top_k_blended(
    user_factors: &[f32],
    item_factors: &[f32],
    factors: usize,
    users: &[u32],
    exclude: &Csr,
    eligible: &[bool],
    bias: &[f32],
    k: usize,
) -> Vec<Ranked> {
    let f = factors;
    // Score only eligible items: gather them into one dense matrix; `compact[item]` = its row there.
    let kept: Vec<u32> = (0..eligible.len() as u32).filter(|&i| eligible[i as usize]).collect();
    let mut compact = vec![u32::MAX; eligible.len()];
    let mut items = Vec::with_capacity(kept.len() * f);
    for (c, &i) in kept.iter().enumerate() {
        compact[i as usize] = c as u32;
        items.extend_from_slice(&item_factors[i as usize * f..(i as usize + 1) * f]);
    }
    let kept_bias: Vec<f32> = match bias.is_empty() {
        true => Vec::new(),
        false => kept.iter().map(|&i| bias[i as usize]).collect(),
    };
    let n_items = kept.len();
    if k == 0 || n_items == 0 {
        return vec![Vec::new(); users.len()];
    }
    users
        .par_chunks(USER_BATCH)
        .flat_map_iter(|batch| {
            let nb = batch.len();
            let mut u = Vec::with_capacity(nb * f);
            for &x in batch {
                u.extend_from_slice(&user_factors[x as usize * f..(x as usize + 1) * f]);
            }
            let mut best: Vec<TopList> = (0..nb).map(|_| TopList::new(k)).collect();
            // Per user, a cursor into their (sorted) excluded items, in compact positions.
            let excl: Vec<Vec<u32>> = batch
                .iter()
                .map(|&x| exclude.row(x as usize).0.iter().map(|&i| compact[i as usize]).filter(|&c| c != u32::MAX).collect())
                .collect();
            let mut cursor = vec![0usize; nb];
            let mut scores = vec![0f32; nb * ITEM_CHUNK.min(n_items)];
            for c0 in (0..n_items).step_by(ITEM_CHUNK) {
                let nc = ITEM_CHUNK.min(n_items - c0);
                let block = &mut scores[..nb * nc];
                // block = u (nb x f) . items[c0..c0+nc]^T (f x nc, strides 1, f).
                // SAFETY: sizes and strides describe exactly the three slices.
                unsafe {
                    matrixmultiply::sgemm(nb, f, nc, 1.0, u.as_ptr(), f as isize, 1, items[c0 * f..].as_ptr(), 1, f as isize, 0.0, block.as_mut_ptr(), nc as isize, 1);
                }
                for j in 0..nb {
                    let row = &mut block[j * nc..(j + 1) * nc];
                    if !kept_bias.is_empty() {
                        for (s, &b) in row.iter_mut().zip(&kept_bias[c0..c0 + nc]) {
                            *s += b;
                        }
                    }
                    let (ex, cur) = (&excl[j], &mut cursor[j]);
                    while *cur < ex.len() && (ex[*cur] as usize) < c0 + nc {
                        row[ex[*cur] as usize - c0] = f32::NEG_INFINITY;
                        *cur += 1;
                    }
                    best[j].scan(row, c0 as u32);
                }
            }
            best.into_iter().map(|t| t.into_ranked(&kept)).collect::<Vec<_>>()
        })
        .collect()
}

/// The best `k` (score, position) seen so far, sorted best first.
struct TopList {
    k: usize,
    items: Vec<(f32, u32)>,
    /// Smallest score that can enter: the k-th best once full, else -inf (which never enters).
    threshold: f32,
}

impl TopList {
    fn new(k: usize) -> Self {
        Self { k, items: Vec::with_capacity(k + 1), threshold: f32::NEG_INFINITY }
    }

    /// Offers `row[j]` as position `base + j`. Positions arrive ascending, so a strict `>` keeps
    /// the lower position on ties. Checks 8 at a time with a vectorisable max first.
    fn scan(&mut self, row: &[f32], base: u32) {
        let chunks = row.chunks_exact(8);
        let tail = chunks.remainder();
        for (c, ch) in chunks.enumerate() {
            let m = ch.iter().fold(f32::NEG_INFINITY, |a, &b| if b > a { b } else { a });
            if m > self.threshold {
                for (l, &s) in ch.iter().enumerate() {
                    self.offer(s, base + (c * 8 + l) as u32);
                }
            }
        }
        let t0 = row.len() - tail.len();
        for (l, &s) in tail.iter().enumerate() {
            self.offer(s, base + (t0 + l) as u32);
        }
    }

    #[inline]
    fn offer(&mut self, s: f32, pos: u32) {
        // Threshold is -inf until full, so excluded (-inf) and NaN scores never enter.
        if s <= self.threshold || s.is_nan() {
            return;
        }
        let at = self.items.partition_point(|&(t, _)| t >= s);
        self.items.insert(at, (s, pos));
        if self.items.len() > self.k {
            self.items.pop();
        }
        if self.items.len() == self.k {
            self.threshold = self.items[self.k - 1].0;
        }
    }

    fn into_ranked(self, kept: &[u32]) -> Ranked {
        self.items.into_iter().map(|(s, p)| (kept[p as usize], s)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_matches_brute_force_with_exclusions_and_ties() {
        // 1 factor: score = u * item, so the order is the items' order (times the user's sign).
        let items: Vec<f32> = vec![0.5, 2.0, 1.0, 2.0, -1.0, 3.0, 2.0];
        let users = vec![1.0, -1.0, 0.0];
        let exclude = Csr::from_triples(3, 7, &[(0, 5, 1.0), (1, 4, 1.0)]);
        let eligible = vec![true, true, true, true, true, true, false];
        let r = top_k(&users, &items, 1, &[0, 1, 2], &exclude, &eligible, 3);
        // user 0: 5 excluded, 6 ineligible; 2.0 ties at items 1 and 3 -> lower first; then 1.0 (item 2).
        assert_eq!(r[0], vec![(1, 2.0), (3, 2.0), (2, 1.0)]);
        // user 1: scores negated, 4 excluded: -0.5 (0), -1 (2), -2 (1).
        assert_eq!(r[1], vec![(0, -0.5), (2, -1.0), (1, -2.0)]);
        // user 2: all zero scores -> lowest indices.
        assert_eq!(r[2], vec![(0, 0.0), (1, 0.0), (2, 0.0)]);
    }

    #[test]
    fn recommend_all_excludes_every_heard_item_and_ranks_only_fitted_ones() {
        use crate::recommend::als::{AlsModel, AlsParams};
        use crate::recommend::recipe::Recipe;
        use crate::recommend::split::WeightedListen;
        let l = |user, item, timestamp| WeightedListen { user, item, weight: 1.0, timestamp };
        // User 0 heard 0, 1, 2 (in that order), user 1 heard 3 then 0, user 2 heard 3; capped at 1
        // track each, they are fitted on 2, 0 and 3: item 1 is fitted for nobody, item 4 never heard.
        let recipe = Recipe { als: AlsParams { factors: 2, ..AlsParams::default() }, recency_beta: 0.0, recency_power: 1.0, max_tracks_per_user: 1, train_user_share: 1.0 };
        let m = recipe.matrix(3, 5, &[l(0, 0, 0), l(0, 1, 1), l(0, 2, 2), l(1, 3, 0), l(1, 0, 1), l(2, 3, 0)]);
        let r = recommend_all(&AlsModel::train(&recipe.als, &m.fit), &m, 5);
        let items = |u: usize| {
            let mut v: Vec<u32> = r[u].iter().map(|p| p.0).collect();
            v.sort_unstable();
            v
        };
        assert_eq!((items(0), items(1), items(2)), (vec![3], vec![2], vec![0, 2]));
    }

    #[test]
    fn top_k_spanning_many_chunks_agrees_with_sorting() {
        let (nu, ni, f) = (300, 5000, 4);
        let h = |x: u64| (x.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 40) as f32 / (1u64 << 24) as f32 - 0.5;
        let uf: Vec<f32> = (0..nu * f).map(|j| h(j as u64 + 1)).collect();
        let itf: Vec<f32> = (0..ni * f).map(|j| h(j as u64 + 1_000_000)).collect();
        let triples: Vec<(u32, u32, f32)> = (0..nu as u32).flat_map(|u| (0..20).map(move |j| (u, (u * 37 + j * 251) % ni as u32, 1.0))).collect();
        let ex = Csr::from_triples(nu, ni, &triples);
        let eligible: Vec<bool> = (0..ni).map(|i| i % 7 != 0).collect();
        let users: Vec<u32> = (0..nu as u32).rev().collect();
        let r = top_k(&uf, &itf, f, &users, &ex, &eligible, 10);
        for (n, &u) in users.iter().enumerate() {
            let mut all: Vec<(u32, f32)> = (0..ni as u32)
                .filter(|&i| eligible[i as usize] && !ex.contains(u as usize, i))
                .map(|i| (i, super::super::als::dot(&uf[u as usize * f..][..f], &itf[i as usize * f..][..f])))
                .collect();
            all.sort_by(|a, b| b.1.partial_cmp(&a.1).unwrap().then(a.0.cmp(&b.0)));
            let want: Vec<u32> = all[..10].iter().map(|x| x.0).collect();
            let got: Vec<u32> = r[n].iter().map(|x| x.0).collect();
            // sgemm and the dot may round differently; compare scores loosely, ids exactly when clear.
            for (g, w) in r[n].iter().zip(&all[..10]) {
                assert!((g.1 - w.1).abs() < 1e-5, "user {u}: {got:?} vs {want:?}");
            }
        }
    }
}
