//! Arbitrary JSON for the property tests of every event parser and record validator: any shape,
//! with the field names and texts those parsers look for mixed in, and multi-byte text
//! everywhere (messages quote inputs, and a cut inside a character panics).

use proptest::prelude::*;
use serde_json::{Map, Number, Value};

/// Field names the parsers branch on, beside arbitrary ones.
const NAMES: &[&str] = &[
    "date", "mode", "version", "allow_past", "erase_user_id", "detail-type", "detail", "time", "source", "bucket", "name",
    "object", "key", "id", "user_id", "items", "email", "first_name", "last_name", "gender", "favorite_genres",
    "created_at", "updated_at", "duration", "genres", "album", "artist", "songwriters",
];

/// Texts the parsers give meaning to, beside arbitrary ones.
const TEXTS: &[&str] = &[
    "2026-11-21", "2026-11-21T06:00:00Z", "2026-11-21T06:00:00.123456", "2026-11-21 06:00:00", "+275760-09-13", "score",
    "train", "rollback", "Scheduled Event", "Object Created", "raw/_run/dt=2026-11-21/_manifest.json",
    "curated/_run/dt=2026-11-21/_manifest.json", "raw/users/dt=2026-11-21/_manifest.json", "03:25", "Female", "Rock",
    "", " ", "é", "日本語",
];

/// A text: arbitrary, meaningful, or long and multi-byte (past any excerpt's cut).
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        proptest::sample::select(TEXTS).prop_map(str::to_owned),
        (0usize..400, proptest::sample::select(&["é", "日", "🎵", "a"][..])).prop_map(|(n, c)| c.repeat(n)),
    ]
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![3 => proptest::sample::select(NAMES).prop_map(str::to_owned), 1 => any::<String>()]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| Number::from_f64(f).map(Value::Number)),
        text().prop_map(Value::String),
    ]
}

/// Any JSON value, a few levels deep.
pub fn json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((name(), inner), 0..8).prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// An object whose fields are drawn from `names` (plus, sometimes, an arbitrary one), each with any value.
pub fn object_with(names: &'static [&'static str]) -> impl Strategy<Value = Value> {
    let field = prop_oneof![4 => proptest::sample::select(names).prop_map(str::to_owned), 1 => name()];
    prop::collection::vec((field, prop_oneof![2 => leaf(), 1 => json()]), 0..12)
        .prop_map(|fields| Value::Object(fields.into_iter().collect::<Map<_, _>>()))
}

/// An EventBridge-shaped event: a known or arbitrary `detail-type`, and a detail that is
/// sometimes an S3 object of an arbitrary key.
pub fn envelope() -> impl Strategy<Value = Value> {
    let detail = prop_oneof![
        json(),
        (text(), text()).prop_map(|(bucket, key)| serde_json::json!({"bucket": {"name": bucket}, "object": {"key": key}})),
    ];
    (text(), proptest::option::of(text()), detail, object_with(NAMES)).prop_map(|(kind, time, detail, extra)| {
        let mut event = extra.as_object().cloned().unwrap_or_default();
        let kind = if kind.len() % 3 == 0 { "Object Created".to_owned() } else if kind.len() % 3 == 1 { "Scheduled Event".to_owned() } else { kind };
        event.insert("detail-type".into(), Value::String(kind));
        event.insert("detail".into(), detail);
        if let Some(time) = time {
            event.insert("time".into(), Value::String(time));
        }
        Value::Object(event)
    })
}

/// Any event: arbitrary JSON, an object of the fields events use, or an EventBridge envelope.
pub fn event() -> impl Strategy<Value = Value> {
    prop_oneof![json(), object_with(NAMES), envelope()]
}
