//! A quarantined row, one JSON line, the same for fetch's rejections (`quarantine/<entity>/`)
//! and transform's (`quarantine/curated_<table>/`):
//! `{"source", "line", "reasons": [{"check", "field", "detail"}], "row"}`, gzipped by
//! [`crate::codec::jsonl`]. One shape, so one reader serves both (the erasure, a DuckDB query).
//! Fetch's lines written before this shape say `"page": n` instead of `source` and `line`; every
//! reader in the code reads only `reasons` and `row`, so both shapes stay readable.

use crate::records::{Check, Issue};
use serde::Serialize;

/// Why a row went to quarantine: one entry of `reasons`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuarantineReason {
    pub check: &'static str,
    pub field: String,
    pub detail: String,
}

impl QuarantineReason {
    pub fn new(check: Check, field: &str, detail: String) -> Self {
        Self { check: check.as_str(), field: field.to_owned(), detail }
    }

    /// A rejection of the typed validation, kept with its own check name.
    pub fn from_issue(issue: &Issue) -> Self {
        Self { check: issue.check.as_str(), field: issue.field.clone(), detail: issue.detail.clone() }
    }
}

/// One quarantined row: where it was read, why it was refused, and the row (personal fields redacted).
#[derive(Serialize)]
pub struct QuarantineLine<'a, R: Serialize + ?Sized> {
    /// What it was read from: the API page (`listen_history?page=3`) or the raw object's key.
    pub source: &'a str,
    /// 1-based: the row's position in that page, or its line in that object.
    pub line: u64,
    pub reasons: &'a [QuarantineReason],
    pub row: &'a R,
}
