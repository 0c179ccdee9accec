//! A user as served, and the values its `gender` and `favorite_genres` take.

use super::entity::Entity;
use super::fields::Fields;
use super::record::Record;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The values `favorite_genres` takes at the source.
pub const GENRES: [&str; 17] = [
    "Rock", "Pop", "Hip Hop", "Jazz", "Electronic", "Classical", "Country", "Blues", "R&B", "Reggae", "Folk", "Metal",
    "Punk", "Funk", "Indie", "Alternative", "Techno",
];

/// The values `gender` takes at the source.
pub const GENDERS: [&str; 9] = [
    "Male",
    "Female",
    "Non-binary",
    "Genderqueer",
    "Genderfluid",
    "Agender",
    "Bigender",
    "Gender questioning",
    "Gender nonconforming",
];
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: i64,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    pub gender: Option<String>,
    pub favorite_genres: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Record for User {
    const ENTITY: Entity = Entity::Users;
    const FIELDS: &'static [&'static str] =
        &["id", "first_name", "last_name", "email", "gender", "favorite_genres", "created_at", "updated_at"];
    const PERSONAL: &'static [&'static str] = &["email", "first_name", "last_name"];

    fn key(&self) -> i64 {
        self.id
    }

    fn from_fields(f: &mut Fields<'_>) -> Option<Self> {
        let id = f.key("id");
        let (first_name, last_name, email) = (f.text("first_name"), f.text("last_name"), f.text("email"));
        let gender = f.one_of("gender", &GENDERS);
        let favorite_genres = f.one_of("favorite_genres", &GENRES);
        let (created_at, updated_at) = f.timestamps();
        Some(User { id: id?, first_name, last_name, email, gender, favorite_genres, created_at: created_at?, updated_at: updated_at? })
    }
}
