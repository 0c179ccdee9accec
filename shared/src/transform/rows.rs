//! Today's records as curated rows: the derived columns (`duration_seconds`, the normalized genres), personal data through [`Pii`], the row hash.

use super::pii::Pii;
use crate::curated::{Hash256, Interner, Text, TrackRow, UserRow, normalize_genre};
use crate::records::{Track, User};

/// A track as served, as a row of `curated/tracks`: derived columns filled, the row hash taken.
pub fn track_row(t: Track, interner: &mut Interner) -> TrackRow {
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

/// A user as served, as a row of `curated/users`: the address hashed, names kept only when configured.
pub fn user_row(u: User, pii: &Pii, interner: &mut Interner) -> UserRow {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use std::collections::HashSet;
    use std::sync::Arc;
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
        let row = track_row(track(), &mut Interner::default());
        assert_eq!(row.duration_seconds, Some(205));
        assert_eq!(row.genres.as_deref(), Some("  HipHop "), "the original is kept as served");
        assert_eq!(row.genres_normalized.as_deref(), Some("hiphop"));
        let bad = track_row(Track { duration: Some("3 min".into()), genres: Some("  ".into()), ..track() }, &mut Interner::default());
        assert_eq!((bad.duration_seconds, bad.genres_normalized), (None, None));
    }

    #[test]
    fn the_row_hash_follows_every_business_column_and_only_them() {
        let mut interner = Interner::default();
        let base = track_row(track(), &mut interner);
        assert_eq!(base.row_hash, base.compute_hash());
        assert_eq!(base.row_hash, track_row(track(), &mut interner).row_hash, "deterministic");
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
            assert!(seen.insert(track_row(v, &mut interner).row_hash), "a changed column changes the hash");
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
        let a = user_row(user.clone(), &dropping, &mut interner);
        let b = user_row(user.clone(), &keeping, &mut interner);
        assert_eq!((a.first_name.clone(), a.last_name.clone()), (None, None));
        assert_eq!((b.first_name.as_deref(), b.last_name.as_deref()), (Some("Ada"), Some("L")));
        assert_eq!(a.email_hash, dropping.email_hash("ada@example.com"));
        assert_eq!(a.email_key_id.as_ref(), Some(dropping.key_id()));
        assert_eq!(a.favorite_genres_normalized.as_deref(), Some("hip hop"));
        assert_ne!(a.row_hash, b.row_hash, "the hash is over the columns as written");
        assert!(Arc::ptr_eq(a.gender.as_ref().unwrap(), b.gender.as_ref().unwrap()), "interned");
    }
}
