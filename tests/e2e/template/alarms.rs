//! Alarms and the dashboard: every alarm mails the topic, heartbeats treat silence as failure,
//! thresholds are the code's, and the dashboard shows metrics the pipeline emits.

use super::{FUNCTIONS, known_metrics, assert_clean, assert_caught, mutated};
use moovitamix_tests::cloudformation::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;

pub fn check_alarms(t: &Value) -> Vec<String> {
    let mut problems = vec![];
    let Some((topic, _)) = of_type(t, "AWS::SNS::Subscription")
        .into_iter()
        .filter(|(_, s)| s["Properties"]["Protocol"] == "email" && refers_to(&s["Properties"]["Endpoint"], "AlarmEmail"))
        .find_map(|(_, s)| of_type(t, "AWS::SNS::Topic").into_iter().find(|(tid, _)| refers_to(&s["Properties"]["TopicArn"], tid)))
    else {
        return vec!["no SNS topic with an e-mail subscription to AlarmEmail".into()];
    };
    if resources(t)[topic]["Properties"]["KmsMasterKeyId"].is_null() {
        problems.push(format!("{topic}: not encrypted"));
    }
    let cloudwatch_may_publish = of_type(t, "AWS::SNS::TopicPolicy").into_iter().any(|(_, p)| {
        refers_to(&p["Properties"]["Topics"], topic)
            && as_list(&p["Properties"]["PolicyDocument"]["Statement"]).iter().any(|s| {
                s["Effect"] == "Allow" && s["Principal"]["Service"] == "cloudwatch.amazonaws.com" && strings(&s["Action"]).contains(&"sns:Publish".into())
            })
    });
    if !cloudwatch_may_publish {
        problems.push(format!("{topic}: no topic policy lets cloudwatch.amazonaws.com publish"));
    }
    let alarms = of_type(t, "AWS::CloudWatch::Alarm");
    let known = known_metrics();
    for (id, alarm) in &alarms {
        let p = &alarm["Properties"];
        for actions in ["AlarmActions", "OKActions"] {
            if !as_list(&p[actions]).iter().any(|a| refers_to(a, topic)) {
                problems.push(format!("{id}: {actions} does not include the alarm topic {topic}"));
            }
        }
        if p["AlarmDescription"].as_str().map_or(0, str::len) < 60 {
            problems.push(format!("{id}: AlarmDescription is not a runbook sentence"));
        }
        if refers_to(&p["Namespace"], "MetricsNamespace") {
            let metric = p["MetricName"].as_str().unwrap_or_default();
            if !known.contains(metric) {
                problems.push(format!("{id}: metric {metric} is not one the pipeline emits"));
            }
        }
    }
    let find = |namespace: &dyn Fn(&Value) -> bool, metric: &str, dim: &str, value: &dyn Fn(&Value) -> bool| {
        alarms
            .iter()
            .filter(|(_, a)| {
                let p = &a["Properties"];
                namespace(&p["Namespace"]) && p["MetricName"] == metric && dimension(a, dim).is_some_and(value)
            })
            .map(|(id, a)| (*id, *a))
            .collect::<Vec<_>>()
    };
    let ours = |v: &Value| refers_to(v, "MetricsNamespace");
    let lambda = |v: &Value| *v == "AWS/Lambda";
    let sqs = |v: &Value| *v == "AWS/SQS";
    let expect_one = |problems: &mut Vec<String>, what: &str, found: &[(&str, &Value)], op: &str, threshold: f64| {
        match found {
            [(id, a)] => {
                let p = &a["Properties"];
                if p["ComparisonOperator"] != op || number(resolve(t, &p["Threshold"])) != Some(threshold) {
                    problems.push(format!("{id}: {what} should be {op} {threshold}"));
                }
            }
            _ => problems.push(format!("expected one alarm on {what}, found {}", found.len())),
        }
    };
    for name in FUNCTIONS {
        let Some(fid) = function_id(t, name) else { continue };
        let is_fn = |v: &Value| refers_to(v, fid);
        let is_name = |v: &Value| *v == name;
        expect_one(&mut problems, &format!("{name} Errors"), &find(&lambda, "Errors", "FunctionName", &is_fn), "GreaterThanThreshold", 0.0);
        expect_one(&mut problems, &format!("{name} Throttles"), &find(&lambda, "Throttles", "FunctionName", &is_fn), "GreaterThanThreshold", 0.0);
        expect_one(&mut problems, &format!("{name} RunFailed"), &find(&ours, "RunFailed", "Function", &is_name), "GreaterThanOrEqualToThreshold", 1.0);
        let heartbeat = find(&ours, "RunSucceeded", "Function", &is_name);
        expect_one(&mut problems, &format!("{name} heartbeat (RunSucceeded)"), &heartbeat, "LessThanThreshold", 1.0);
        if let [(id, a)] = heartbeat.as_slice() {
            let p = &a["Properties"];
            let period = number(&p["Period"]).unwrap_or(0.0);
            let evaluations = number(&p["EvaluationPeriods"]).unwrap_or(0.0);
            let datapoints = number(&p["DatapointsToAlarm"]).unwrap_or(evaluations);
            if p["TreatMissingData"] != "breaching" {
                problems.push(format!("{id}: a heartbeat must treat missing data as breaching"));
            }
            if p["Statistic"] != "Sum" || datapoints != evaluations || !(86_400.0..=172_800.0).contains(&(period * evaluations)) {
                problems.push(format!("{id}: a heartbeat should alarm on a Sum < 1 over every period of 24-48 h"));
            }
            if dimensions(a).len() != 1 {
                problems.push(format!("{id}: a heartbeat's only dimension is Function"));
            }
        }
    }
    for (qid, _) in of_type(t, "AWS::SQS::Queue") {
        let is_q = |v: &Value| refers_to(v, qid);
        expect_one(&mut problems, &format!("{qid} depth"), &find(&sqs, "ApproximateNumberOfMessagesVisible", "QueueName", &is_q), "GreaterThanThreshold", 0.0);
    }
    let is = |want: &'static str| move |v: &Value| *v == want;
    expect_one(
        &mut problems,
        "transform QuarantineShare",
        &find(&ours, "QuarantineShare", "Function", &is("transform")),
        "GreaterThanThreshold",
        0.05,
    );
    // Each threshold that stops the line alarms at the value the code fails at (its default in config::variables()).
    let default_of = |name: &str| {
        moovitamix::config::variables()
            .find(|v| v.name == name)
            .and_then(|v| v.default.parse::<f64>().ok())
            .unwrap_or(f64::NAN)
    };
    for (function, metric, variable) in [
        ("fetch", "RejectedShare", "FETCH_MAX_REJECTED_SHARE"),
        ("transform", "CurrentRowsDrop", "DQ_MAX_CURRENT_DROP"),
    ] {
        let found = find(&ours, metric, "Function", &is(function));
        expect_one(
            &mut problems,
            &format!("{function} {metric}"),
            &found,
            "GreaterThanThreshold",
            default_of(variable),
        );
    }
    expect_one(
        &mut problems,
        "recommend GateRefusedStreak",
        &find(&ours, "GateRefusedStreak", "Function", &is("recommend")),
        "GreaterThanOrEqualToThreshold",
        3.0,
    );
    problems
}

pub fn check_dashboard(t: &Value) -> Vec<String> {
    let mut problems = vec![];
    let Some((id, dashboard)) = of_type(t, "AWS::CloudWatch::Dashboard").into_iter().next() else {
        return vec!["no dashboard".into()];
    };
    let Some(body) = text_of(&dashboard["Properties"]["DashboardBody"]) else { return vec![format!("{id}: no DashboardBody")] };
    // Substitute as CloudFormation would, with stand-ins.
    let mut text = String::new();
    let mut rest = body.as_str();
    while let Some(start) = rest.find("${") {
        text.push_str(&rest[..start]);
        let end = rest[start..].find('}').map(|e| start + e).expect("closed ${...}");
        let name = &rest[start + 2..end];
        if name == "MetricsNamespace" {
            text.push_str("NS");
        } else if t["Parameters"].get(name).is_some_and(|p| p["Type"] == "Number") {
            text.push('1');
        } else {
            text.push('x');
        }
        if !(name.starts_with("AWS::") || resources(t).contains_key(name.split('.').next().unwrap_or(name)) || t["Parameters"].get(name).is_some())
        {
            problems.push(format!("{id}: ${{{name}}} is neither a resource, a parameter nor a pseudo parameter"));
        }
        rest = &rest[end + 1..];
    }
    text.push_str(rest);
    let parsed: Value = match serde_json::from_str(&text) {
        Ok(v) => v,
        Err(e) => return vec![format!("{id}: DashboardBody is not JSON after substitution: {e}")],
    };
    let known = known_metrics();
    let mut metric_names = BTreeSet::new();
    for widget in as_list(&parsed["widgets"]) {
        let mut previous: Vec<Value> = vec![];
        for metric in as_list(&widget["properties"]["metrics"]) {
            let mut m: Vec<Value> = as_list(metric).into_iter().cloned().collect();
            if m.first() == Some(&json!("...")) {
                // "..." repeats the previous line; the values given replace its last ones.
                let given: Vec<Value> = m[1..].iter().filter(|v| !v.is_object()).cloned().collect();
                let mut full = previous.clone();
                let keep = full.len().saturating_sub(given.len());
                full.truncate(keep);
                full.extend(given);
                m = full;
            }
            m.retain(|v| !v.is_object());
            if m.first() == Some(&json!("NS")) {
                let name = m.get(1).and_then(Value::as_str).unwrap_or_default().to_owned();
                if !known.contains(name.as_str()) {
                    problems.push(format!("{id}: metric {name} is not one the pipeline emits"));
                }
                metric_names.insert(name);
            }
            previous = m;
        }
    }
    for wanted in ["RowsFetched", "RowsRejected", "RowsWarned", "DurationMs", "HttpRetries", "FreshnessSeconds", "Ndcg10"] {
        if !metric_names.contains(wanted) {
            problems.push(format!("{id}: no widget shows {wanted}"));
        }
    }
    if !body.contains("\"Errors\"") || !body.contains("\"Throttles\"") {
        problems.push(format!("{id}: no widget shows Lambda errors and throttles"));
    }
    problems
}

#[test]
fn every_alarm_mails_the_topic_and_the_expected_alarms_exist() {
    assert_clean(check_alarms(&parse(&template_text())));
}

#[test]
fn the_dashboard_is_json_and_shows_the_pipeline_metrics() {
    assert_clean(check_dashboard(&parse(&template_text())));
}

#[test]
fn a_missing_alarm_action_is_caught() {
    let t = mutated(|t| {
        t["Resources"]["TransformErrorsAlarm"]["Properties"]["AlarmActions"] = json!([]);
    });
    assert_caught(check_alarms(&t), "TransformErrorsAlarm's actions", "AlarmActions does not include");
}

#[test]
fn a_heartbeat_that_ignores_silence_is_caught() {
    let t = mutated(|t| {
        t["Resources"]["RecommendHeartbeatAlarm"]["Properties"]["TreatMissingData"] = json!("notBreaching");
    });
    assert_caught(check_alarms(&t), "the recommend heartbeat", "missing data as breaching");
}
