//! Triggers: fetch's daily and recommend's weekly schedules, the S3 event rules of transform and
//! recommend (matched as EventBridge matches them), and the permissions to invoke.

use super::{FUNCTIONS, assert_clean, assert_caught, mutated};
use moovitamix_tests::cloudformation::*;
use serde_json::{Value, json};

/// Whether an EventBridge content filter list (exact strings, `prefix`, `suffix`, `wildcard`)
/// matches `value`; `Err` for a matcher this test does not understand.
fn key_filter_matches(filters: &Value, value: &str) -> Result<bool, String> {
    let mut matched = false;
    for filter in as_list(filters) {
        matched |= match filter {
            Value::String(exact) => exact == value,
            Value::Object(m) if m.len() == 1 => {
                let (kind, arg) = m.iter().next().expect("one entry");
                let arg = arg.as_str().ok_or_else(|| format!("matcher {filter} has a non-string argument"))?;
                match kind.as_str() {
                    "prefix" => value.starts_with(arg),
                    "suffix" => value.ends_with(arg),
                    "wildcard" => wildcard(arg, value),
                    other => return Err(format!("unsupported matcher `{other}` in {filter}")),
                }
            }
            other => return Err(format!("unsupported filter {other}")),
        };
    }
    Ok(matched)
}

/// EventBridge `wildcard`: `*` matches any run of characters.
fn wildcard(pattern: &str, value: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == value;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !value.starts_with(first) || !value[first.len()..].ends_with(last) || value.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &value[first.len()..value.len() - last.len()];
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(i) => rest = &rest[i + middle.len()..],
            None => return false,
        }
    }
    true
}

/// The six fields of `cron(m h dom mon dow y)`.
pub(crate) fn cron_fields(expression: &str) -> Option<Vec<String>> {
    let inner = expression.trim().strip_prefix("cron(")?.strip_suffix(')')?;
    let fields: Vec<String> = inner.split_whitespace().map(str::to_owned).collect();
    (fields.len() == 6).then_some(fields)
}

pub(crate) fn is_daily(expression: &str) -> bool {
    if expression.replace(' ', "") == "rate(1day)" {
        return true;
    }
    cron_fields(expression).is_some_and(|f| {
        f[0].parse::<u32>().is_ok()
            && f[1].parse::<u32>().is_ok()
            && matches!(f[2].as_str(), "*" | "?")
            && f[3] == "*"
            && matches!(f[4].as_str(), "*" | "?")
    })
}

fn is_weekly(expression: &str) -> bool {
    if expression.replace(' ', "") == "rate(7days)" {
        return true;
    }
    const DAYS: [&str; 14] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "1", "2", "3", "4", "5", "6", "7"];
    cron_fields(expression).is_some_and(|f| {
        f[0].parse::<u32>().is_ok()
            && f[1].parse::<u32>().is_ok()
            && f[2] == "?"
            && f[3] == "*"
            && DAYS.contains(&f[4].to_ascii_uppercase().as_str())
    })
}

/// The target of a rule or schedule: a DLQ that is a queue of this template, and a retry policy.
pub fn check_delivery(t: &Value, what: &str, target: &Value) -> Vec<String> {
    let mut problems = vec![];
    let queues: Vec<&str> = of_type(t, "AWS::SQS::Queue").into_iter().map(|(id, _)| id).collect();
    if !queues.iter().any(|q| refers_to(&target["DeadLetterConfig"]["Arn"], q)) {
        problems.push(format!("{what}: no dead-letter queue of this template"));
    }
    if target["RetryPolicy"]["MaximumRetryAttempts"].is_null() {
        problems.push(format!("{what}: no retry policy"));
    }
    problems
}

/// The schedule invoking `function`, checked for its cadence and input.
fn check_schedule(t: &Value, function: &str, cadence: fn(&str) -> bool, cadence_name: &str, input: Value) -> Vec<String> {
    let Some(fid) = function_id(t, function) else { return vec![format!("no {function} function")] };
    let schedules: Vec<(&str, &Value)> = of_type(t, "AWS::Scheduler::Schedule")
        .into_iter()
        .filter(|(_, s)| refers_to(&s["Properties"]["Target"]["Arn"], fid))
        .filter(|(_, s)| {
            let input_text = s["Properties"]["Target"]["Input"].as_str().unwrap_or("null");
            serde_json::from_str::<Value>(input_text).ok() == Some(input.clone())
        })
        .collect();
    let [(sid, schedule)] = schedules.as_slice() else {
        return vec![format!("expected one AWS::Scheduler::Schedule invoking {function} with input {input}, found {}", schedules.len())];
    };
    let p = &schedule["Properties"];
    let mut problems = vec![];
    let expression = resolve(t, &p["ScheduleExpression"]).as_str().unwrap_or_default();
    if !cadence(expression) {
        problems.push(format!("{sid}: {expression:?} is not {cadence_name}"));
    }
    if p["State"] == "DISABLED" {
        problems.push(format!("{sid}: DISABLED"));
    }
    problems.extend(check_delivery(t, sid, &p["Target"]));
    // The scheduler's role may invoke the scheduled functions and nothing else.
    let role = of_type(t, "AWS::IAM::Role").into_iter().find(|(rid, _)| refers_to(&p["Target"]["RoleArn"], rid));
    match role {
        None => problems.push(format!("{sid}: RoleArn is not a role of this template")),
        Some((rid, role)) => {
            let functions: Vec<&str> = FUNCTIONS.iter().filter_map(|f| function_id(t, f)).collect();
            let mut invokes_target = false;
            for s in statements(role) {
                if !strings(&s["Action"]).iter().any(|a| a == "lambda:InvokeFunction" || a == "lambda:*" || a == "*") {
                    continue;
                }
                for r in as_list(&s["Resource"]) {
                    if !functions.iter().any(|f| refers_to(r, f)) {
                        problems.push(format!("{rid} may invoke {r}, which is not a pipeline function"));
                    }
                    invokes_target |= refers_to(r, fid);
                }
            }
            if !invokes_target {
                problems.push(format!("{rid} may not invoke {fid}"));
            }
        }
    }
    problems
}

/// The rule on S3 `Object Created` events invoking `function` for keys like `accept`.
fn check_rule(t: &Value, function: &str, accept: &str, refuse: &[&str]) -> Vec<String> {
    let Some(fid) = function_id(t, function) else { return vec![format!("no {function} function")] };
    let mut problems = vec![];
    let rules: Vec<(&str, &Value, &Value)> = of_type(t, "AWS::Events::Rule")
        .into_iter()
        .flat_map(|(rid, r)| {
            as_list(&r["Properties"]["Targets"]).into_iter().filter(|x| refers_to(&x["Arn"], fid)).map(move |x| (rid, r, x))
        })
        .collect();
    let [(rid, rule, target)] = rules.as_slice() else {
        return vec![format!("expected one EventBridge rule targeting {function}, found {}", rules.len())];
    };
    let pattern = &rule["Properties"]["EventPattern"];
    if strings(&pattern["source"]) != ["aws.s3"] || strings(&pattern["detail-type"]) != ["Object Created"] {
        problems.push(format!("{rid}: not an S3 Object Created pattern: {pattern}"));
    }
    if !refers_to(&pattern["detail"]["bucket"]["name"], "DataBucket") {
        problems.push(format!("{rid}: does not filter on the data bucket"));
    }
    let keys = &pattern["detail"]["object"]["key"];
    match key_filter_matches(keys, accept) {
        Ok(true) => {}
        Ok(false) => problems.push(format!("{rid}: key filter {keys} does not match {accept}")),
        Err(e) => problems.push(format!("{rid}: {e}")),
    }
    for key in refuse {
        if key_filter_matches(keys, key).unwrap_or(true) {
            problems.push(format!("{rid}: key filter {keys} also matches {key}"));
        }
    }
    if rule["Properties"]["State"] == "DISABLED" {
        problems.push(format!("{rid}: DISABLED"));
    }
    for passthrough in ["Input", "InputPath", "InputTransformer"] {
        if !target[passthrough].is_null() && function == "recommend" {
            problems.push(format!("{rid}: recommend's target rewrites the event ({passthrough}); it should pass the S3 event through"));
        }
    }
    problems.extend(check_delivery(t, rid, target));
    let permitted = of_type(t, "AWS::Lambda::Permission").into_iter().any(|(_, perm)| {
        let p = &perm["Properties"];
        refers_to(&p["FunctionName"], fid)
            && p["Principal"] == "events.amazonaws.com"
            && p["Action"] == "lambda:InvokeFunction"
            && refers_to(&p["SourceArn"], rid)
    });
    if !permitted {
        problems.push(format!("no AWS::Lambda::Permission lets events.amazonaws.com invoke {fid} from {rid} (SourceArn)"));
    }
    problems
}

pub fn check_triggers(t: &Value) -> Vec<String> {
    let key = |zone: &str, dataset: &str, file: &str| format!("{zone}/{dataset}/dt=2026-11-21/{file}");
    let mut problems = vec![];
    problems.extend(check_schedule(t, "fetch", is_daily, "daily", json!({"date": "<aws.scheduler.scheduled-time>"})));
    problems.extend(check_schedule(t, "recommend", is_weekly, "weekly", json!({"mode": "train", "scheduled": true})));
    let transform_refuses = [
        key("raw", "_run", "_lease"),
        key("raw", "tracks", "_manifest.json"),
        key("curated", "_run", "_manifest.json"),
        key("quarantine", "_run", "_manifest.json"),
    ];
    let refuse: Vec<&str> = transform_refuses.iter().map(String::as_str).collect();
    problems.extend(check_rule(t, "transform", &key("raw", "_run", "_manifest.json"), &refuse));
    let recommend_refuses =
        [key("curated", "_run", "_lease"), key("curated", "users", "_manifest.json"), key("raw", "_run", "_manifest.json")];
    let refuse: Vec<&str> = recommend_refuses.iter().map(String::as_str).collect();
    problems.extend(check_rule(t, "recommend", &key("curated", "_run", "_manifest.json"), &refuse));
    problems
}

#[test]
fn every_function_has_its_trigger() {
    assert_clean(check_triggers(&parse(&template_text())));
}

#[test]
fn a_rule_matching_too_much_or_the_wrong_zone_is_caught() {
    let too_wide = mutated(|t| {
        t["Resources"]["TransformTriggerRule"]["Properties"]["EventPattern"]["detail"]["object"]["key"] = json!([{"prefix": "raw/"}]);
    });
    assert_caught(check_triggers(&too_wide), "transform's key filter", "also matches raw/_run/dt=2026-11-21/_lease");
    let wrong_zone = mutated(|t| {
        t["Resources"]["RecommendTriggerRule"]["Properties"]["EventPattern"]["detail"]["object"]["key"] =
            json!([{"wildcard": "raw/_run/dt=*/_manifest.json"}]);
    });
    assert_caught(check_triggers(&wrong_zone), "recommend's key filter", "does not match curated/_run");
}

#[test]
fn a_missing_schedule_or_permission_is_caught() {
    let no_schedule = mutated(|t| {
        t["Resources"].as_object_mut().unwrap().remove("FetchSchedule");
    });
    assert_caught(check_triggers(&no_schedule), "the daily fetch schedule", "invoking fetch");
    let no_permission = mutated(|t| {
        t["Resources"].as_object_mut().unwrap().remove("TransformTriggerPermission");
    });
    assert_caught(check_triggers(&no_permission), "transform's invoke permission", "no AWS::Lambda::Permission");
    let monthly = mutated(|t| {
        t["Parameters"]["TrainScheduleExpression"]["Default"] = json!("cron(0 3 1 * ? *)");
    });
    assert_caught(check_triggers(&monthly), "the weekly training", "is not weekly");
}

#[test]
fn the_wildcard_matcher_is_the_eventbridge_one() {
    assert!(wildcard("raw/_run/dt=*/_manifest.json", "raw/_run/dt=2026-11-21/_manifest.json"));
    assert!(!wildcard("raw/_run/dt=*/_manifest.json", "raw/_run/dt=2026-11-21/_lease"));
    assert!(!wildcard("raw/_run/dt=*/_manifest.json", "curated/_run/dt=2026-11-21/_manifest.json"));
    assert!(wildcard("a*b*c", "aXbYc") && !wildcard("a*b*c", "aXc") && wildcard("*", "") && !wildcard("ab*ba", "aba"));
    assert!(is_daily("cron(0 6 * * ? *)") && !is_daily("cron(0 6 ? * MON *)"));
    assert!(is_weekly("cron(0 3 ? * SUN *)") && !is_weekly("cron(0 3 * * ? *)"));
}
