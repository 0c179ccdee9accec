//! The source's endpoints as data, and how a served row is judged: accepted with its key, or
//! rejected with its reasons.

use crate::records::{Entity, Issue, ListenHistory, Record, Track, User, Validated, redact_personal};
use serde_json::Value;

/// One endpoint of the source, described as data: adding an endpoint is adding a row here.
pub struct Endpoint {
    pub entity: Entity,
    /// The URL path under `SOURCE_API_URL`.
    pub path: &'static str,
    pub(super) validate: fn(&Value) -> Verdict,
    /// Whether rows carry personal fields, which quarantine redacts ([`redact_personal`]).
    pub(super) personal: bool,
    pub(super) redact: fn(&Value) -> Value,
}

pub const ENDPOINTS: [Endpoint; 3] = [
    Endpoint { entity: Entity::Tracks, path: "tracks", validate: verdict::<Track>, personal: false, redact: redact_personal::<Track> },
    Endpoint { entity: Entity::Users, path: "users", validate: verdict::<User>, personal: true, redact: redact_personal::<User> },
    Endpoint {
        entity: Entity::ListenHistory,
        path: "listen_history",
        validate: verdict::<ListenHistory>,
        personal: false,
        redact: redact_personal::<ListenHistory>,
    },
];

/// What validation made of a row: only the key of an accepted row is kept, as the row itself
/// is stored byte for byte as served.
pub(super) enum Verdict {
    Accepted { key: i64, warnings: Vec<Issue> },
    Rejected { reasons: Vec<Issue> },
}

fn verdict<R: Record>(row: &Value) -> Verdict {
    match R::validate(row) {
        Validated::Accepted { record, warnings } => Verdict::Accepted { key: record.key(), warnings },
        Validated::Rejected { reasons } => Verdict::Rejected { reasons },
    }
}
