//! The source's rows (tracks, users, listen history) as typed records, and their validation.
//!
//! Validation sorts each row into accepted, accepted-with-warnings, or rejected-with-reasons.
//! It rejects only what would corrupt downstream tables (a missing or mistyped key, a mistyped
//! field, an unparsable or missing datetime, a listen row without `user_id`); what the real source
//! routinely serves (`updated_at` before `created_at`, a null name, an unknown genre, a field we
//! do not know yet) is accepted and counted as a warning.
//!
//! Personal fields ([`Record::PERSONAL`]: a user's `email`, `first_name`, `last_name`) are never
//! quoted in a warning's or rejection's detail, and [`redact_personal`] makes a row fit for
//! quarantine.

mod check;
mod common;
mod datetime;
mod entity;
mod fields;
mod listen_history;
mod record;
mod track;
mod user;
#[cfg(test)]
mod tests;

pub use check::{Check, Issue, Validated};
pub use datetime::{parse_datetime, read_datetime};
pub use entity::Entity;
pub use fields::Fields;
pub use listen_history::ListenHistory;
pub use record::{Record, redact_personal};
pub use track::{Track, duration_seconds};
pub use user::{GENDERS, GENRES, User};
