//! The events that start a run, and the logical date each one carries.
//!
//! Accepted shapes:
//! - a classic EventBridge rule's `Scheduled Event`: the date is the UTC date of its `time`;
//! - `{"date": "<aws.scheduler.scheduled-time>"}`, what our EventBridge Scheduler schedule sends
//!   (a full timestamp), or `{"date": "YYYY-MM-DD"}` for a manual run or backfill, optionally
//!   with `"allow_past": true` (see [`check_logical_date`]);
//! - an S3 `Object Created` event delivered through EventBridge for a stage's run manifest
//!   (`<zone>/_run/dt=YYYY-MM-DD/_manifest.json`): the date is the partition's.
//!
//! Parsing reads no clock; [`check_logical_date`] compares a date with the `now` its caller read
//! at the edge (the invocation's start).

use crate::partition::{MANIFEST_FILE, Partition, RUN_DATASET, Zone};
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    /// A schedule fired at this time.
    Schedule { time: DateTime<Utc> },
    /// A date named directly (manual run, backfill, or Scheduler input); `allow_past` says the
    /// sender knows that a fetch stores today's snapshot under that date.
    Date { date: NaiveDate, allow_past: bool },
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
        let Some(date) = object.get("date") else {
            return Err(fail("no `date`"));
        };
        let extra: Vec<&str> = object
            .keys()
            .map(String::as_str)
            .filter(|k| !["date", "allow_past"].contains(k))
            .collect();
        if !extra.is_empty() {
            return Err(fail(&format!("unexpected fields {extra:?} beside `date`")));
        }
        let allow_past = match object.get("allow_past") {
            None => false,
            Some(Value::Bool(b)) => *b,
            Some(_) => return Err(fail("`allow_past` is not true or false")),
        };
        let Value::String(text) = date else {
            return Err(fail("`date` is not a string"));
        };
        let date = parse_date(text).ok_or_else(|| {
            fail(&format!(
                "`date` {text:?} is neither YYYY-MM-DD nor an ISO-8601 timestamp"
            ))
        })?;
        Ok(Trigger::Date { date, allow_past })
    }

    /// Whether the event allows a logical date far in the past.
    pub fn allow_past(&self) -> bool {
        matches!(
            self,
            Trigger::Date {
                allow_past: true,
                ..
            }
        )
    }

    /// The logical date of the run this trigger asks for.
    pub fn logical_date(&self) -> NaiveDate {
        match self {
            Trigger::Schedule { time } => time.date_naive(),
            Trigger::Date { date, .. } | Trigger::Committed { date, .. } => *date,
        }
    }
}

/// A logical date a run refuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DateError {
    #[error(
        "the logical date {date} is after tomorrow ({tomorrow}, UTC): the source serves only the present, and a date in the future would steer every later date; refused"
    )]
    Future {
        date: NaiveDate,
        tomorrow: NaiveDate,
    },
    #[error(
        "the logical date {date} is {days} days before today ({today}, UTC), more than FETCH_MAX_PAST_DAYS={max}: the source serves only the present, so the run would store today's snapshot under {date}. If that is what you want, send {{\"date\": \"{date}\", \"allow_past\": true}} (locally: --allow-past)"
    )]
    TooOld {
        date: NaiveDate,
        today: NaiveDate,
        days: i64,
        max: u32,
    },
}

/// Refuses a date after tomorrow (UTC, by `now`), and, unless `max_past_days` is `None` or
/// `allow_past`, a date more than `max_past_days` days before today.
pub fn check_logical_date(
    date: NaiveDate,
    now: DateTime<Utc>,
    max_past_days: Option<u32>,
    allow_past: bool,
) -> Result<(), DateError> {
    let today = now.date_naive();
    let tomorrow = today.succ_opt().unwrap_or(today);
    if date > tomorrow {
        return Err(DateError::Future { date, tomorrow });
    }
    let days = (today - date).num_days();
    match max_past_days {
        Some(max) if days > i64::from(max) && !allow_past => Err(DateError::TooOld {
            date,
            today,
            days,
            max,
        }),
        _ => Ok(()),
    }
}

/// The latest logical date a run may see: tomorrow (UTC) by `now`. Dates after it cannot be real.
pub fn latest_plausible_date(now: DateTime<Utc>) -> NaiveDate {
    let today = now.date_naive();
    today.succ_opt().unwrap_or(today)
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
        assert_eq!(
            Trigger::parse(&scheduled).unwrap().logical_date(),
            day("2026-11-21")
        );
        assert_eq!(
            Trigger::parse(&json!({"date": "2026-11-21T06:00:00Z"}))
                .unwrap()
                .logical_date(),
            day("2026-11-21")
        );
        assert_eq!(
            Trigger::parse(&json!({"date": "2026-11-21T01:00:00+02:00"}))
                .unwrap()
                .logical_date(),
            day("2026-11-20")
        );
        assert_eq!(
            Trigger::parse(&json!({"date": "2026-11-20"})).unwrap(),
            Trigger::Date {
                date: day("2026-11-20"),
                allow_past: false
            }
        );
        let backfill = Trigger::parse(&json!({"date": "2026-11-01", "allow_past": true})).unwrap();
        assert_eq!(
            (backfill.logical_date(), backfill.allow_past()),
            (day("2026-11-01"), true)
        );
        assert!(
            !Trigger::parse(&json!({"date": "2026-11-01", "allow_past": false}))
                .unwrap()
                .allow_past()
        );
        assert_eq!(
            Trigger::parse(&json!({"date": "2026-11-21 06:00:00"}))
                .unwrap()
                .logical_date(),
            day("2026-11-21")
        );
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
            (
                json!({"date": "2026-11-21", "dry": true}),
                "unexpected fields",
            ),
            (json!({"allow_past": true}), "no `date`"),
            (
                json!({"date": "2026-11-21", "allow_past": "yes"}),
                "`allow_past` is not true or false",
            ),
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
    fn a_date_after_tomorrow_is_refused_and_an_old_one_needs_allow_past() {
        let now: DateTime<Utc> = "2026-11-21T23:59:00Z".parse().unwrap();
        assert_eq!(
            check_logical_date(day("2026-11-22"), now, Some(2), false),
            Ok(()),
            "tomorrow: a schedule in a zone ahead of UTC"
        );
        assert_eq!(
            check_logical_date(day("2026-11-23"), now, None, true),
            Err(DateError::Future {
                date: day("2026-11-23"),
                tomorrow: day("2026-11-22")
            })
        );
        assert!(matches!(
            check_logical_date(day("2099-01-01"), now, Some(2), true),
            Err(DateError::Future { .. })
        ));
        assert_eq!(
            check_logical_date(day("2026-11-19"), now, Some(2), false),
            Ok(()),
            "two days back"
        );
        let old = check_logical_date(day("2026-11-18"), now, Some(2), false).unwrap_err();
        assert_eq!(
            old,
            DateError::TooOld {
                date: day("2026-11-18"),
                today: day("2026-11-21"),
                days: 3,
                max: 2
            }
        );
        assert!(old.to_string().contains("\"allow_past\": true"), "{old}");
        assert_eq!(
            check_logical_date(day("2026-11-18"), now, Some(2), true),
            Ok(())
        );
        assert_eq!(
            check_logical_date(day("2020-01-01"), now, None, false),
            Ok(()),
            "no past limit (re-running a stage on committed data)"
        );
        assert_eq!(latest_plausible_date(now), day("2026-11-22"));
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
