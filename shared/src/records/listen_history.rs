//! A user's listen history as served: the track ids in order.

use super::entity::Entity;
use super::fields::Fields;
use super::record::Record;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListenHistory {
    pub user_id: i64,
    /// Track ids in the order served; a null `items` is read as empty (with a warning).
    pub items: Vec<i64>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Record for ListenHistory {
    const ENTITY: Entity = Entity::ListenHistory;
    const FIELDS: &'static [&'static str] = &["user_id", "items", "created_at", "updated_at"];

    fn key(&self) -> i64 {
        self.user_id
    }

    /// Its items, and one when it has none (as `transform`'s `listen_units` counts a raw row).
    fn units(&self) -> u64 {
        self.items.len().max(1) as u64
    }

    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let user_id = f.key("user_id");
        let items = f.int_list("items");
        let (created_at, updated_at) = f.timestamps();
        Some(ListenHistory { user_id: user_id?, items: items?, created_at: created_at?, updated_at: updated_at? })
    }
}
