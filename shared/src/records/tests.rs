use super::*;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

fn track() -> Value {
    json!({"id": 17, "name": "Song", "artist": "A", "songwriters": "B", "duration": "03:25", "genres": "rock",
           "album": "X", "created_at": "2025-10-30T17:52:06.998307", "updated_at": "2025-11-01T08:00:00"})
}

fn checks(reasons: &[Issue]) -> Vec<(&str, Check)> {
    reasons.iter().map(|i| (i.field.as_str(), i.check)).collect()
}

#[test]
fn a_clean_track_is_accepted_with_typed_fields() {
    let Validated::Accepted { record, warnings } = Track::validate(&track()) else { panic!() };
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(record.id, 17);
    assert_eq!(record.created_at.to_rfc3339(), "2025-10-30T17:52:06.998307+00:00");
    assert_eq!(record.updated_at.to_rfc3339(), "2025-11-01T08:00:00+00:00");
}

#[test]
fn what_the_source_routinely_serves_is_warned_not_rejected() {
    let mut row = track();
    row["updated_at"] = json!("2024-01-01T00:00:00.5");
    row["name"] = Value::Null;
    row["genres"] = json!("  ");
    row["loudness"] = json!(-7.5);
    row.as_object_mut().unwrap().remove("album");
    let Validated::Accepted { warnings, .. } = Track::validate(&row) else { panic!("rejected") };
    let mut got = checks(&warnings);
    got.sort();
    assert_eq!(
        got,
        [
            ("album", Check::NullField),
            ("genres", Check::EmptyField),
            ("loudness", Check::UnknownField),
            ("name", Check::NullField),
            ("updated_at", Check::UpdatedBeforeCreated),
        ]
    );
}

#[test]
fn rows_that_would_corrupt_tables_are_rejected_with_every_reason() {
    let mut row = track();
    row["id"] = json!("abc");
    row["created_at"] = json!("yesterday");
    row["artist"] = json!(42);
    let Validated::Rejected { reasons } = Track::validate(&row) else { panic!("accepted") };
    assert_eq!(checks(&reasons), [("id", Check::WrongType), ("artist", Check::WrongType), ("created_at", Check::BadDatetime)]);
    assert!(reasons[0].detail.contains("string \"abc\""), "{}", reasons[0].detail);

    for (mutate, expected) in [
        (json!({"id": null}), ("id", Check::MissingKey)),
        (json!({"id": 1.5}), ("id", Check::WrongType)),
        (json!({"updated_at": null}), ("updated_at", Check::MissingDatetime)),
        (json!({"updated_at": 1700000000}), ("updated_at", Check::WrongType)),
    ] {
        let mut row = track();
        for (k, v) in mutate.as_object().unwrap() {
            row[k] = v.clone();
        }
        let Validated::Rejected { reasons } = Track::validate(&row) else { panic!("{mutate} accepted") };
        assert_eq!(checks(&reasons), [expected]);
    }
    assert!(matches!(Track::validate(&json!([1, 2])), Validated::Rejected { .. }));
}

#[test]
fn users_warn_on_unknown_genres_and_genders() {
    let user = json!({"id": 5, "first_name": "A", "last_name": "B", "email": "a@b.c", "gender": "Agender",
                      "favorite_genres": "Hip Hop", "created_at": "2025-01-01T00:00:00", "updated_at": "2025-06-01T00:00:00.1"});
    let Validated::Accepted { warnings, record } = User::validate(&user) else { panic!() };
    assert!(warnings.is_empty());
    assert_eq!(record.favorite_genres.as_deref(), Some("Hip Hop"));
    let mut odd = user.clone();
    odd["favorite_genres"] = json!("Polka");
    let Validated::Accepted { warnings, .. } = User::validate(&odd) else { panic!() };
    assert_eq!(checks(&warnings), [("favorite_genres", Check::UnknownValue)]);
}

#[test]
fn listen_rows_need_a_user_and_integer_items() {
    let row = json!({"user_id": 9, "items": [3, 1, 2], "created_at": "2025-01-01T00:00:00", "updated_at": "2025-01-02T00:00:00"});
    let Validated::Accepted { record, .. } = ListenHistory::validate(&row) else { panic!() };
    assert_eq!((record.key(), record.items), (9, vec![3, 1, 2]));

    let mut no_user = row.clone();
    no_user["user_id"] = Value::Null;
    let Validated::Rejected { reasons } = ListenHistory::validate(&no_user) else { panic!() };
    assert_eq!(checks(&reasons), [("user_id", Check::MissingKey)]);

    let mut bad_items = row.clone();
    bad_items["items"] = json!("1,2,3");
    assert!(matches!(ListenHistory::validate(&bad_items), Validated::Rejected { .. }));
    bad_items["items"] = json!([1, "2"]);
    assert!(matches!(ListenHistory::validate(&bad_items), Validated::Rejected { .. }));

    let mut null_items = row.clone();
    null_items["items"] = Value::Null;
    let Validated::Accepted { record, warnings } = ListenHistory::validate(&null_items) else { panic!() };
    assert!(record.items.is_empty());
    assert_eq!(checks(&warnings), [("items", Check::NullField)]);

    let mut repeated = row;
    repeated["items"] = json!([4, 4, 5]);
    let Validated::Accepted { warnings, .. } = ListenHistory::validate(&repeated) else { panic!() };
    assert_eq!(checks(&warnings), [("items", Check::DuplicateItems)]);
}

#[test]
fn durations_and_datetimes_parse_as_the_source_writes_them() {
    assert_eq!(duration_seconds("03:25"), Some(205));
    assert_eq!(duration_seconds("125:00"), Some(7500));
    for bad in ["3:5", "03:60", "", "ab:cd", "03:25:00", "-1:00"] {
        assert_eq!(duration_seconds(bad), None, "{bad}");
    }
    assert!(parse_datetime("2025-10-30T17:52:06").is_some());
    assert!(parse_datetime("2025-10-30T17:52:06.998307").is_some());
    assert_eq!(parse_datetime("2025-10-30T19:52:06+02:00"), parse_datetime("2025-10-30T17:52:06Z"));
    for bad in ["yesterday", "2025-10-30", "2025-13-30T00:00:00", ""] {
        assert_eq!(parse_datetime(bad), None, "{bad}");
    }
}

#[test]
fn the_common_iso_8601_forms_are_read_and_only_the_sources_own_is_canonical() {
    let at = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
    for (text, want, canonical) in [
        ("2026-11-21T06:00:00", "2026-11-21T06:00:00Z", true),
        (
            "2026-11-21T06:00:00.123456",
            "2026-11-21T06:00:00.123456Z",
            true,
        ),
        ("2026-11-21 06:00:00", "2026-11-21T06:00:00Z", false),
        ("2026-11-21 06:00:00.5", "2026-11-21T06:00:00.5Z", false),
        ("2026-11-21t06:00:00", "2026-11-21T06:00:00Z", false),
        ("2026-11-21T06:00:00Z", "2026-11-21T06:00:00Z", false),
        ("2026-11-21 06:00:00z", "2026-11-21T06:00:00Z", false),
        ("2026-11-21T08:00:00+02:00", "2026-11-21T06:00:00Z", false),
        (
            "2026-11-21T08:30:00.25+0230",
            "2026-11-21T06:00:00.25Z",
            false,
        ),
        ("2026-11-21 01:00:00-05", "2026-11-21T06:00:00Z", false),
        ("2026-11-21T00:30:00+01:00", "2026-11-20T23:30:00Z", false),
    ] {
        assert_eq!(read_datetime(text), Some((at(want), canonical)), "{text}");
    }
    for bad in [
        "2026-11-21",
        "2026-11-21T06:00",
        "2026-11-21_06:00:00",
        "2026-11-21T06:00:00 UTC",
        "2026-11-21T06:00:00+24:00",
        "2026-11-21T06:00:00+2:00",
        "2026-11-21T06:00:00+02:0x",
        "2026-11-21T06:00:00.",
        "2026-11-21T25:00:00",
        "2026-02-30 06:00:00",
        "21/11/2026 06:00:00",
        "2026-11-21é06:00:00",
        "2026-11-21T06:00:00Zjunk",
        "2026-11-21T06:00:00+1é1",
        "2026-11-21T06:00:00+é",
        "2026-11-21T06:00:00+0é:0",
        "2026-11-21T06:00:00.é",
        "2026-11-21 06:00:é0",
    ] {
        assert_eq!(read_datetime(bad), None, "{bad}");
    }
}

#[test]
fn a_datetime_in_another_form_is_a_warning_and_an_unparsable_one_a_rejection() {
    let mut row = track();
    row["created_at"] = json!("2025-10-30 17:52:06");
    row["updated_at"] = json!("2025-11-01T09:00:00+01:00");
    let Validated::Accepted { record, warnings } = Track::validate(&row) else {
        panic!("rejected")
    };
    assert_eq!(
        checks(&warnings),
        [
            ("created_at", Check::DatetimeForm),
            ("updated_at", Check::DatetimeForm)
        ]
    );
    let Validated::Accepted {
        record: canonical, ..
    } = Track::validate(&track())
    else {
        panic!()
    };
    assert_eq!(
        record.created_at.timestamp(),
        canonical.created_at.timestamp(),
        "the same instant, fraction aside"
    );
    assert_eq!(record.updated_at, canonical.updated_at);
    row["updated_at"] = json!("2025-11-01 at 9");
    let Validated::Rejected { reasons } = Track::validate(&row) else {
        panic!("accepted")
    };
    assert_eq!(checks(&reasons), [("updated_at", Check::BadDatetime)]);
}

const REJECTIONS: [Check; 5] = [Check::NotAnObject, Check::MissingKey, Check::WrongType, Check::BadDatetime, Check::MissingDatetime];

/// Every verdict is classified: accepted with warnings only, or rejected with at least one
/// rejection reason; an accepted record's key is the row's.
fn classified<R: Record>(row: &Value) -> Result<(), proptest::test_runner::TestCaseError> {
    match R::validate(row) {
        Validated::Accepted { record, warnings } => {
            proptest::prop_assert!(warnings.iter().all(|w| !REJECTIONS.contains(&w.check)), "{warnings:?}");
            proptest::prop_assert_eq!(Some(record.key()), row[R::ENTITY.key_field()].as_i64());
        }
        Validated::Rejected { reasons } => {
            proptest::prop_assert!(!reasons.is_empty());
            proptest::prop_assert!(reasons.iter().all(|r| REJECTIONS.contains(&r.check)), "{reasons:?}");
        }
    }
    Ok(())
}

/// A personal value that says so: a marked text, alone or inside a list or an object.
fn personal_value() -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    crate::arbitrary_json::text().prop_flat_map(|t| {
        let marked = format!("§pii§{t}");
        prop_oneof![Just(json!(marked.clone())), Just(json!([marked.clone()])), Just(json!({"v": marked}))]
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 1024, ..Default::default() })]

    #[test]
    fn any_row_is_accepted_or_rejected_with_its_reasons(row in proptest::prop_oneof![
        crate::arbitrary_json::json(),
        crate::arbitrary_json::object_with(Track::FIELDS),
        crate::arbitrary_json::object_with(User::FIELDS),
        crate::arbitrary_json::object_with(ListenHistory::FIELDS),
    ]) {
        classified::<Track>(&row)?;
        classified::<User>(&row)?;
        classified::<ListenHistory>(&row)?;
    }

    #[test]
    fn personal_values_are_never_quoted_and_redaction_removes_them(
        row in crate::arbitrary_json::object_with(User::FIELDS),
        email in personal_value(),
        first in personal_value(),
        last in personal_value(),
        as_list in proptest::prelude::any::<bool>(),
    ) {
        let mut row = row;
        for (field, value) in [("email", email), ("first_name", first), ("last_name", last)] {
            row[field] = value;
        }
        let row = if as_list { json!([row]) } else { row };
        let issues = match User::validate(&row) {
            Validated::Accepted { warnings, .. } => warnings,
            Validated::Rejected { reasons } => reasons,
        };
        for issue in &issues {
            proptest::prop_assert!(!issue.detail.contains("§pii§"), "{issue}");
        }
        proptest::prop_assert!(!redact_personal::<User>(&row).to_string().contains("§pii§"));
    }
}

/// An object whose every value is null, an `i64`, a text or a list of `i64`: what
/// [`Record::accept_common`] reads from the text (said here without its code).
fn of_common_shape(row: &Value) -> bool {
    let int = |v: &Value| v.as_i64().is_some();
    row.as_object().is_some_and(|m| {
        m.values().all(|v| match v {
            Value::Null | Value::String(_) => true,
            Value::Number(_) => int(v),
            Value::Array(items) => items.iter().all(int),
            _ => false,
        })
    })
}

/// The record read from the row's text is the one its `Value` gives, warnings included; an
/// accepted row of the common shape is always read from its text.
fn the_same_from_the_text<R: Record + PartialEq + std::fmt::Debug>(row: &Value) -> Result<(), proptest::test_runner::TestCaseError> {
    let text = serde_json::to_vec(row).unwrap();
    match (R::validate(row), R::accept_common(&text)) {
        (Validated::Accepted { record, warnings }, Some(common)) => {
            let units = if R::ENTITY == Entity::ListenHistory { row["items"].as_array().map_or(1, |i| i.len().max(1) as u64) } else { 1 };
            proptest::prop_assert_eq!(common.0.units(), units);
            proptest::prop_assert_eq!((record, warnings), common);
        }
        (Validated::Accepted { .. }, None) => proptest::prop_assert!(!of_common_shape(row), "accepted and of the common shape, yet not read from its text"),
        (Validated::Rejected { .. }, common) => proptest::prop_assert!(common.is_none(), "rejected, yet read from its text"),
    }
    Ok(())
}

/// A value for a field of a valid row: what the source sends, and what it should not.
fn field_value() -> impl proptest::strategy::Strategy<Value = Option<Value>> {
    use proptest::prelude::*;
    prop_oneof![
        Just(None),
        Just(Some(Value::Null)),
        any::<i64>().prop_map(|i| Some(json!(i))),
        Just(Some(json!(u64::MAX))),
        Just(Some(json!(1.5))),
        Just(Some(json!(true))),
        Just(Some(json!({"a": 1}))),
        crate::arbitrary_json::text().prop_map(|t| Some(json!(t))),
        proptest::sample::select(&["2025-01-01 00:00:00", "2024-01-01T00:00:00.5", "2025-01-01T00:00:00Z", "x\"y\\z", "03:25", "Rock", "Agender", " "][..]).prop_map(|t| Some(json!(t))),
        proptest::collection::vec(any::<i64>(), 0..6).prop_map(|v| Some(json!(v))),
        proptest::collection::vec(0i64..4, 0..6).prop_map(|v| Some(json!(v))),
        Just(Some(json!([1, 2.5]))),
    ]
}

/// A valid row with a few fields replaced, removed (`None`) or added.
fn near(valid: Value) -> impl proptest::strategy::Strategy<Value = Value> {
    use proptest::prelude::*;
    let mut names: Vec<String> = valid.as_object().unwrap().keys().cloned().collect();
    names.push("loudness".into());
    proptest::collection::vec((proptest::sample::select(names), field_value()), 0..4).prop_map(move |changes| {
        let mut row = valid.clone();
        let map = row.as_object_mut().unwrap();
        for (name, value) in changes {
            match value {
                Some(v) => map.insert(name, v),
                None => map.remove(&name),
            };
        }
        row
    })
}

fn user() -> Value {
    json!({"id": 5, "first_name": "A", "last_name": "B", "email": "a@b.c", "gender": "Agender",
           "favorite_genres": "Hip Hop", "created_at": "2025-01-01T00:00:00", "updated_at": "2025-06-01T00:00:00.1"})
}

fn listens() -> Value {
    json!({"user_id": 9, "items": [3, 1, 2], "created_at": "2025-01-01T00:00:00", "updated_at": "2025-01-02T00:00:00"})
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 2048, ..Default::default() })]

    #[test]
    fn a_row_read_from_its_text_gives_what_its_value_gives(row in proptest::prop_oneof![
        near(track()),
        near(user()),
        near(listens()),
        crate::arbitrary_json::object_with(Track::FIELDS),
        crate::arbitrary_json::json(),
    ]) {
        the_same_from_the_text::<Track>(&row)?;
        the_same_from_the_text::<User>(&row)?;
        the_same_from_the_text::<ListenHistory>(&row)?;
    }
}

#[test]
fn escaped_texts_read_alike_and_a_repeated_name_is_left_to_the_value() {
    let text = br#"{"id": 5, "first_name": "A\u00e9\"b", "last_name": "\\", "email": "a@b.c", "gender": "Agender",
        "favorite_genres": "Polka", "created_at": "2025-01-01T00:00:00", "updated_at": "2024-06-01 00:00:00", "extra": null, "a": [1]}"#;
    let value: Value = serde_json::from_slice(text).unwrap();
    let Validated::Accepted { record, warnings } = User::validate(&value) else { panic!("rejected") };
    assert_eq!(record.first_name.as_deref(), Some("Aé\"b"));
    assert_eq!(checks(&warnings), [("favorite_genres", Check::UnknownValue), ("updated_at", Check::DatetimeForm), ("updated_at", Check::UpdatedBeforeCreated), ("a", Check::UnknownField), ("extra", Check::UnknownField)]);
    assert_eq!(User::accept_common(text), Some((record, warnings)));
    // A `Value` keeps the last of a repeated name: the row is left to it.
    let repeated = br#"{"user_id": 1, "items": [1], "items": [2, 2], "created_at": "2025-01-01T00:00:00", "updated_at": "2025-01-01T00:00:00"}"#;
    assert_eq!(ListenHistory::accept_common(repeated), None);
    let Validated::Accepted { record, .. } = ListenHistory::validate(&serde_json::from_slice(repeated).unwrap()) else { panic!() };
    assert_eq!(record.items, [2, 2]);
    for not_common in [&br#"[1]"#[..], br#"{"user_id": 1.0, "items": []}"#, br#"{"user_id": 1, "items": [1] } x"#, b"{\"user_id\": 18446744073709551615}"] {
        assert_eq!(ListenHistory::accept_common(not_common), None, "{}", String::from_utf8_lossy(not_common));
    }
}

/// Rows as text, as no `Value` would print them: valid fields, then a few more that may repeat a
/// name (also through an escape), spell a number otherwise, escape a text, or use serde_json's
/// private raw-value name.
fn near_text(valid: &'static [(&'static str, &'static str)]) -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    const NAMES: &[&str] = &["id", "user_id", r"us\u0065r_id", "items", "name", "email", "gender", "created_at", "updated_at", "loudness", "$serde_json::private::RawValue"];
    const VALUES: &[&str] = &[
        "9", "-0", "1e2", "1.0", "-9223372036854775808", "9223372036854775808", "null", "true", "{}", "[]", "[1, 2]", "[1, 2.0]",
        r#""2025-01-01T00:00:00""#, r#""2025-01-01 00:00:00""#, r#""x\u00e9\"\ud83c\udfb5""#, r#""Rock""#, r#""Agender""#, r#"" ""#,
    ];
    let extra = proptest::collection::vec((proptest::sample::select(NAMES), proptest::sample::select(VALUES)), 0..4);
    (extra, any::<bool>(), any::<bool>()).prop_map(move |(extra, spaced, first)| {
        let mut fields: Vec<String> = valid.iter().chain(&extra).map(|(n, v)| format!("\"{n}\":{v}")).collect();
        if first {
            fields.rotate_right(extra.len());
        }
        format!("{{{}}}", fields.join(if spaced { " ,\n " } else { "," }))
    })
}

const TRACK_TEXT: &[(&str, &str)] = &[("id", "17"), ("name", r#""Song""#), ("artist", r#""A""#), ("songwriters", r#""B""#), ("duration", r#""03:25""#), ("genres", r#""rock""#), ("album", r#""X""#), ("created_at", r#""2025-10-30T17:52:06.998307""#), ("updated_at", r#""2025-11-01T08:00:00""#)];
const USER_TEXT: &[(&str, &str)] = &[("id", "5"), ("first_name", r#""A""#), ("last_name", r#""B""#), ("email", r#""a@b.c""#), ("gender", r#""Agender""#), ("favorite_genres", r#""Hip Hop""#), ("created_at", r#""2025-01-01T00:00:00""#), ("updated_at", r#""2025-06-01T00:00:00.1""#)];
const LISTENS_TEXT: &[(&str, &str)] = &[("user_id", "9"), ("items", "[3, 1, 2]"), ("created_at", r#""2025-01-01T00:00:00""#), ("updated_at", r#""2025-01-02T00:00:00""#)];

/// A record read from any text is the one its `Value` gives, and the text parses as a `Value`.
fn the_same_from_any_text<R: Record + PartialEq + std::fmt::Debug>(text: &str) -> Result<(), proptest::test_runner::TestCaseError> {
    if let Some(common) = R::accept_common(text.as_bytes()) {
        let value: Result<Value, _> = serde_json::from_str(text);
        proptest::prop_assert!(value.is_ok(), "read from its text, yet not a Value: {text}");
        match R::validate(&value.unwrap()) {
            Validated::Accepted { record, warnings } => proptest::prop_assert_eq!((record, warnings), common),
            Validated::Rejected { reasons } => proptest::prop_assert!(false, "read from its text, yet its Value is rejected: {reasons:?} {text}"),
        }
    }
    Ok(())
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 2048, ..Default::default() })]

    #[test]
    fn a_row_read_from_any_text_gives_what_its_value_gives(text in proptest::prop_oneof![near_text(TRACK_TEXT), near_text(USER_TEXT), near_text(LISTENS_TEXT)]) {
        the_same_from_any_text::<Track>(&text)?;
        the_same_from_any_text::<User>(&text)?;
        the_same_from_any_text::<ListenHistory>(&text)?;
    }
}

#[test]
fn a_wide_row_or_a_name_of_serde_jsons_own_is_left_to_the_value() {
    let raw_value = br#"{"$serde_json::private::RawValue": "x", "user_id": 1, "items": [1], "created_at": "2025-01-01T00:00:00", "updated_at": "2025-01-01T00:00:00"}"#;
    assert!(serde_json::from_slice::<Value>(raw_value).is_err(), "not a Value: the row is not JSON to transform");
    assert_eq!(ListenHistory::accept_common(raw_value), None);
    let wide = format!(r#"{{"user_id": 1, "items": [1], "created_at": "2025-01-01T00:00:00", "updated_at": "2025-01-01T00:00:00", {}}}"#, (0..100).map(|i| format!(r#""f{i}": {i}"#)).collect::<Vec<_>>().join(", "));
    assert_eq!(ListenHistory::accept_common(wide.as_bytes()), None);
    let Validated::Accepted { warnings, .. } = ListenHistory::validate(&serde_json::from_str(&wide).unwrap()) else { panic!() };
    assert_eq!(warnings.len(), 100, "the Value reads it, one unknown field at a time");
}
