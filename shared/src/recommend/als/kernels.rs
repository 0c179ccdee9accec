//! The training math: Gramians, the per-row conjugate-gradient solves (with their SIMD copies),
//! the exact solve tests compare against, the loss and the initial factors.

use super::model::{AlsModel, AlsParams};
use crate::recommend::interactions::{Csr, Interactions};
use rayon::prelude::*;

/// Rows of the factor matrix per partial Gramian (summed in order, so deterministic).
const GRAM_CHUNK: usize = 4096;
/// CG stops early on a row once its squared residual falls below this (as `implicit` does).
const CG_EPS: f32 = 1e-20;

/// `YtY` (`k x k`, row-major) of a row-major `n x k` factor matrix, computed in fixed chunks
/// summed in order (parallel, deterministic).
pub(super) fn gramian(factors: &[f32], k: usize) -> Vec<f32> {
    let partials: Vec<Vec<f32>> = factors
        .par_chunks(GRAM_CHUNK * k)
        .map(|y| {
            let n = y.len() / k;
            let mut g = vec![0f32; k * k];
            // g = y^T y: A = y^T (k x n, strides 1,k), B = y (n x k, strides k,1).
            // SAFETY: the strides and sizes describe exactly the slices' extents.
            unsafe {
                matrixmultiply::sgemm(k, n, k, 1.0, y.as_ptr(), 1, k as isize, y.as_ptr(), k as isize, 1, 0.0, g.as_mut_ptr(), k as isize, 1);
            }
            g
        })
        .collect();
    let mut g = vec![0f32; k * k];
    for p in &partials {
        for (a, b) in g.iter_mut().zip(p) {
            *a += b;
        }
    }
    // Exactly symmetric, so CG sees a symmetric operator.
    for a in 0..k {
        for b in a + 1..k {
            let m = 0.5 * (g[a * k + b] + g[b * k + a]);
            g[a * k + b] = m;
            g[b * k + a] = m;
        }
    }
    g
}

pub(super) fn regularized_gramian(factors: &[f32], k: usize, reg: f32) -> Vec<f32> {
    let mut g = gramian(factors, k);
    for d in 0..k {
        g[d * k + d] += reg;
    }
    g
}

/// One user's factors from their listens with the items fixed (`yty` = [`gramian`] of
/// `item_factors`, without the regularisation). Starts from zero and runs `params.factors` CG
/// steps (exact convergence in exact arithmetic), so it matches `solve_user_exact` to f32
/// rounding, i.e. what a training user solve converges to. Cost ~ `factors * (k^2 + 2k*nnz)` flops.
pub(super) fn fold_in(params: &AlsParams, item_factors: &[f32], yty: &[f32], items: &[u32], weights: &[f32]) -> Vec<f32> {
    let k = params.factors;
    let mut g = yty.to_vec();
    for d in 0..k {
        g[d * k + d] += params.regularization;
    }
    let mut x = vec![0f32; k];
    let mut ws = Workspace::new(k);
    Simd::detect().cg_row(&mut x, items, weights, item_factors, &g, params.alpha, k.max(params.cg_steps), &mut ws);
    x
}

/// The exact solution (f64 Cholesky) of the same per-user normal equations as [`fold_in`]; for tests.
#[cfg(test)]
pub(super) fn solve_user_exact(params: &AlsParams, item_factors: &[f32], yty: &[f32], items: &[u32], weights: &[f32]) -> Vec<f32> {
    let k = params.factors;
    let mut a: Vec<f64> = yty.iter().map(|&v| v as f64).collect();
    let mut b = vec![0f64; k];
    for d in 0..k {
        a[d * k + d] += params.regularization as f64;
    }
    for (&i, &r) in items.iter().zip(weights) {
        let y = &item_factors[i as usize * k..(i as usize + 1) * k];
        let c = 1.0 + params.alpha as f64 * r as f64;
        for p in 0..k {
            b[p] += c * y[p] as f64;
            for q in 0..k {
                a[p * k + q] += (c - 1.0) * y[p] as f64 * y[q] as f64;
            }
        }
    }
    // Cholesky A = L L^T in place (lower triangle), then two triangular solves.
    for j in 0..k {
        let mut d = a[j * k + j];
        for m in 0..j {
            d -= a[j * k + m] * a[j * k + m];
        }
        let d = d.sqrt();
        a[j * k + j] = d;
        for i in j + 1..k {
            let mut s = a[i * k + j];
            for m in 0..j {
                s -= a[i * k + m] * a[j * k + m];
            }
            a[i * k + j] = s / d;
        }
    }
    for i in 0..k {
        let mut s = b[i];
        for m in 0..i {
            s -= a[i * k + m] * b[m];
        }
        b[i] = s / a[i * k + i];
    }
    for i in (0..k).rev() {
        let mut s = b[i];
        for m in i + 1..k {
            s -= a[m * k + i] * b[m];
        }
        b[i] = s / a[i * k + i];
    }
    b.into_iter().map(|v| v as f32).collect()
}

/// The training objective (module doc) of `model` on `data`, in O(nnz*k + n*k^2); for monitoring.
pub(super) fn loss(model: &AlsModel, data: &Interactions) -> f64 {
    let p = &model.params;
    let k = p.factors;
    let yty = gramian(&model.item_factors, k);
    let rows: f64 = (0..model.n_users())
        .into_par_iter()
        .map(|u| {
            let x = model.user(u);
            let mut l = 0f64;
            for a in 0..k {
                l += x[a] as f64 * dot(&yty[a * k..(a + 1) * k], x) as f64;
            }
            let (items, w) = data.by_user.row(u);
            for (&i, &r) in items.iter().zip(w) {
                let s = dot(model.item(i as usize), x) as f64;
                let c = 1.0 + p.alpha as f64 * r as f64;
                l += (c - 1.0) * s * s - 2.0 * c * s + c;
            }
            l
        })
        .sum();
    let norms: f64 = model.user_factors.iter().chain(&model.item_factors).map(|&v| (v as f64) * (v as f64)).sum();
    rows + p.regularization as f64 * norms
}

/// Small deterministic initial factors: uniform in `[0, 0.1/sqrt(k))`, from a splitmix64 hash of
/// (seed, side, position), so any row's values are independent of every other's.
pub(super) fn init_factors(n: usize, k: usize, seed: u64, side: u64) -> Vec<f32> {
    let scale = 0.1 / (k as f32).sqrt();
    let base = seed ^ side.wrapping_mul(0xA076_1D64_78BD_642F);
    (0..n * k)
        .map(|j| {
            let h = splitmix64(base.wrapping_add(j as u64));
            ((h >> 40) as f32 / (1u64 << 24) as f32) * scale
        })
        .collect()
}

pub(super) fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Per-thread scratch vectors of one CG solve.
struct Workspace {
    r: Vec<f32>,
    p: Vec<f32>,
    ap: Vec<f32>,
}

impl Workspace {
    fn new(k: usize) -> Self {
        Self { r: vec![0.0; k], p: vec![0.0; k], ap: vec![0.0; k] }
    }
}

/// Solves every row of `x` (rows of `m`) against fixed `y`, `g = YtY + lambda I`. Each row is
/// independent (same arithmetic whatever thread runs it), so the result is thread-count free.
pub(super) fn solve_side(x: &mut [f32], y: &[f32], g: &[f32], m: &Csr, params: &AlsParams) {
    let k = params.factors;
    let simd = Simd::detect();
    x.par_chunks_mut(k).with_min_len(16).enumerate().for_each_init(
        || Workspace::new(k),
        |ws, (u, xu)| {
            let (items, w) = m.row(u);
            simd.cg_row(xu, items, w, y, g, params.alpha, params.cg_steps, ws);
        },
    );
}

/// Every row of `m` solved from `x` by each compiled copy (baseline, and AVX2+FMA where the CPU
/// has it), through [`Simd::cg_row`] and through the general (any `k`) copy; for tests.
#[cfg(test)]
pub(super) fn solves_by_sized_and_general_copies(x: &[f32], y: &[f32], g: &[f32], m: &Csr, params: &AlsParams) -> Vec<(Vec<f32>, Vec<f32>)> {
    let k = params.factors;
    let mut copies = vec![Simd::Baseline];
    if !matches!(Simd::detect(), Simd::Baseline) {
        copies.push(Simd::detect());
    }
    let solve = |simd: Simd, general: bool| {
        let mut out = x.to_vec();
        let mut ws = Workspace::new(k);
        for (u, xu) in out.chunks_mut(k).enumerate() {
            let (items, w) = m.row(u);
            match general {
                true => simd.cg_row_sized::<0>(xu, items, w, y, g, params.alpha, params.cg_steps, &mut ws),
                false => simd.cg_row(xu, items, w, y, g, params.alpha, params.cg_steps, &mut ws),
            }
        }
        out
    };
    copies.into_iter().map(|simd| (solve(simd, false), solve(simd, true))).collect()
}

/// Which compiled copy of the row solver to run: the baseline one, or (x86-64 only, detected at
/// run time like matrixmultiply does) one built with AVX2+FMA. aarch64's baseline already has
/// NEON and FMA. The choice depends only on the CPU, so results are reproducible per machine.
#[derive(Clone, Copy)]
enum Simd {
    Baseline,
    #[cfg(target_arch = "x86_64")]
    Avx2Fma,
}

impl Simd {
    fn detect() -> Self {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            return Self::Avx2Fma;
        }
        Self::Baseline
    }

    /// Solves one row, through a copy with the factor count as a constant for 64 (the default)
    /// and 128: every loop then has a known trip count (unrolled, no remainder, reductions kept
    /// in vector registers): about a fifth faster at 64, a few percent at 128. Same operations
    /// in the same order, so the result is bit-identical to the general copy's. Not 32: its
    /// AVX2 copy compiled to scalar code and trained 1.7 times slower than the general one.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn cg_row(self, x: &mut [f32], items: &[u32], w: &[f32], y: &[f32], g: &[f32], alpha: f32, steps: usize, ws: &mut Workspace) {
        match x.len() {
            64 => self.cg_row_sized::<64>(x, items, w, y, g, alpha, steps, ws),
            128 => self.cg_row_sized::<128>(x, items, w, y, g, alpha, steps, ws),
            _ => self.cg_row_sized::<0>(x, items, w, y, g, alpha, steps, ws),
        }
    }

    /// [`cg_row`] for `K` factors (0: any number).
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn cg_row_sized<const K: usize>(self, x: &mut [f32], items: &[u32], w: &[f32], y: &[f32], g: &[f32], alpha: f32, steps: usize, ws: &mut Workspace) {
        match self {
            Self::Baseline => cg_row::<false, K>(x, items, w, y, g, alpha, steps, ws),
            // SAFETY: only chosen when the CPU reports AVX2 and FMA.
            #[cfg(target_arch = "x86_64")]
            Self::Avx2Fma => unsafe { cg_row_avx2_fma::<K>(x, items, w, y, g, alpha, steps, ws) },
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn cg_row_avx2_fma<const K: usize>(x: &mut [f32], items: &[u32], w: &[f32], y: &[f32], g: &[f32], alpha: f32, steps: usize, ws: &mut Workspace) {
    cg_row::<true, K>(x, items, w, y, g, alpha, steps, ws)
}

/// CG on one row, warm-started from `x` (updated in place). `FMA`: fuse multiply-adds. `K`: the
/// factor count as a constant, or 0 for any (`x.len()`).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn cg_row<const FMA: bool, const K: usize>(x: &mut [f32], items: &[u32], w: &[f32], y: &[f32], g: &[f32], alpha: f32, steps: usize, ws: &mut Workspace) {
    let k = if K == 0 { x.len() } else { K };
    let (x, g) = (&mut x[..k], &g[..k * k]);
    let (r, p, ap) = (&mut ws.r[..k], &mut ws.p[..k], &mut ws.ap[..k]);
    // r = b - A x = -G x + sum_i (c_i - (c_i - 1) y_i.x) y_i
    sym_matvec::<FMA>(g, x, -1.0, r);
    for (j, (&i, &wi)) in items.iter().zip(w).enumerate() {
        prefetch_row(y, items, j + PREFETCH_AHEAD, k);
        let yi = &y[i as usize * k..][..k];
        let c = 1.0 + alpha * wi;
        axpy::<FMA>(c - (c - 1.0) * dot_::<FMA>(yi, x), yi, r);
    }
    let mut rs = dot_::<FMA>(r, r);
    // `is_nan` too: a degenerate row must stop, not spread NaN.
    if rs < CG_EPS || rs.is_nan() {
        return;
    }
    p.copy_from_slice(r);
    for _ in 0..steps {
        // ap = A p = G p + sum_i (c_i - 1) (y_i.p) y_i
        sym_matvec::<FMA>(g, p, 1.0, ap);
        for (j, (&i, &wi)) in items.iter().zip(w).enumerate() {
            prefetch_row(y, items, j + PREFETCH_AHEAD, k);
            let yi = &y[i as usize * k..][..k];
            axpy::<FMA>(alpha * wi * dot_::<FMA>(yi, p), yi, ap);
        }
        let a = rs / dot_::<FMA>(p, ap);
        axpy::<FMA>(a, p, x);
        axpy::<FMA>(-a, ap, r);
        let rs_new = dot_::<FMA>(r, r);
        if rs_new < CG_EPS || rs_new.is_nan() {
            break;
        }
        let beta = rs_new / rs;
        for (pv, &rv) in p.iter_mut().zip(r.iter()) {
            *pv = fmadd::<FMA>(beta, *pv, rv);
        }
        rs = rs_new;
    }
}

/// How many non-zeros ahead to prefetch factor rows: the gathers of the other side's factors
/// (random rows of a matrix far larger than cache) are what bounds the solve.
const PREFETCH_AHEAD: usize = 8;

/// Hints the cache to fetch row `items[j]` of `y` (no-op past the end or on other targets).
#[inline(always)]
fn prefetch_row(y: &[f32], items: &[u32], j: usize, k: usize) {
    let Some(&i) = items.get(j) else { return };
    let row = &y[i as usize * k..][..k];
    for line in row.chunks(16) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch never faults, and the pointer is in bounds anyway.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(line.as_ptr().cast());
        }
        #[cfg(target_arch = "aarch64")]
        // SAFETY: `prfm` is a hint; it never faults and has no architectural effect.
        unsafe {
            std::arch::asm!("prfm pldl1keep, [{0}]", in(reg) line.as_ptr(), options(nostack, readonly, preserves_flags));
        }
        #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
        let _ = line;
    }
}

/// `out = scale * g v` for symmetric `g` (`k x k`): `out` is built 32 lanes at a time in
/// register accumulators over the rows of `g` (8 independent vector chains, `g` streamed once).
#[inline(always)]
fn sym_matvec<const FMA: bool>(g: &[f32], v: &[f32], scale: f32, out: &mut [f32]) {
    const L: usize = 32;
    let k = v.len();
    let mut c0 = 0;
    while c0 < k {
        let w = L.min(k - c0);
        let mut acc = [0f32; L];
        if w == L {
            for (row, &va) in g.chunks_exact(k).zip(v) {
                let seg = &row[c0..c0 + L];
                for l in 0..L {
                    acc[l] = fmadd::<FMA>(va, seg[l], acc[l]);
                }
            }
        } else {
            for (row, &va) in g.chunks_exact(k).zip(v) {
                for (a, &gv) in acc.iter_mut().zip(&row[c0..c0 + w]) {
                    *a = fmadd::<FMA>(va, gv, *a);
                }
            }
        }
        for (o, &a) in out[c0..c0 + w].iter_mut().zip(&acc) {
            *o = scale * a;
        }
        c0 += w;
    }
}

/// `a*b + c`, fused when `FMA` (a copy compiled with FMA enabled) or on aarch64 (FMA is
/// baseline there); never elsewhere, where `mul_add` would be a slow libm call.
#[inline(always)]
fn fmadd<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA || cfg!(any(target_arch = "aarch64", target_feature = "fma")) { a.mul_add(b, c) } else { a * b + c }
}

/// Dot product (baseline build), for callers outside the hot loops.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    dot_::<false>(a, b)
}

/// Dot product with 32 independent accumulators (vectorises; breaks the add latency chain).
#[inline(always)]
fn dot_<const FMA: bool>(a: &[f32], b: &[f32]) -> f32 {
    const L: usize = 32;
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; L];
    let (ca, cb) = (a.chunks_exact(L), b.chunks_exact(L));
    let (ta, tb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..L {
            acc[l] = fmadd::<FMA>(x[l], y[l], acc[l]);
        }
    }
    for (l, (x, y)) in ta.iter().zip(tb).enumerate() {
        acc[l] = fmadd::<FMA>(*x, *y, acc[l]);
    }
    // Tree reduction in lanes of 8 (stays vectorised), then the last 8.
    let mut h = [0f32; 8];
    for l in 0..8 {
        h[l] = (acc[l] + acc[l + 8]) + (acc[l + 16] + acc[l + 24]);
    }
    (h[0] + h[4]) + (h[1] + h[5]) + ((h[2] + h[6]) + (h[3] + h[7]))
}

/// `y += a * x`.
#[inline(always)]
fn axpy<const FMA: bool>(a: f32, x: &[f32], y: &mut [f32]) {
    for (yv, &xv) in y.iter_mut().zip(x) {
        *yv = fmadd::<FMA>(a, xv, *yv);
    }
}
