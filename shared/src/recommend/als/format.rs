//! The model file: a compact little-endian header and the raw factors, refused when malformed.

use super::model::{AlsModel, AlsParams};
use std::fmt;

impl AlsModel {
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
pub(super) const HEADER_LEN: usize = 56;

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
