//! The curated tables' business rows: columns derived from the raw records, and the row hash SCD2 compares.
//!
//! Rows are kept compact because a day holds a million of them: text is `Arc<str>` and the
//! low-cardinality columns (genres, genders, durations) are interned, so a million users share a
//! few dozen strings; hashes are 32 raw bytes, written as hex only in Parquet.

use super::pii::Pii;
use crate::records::{Track, User};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;

/// A text value of a curated row.
pub type Text = Arc<str>;

/// A SHA-256 digest (a row hash, an e-mail hash), printed as lowercase hex.
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

/// Shares one allocation between equal low-cardinality strings.
#[derive(Debug, Default)]
pub struct Interner {
    strings: HashSet<Arc<str>>,
}

impl Interner {
    pub fn get(&mut self, text: &str) -> Text {
        if let Some(t) = self.strings.get(text) {
            return t.clone();
        }
        let t: Arc<str> = Arc::from(text);
        self.strings.insert(t.clone());
        t
    }

    fn opt(&mut self, text: Option<&str>) -> Option<Text> {
        text.map(|t| self.get(t))
    }
}

/// `genres_normalized` and `favorite_genres_normalized`: trimmed and case-folded; an empty value
/// is null (it names no genre).
pub fn normalize_genre(text: &str) -> Option<String> {
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_lowercase())
}

/// The canonical encoding the row hash is taken over: each column in schema order, null and
/// present told apart, text length-prefixed, so no two different rows encode alike. The first
/// bytes name the table and the scheme's version: changing the scheme re-versions every row once.
struct RowHasher(Sha256);

impl RowHasher {
    fn new(scheme: &str) -> Self {
        let mut h = Sha256::new();
        h.update(scheme.as_bytes());
        Self(h)
    }

    fn text(&mut self, value: Option<&str>) -> &mut Self {
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

    fn int(&mut self, value: Option<i64>) -> &mut Self {
        match value {
            None => self.0.update([0]),
            Some(v) => {
                self.0.update([1]);
                self.0.update(v.to_be_bytes());
            }
        }
        self
    }

    fn time(&mut self, value: DateTime<Utc>) -> &mut Self {
        self.int(Some(value.timestamp_micros()))
    }

    fn finish(&mut self) -> Hash256 {
        Hash256(std::mem::take(&mut self.0).finalize().into())
    }
}

/// The business columns of `curated/tracks` (the SCD2 columns are in [`super::scd2::Version`]).
#[derive(Debug, Clone, PartialEq)]
pub struct TrackRow {
    pub id: i64,
    pub name: Option<Text>,
    pub artist: Option<Text>,
    pub songwriters: Option<Text>,
    /// As served, `"MM:SS"`.
    pub duration: Option<Text>,
    /// `duration` in seconds; null when it does not parse.
    pub duration_seconds: Option<i32>,
    /// As served.
    pub genres: Option<Text>,
    pub genres_normalized: Option<Text>,
    pub album: Option<Text>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// SHA-256 of the business columns above ([`TrackRow::compute_hash`]).
    pub row_hash: Hash256,
}

impl TrackRow {
    pub fn from_record(t: Track, interner: &mut Interner) -> Self {
        let duration_seconds = t.duration.as_deref().and_then(crate::records::duration_seconds).and_then(|s| i32::try_from(s).ok());
        let genres_normalized = t.genres.as_deref().and_then(normalize_genre).map(|g| interner.get(&g));
        let mut row = TrackRow {
            id: t.id,
            name: t.name.map(Text::from),
            artist: t.artist.map(Text::from),
            songwriters: t.songwriters.map(Text::from),
            duration: interner.opt(t.duration.as_deref()),
            duration_seconds,
            genres: interner.opt(t.genres.as_deref()),
            genres_normalized,
            album: t.album.map(Text::from),
            created_at: t.created_at,
            updated_at: t.updated_at,
            row_hash: Hash256([0; 32]),
        };
        row.row_hash = row.compute_hash();
        row
    }

    pub fn compute_hash(&self) -> Hash256 {
        RowHasher::new("moovitamix.curated.tracks.v1")
            .int(Some(self.id))
            .text(self.name.as_deref())
            .text(self.artist.as_deref())
            .text(self.songwriters.as_deref())
            .text(self.duration.as_deref())
            .int(self.duration_seconds.map(i64::from))
            .text(self.genres.as_deref())
            .text(self.genres_normalized.as_deref())
            .text(self.album.as_deref())
            .time(self.created_at)
            .time(self.updated_at)
            .finish()
    }
}

/// The business columns of `curated/users`: no e-mail address, names only when configured.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRow {
    pub id: i64,
    /// Null unless `KEEP_NAMES=true`.
    pub first_name: Option<Text>,
    pub last_name: Option<Text>,
    /// HMAC-SHA256 of the trimmed, lower-cased address ([`Pii::email_hash`]).
    pub email_hash: Option<Hash256>,
    /// The id of the key that made `email_hash` ([`Pii::key_id`]); null with it.
    pub email_key_id: Option<Text>,
    pub gender: Option<Text>,
    pub favorite_genres: Option<Text>,
    pub favorite_genres_normalized: Option<Text>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub row_hash: Hash256,
}

impl UserRow {
    pub fn from_record(u: User, pii: &Pii, interner: &mut Interner) -> Self {
        let favorite_genres_normalized = u.favorite_genres.as_deref().and_then(normalize_genre).map(|g| interner.get(&g));
        let email_hash = u.email.as_deref().and_then(|e| pii.email_hash(e));
        let mut row = UserRow {
            id: u.id,
            first_name: pii.name(u.first_name),
            last_name: pii.name(u.last_name),
            email_hash,
            email_key_id: email_hash.map(|_| pii.key_id().clone()),
            gender: interner.opt(u.gender.as_deref()),
            favorite_genres: interner.opt(u.favorite_genres.as_deref()),
            favorite_genres_normalized,
            created_at: u.created_at,
            updated_at: u.updated_at,
            row_hash: Hash256([0; 32]),
        };
        row.row_hash = row.compute_hash();
        row
    }

    /// Over the columns as written: raw personal data never enters the hash, so changing the
    /// key or `KEEP_NAMES` re-versions every user once (visible as a `NewVersions` spike).
    pub fn compute_hash(&self) -> Hash256 {
        let email = self.email_hash.map(|h| h.to_hex());
        RowHasher::new("moovitamix.curated.users.v2")
            .int(Some(self.id))
            .text(self.first_name.as_deref())
            .text(self.last_name.as_deref())
            .text(email.as_deref())
            .text(self.email_key_id.as_deref())
            .text(self.gender.as_deref())
            .text(self.favorite_genres.as_deref())
            .text(self.favorite_genres_normalized.as_deref())
            .time(self.created_at)
            .time(self.updated_at)
            .finish()
    }
}

impl super::scd2::Versioned for TrackRow {
    fn key(&self) -> i64 {
        self.id
    }
    fn row_hash(&self) -> Hash256 {
        self.row_hash
    }
}

impl super::scd2::Versioned for UserRow {
    fn key(&self) -> i64 {
        self.id
    }
    fn row_hash(&self) -> Hash256 {
        self.row_hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use crate::records::parse_datetime;

    fn track() -> Track {
        Track {
            id: 7,
            name: Some("Song".into()),
            artist: Some("A".into()),
            songwriters: Some("B".into()),
            duration: Some("03:25".into()),
            genres: Some("  HipHop ".into()),
            album: Some("X".into()),
            created_at: parse_datetime("2025-10-30T17:52:06.998307").unwrap(),
            updated_at: parse_datetime("2025-11-01T08:00:00").unwrap(),
        }
    }

    #[test]
    fn derived_track_columns() {
        let row = TrackRow::from_record(track(), &mut Interner::default());
        assert_eq!(row.duration_seconds, Some(205));
        assert_eq!(row.genres.as_deref(), Some("  HipHop "), "the original is kept as served");
        assert_eq!(row.genres_normalized.as_deref(), Some("hiphop"));
        let bad = TrackRow::from_record(Track { duration: Some("3 min".into()), genres: Some("  ".into()), ..track() }, &mut Interner::default());
        assert_eq!((bad.duration_seconds, bad.genres_normalized), (None, None));
    }

    #[test]
    fn the_row_hash_follows_every_business_column_and_only_them() {
        let mut interner = Interner::default();
        let base = TrackRow::from_record(track(), &mut interner);
        assert_eq!(base.row_hash, base.compute_hash());
        assert_eq!(base.row_hash, TrackRow::from_record(track(), &mut interner).row_hash, "deterministic");
        let variants = [
            Track { name: None, ..track() },
            Track { name: Some(String::new()), ..track() },
            Track { album: Some("Y".into()), ..track() },
            Track { updated_at: parse_datetime("2025-11-01T08:00:00.000001").unwrap(), ..track() },
            // Moving a character between adjacent columns changes the hash (length-prefixed text).
            Track { artist: Some("AB".into()), songwriters: Some(String::new()), ..track() },
        ];
        let mut seen = HashSet::from([base.row_hash]);
        for v in variants {
            assert!(seen.insert(TrackRow::from_record(v, &mut interner).row_hash), "a changed column changes the hash");
        }
    }

    #[test]
    fn users_carry_no_address_and_names_only_when_kept() {
        let user = User {
            id: 3,
            first_name: Some("Ada".into()),
            last_name: Some("L".into()),
            email: Some(" Ada@Example.com ".into()),
            gender: Some("Female".into()),
            favorite_genres: Some("Hip Hop".into()),
            created_at: parse_datetime("2025-01-01T00:00:00").unwrap(),
            updated_at: parse_datetime("2025-02-01T00:00:00").unwrap(),
        };
        let dropping = Pii::new(Secret::new("s"), false);
        let keeping = Pii::new(Secret::new("s"), true);
        let mut interner = Interner::default();
        let a = UserRow::from_record(user.clone(), &dropping, &mut interner);
        let b = UserRow::from_record(user.clone(), &keeping, &mut interner);
        assert_eq!((a.first_name.clone(), a.last_name.clone()), (None, None));
        assert_eq!((b.first_name.as_deref(), b.last_name.as_deref()), (Some("Ada"), Some("L")));
        assert_eq!(a.email_hash, dropping.email_hash("ada@example.com"));
        assert_eq!(a.email_key_id.as_ref(), Some(dropping.key_id()));
        assert_eq!(a.favorite_genres_normalized.as_deref(), Some("hip hop"));
        assert_ne!(a.row_hash, b.row_hash, "the hash is over the columns as written");
        assert!(Arc::ptr_eq(a.gender.as_ref().unwrap(), b.gender.as_ref().unwrap()), "interned");
    }

    #[test]
    fn hashes_print_as_hex_and_parse_back() {
        let h = TrackRow::from_record(track(), &mut Interner::default()).row_hash;
        let hex = h.to_hex();
        assert_eq!(hex.len(), 64);
        assert!(hex.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(Hash256::from_hex(&hex), Some(h));
        assert_eq!(Hash256::from_hex("xyz"), None);
    }
}
