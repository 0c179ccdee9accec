//! A track as served, and its `MM:SS` duration.

use super::check::Check;
use super::entity::Entity;
use super::fields::Fields;
use super::record::Record;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Track {
    pub id: i64,
    pub name: Option<String>,
    pub artist: Option<String>,
    pub songwriters: Option<String>,
    /// As served, `"MM:SS"`.
    pub duration: Option<String>,
    pub genres: Option<String>,
    pub album: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Record for Track {
    const ENTITY: Entity = Entity::Tracks;
    const FIELDS: &'static [&'static str] =
        &["id", "name", "artist", "songwriters", "duration", "genres", "album", "created_at", "updated_at"];

    fn key(&self) -> i64 {
        self.id
    }

    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let id = f.key("id");
        let (name, artist, songwriters) = (f.text("name"), f.text("artist"), f.text("songwriters"));
        let duration = f.text("duration");
        if let Some(d) = &duration
            && duration_seconds(d).is_none()
        {
            f.warn("duration", Check::BadDuration, format!("{d:?} is not MM:SS"));
        }
        let (genres, album) = (f.text("genres"), f.text("album"));
        let (created_at, updated_at) = f.timestamps();
        Some(Track { id: id?, name, artist, songwriters, duration, genres, album, created_at: created_at?, updated_at: updated_at? })
    }
}

/// `"MM:SS"` (minutes may exceed 59 or have more digits) as seconds.
pub fn duration_seconds(text: &str) -> Option<u32> {
    let (m, s) = text.trim().split_once(':')?;
    let digits = |x: &str| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit());
    if !digits(m) || !digits(s) || s.len() != 2 {
        return None;
    }
    let (m, s): (u32, u32) = (m.parse().ok()?, s.parse().ok()?);
    (s < 60).then_some(m.checked_mul(60)?.checked_add(s)?)
}
