//! The referential checks of listen history against the day's users and tracks.
//!
//! A row of a user not in today's users is quarantined whole (`unknown_user`); an item of a track
//! not in today's tracks is quarantined alone (`unknown_track`), leaving a gap in the positions.

use super::listen_events::Item;
use super::quality::{QuarantineBuffer, TableQuality};
use crate::quarantine::QuarantineReason;
use crate::records::{Check, ListenHistory};
use serde_json::{Value, json};

/// Today's known keys: those served, and those carried forward; each sorted.
pub(super) struct Known<'a> {
    pub tracks: &'a [i64],
    pub users: &'a [i64],
}

/// Where a raw row was read: its object and 1-based line.
pub(super) struct At<'a> {
    pub source: &'a str,
    pub line: u64,
}

impl Known<'_> {
    pub(super) fn has_track(&self, id: i64) -> bool {
        self.tracks.binary_search(&id).is_ok()
    }

    pub(super) fn has_user(&self, id: i64) -> bool {
        self.users.binary_search(&id).is_ok()
    }

    /// The row's items of known tracks, or `None` when its user is unknown; what is refused goes
    /// to `quarantine` with its reason.
    pub(super) fn items(&self, h: &ListenHistory, value: &Value, at: At<'_>, quality: &mut TableQuality, quarantine: &mut QuarantineBuffer) -> Option<Vec<Item>> {
        if !self.has_user(h.user_id) {
            let units = h.items.len().max(1) as u64;
            quality.quarantine(Check::UnknownUser, units);
            let reason = QuarantineReason::new(Check::UnknownUser, "user_id", format!("user {} is not in today's users", h.user_id));
            quarantine.push(at.source, at.line, &[reason], value);
            return None;
        }
        let mut items = Vec::with_capacity(h.items.len());
        for (position, &track_id) in h.items.iter().enumerate() {
            let position = position as i32;
            if self.has_track(track_id) {
                items.push(Item { track_id, position });
                continue;
            }
            quality.quarantine(Check::UnknownTrack, 1);
            let reason = QuarantineReason::new(Check::UnknownTrack, "items", format!("track {track_id} (position {position}) is not in today's tracks"));
            let item = json!({"user_id": h.user_id, "track_id": track_id, "position": position,
                "created_at": h.created_at, "updated_at": h.updated_at});
            quarantine.push(at.source, at.line, &[reason], &item);
        }
        Some(items)
    }
}
