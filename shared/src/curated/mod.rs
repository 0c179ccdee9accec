//! The curated tables: the contract between transform (which writes them) and recommend, the
//! report and erasure (which read them). One file per table holds its row type and its columns,
//! declared once ([`Column`]); the Arrow schema, the Parquet reader's checks, the Glue tables in
//! `infra/template.yaml` (checked by the template test) and the README's column lists follow.
//!
//! | file | table |
//! | --- | --- |
//! | [`tracks`] | `curated/tracks/dt=D/`, SCD2 history ([`TrackRow`] in [`Version`]s) |
//! | [`users`] | `curated/users/dt=D/`, SCD2 history ([`UserRow`] in [`Version`]s) |
//! | [`history`] | the SCD2 columns those two share ([`Version`]) |
//! | [`listen_events`] | `curated/listen_events/dt=D/` and `listen_events_delta` ([`ListenEvent`]) |
//! | [`recommendations`] | `recommendations/dt=D/` ([`Recommendation`]) |
//! | [`hash`] | [`Hash256`] and the canonical row encoding the row hash is taken over |
//!
//! Rows are kept compact because a day holds a million of them: text is `Arc<str>` and the
//! low-cardinality columns (genres, genders, durations) are interned, so a million users share a
//! few dozen strings; hashes are 32 raw bytes, written as hex only in Parquet.

pub mod hash;
pub mod history;
pub mod listen_events;
pub mod recommendations;
pub mod tracks;
pub mod users;

pub use crate::codec::{Column, Interner, Text};
pub use hash::Hash256;
pub use history::{Version, Versioned};
pub use listen_events::{ListenEvent, ListenItem};
pub use recommendations::{Reason, Recommendation};
pub use tracks::TrackRow;
pub use users::UserRow;

use crate::codec::Table;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The tables, by folder name (`curated/<name>/`; `recommendations/` is a zone of its own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TableName {
    ListenEvents,
    ListenEventsDelta,
    Tracks,
    Users,
    Recommendations,
}

impl TableName {
    /// The tables of the curated zone, which transform commits together.
    pub const CURATED: [TableName; 4] = [TableName::Tracks, TableName::Users, TableName::ListenEvents, TableName::ListenEventsDelta];

    pub const fn as_str(self) -> &'static str {
        match self {
            TableName::ListenEvents => "listen_events",
            TableName::ListenEventsDelta => "listen_events_delta",
            TableName::Tracks => "tracks",
            TableName::Users => "users",
            TableName::Recommendations => "recommendations",
        }
    }

    /// Every column of the table, in file order.
    pub fn columns(self) -> Vec<Column> {
        match self {
            TableName::Tracks => Version::<TrackRow>::columns(),
            TableName::Users => Version::<UserRow>::columns(),
            TableName::ListenEvents | TableName::ListenEventsDelta => ListenEvent::columns(),
            TableName::Recommendations => Recommendation::columns(),
        }
    }
}

impl fmt::Display for TableName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `genres_normalized` and `favorite_genres_normalized`: trimmed and case-folded; an empty value
/// is null (it names no genre).
pub fn normalize_genre(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_lowercase())
}

#[cfg(test)]
mod tests;
