use super::format::HEADER_LEN;
use super::kernels::{gramian, init_factors, loss, regularized_gramian, solve_side, solve_user_exact, solves_by_sized_and_general_copies, splitmix64};
use super::*;
use crate::recommend::interactions::Interactions;

/// A random sparse matrix with deterministic content.
fn random_data(n_users: usize, n_items: usize, per_user: usize, seed: u64) -> Interactions {
    let mut t = Vec::new();
    for u in 0..n_users {
        for j in 0..per_user {
            let h = splitmix64(seed ^ ((u * 1000 + j) as u64));
            t.push((u as u32, (h % n_items as u64) as u32, 1.0 + (h >> 60) as f32));
        }
    }
    Interactions::from_triples(n_users, n_items, &t)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0.0, f32::max)
}

#[test]
fn cg_converges_to_the_cholesky_solution() {
    let data = random_data(40, 30, 6, 7);
    let params = AlsParams { factors: 8, regularization: 0.1, alpha: 2.0, iterations: 3, cg_steps: 3, seed: 1 };
    let model = AlsModel::train(&params, &data);
    let yty = model.item_gramian();
    for u in 0..40 {
        let (items, w) = data.by_user.row(u);
        let exact = solve_user_exact(&params, &model.item_factors, &yty, items, w);
        let folded = model.fold_in(&yty, items, w);
        let scale = exact.iter().map(|v| v.abs()).fold(0.0, f32::max);
        assert!(max_abs_diff(&exact, &folded) <= 1e-3 * scale.max(1e-3), "user {u}: {exact:?} vs {folded:?}");
    }
    // A training-style warm-started block solve with enough steps reaches the same point.
    let g = regularized_gramian(&model.item_factors, 8, 0.1);
    let mut x = model.user_factors.clone();
    let mut p2 = params;
    p2.cg_steps = 30;
    solve_side(&mut x, &model.item_factors, &g, &data.by_user, &p2);
    for u in 0..40 {
        let (items, w) = data.by_user.row(u);
        let exact = solve_user_exact(&params, &model.item_factors, &yty, items, w);
        assert!(max_abs_diff(&exact, &x[u * 8..(u + 1) * 8]) < 1e-3, "user {u}");
    }
}

#[test]
fn the_copies_sized_for_common_factor_counts_solve_bit_for_bit_like_the_general_copy() {
    let data = random_data(60, 50, 12, 11);
    for k in [64, 128] {
        let y = init_factors(50, k, 4, 1);
        // A training solve (warm start, a few steps) and a fold-in (from zero, `k` steps).
        for (x, cg_steps) in [(init_factors(60, k, 4, 0), 3), (vec![0.0; 60 * k], k)] {
            let params = AlsParams { factors: k, regularization: 0.5, alpha: 3.0, iterations: 1, cg_steps, seed: 4 };
            let g = regularized_gramian(&y, k, params.regularization);
            for (sized, general) in solves_by_sized_and_general_copies(&x, &y, &g, &data.by_user, &params) {
                assert_ne!(sized, x, "k {k}: the solve changed nothing");
                let bits = |v: &[f32]| v.iter().map(|f| f.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&sized), bits(&general), "k {k}, {cg_steps} steps: the sized copy must match the general one bit for bit");
            }
        }
    }
}

#[test]
fn training_decreases_the_loss_and_is_reproducible() {
    let data = random_data(200, 120, 10, 3);
    let mut params = AlsParams { factors: 16, regularization: 0.5, alpha: 3.0, iterations: 1, cg_steps: 3, seed: 9 };
    let mut last = f64::INFINITY;
    for it in [1, 3, 8] {
        params.iterations = it;
        let l = loss(&AlsModel::train(&params, &data), &data);
        assert!(l < last, "loss went up at {it} iterations: {l} >= {last}");
        last = l;
    }
    let a = AlsModel::train(&params, &data);
    let b = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap().install(|| AlsModel::train(&params, &data));
    assert_eq!(a, b, "training must not depend on the thread count");
}

#[test]
fn bytes_round_trip_and_malformed_input_is_refused() {
    let data = random_data(10, 7, 3, 5);
    let model = AlsModel::train(&AlsParams { factors: 4, iterations: 2, ..AlsParams::default() }, &data);
    let bytes = model.to_bytes();
    assert_eq!(bytes.len(), HEADER_LEN + 4 * 4 * 17);
    assert_eq!(AlsModel::from_bytes(&bytes).unwrap(), model);
    assert_eq!(AlsModel::from_bytes(&bytes[..10]), Err(ModelError::Truncated { expected: 56, actual: 10 }));
    assert!(matches!(AlsModel::from_bytes(&bytes[..bytes.len() - 1]), Err(ModelError::Truncated { .. })));
    let mut long = bytes.clone();
    long.push(0);
    assert!(matches!(AlsModel::from_bytes(&long), Err(ModelError::TrailingBytes { .. })));
    let mut bad = bytes.clone();
    bad[0] = b'X';
    assert_eq!(AlsModel::from_bytes(&bad), Err(ModelError::BadMagic));
    let mut bad = bytes.clone();
    bad[8] = 2;
    assert_eq!(AlsModel::from_bytes(&bad), Err(ModelError::UnsupportedVersion(2)));
    let mut bad = bytes.clone();
    bad[16..24].copy_from_slice(&u64::MAX.to_le_bytes());
    assert_eq!(AlsModel::from_bytes(&bad), Err(ModelError::BadHeader("dimensions overflow")));
    let mut bad = bytes.clone();
    bad[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(&f32::NAN.to_le_bytes());
    assert_eq!(AlsModel::from_bytes(&bad), Err(ModelError::NonFinite { index: 0 }));
    assert!(ModelError::BadMagic.to_string().contains("magic"));
}

#[test]
fn gramian_matches_naive() {
    let y: Vec<f32> = (0..5 * 3).map(|v| (v as f32 * 0.37).sin()).collect();
    let g = gramian(&y, 3);
    for a in 0..3 {
        for b in 0..3 {
            let naive: f32 = (0..5).map(|r| y[r * 3 + a] * y[r * 3 + b]).sum();
            assert!((g[a * 3 + b] - naive).abs() < 1e-5);
        }
    }
}
