//! Implicit-feedback ALS (Hu, Koren & Volinsky 2008) solved by conjugate gradient (Takács et al. 2011).
//!
//! Model: for every user u and item i, preference `p = 1` if `r_ui > 0` else `0`, confidence
//! `c = 1 + alpha * r_ui` (so `c = 1` for unobserved pairs). Loss:
//! `sum_{u,i} c_ui (p_ui - x_u . y_i)^2 + lambda (|X|^2 + |Y|^2)`.
//! Note: the `implicit` Python library takes the matrix *already* multiplied by alpha and uses
//! `c = alpha * r` on the non-zeros, so its `alpha = a` with counts `r` corresponds to our
//! confidence `1 + a*r` only approximately; here `alpha` multiplies the raw weight and 1 is added.
//!
//! Each half-iteration fixes one side (Y) and solves, for every row u,
//! `(YtY + lambda I + sum_{i in u} (c_ui - 1) y_i y_i^T) x_u = sum_{i in u} c_ui y_i`
//! by a few CG steps warm-started from the current `x_u`, never forming the matrix: `YtY` is
//! computed once per half-iteration (sgemm) and each row's sparse part is applied from its own
//! non-zeros, which stay in cache across the CG steps of that row. Rows are independent, so the
//! result is bit-identical whatever the number of rayon threads.

use super::interactions::{Csr, Interactions};
use rayon::prelude::*;
use std::fmt;

/// Rows of the factor matrix per partial Gramian (summed in order, so deterministic).
const GRAM_CHUNK: usize = 4096;
/// CG stops early on a row once its squared residual falls below this (as `implicit` does).
const CG_EPS: f32 = 1e-20;

/// Hyper-parameters of [`AlsModel::train`].
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AlsParams {
    /// Latent dimensions; multiples of 16 vectorise best.
    pub factors: usize,
    /// L2 penalty `lambda` on every user and item vector (not scaled by counts).
    pub regularization: f32,
    /// Confidence slope: `c = 1 + alpha * weight`.
    pub alpha: f32,
    /// Full iterations (users then items).
    pub iterations: usize,
    /// CG steps per row per half-iteration (warm-started, so 2-4 suffice).
    pub cg_steps: usize,
    /// Seed of the initial factors.
    pub seed: u64,
}

impl Default for AlsParams {
    /// Tuned on a temporal validation slice of MovieLens-100k, with weights from
    /// `split::recency_weighted(.., 300.0, 10.0)` (confidence up to ~1 + 0.3 * 301 for a user's latest).
    fn default() -> Self {
        Self { factors: 64, regularization: 40.0, alpha: 0.3, iterations: 15, cg_steps: 2, seed: 42 }
    }
}

/// A trained model: row-major factor matrices, `n_users x factors` and `n_items x factors`.
#[derive(Debug, Clone, PartialEq)]
pub struct AlsModel {
    pub params: AlsParams,
    pub user_factors: Vec<f32>,
    pub item_factors: Vec<f32>,
}

impl AlsModel {
    /// Trains on `data` (weights = raw listen weights, see the module doc for the confidence).
    pub fn train(params: &AlsParams, data: &Interactions) -> Self {
        let k = params.factors;
        assert!(k > 0, "factors must be positive");
        let user_factors = init_factors(data.n_users(), k, params.seed, 0);
        let item_factors = init_factors(data.n_items(), k, params.seed, 1);
        let mut model = Self { params: *params, user_factors, item_factors };
        let progress = crate::progress::Task::start("training: iterations", params.iterations as u64);
        for _ in 0..params.iterations {
            let g = regularized_gramian(&model.item_factors, k, params.regularization);
            solve_side(&mut model.user_factors, &model.item_factors, &g, &data.by_user, params);
            let g = regularized_gramian(&model.user_factors, k, params.regularization);
            solve_side(&mut model.item_factors, &model.user_factors, &g, &data.by_item, params);
            progress.advance(1);
            // The loss costs about a tenth of an iteration: computed only for a person watching.
            progress.describe(|| format!("loss {:.5e}", loss(&model, data)));
        }
        model
    }

    pub fn factors(&self) -> usize {
        self.params.factors
    }

    pub fn n_users(&self) -> usize {
        self.user_factors.len() / self.params.factors
    }

    pub fn n_items(&self) -> usize {
        self.item_factors.len() / self.params.factors
    }

    pub fn user(&self, u: usize) -> &[f32] {
        let k = self.params.factors;
        &self.user_factors[u * k..(u + 1) * k]
    }

    pub fn item(&self, i: usize) -> &[f32] {
        let k = self.params.factors;
        &self.item_factors[i * k..(i + 1) * k]
    }

    /// `YtY` of the item factors, to pass to [`fold_in`] (compute once, reuse for many users).
    pub fn item_gramian(&self) -> Vec<f32> {
        gramian(&self.item_factors, self.params.factors)
    }

    /// Factors for a user from their listens with the items fixed; see [`fold_in`].
    pub fn fold_in(&self, yty: &[f32], items: &[u32], weights: &[f32]) -> Vec<f32> {
        fold_in(&self.params, &self.item_factors, yty, items, weights)
    }

    /// Serialises to the compact little-endian format read by [`AlsModel::from_bytes`].
    pub fn to_bytes(&self) -> Vec<u8> {
        let p = &self.params;
        let mut out = Vec::with_capacity(HEADER_LEN + 4 * (self.user_factors.len() + self.item_factors.len()));
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&(p.factors as u32).to_le_bytes());
        out.extend_from_slice(&(self.n_users() as u64).to_le_bytes());
        out.extend_from_slice(&(self.n_items() as u64).to_le_bytes());
        out.extend_from_slice(&p.regularization.to_le_bytes());
        out.extend_from_slice(&p.alpha.to_le_bytes());
        out.extend_from_slice(&(p.iterations as u32).to_le_bytes());
        out.extend_from_slice(&(p.cg_steps as u32).to_le_bytes());
        out.extend_from_slice(&p.seed.to_le_bytes());
        for v in self.user_factors.iter().chain(&self.item_factors) {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out
    }

    /// Parses [`AlsModel::to_bytes`] output, refusing anything malformed.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, ModelError> {
        if bytes.len() < HEADER_LEN {
            return Err(ModelError::Truncated { expected: HEADER_LEN as u64, actual: bytes.len() as u64 });
        }
        if &bytes[..8] != MAGIC {
            return Err(ModelError::BadMagic);
        }
        let u32_at = |o: usize| u32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
        let u64_at = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap());
        let f32_at = |o: usize| f32::from_le_bytes(bytes[o..o + 4].try_into().unwrap());
        let version = u32_at(8);
        if version != FORMAT_VERSION {
            return Err(ModelError::UnsupportedVersion(version));
        }
        let (factors, n_users, n_items) = (u32_at(12) as u64, u64_at(16), u64_at(24));
        if factors == 0 {
            return Err(ModelError::BadHeader("factors is 0"));
        }
        let values = n_users
            .checked_add(n_items)
            .and_then(|n| n.checked_mul(factors))
            .and_then(|n| n.checked_mul(4))
            .and_then(|n| n.checked_add(HEADER_LEN as u64))
            .ok_or(ModelError::BadHeader("dimensions overflow"))?;
        if values != bytes.len() as u64 {
            let e = if (bytes.len() as u64) < values { ModelError::Truncated { expected: values, actual: bytes.len() as u64 } } else { ModelError::TrailingBytes { expected: values, actual: bytes.len() as u64 } };
            return Err(e);
        }
        let params = AlsParams {
            factors: factors as usize,
            regularization: f32_at(32),
            alpha: f32_at(36),
            iterations: u32_at(40) as usize,
            cg_steps: u32_at(44) as usize,
            seed: u64_at(48),
        };
        let floats: Vec<f32> = bytes[HEADER_LEN..].chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
        if let Some(i) = floats.iter().position(|v| !v.is_finite()) {
            return Err(ModelError::NonFinite { index: i as u64 });
        }
        let split = (n_users * factors) as usize;
        let item_factors = floats[split..].to_vec();
        let mut user_factors = floats;
        user_factors.truncate(split);
        Ok(Self { params, user_factors, item_factors })
    }
}

const MAGIC: &[u8; 8] = b"MVXALS\r\n";
const FORMAT_VERSION: u32 = 1;
/// magic 8, version 4, factors 4, n_users 8, n_items 8, reg 4, alpha 4, iterations 4, cg_steps 4, seed 8.
const HEADER_LEN: usize = 56;

/// Why [`AlsModel::from_bytes`] refused its input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelError {
    /// Shorter than the header or than the dimensions in the header require.
    Truncated { expected: u64, actual: u64 },
    /// Longer than the dimensions in the header allow.
    TrailingBytes { expected: u64, actual: u64 },
    /// Not an ALS model file.
    BadMagic,
    /// Written by an unknown format version.
    UnsupportedVersion(u32),
    /// Impossible dimensions.
    BadHeader(&'static str),
    /// A factor is NaN or infinite (corrupt data).
    NonFinite { index: u64 },
}

impl fmt::Display for ModelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Truncated { expected, actual } => write!(f, "ALS model truncated: {actual} bytes, expected {expected}"),
            Self::TrailingBytes { expected, actual } => write!(f, "ALS model has trailing bytes: {actual} bytes, expected {expected}"),
            Self::BadMagic => write!(f, "not an ALS model (bad magic)"),
            Self::UnsupportedVersion(v) => write!(f, "unsupported ALS model format version {v} (expected {FORMAT_VERSION})"),
            Self::BadHeader(why) => write!(f, "bad ALS model header: {why}"),
            Self::NonFinite { index } => write!(f, "ALS model factor #{index} is not finite"),
        }
    }
}

impl std::error::Error for ModelError {}

/// `YtY` (`k x k`, row-major) of a row-major `n x k` factor matrix, computed in fixed chunks
/// summed in order (parallel, deterministic).
pub fn gramian(factors: &[f32], k: usize) -> Vec<f32> {
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

fn regularized_gramian(factors: &[f32], k: usize, reg: f32) -> Vec<f32> {
    let mut g = gramian(factors, k);
    for d in 0..k {
        g[d * k + d] += reg;
    }
    g
}

/// One user's factors from their listens with the items fixed (`yty` = [`gramian`] of
/// `item_factors`, without the regularisation). Starts from zero and runs `params.factors` CG
/// steps (exact convergence in exact arithmetic), so it matches [`solve_user_exact`] to f32
/// rounding, i.e. what a training user solve converges to. Cost ~ `factors * (k^2 + 2k*nnz)` flops.
pub fn fold_in(params: &AlsParams, item_factors: &[f32], yty: &[f32], items: &[u32], weights: &[f32]) -> Vec<f32> {
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
pub fn solve_user_exact(params: &AlsParams, item_factors: &[f32], yty: &[f32], items: &[u32], weights: &[f32]) -> Vec<f32> {
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
pub fn loss(model: &AlsModel, data: &Interactions) -> f64 {
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
fn init_factors(n: usize, k: usize, seed: u64, side: u64) -> Vec<f32> {
    let scale = 0.1 / (k as f32).sqrt();
    let base = seed ^ side.wrapping_mul(0xA076_1D64_78BD_642F);
    (0..n * k)
        .map(|j| {
            let h = splitmix64(base.wrapping_add(j as u64));
            ((h >> 40) as f32 / (1u64 << 24) as f32) * scale
        })
        .collect()
}

fn splitmix64(x: u64) -> u64 {
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
fn solve_side(x: &mut [f32], y: &[f32], g: &[f32], m: &Csr, params: &AlsParams) {
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

    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn cg_row(self, x: &mut [f32], items: &[u32], w: &[f32], y: &[f32], g: &[f32], alpha: f32, steps: usize, ws: &mut Workspace) {
        match self {
            Self::Baseline => cg_row::<false>(x, items, w, y, g, alpha, steps, ws),
            // SAFETY: only chosen when the CPU reports AVX2 and FMA.
            #[cfg(target_arch = "x86_64")]
            Self::Avx2Fma => unsafe { cg_row_avx2_fma(x, items, w, y, g, alpha, steps, ws) },
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn cg_row_avx2_fma(x: &mut [f32], items: &[u32], w: &[f32], y: &[f32], g: &[f32], alpha: f32, steps: usize, ws: &mut Workspace) {
    cg_row::<true>(x, items, w, y, g, alpha, steps, ws)
}

/// CG on one row, warm-started from `x` (updated in place). `FMA`: fuse multiply-adds.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn cg_row<const FMA: bool>(x: &mut [f32], items: &[u32], w: &[f32], y: &[f32], g: &[f32], alpha: f32, steps: usize, ws: &mut Workspace) {
    let k = x.len();
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
