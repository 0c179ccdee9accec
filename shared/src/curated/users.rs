//! `curated/users/dt=D/`: every version of every user, as of D (SCD2), personal data hashed or dropped.

use super::hash::RowHasher;
use super::history::{self, HistoryColumns, Version, Versioned, hash_at};
use super::{Hash256, TableName};
use crate::codec::arrow::{Columns, present, text_at, texts, time_at, times, micros};
use crate::codec::{Column, Interner, Kind, Table, Text};
use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use arrow_schema::ArrowError;
use chrono::{DateTime, Utc};
use std::sync::Arc;

/// The business columns of `curated/users`: no e-mail address, names only when configured.
#[derive(Debug, Clone, PartialEq)]
pub struct UserRow {
    pub id: i64,
    /// Null unless `KEEP_NAMES=true`.
    pub first_name: Option<Text>,
    pub last_name: Option<Text>,
    /// HMAC-SHA256 of the trimmed, lower-cased address (`transform::pii::Pii::email_hash`).
    pub email_hash: Option<Hash256>,
    /// The id of the key that made `email_hash`; null with it.
    pub email_key_id: Option<Text>,
    pub gender: Option<Text>,
    pub favorite_genres: Option<Text>,
    /// Trimmed and case-folded ([`super::normalize_genre`]).
    pub favorite_genres_normalized: Option<Text>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub row_hash: Hash256,
}

pub const ID: Column = Column::required("id", Kind::Int64);
pub const FIRST_NAME: Column = Column::nullable("first_name", Kind::Text);
pub const LAST_NAME: Column = Column::nullable("last_name", Kind::Text);
pub const EMAIL_HASH: Column = Column::nullable("email_hash", Kind::Text);
pub const EMAIL_KEY_ID: Column = Column::nullable("email_key_id", Kind::Text).added_later();
pub const GENDER: Column = Column::nullable("gender", Kind::Text);
pub const FAVORITE_GENRES: Column = Column::nullable("favorite_genres", Kind::Text);
pub const FAVORITE_GENRES_NORMALIZED: Column = Column::nullable("favorite_genres_normalized", Kind::Text);
pub const CREATED_AT: Column = Column::required("created_at", Kind::Timestamp);
pub const UPDATED_AT: Column = Column::required("updated_at", Kind::Timestamp);

/// The business columns, in file order (the history columns follow).
pub const COLUMNS: [Column; 10] = [ID, FIRST_NAME, LAST_NAME, EMAIL_HASH, EMAIL_KEY_ID, GENDER, FAVORITE_GENRES, FAVORITE_GENRES_NORMALIZED, CREATED_AT, UPDATED_AT];

impl UserRow {
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

impl Versioned for UserRow {
    fn key(&self) -> i64 {
        self.id
    }
    fn row_hash(&self) -> Hash256 {
        self.row_hash
    }
}

impl Table for Version<UserRow> {
    const NAME: &'static str = TableName::Users.as_str();

    fn columns() -> Vec<Column> {
        COLUMNS.into_iter().chain(history::COLUMNS).collect()
    }

    fn to_batch(rows: &[Self]) -> Result<RecordBatch, ArrowError> {
        let r = || rows.iter().map(|v| &v.row);
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from_iter_values(r().map(|u| u.id))),
            texts(r().map(|u| u.first_name.as_deref())),
            texts(r().map(|u| u.last_name.as_deref())),
            Arc::new(r().map(|u| u.email_hash.map(|h| h.to_hex())).collect::<StringArray>()),
            texts(r().map(|u| u.email_key_id.as_deref())),
            texts(r().map(|u| u.gender.as_deref())),
            texts(r().map(|u| u.favorite_genres.as_deref())),
            texts(r().map(|u| u.favorite_genres_normalized.as_deref())),
            times(r().map(|u| micros(u.created_at))),
            times(r().map(|u| micros(u.updated_at))),
        ];
        columns.extend(history::to_arrays(rows));
        RecordBatch::try_new(Self::schema(), columns)
    }

    fn from_batch(batch: &RecordBatch, interner: &mut Interner) -> Result<Vec<Self>, String> {
        let c = Columns(batch);
        let (id, first_name, last_name, email_hash) = (c.i64(ID)?, c.text(FIRST_NAME)?, c.text(LAST_NAME)?, c.text(EMAIL_HASH)?);
        let email_key_id = c.text_if_present(EMAIL_KEY_ID)?;
        let (gender, favorite_genres, normalized) = (c.text(GENDER)?, c.text(FAVORITE_GENRES)?, c.text(FAVORITE_GENRES_NORMALIZED)?);
        let (created_at, updated_at) = (c.time(CREATED_AT)?, c.time(UPDATED_AT)?);
        let history = HistoryColumns::new(&c)?;
        (0..batch.num_rows())
            .map(|i| {
                let email_hash = match present(email_hash, i) {
                    None => None,
                    Some(_) => Some(hash_at(email_hash, i, EMAIL_HASH)?),
                };
                let row = UserRow {
                    id: id.value(i),
                    first_name: text_at(first_name, i).map(Text::from),
                    last_name: text_at(last_name, i).map(Text::from),
                    email_hash,
                    email_key_id: email_key_id.and_then(|a| text_at(a, i)).map(|t| interner.get(t)),
                    gender: text_at(gender, i).map(|t| interner.get(t)),
                    favorite_genres: text_at(favorite_genres, i).map(|t| interner.get(t)),
                    favorite_genres_normalized: text_at(normalized, i).map(|t| interner.get(t)),
                    created_at: time_at(created_at, i, CREATED_AT)?,
                    updated_at: time_at(updated_at, i, UPDATED_AT)?,
                    row_hash: history.row_hash(i)?,
                };
                history.version(i, row)
            })
            .collect()
    }
}
