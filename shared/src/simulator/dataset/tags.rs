//! Hash purposes: each draw of the simulator hashes (seed, tag, slot, day) with its own tag, so
//! draws stay independent and adding a draw never shifts another one's values.

pub(super) const TAG_IDS: u64 = 1;
pub(super) const TAG_ADDED: u64 = 2;
pub(super) const TAG_DEATH: u64 = 3;
pub(super) const TAG_CHANGE: u64 = 4;
pub(super) const TAG_CHANGE_FIELD: u64 = 5;
pub(super) const TAG_CHANGE_AT: u64 = 6;
pub(super) const TAG_CREATED: u64 = 7;
pub(super) const TAG_UPDATED: u64 = 8;
pub(super) const TAG_TRACK_GENRE: u64 = 9;
pub(super) const TAG_GENRE_CASE: u64 = 10;
pub(super) const TAG_POPULARITY: u64 = 11;
pub(super) const TAG_ARTIST_PICK: u64 = 12;
pub(super) const TAG_ARTIST: u64 = 13;
pub(super) const TAG_TEXT: u64 = 14;
pub(super) const TAG_USER_GENRE: u64 = 15;
pub(super) const TAG_COLD: u64 = 16;
pub(super) const TAG_LH_CREATED: u64 = 17;
pub(super) const TAG_LH_UPDATED: u64 = 18;
pub(super) const TAG_LH_GROW: u64 = 19;
pub(super) const TAG_LH_GROW_COUNT: u64 = 20;
pub(super) const TAG_LH_GROW_AT: u64 = 21;
pub(super) const TAG_LH_DRAW: u64 = 22;
pub(super) const TAG_REMOVED_AT: u64 = 23;
/// Added to a tag to separate the two slot entities.
pub(super) const USERS: u64 = 1 << 32;
