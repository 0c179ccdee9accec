//! The events that start a run, and the logical date each one carries.
//!
//! Accepted shapes:
//! - a classic EventBridge rule's `Scheduled Event`: the date is the UTC date of its `time`;
//! - `{"date": "<aws.scheduler.scheduled-time>"}`, what our EventBridge Scheduler schedule sends
//!   (a full timestamp), or `{"date": "YYYY-MM-DD"}` for a manual run or backfill;
//! - an S3 `Object Created` event delivered through EventBridge for a stage's run manifest
//!   (`<zone>/_run/dt=YYYY-MM-DD/_manifest.json`): the date is the partition's.

use crate::partition::{MANIFEST_FILE, Partition, RUN_DATASET, Zone};
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// A schedule fired at this time.
    Schedule { time: DateTime<Utc> },
    /// A date named directly (manual run, backfill, or Scheduler input).
    Date { date: NaiveDate },
    /// An upstream stage committed the run manifest at this key.
    Committed { bucket: String, key: String, zone: Zone, date: NaiveDate },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unrecognised event ({why}); expected {{\"date\": \"YYYY-MM-DD\"}}, {{\"date\": \"<ISO-8601 timestamp>\"}}, an EventBridge Scheduled Event, or an S3 Object Created event for a run manifest; got {excerpt}")]
pub struct TriggerError {
    pub why: String,
    pub excerpt: String,
}

impl Trigger {
    pub fn parse(event: &Value) -> Result<Trigger, TriggerError> {
        let fail = |why: &str| TriggerError { why: why.to_owned(), excerpt: excerpt(event) };
        let Some(object) = event.as_object() else { return Err(fail("not a JSON object")) };
        if object.contains_key("detail-type") {
            let envelope: EventBridgeEvent<Value> =
                serde_json::from_value(event.clone()).map_err(|e| fail(&format!("bad EventBridge envelope: {e}")))?;
            return match envelope.detail_type.as_str() {
                "Scheduled Event" => {
                    envelope.time.map(|time| Trigger::Schedule { time }).ok_or_else(|| fail("a Scheduled Event without `time`"))
                }
                "Object Created" => {
                    let text = |path: &str| envelope.detail.pointer(path).and_then(Value::as_str).map(str::to_owned);
                    let (Some(bucket), Some(key)) = (text("/bucket/name"), text("/object/key")) else {
                        return Err(fail("an Object Created event without detail.bucket.name and detail.object.key"));
                    };
                    let (partition, file) = Partition::parse_key(&key).map_err(|e| fail(&e.to_string()))?;
                    if partition.dataset != RUN_DATASET || file != MANIFEST_FILE {
                        return Err(fail(&format!("`{key}` is not a run manifest (<zone>/_run/dt=.../_manifest.json)")));
                    }
                    Ok(Trigger::Committed { bucket, key, zone: partition.zone, date: partition.date })
                }
                other => Err(fail(&format!("detail-type `{other}`"))),
            };
        }
        match (object.len(), object.get("date")) {
            (1, Some(Value::String(text))) => parse_date(text).map(|date| Trigger::Date { date }).ok_or_else(|| {
                fail(&format!("`date` {text:?} is neither YYYY-MM-DD nor an ISO-8601 timestamp"))
            }),
            (_, Some(_)) if object.len() > 1 => {
                let extra: Vec<&str> = object.keys().filter(|k| *k != "date").map(String::as_str).collect();
                Err(fail(&format!("unexpected fields {extra:?} beside `date`")))
            }
            (_, Some(_)) => Err(fail("`date` is not a string")),
            _ => Err(fail("no `date`")),
        }
    }

    /// The logical date of the run this trigger asks for.
    pub fn logical_date(&self) -> NaiveDate {
        match self {
            Trigger::Schedule { time } => time.date_naive(),
            Trigger::Date { date } | Trigger::Committed { date, .. } => *date,
        }
    }
}

/// The start of an event for messages: at most [`EXCERPT_BYTES`] bytes, cut on a character
/// boundary (a cut inside a multi-byte character would panic).
pub fn excerpt(event: &Value) -> String {
    let mut text = event.to_string();
    if text.len() > EXCERPT_BYTES {
        let cut = (0..=EXCERPT_BYTES).rev().find(|&i| text.is_char_boundary(i)).unwrap_or(0);
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// How much of a refused event its error quotes.
pub const EXCERPT_BYTES: usize = 300;

/// `YYYY-MM-DD`, or an ISO-8601 timestamp (taken as UTC when it has no zone) reduced to its UTC date.
pub fn parse_date(text: &str) -> Option<NaiveDate> {
    let text = text.trim();
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .or_else(|| crate::records::parse_datetime(text).map(|t| t.date_naive()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn each_accepted_shape_gives_its_logical_date() {
        let scheduled = json!({"version": "0", "id": "e1", "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": "2026-11-21T23:30:00Z", "region": "eu-west-1",
            "resources": ["arn:aws:events:eu-west-1:123456789012:rule/daily"], "detail": {}});
        assert_eq!(Trigger::parse(&scheduled).unwrap().logical_date(), day("2026-11-21"));
        assert_eq!(Trigger::parse(&json!({"date": "2026-11-21T06:00:00Z"})).unwrap().logical_date(), day("2026-11-21"));
        assert_eq!(Trigger::parse(&json!({"date": "2026-11-21T01:00:00+02:00"})).unwrap().logical_date(), day("2026-11-20"));
        assert_eq!(Trigger::parse(&json!({"date": "2026-11-20"})).unwrap(), Trigger::Date { date: day("2026-11-20") });
        let created = json!({"version": "0", "id": "e2", "detail-type": "Object Created", "source": "aws.s3",
            "time": "2026-11-21T06:03:00Z", "detail": {"bucket": {"name": "data"}, "object": {"key": "raw/_run/dt=2026-11-21/_manifest.json", "size": 10}}});
        assert_eq!(
            Trigger::parse(&created).unwrap(),
            Trigger::Committed { bucket: "data".into(), key: "raw/_run/dt=2026-11-21/_manifest.json".into(), zone: Zone::Raw, date: day("2026-11-21") }
        );
    }

    #[test]
    fn anything_else_is_refused_with_the_reason() {
        for (event, why) in [
            (json!({"foo": 1}), "no `date`"),
            (json!({"date": "tomorrow"}), "neither YYYY-MM-DD"),
            (json!({"date": 20261121}), "not a string"),
            (json!({"date": "2026-11-21", "dry": true}), "unexpected fields"),
            (json!([1]), "not a JSON object"),
            (json!({"detail-type": "EC2 Instance State-change Notification", "source": "aws.ec2", "detail": {}}), "detail-type"),
            (json!({"detail-type": "Scheduled Event", "source": "aws.events", "detail": {}}), "without `time`"),
            (json!({"detail-type": "Object Created", "source": "aws.s3", "detail": {"bucket": {"name": "b"}, "object": {"key": "raw/tracks/dt=2026-11-21/_manifest.json"}}}), "not a run manifest"),
        ] {
            let err = Trigger::parse(&event).unwrap_err();
            assert!(err.why.contains(why), "{event}: {err}");
            assert!(err.to_string().contains("expected {\"date\""), "{err}");
        }
    }

    #[test]
    fn a_refused_event_is_quoted_up_to_a_character_boundary() {
        use crate::job::Classified;
        // `{"x":"` is 6 bytes, then 2-byte characters: byte 300 falls inside one.
        let event = json!({"x": "é".repeat(400)});
        let err = Trigger::parse(&event).unwrap_err();
        assert!(err.excerpt.ends_with("é…") && err.excerpt.len() <= EXCERPT_BYTES + '…'.len_utf8(), "{}", err.excerpt);
        assert_eq!(crate::fetch::FetchError::from(err).error_type(), "Permanent.BadEvent");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 1024, ..Default::default() })]

        /// Fetch and transform parse their events here: anything is a trigger or a bad event.
        #[test]
        fn any_event_is_a_trigger_or_a_bad_event(event in crate::arbitrary_json::event()) {
            use crate::job::Classified;
            match Trigger::parse(&event) {
                Ok(trigger) => { trigger.logical_date(); }
                Err(e) => {
                    proptest::prop_assert!(e.excerpt.len() <= EXCERPT_BYTES + '…'.len_utf8());
                    proptest::prop_assert_eq!(crate::transform::TransformError::from(e.clone()).error_type(), "Permanent.BadEvent");
                    proptest::prop_assert_eq!(crate::fetch::FetchError::from(e).error_type(), "Permanent.BadEvent");
                }
            }
        }
    }
}
