//! The source's three datasets.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The three entities the source serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entity {
    Tracks,
    Users,
    ListenHistory,
}

impl Entity {
    pub const ALL: [Entity; 3] = [Entity::Tracks, Entity::Users, Entity::ListenHistory];

    /// The dataset name: the endpoint's path and the folder under `raw/`.
    pub fn as_str(self) -> &'static str {
        match self {
            Entity::Tracks => "tracks",
            Entity::Users => "users",
            Entity::ListenHistory => "listen_history",
        }
    }

    /// The field that identifies a row.
    pub fn key_field(self) -> &'static str {
        match self {
            Entity::Tracks | Entity::Users => "id",
            Entity::ListenHistory => "user_id",
        }
    }
}

impl fmt::Display for Entity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
