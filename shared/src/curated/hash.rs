//! SHA-256 digests of curated rows: [`Hash256`] (a row hash, an e-mail hash) and the canonical row encoding they are taken over.

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::fmt;

/// A SHA-256 digest, printed as lowercase hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Hash256(pub [u8; 32]);

impl Hash256 {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    pub fn from_hex(text: &str) -> Option<Self> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out).ok()?;
        Some(Self(out))
    }
}

impl fmt::Debug for Hash256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}…", &self.to_hex()[..12])
    }
}

/// The canonical encoding the row hash is taken over: each column in schema order, null and
/// present told apart, text length-prefixed, so no two different rows encode alike. The first
/// bytes name the table and the scheme's version: changing the scheme re-versions every row once.
pub(crate) struct RowHasher(Sha256);

impl RowHasher {
    pub(crate) fn new(scheme: &str) -> Self {
        let mut h = Sha256::new();
        h.update(scheme.as_bytes());
        Self(h)
    }

    pub(crate) fn text(&mut self, value: Option<&str>) -> &mut Self {
        match value {
            None => self.0.update([0]),
            Some(s) => {
                self.0.update([1]);
                self.0.update((s.len() as u64).to_be_bytes());
                self.0.update(s.as_bytes());
            }
        }
        self
    }

    pub(crate) fn int(&mut self, value: Option<i64>) -> &mut Self {
        match value {
            None => self.0.update([0]),
            Some(v) => {
                self.0.update([1]);
                self.0.update(v.to_be_bytes());
            }
        }
        self
    }

    pub(crate) fn time(&mut self, value: DateTime<Utc>) -> &mut Self {
        self.int(Some(value.timestamp_micros()))
    }

    pub(crate) fn finish(&mut self) -> Hash256 {
        Hash256(std::mem::take(&mut self.0).finalize().into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_print_as_hex_and_parse_back() {
        let h = RowHasher::new("test").int(Some(7)).text(Some("x")).finish();
        let hex = h.to_hex();
        assert_eq!(hex.len(), 64);
        assert!(hex.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(Hash256::from_hex(&hex), Some(h));
        assert_eq!(Hash256::from_hex("xyz"), None);
    }
}
