//! What a recommend invocation asks for: score a date, train, or roll the champion back.
//!
//! Accepted events:
//! - `{"mode": "score", "date": "YYYY-MM-DD"}`, or `{"date": ...}` alone, or the S3 "Object
//!   Created" event of transform's commit (`curated/_run/dt=D/_manifest.json`): score D;
//! - `{"mode": "train"}` (the latest curated date) or `{"mode": "train", "date": ...}` (train on
//!   that date's curated tables): an explicit train, which may replace a pinned champion;
//! - `{"mode": "train", "scheduled": true}` (the weekly schedule): an automatic train, which
//!   stores a candidate but leaves a pinned champion in place, as a score run's retraining does;
//! - `{"mode": "rollback", "version": "<version id>"}`: make that stored version the champion
//!   (pinned: automatic retraining no longer replaces it);
//! - `{"mode": "unpin"}`: let automatic retraining replace the champion again.

use crate::partition::Zone;
use crate::trigger::{Trigger, TriggerError, excerpt, parse_date};
use chrono::NaiveDate;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Score { date: NaiveDate },
    /// `date` `None`: the latest date transform committed. `scheduled`: sent by the schedule, not
    /// by a person, so a champion pinned by a rollback stays.
    Train { date: Option<NaiveDate>, scheduled: bool },
    Rollback { version: String },
    Unpin,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error(transparent)]
    Trigger(#[from] TriggerError),
    #[error("recommend runs on transform's commits (curated/_run/dt=.../_manifest.json), but this event is for {zone}: `{key}`")]
    WrongZone { zone: Zone, key: String },
    #[error(
        "unrecognised recommend event ({why}); expected {{\"mode\": \"score\", \"date\": \"YYYY-MM-DD\"}}, {{\"mode\": \"train\"}} (optionally with \"date\" and \"scheduled\"), {{\"mode\": \"rollback\", \"version\": \"<version>\"}}, {{\"mode\": \"unpin\"}}, or transform's S3 Object Created event; got {excerpt}"
    )]
    Unrecognised { why: String, excerpt: String },
}

impl Request {
    pub fn parse(event: &Value) -> Result<Request, RequestError> {
        let fail = |why: String| RequestError::Unrecognised { why, excerpt: excerpt(event) };
        let Some(mode) = event.get("mode") else {
            return match Trigger::parse(event)? {
                Trigger::Committed { zone, key, .. } if zone != Zone::Curated => Err(RequestError::WrongZone { zone, key }),
                trigger => Ok(Request::Score { date: trigger.logical_date() }),
            };
        };
        let Some(object) = event.as_object() else { return Err(fail("not a JSON object".into())) };
        let allowed: &[&str] = match mode.as_str() {
            Some("score") => &["mode", "date"],
            Some("train") => &["mode", "date", "scheduled"],
            Some("rollback") => &["mode", "version"],
            Some("unpin") => &["mode"],
            _ => return Err(fail(format!("`mode` {mode} is not \"score\", \"train\", \"rollback\" or \"unpin\""))),
        };
        if let Some(extra) = object.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(fail(format!("unexpected field `{extra}` for mode {mode}")));
        }
        let date = match object.get("date") {
            None => None,
            Some(Value::String(text)) => Some(parse_date(text).ok_or_else(|| fail(format!("`date` {text:?} is not YYYY-MM-DD or a timestamp")))?),
            Some(other) => return Err(fail(format!("`date` {other} is not a string"))),
        };
        match mode.as_str() {
            Some("score") => date.map(|date| Request::Score { date }).ok_or_else(|| fail("score needs a `date`".into())),
            Some("train") => match object.get("scheduled") {
                None => Ok(Request::Train { date, scheduled: false }),
                Some(Value::Bool(scheduled)) => Ok(Request::Train { date, scheduled: *scheduled }),
                Some(other) => Err(fail(format!("`scheduled` {other} is not true or false"))),
            },
            Some("unpin") => Ok(Request::Unpin),
            _ => match object.get("version").and_then(Value::as_str).map(str::trim) {
                Some(v) if !v.is_empty() => Ok(Request::Rollback { version: v.to_owned() }),
                _ => Err(fail("rollback needs a `version` (a string; `moovitamix models` lists them)".into())),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn each_mode_and_trigger_shape() {
        assert_eq!(Request::parse(&json!({"mode": "score", "date": "2026-11-21"})).unwrap(), Request::Score { date: day("2026-11-21") });
        assert_eq!(Request::parse(&json!({"date": "2026-11-21T06:00:00Z"})).unwrap(), Request::Score { date: day("2026-11-21") });
        assert_eq!(Request::parse(&json!({"mode": "train"})).unwrap(), Request::Train { date: None, scheduled: false });
        assert_eq!(Request::parse(&json!({"mode": "train", "date": "2026-11-20"})).unwrap(), Request::Train { date: Some(day("2026-11-20")), scheduled: false });
        assert_eq!(Request::parse(&json!({"mode": "train", "scheduled": true})).unwrap(), Request::Train { date: None, scheduled: true });
        assert!(Request::parse(&json!({"mode": "train", "scheduled": "yes"})).is_err());
        assert_eq!(
            Request::parse(&json!({"mode": "rollback", "version": "20261101T060000Z"})).unwrap(),
            Request::Rollback { version: "20261101T060000Z".into() }
        );
        assert_eq!(Request::parse(&json!({"mode": "unpin"})).unwrap(), Request::Unpin);
        let created = json!({"detail-type": "Object Created", "source": "aws.s3", "time": "2026-11-21T06:09:00Z",
            "detail": {"bucket": {"name": "data"}, "object": {"key": "curated/_run/dt=2026-11-21/_manifest.json"}}});
        assert_eq!(Request::parse(&created).unwrap(), Request::Score { date: day("2026-11-21") });
    }

    #[test]
    fn anything_else_is_refused_saying_why() {
        let raw = json!({"detail-type": "Object Created", "source": "aws.s3",
            "detail": {"bucket": {"name": "data"}, "object": {"key": "raw/_run/dt=2026-11-21/_manifest.json"}}});
        assert!(matches!(Request::parse(&raw), Err(RequestError::WrongZone { zone: Zone::Raw, .. })));
        for (event, why) in [
            (json!({"mode": "dance"}), "is not \"score\""),
            (json!({"mode": "score"}), "score needs a `date`"),
            (json!({"mode": "rollback"}), "rollback needs a `version`"),
            (json!({"mode": "rollback", "version": "  "}), "rollback needs a `version`"),
            (json!({"mode": "train", "force": true}), "unexpected field `force`"),
            (json!({"mode": "unpin", "version": "v1"}), "unexpected field `version`"),
            (json!({"mode": "score", "date": "soon"}), "is not YYYY-MM-DD"),
        ] {
            let err = Request::parse(&event).unwrap_err().to_string();
            assert!(err.contains(why), "{event}: {err}");
        }
        assert!(matches!(Request::parse(&json!({"foo": 1})), Err(RequestError::Trigger(_))));
    }

    #[test]
    fn a_refused_event_with_multi_byte_text_does_not_panic() {
        let err = Request::parse(&json!({"mode": "dance", "why": "日本語".repeat(200)})).unwrap_err();
        assert!(err.to_string().contains("is not \"score\""), "{err}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 1024, ..Default::default() })]

        #[test]
        fn any_event_is_a_request_or_a_bad_event(event in crate::arbitrary_json::event()) {
            use crate::job::Classified;
            if let Err(e) = Request::parse(&event) {
                proptest::prop_assert_eq!(crate::recommend::RecommendError::from(e).error_type(), "Permanent.BadEvent");
            }
        }
    }
}
