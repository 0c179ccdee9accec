//! What validation and the transform say about a row: the named checks, one issue, the verdict.

use serde::{Deserialize, Serialize};
use std::fmt;

/// What is wrong with one field of one row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    pub field: String,
    pub check: Check,
    pub detail: String,
}

/// Every data-quality check by its stable name, used in quarantine files, reports and metrics: the
/// record validation's rejections and warnings, and the checks the transform adds across rows and
/// tables. One list serves both, so a warning keeps its name from validation to the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Check {
    // Validation rejections.
    NotAnObject,
    MissingKey,
    WrongType,
    BadDatetime,
    MissingDatetime,
    // The transform's blocking checks.
    InvalidRow,
    DuplicateKey,
    UnknownUser,
    UnknownTrack,
    // Warnings (validation's, then the transform's own).
    NullField,
    EmptyField,
    UpdatedBeforeCreated,
    BadDuration,
    UnknownValue,
    UnknownField,
    DuplicateItems,
    DatetimeForm,
    RowCountChange,
}

impl Check {
    pub fn as_str(self) -> &'static str {
        match self {
            Check::NotAnObject => "not_an_object",
            Check::MissingKey => "missing_key",
            Check::WrongType => "wrong_type",
            Check::BadDatetime => "bad_datetime",
            Check::MissingDatetime => "missing_datetime",
            Check::InvalidRow => "invalid_row",
            Check::DuplicateKey => "duplicate_key",
            Check::UnknownUser => "unknown_user",
            Check::UnknownTrack => "unknown_track",
            Check::NullField => "null_field",
            Check::EmptyField => "empty_field",
            Check::UpdatedBeforeCreated => "updated_before_created",
            Check::BadDuration => "bad_duration",
            Check::UnknownValue => "unknown_value",
            Check::UnknownField => "unknown_field",
            Check::DuplicateItems => "duplicate_items",
            Check::DatetimeForm => "datetime_form",
            Check::RowCountChange => "row_count_change",
        }
    }

    /// A validation check that rejects the row.
    pub fn is_rejection(self) -> bool {
        matches!(self, Check::NotAnObject | Check::MissingKey | Check::WrongType | Check::BadDatetime | Check::MissingDatetime)
    }
}

impl fmt::Display for Issue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} `{}`: {}", self.check.as_str(), self.field, self.detail)
    }
}

/// The verdict on one row.
#[derive(Debug, Clone, PartialEq)]
pub enum Validated<T> {
    /// Usable downstream; the warnings (possibly none) are counted and reported.
    Accepted { record: T, warnings: Vec<Issue> },
    /// Not usable; goes to quarantine with every reason found.
    Rejected { reasons: Vec<Issue> },
}
