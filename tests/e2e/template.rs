//! infra/template.yaml wires what matters: every function has its trigger, every alarm mails the
//! topic, each role reaches only its own prefixes of the data bucket, heartbeats treat silence as
//! failure, metrics can only go to the pipeline's namespace, and the query layer matches the
//! curated tables.
//!
//! Each check returns the problems it finds; the `*_is_caught` tests break a copy of the template
//! on purpose and assert that the check notices, so a check that passes vacuously fails here.

use moovitamix::metrics::Metric;
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;

const FUNCTIONS: [&str; 3] = ["fetch", "transform", "recommend"];

/// Every metric name the pipeline emits in its own namespace, from the code.
fn known_metrics() -> BTreeSet<&'static str> {
    Metric::ALL.iter().map(|m| m.name()).collect()
}

// ------------------------------------------------------------------------------------------------
// The template as data
// ------------------------------------------------------------------------------------------------

fn template_text() -> String {
    let path = moovitamix_tests::events::workspace_root().join("infra/template.yaml");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn parse(text: &str) -> Value {
    serde_yaml_ng::from_str(text).unwrap_or_else(|e| panic!("infra/template.yaml is not plain YAML: {e}"))
}

fn resources(t: &Value) -> &Map<String, Value> {
    t["Resources"].as_object().expect("Resources is a map")
}

fn of_type<'a>(t: &'a Value, ty: &str) -> Vec<(&'a str, &'a Value)> {
    resources(t).iter().filter(|(_, r)| r["Type"] == ty).map(|(id, r)| (id.as_str(), r)).collect()
}

/// A value, or the default of the parameter it refers to.
fn resolve<'a>(t: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("Ref").and_then(Value::as_str) {
        Some(p) if t["Parameters"].get(p).is_some() => &t["Parameters"][p]["Default"],
        _ => v,
    }
}

/// True when `v` refers to the logical id `id`: `Ref`, `Fn::GetAtt`, a `${id}` in `Fn::Sub`, or
/// any of these nested (both branches of `Fn::If` count).
fn refers_to(v: &Value, id: &str) -> bool {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("Ref") {
                return r == id;
            }
            if let Some(g) = m.get("Fn::GetAtt") {
                return match g {
                    Value::Array(a) => a.first().and_then(Value::as_str) == Some(id),
                    Value::String(s) => s.split('.').next() == Some(id),
                    _ => false,
                };
            }
            if let Some(s) = m.get("Fn::Sub") {
                let (text, vars) = match s {
                    Value::String(text) => (text.as_str(), None),
                    Value::Array(a) => (a[0].as_str().unwrap_or(""), a.get(1)),
                    _ => ("", None),
                };
                return text.contains(&format!("${{{id}}}"))
                    || text.contains(&format!("${{{id}."))
                    || vars.is_some_and(|vars| refers_to(vars, id));
            }
            m.values().any(|x| refers_to(x, id))
        }
        Value::Array(a) => a.iter().any(|x| refers_to(x, id)),
        _ => false,
    }
}

/// The text of a resource expression: a string, an `Fn::Sub` pattern, `${X}` for `Ref: X`,
/// `${X.Attr}` for `Fn::GetAtt: [X, Attr]`.
fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Object(m) => {
            if let Some(s) = m.get("Fn::Sub") {
                return match s {
                    Value::String(s) => Some(s.clone()),
                    Value::Array(a) => a.first().and_then(Value::as_str).map(str::to_owned),
                    _ => None,
                };
            }
            if let Some(Value::String(r)) = m.get("Ref") {
                return Some(format!("${{{r}}}"));
            }
            match m.get("Fn::GetAtt") {
                Some(Value::Array(a)) => Some(format!("${{{}.{}}}", a[0].as_str()?, a[1].as_str()?)),
                Some(Value::String(s)) => Some(format!("${{{s}}}")),
                _ => None,
            }
        }
        _ => None,
    }
}

fn as_list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        Value::Null => vec![],
        other => vec![other],
    }
}

fn strings(v: &Value) -> Vec<String> {
    as_list(v).into_iter().filter_map(|x| x.as_str().map(str::to_owned)).collect()
}

/// The logical id of the function built from `binary`.
fn function_id<'a>(t: &'a Value, binary: &str) -> Option<&'a str> {
    of_type(t, "AWS::Serverless::Function")
        .into_iter()
        .find(|(_, f)| f["Metadata"]["BuildProperties"]["Binary"] == binary)
        .map(|(id, _)| id)
}

/// The allowed statements of a role's inline policies, `Fn::If` branches expanded.
fn statements(role: &Value) -> Vec<&Value> {
    let mut out = vec![];
    for policy in as_list(&role["Properties"]["Policies"]) {
        for statement in as_list(&policy["PolicyDocument"]["Statement"]) {
            match statement.get("Fn::If") {
                Some(Value::Array(branches)) => {
                    out.extend(branches.iter().skip(1).filter(|b| b.get("Ref") != Some(&json!("AWS::NoValue"))))
                }
                _ => out.push(statement),
            }
        }
    }
    out.into_iter().filter(|s| s["Effect"] == "Allow").collect()
}

fn dimensions(alarm: &Value) -> Vec<(String, &Value)> {
    as_list(&alarm["Properties"]["Dimensions"])
        .into_iter()
        .map(|d| (d["Name"].as_str().unwrap_or_default().to_owned(), &d["Value"]))
        .collect()
}

fn dimension<'a>(alarm: &'a Value, name: &str) -> Option<&'a Value> {
    as_list(&alarm["Properties"]["Dimensions"]).into_iter().find(|d| d["Name"] == name).map(|d| &d["Value"])
}

fn number(v: &Value) -> Option<f64> {
    v.as_f64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

// ------------------------------------------------------------------------------------------------
// EventBridge matching and schedule expressions
// ------------------------------------------------------------------------------------------------

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
fn cron_fields(expression: &str) -> Option<Vec<String>> {
    let inner = expression.trim().strip_prefix("cron(")?.strip_suffix(')')?;
    let fields: Vec<String> = inner.split_whitespace().map(str::to_owned).collect();
    (fields.len() == 6).then_some(fields)
}

fn is_daily(expression: &str) -> bool {
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

// ------------------------------------------------------------------------------------------------
// Checks: each returns the problems found
// ------------------------------------------------------------------------------------------------

fn check_long_form(text: &str) -> Vec<String> {
    const TAGS: [&str; 17] = [
        "!Ref", "!Sub", "!GetAtt", "!If", "!Join", "!Select", "!Split", "!Equals", "!Not", "!And", "!Or", "!FindInMap",
        "!ImportValue", "!Base64", "!Cidr", "!GetAZs", "!Condition",
    ];
    let mut problems = vec![];
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with('#') {
            continue;
        }
        for tag in TAGS {
            if line.contains(&format!("{tag} ")) || line.trim_end().ends_with(tag) {
                problems.push(format!("line {}: short-form tag {tag} (use the long form): {}", n + 1, line.trim()));
            }
        }
    }
    problems
}

fn check_parameters(t: &Value) -> Vec<String> {
    let mut problems = vec![];
    let p = &t["Parameters"];
    let expect = |problems: &mut Vec<String>, name: &str, want: Value| {
        let got = &p[name]["Default"];
        if number(got).is_some() && number(&want).is_some() {
            if number(got) != number(&want) {
                problems.push(format!("parameter {name} defaults to {got}, expected {want}"));
            }
        } else if *got != want {
            problems.push(format!("parameter {name} defaults to {got}, expected {want}"));
        }
    };
    for (name, want) in [
        ("FetchMemorySize", json!(512)),
        ("FetchTimeout", json!(600)),
        ("TransformMemorySize", json!(2048)),
        ("TransformTimeout", json!(900)),
        ("RecommendMemorySize", json!(3008)),
        ("RecommendTimeout", json!(900)),
        ("LogRetentionDays", json!(30)),
        ("MetricsNamespace", json!("MooVitamix/Pipeline")),
        ("QuarantineShareThreshold", json!(0.05)),
        ("FetchRejectedShareThreshold", json!(0.05)),
        ("CurrentRowsDropThreshold", json!(0.1)),
        ("ScheduleTimezone", json!("UTC")),
        ("ExistingBucketName", json!("")),
    ] {
        expect(&mut problems, name, want);
    }
    let fetch_at = p["FetchScheduleExpression"]["Default"].as_str().unwrap_or_default();
    match cron_fields(fetch_at) {
        Some(f) if f[0] == "0" && f[1] == "6" && is_daily(fetch_at) => {}
        _ => problems.push(format!("FetchScheduleExpression defaults to {fetch_at:?}, expected daily at 06:00")),
    }
    problems
}

fn check_functions(t: &Value) -> Vec<String> {
    let mut problems = vec![];
    let queues: Vec<&str> = of_type(t, "AWS::SQS::Queue").into_iter().map(|(id, _)| id).collect();
    for name in FUNCTIONS {
        let Some(id) = function_id(t, name) else {
            problems.push(format!("no AWS::Serverless::Function with Metadata.BuildProperties.Binary = {name}"));
            continue;
        };
        let f = &resources(t)[id];
        let p = &f["Properties"];
        let mut expect = |ok: bool, what: &str| {
            if !ok {
                problems.push(format!("{name} ({id}): {what}"));
            }
        };
        expect(f["Metadata"]["BuildMethod"] == "rust-cargolambda", "Metadata.BuildMethod is not rust-cargolambda");
        expect(p["CodeUri"] == "..", "CodeUri is not the workspace root `..`");
        expect(p["Runtime"] == "provided.al2023", "Runtime is not provided.al2023");
        expect(p["Architectures"] == json!(["arm64"]), "Architectures is not [arm64]");
        expect(p["Handler"] == "bootstrap", "Handler is not bootstrap");
        expect(number(&p["ReservedConcurrentExecutions"]) == Some(1.0), "ReservedConcurrentExecutions is not 1");
        expect(p["MemorySize"].get("Ref").is_some(), "MemorySize is not a parameter");
        expect(p["Timeout"].get("Ref").is_some(), "Timeout is not a parameter");
        expect(p["LoggingConfig"]["LogFormat"] == "JSON", "LoggingConfig.LogFormat is not JSON");
        expect(p["LoggingConfig"]["ApplicationLogLevel"].get("Ref").is_some(), "the log level is not a parameter");
        let log_group = of_type(t, "AWS::Logs::LogGroup")
            .into_iter()
            .find(|(lg, _)| refers_to(&p["LoggingConfig"]["LogGroup"], lg));
        match log_group {
            Some((_, lg)) => expect(
                lg["Properties"]["RetentionInDays"] == json!({"Ref": "LogRetentionDays"}),
                "its log group's retention is not the LogRetentionDays parameter",
            ),
            None => expect(false, "LoggingConfig.LogGroup is not a log group of this template"),
        }
        let env = &p["Environment"]["Variables"];
        expect(
            text_of(&env["DATA_URL"]).is_some_and(|u| u.starts_with("s3://")) && refers_to(&env["DATA_URL"], "DataBucket"),
            "DATA_URL is not s3://<the data bucket>",
        );
        expect(refers_to(&env["METRICS_NAMESPACE"], "MetricsNamespace"), "METRICS_NAMESPACE is not the parameter");
        expect(!env["RUST_LOG"].is_null(), "RUST_LOG is not set");
        // A killed run's lease must lapse before Lambda's first retry (about a minute), and the
        // run must be able to renew it several times within its timeout.
        let ttl = number(&t["Parameters"]["LeaseTtlSeconds"]["Default"]).unwrap_or(f64::MAX);
        let timeout = p["Timeout"].get("Ref").and_then(|r| r.as_str()).and_then(|r| number(&t["Parameters"][r]["Default"])).unwrap_or(0.0);
        expect(refers_to(&env["LEASE_TTL_SECONDS"], "LeaseTtlSeconds"), "LEASE_TTL_SECONDS is not the LeaseTtlSeconds parameter");
        expect(ttl <= 60.0, "LeaseTtlSeconds' default exceeds 60 s: a killed run would still block Lambda's first retry");
        expect(4.0 * ttl <= timeout, "the timeout's default is under four lease TTLs");
        if name == "fetch" {
            expect(
                refers_to(&env["SOURCE_API_URL"], "SourceApiUrl"),
                "SOURCE_API_URL is not the parameter",
            );
            // The gate and its alarm read one value.
            expect(
                refers_to(
                    &env["FETCH_MAX_REJECTED_SHARE"],
                    "FetchRejectedShareThreshold",
                ),
                "FETCH_MAX_REJECTED_SHARE is not the FetchRejectedShareThreshold parameter",
            );
        }
        if name == "transform" {
            expect(
                refers_to(&env["PII_SALT_PARAMETER"], "PiiSaltParameterName"),
                "PII_SALT_PARAMETER is not the parameter",
            );
            expect(
                refers_to(&env["DQ_MAX_CURRENT_DROP"], "CurrentRowsDropThreshold"),
                "DQ_MAX_CURRENT_DROP is not the CurrentRowsDropThreshold parameter",
            );
        }
        let on_failure = &p["EventInvokeConfig"]["DestinationConfig"]["OnFailure"];
        expect(
            on_failure["Type"] == "SQS" && queues.iter().any(|q| refers_to(&on_failure["Destination"], q)),
            "asynchronous failures do not go to an SQS queue of this template",
        );
        expect(!p["EventInvokeConfig"]["MaximumRetryAttempts"].is_null(), "no MaximumRetryAttempts for async invokes");
    }
    problems
}

/// The target of a rule or schedule: a DLQ that is a queue of this template, and a retry policy.
fn check_delivery(t: &Value, what: &str, target: &Value) -> Vec<String> {
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

fn check_triggers(t: &Value) -> Vec<String> {
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

/// Which prefixes of the data bucket one function may read, write and list.
struct Access {
    read: &'static [&'static str],
    write: &'static [&'static str],
}

fn expected_access(function: &str) -> Access {
    match function {
        "fetch" => Access { read: &["raw", "quarantine"], write: &["raw", "quarantine"] },
        // Writing raw/ is for the erasure path, which rewrites raw dates.
        "transform" => Access { read: &["raw", "curated", "quarantine"], write: &["raw", "curated", "quarantine"] },
        "recommend" => Access { read: &["curated", "models", "recommendations"], write: &["models", "recommendations"] },
        other => panic!("unknown function {other}"),
    }
}

const S3_READ: [&str; 2] = ["s3:GetObject", "s3:GetObjectVersion"];
const S3_WRITE: [&str; 4] = ["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:AbortMultipartUpload"];

/// Where an S3 ARN points: the bucket itself, a top-level prefix (`raw/*` or narrower), or more.
enum S3Target {
    Bucket,
    Prefix(String),
    Other(String),
}

fn s3_target(resource: &Value) -> S3Target {
    let Some(text) = text_of(resource) else { return S3Target::Other(resource.to_string()) };
    let Some(rest) = text.split_once("s3:::").map(|(_, r)| r) else { return S3Target::Other(text) };
    // the bucket is a substitution, `${...}`
    let Some(after) = rest.strip_prefix("${").and_then(|r| r.split_once('}')).map(|(_, a)| a) else {
        return S3Target::Other(text);
    };
    if after.is_empty() {
        return S3Target::Bucket;
    }
    match after.strip_prefix('/').and_then(|p| p.split_once('/')) {
        Some((prefix, _)) if !prefix.contains('*') && !prefix.is_empty() => S3Target::Prefix(prefix.to_owned()),
        _ => S3Target::Other(text),
    }
}

fn check_roles(t: &Value) -> Vec<String> {
    let mut problems = vec![];
    for name in FUNCTIONS {
        let Some(fid) = function_id(t, name) else { continue };
        let role_ref = &resources(t)[fid]["Properties"]["Role"];
        let Some((rid, role)) = of_type(t, "AWS::IAM::Role").into_iter().find(|(rid, _)| refers_to(role_ref, rid)) else {
            problems.push(format!("{name}: Role is not a role of this template"));
            continue;
        };
        let log_group = &resources(t)[fid]["Properties"]["LoggingConfig"]["LogGroup"];
        let expected = expected_access(name);
        let (mut read, mut write, mut list) = (BTreeSet::new(), BTreeSet::new(), BTreeSet::new());
        let mut metrics_conditioned = false;
        for s in statements(role) {
            let actions = strings(&s["Action"]);
            let resources_ = as_list(&s["Resource"]);
            for a in &actions {
                if a == "*" || a.ends_with(":*") {
                    problems.push(format!("{rid}: wildcard action {a}"));
                }
            }
            // `*` resources: only metrics (conditioned on the namespace) and tracing, which have no narrower ARN.
            if resources_.iter().any(|r| *r == "*") {
                for a in &actions {
                    match a.as_str() {
                        "xray:PutTraceSegments" | "xray:PutTelemetryRecords" => {}
                        "cloudwatch:PutMetricData" => {
                            if refers_to(&s["Condition"]["StringEquals"]["cloudwatch:namespace"], "MetricsNamespace") {
                                metrics_conditioned = true;
                            } else {
                                problems.push(format!(
                                    "{rid}: cloudwatch:PutMetricData on * without Condition StringEquals cloudwatch:namespace = MetricsNamespace"
                                ));
                            }
                        }
                        other => problems.push(format!("{rid}: {other} on resource *")),
                    }
                }
            }
            if actions.iter().any(|a| a.starts_with("logs:")) && !resources_.iter().all(|r| refers_to(r, log_group_id(log_group))) {
                problems.push(format!("{rid}: logs permissions beyond its own log group"));
            }
            let s3_actions: Vec<&String> = actions.iter().filter(|a| a.starts_with("s3:")).collect();
            if s3_actions.is_empty() {
                continue;
            }
            for r in &resources_ {
                if !refers_to(r, "DataBucket") {
                    problems.push(format!("{rid}: S3 actions on {r}, which is not the data bucket"));
                    continue;
                }
                match s3_target(r) {
                    S3Target::Bucket => {
                        if s3_actions.iter().any(|a| *a != "s3:ListBucket") {
                            problems.push(format!("{rid}: {s3_actions:?} on the bucket itself (only s3:ListBucket belongs there)"));
                        }
                        let condition = s["Condition"]["StringLike"]["s3:prefix"].clone();
                        let prefixes = strings(&condition);
                        if prefixes.is_empty() {
                            problems.push(format!("{rid}: s3:ListBucket without a StringLike s3:prefix condition"));
                        }
                        for p in prefixes {
                            match p.split_once('/') {
                                Some((top, _)) if !top.contains('*') && !top.is_empty() => {
                                    list.insert(top.to_owned());
                                }
                                _ => problems.push(format!("{rid}: s3:ListBucket on prefix {p:?}, not within one top-level prefix")),
                            }
                        }
                    }
                    S3Target::Prefix(prefix) => {
                        for a in &s3_actions {
                            if S3_READ.contains(&a.as_str()) {
                                read.insert(prefix.clone());
                            } else if S3_WRITE.contains(&a.as_str()) {
                                write.insert(prefix.clone());
                            } else {
                                problems.push(format!("{rid}: unexpected object action {a} on {prefix}/"));
                            }
                        }
                    }
                    S3Target::Other(text) => problems.push(format!("{rid}: S3 actions {s3_actions:?} on {text} (the whole bucket?)")),
                }
            }
        }
        let as_set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<String>>();
        if read != as_set(expected.read) {
            problems.push(format!("{rid}: reads {read:?}, expected {:?}", expected.read));
        }
        if write != as_set(expected.write) {
            problems.push(format!("{rid}: writes {write:?}, expected {:?}", expected.write));
        }
        if list != as_set(expected.read) {
            problems.push(format!("{rid}: lists {list:?}, expected {:?}", expected.read));
        }
        if !metrics_conditioned {
            problems.push(format!("{rid}: no cloudwatch:PutMetricData conditioned on the MetricsNamespace"));
        }
        if name == "transform" {
            let reads_salt = statements(role).iter().any(|s| {
                strings(&s["Action"]).contains(&"ssm:GetParameter".to_owned())
                    && as_list(&s["Resource"]).iter().all(|r| text_of(r).is_some_and(|t| t.ends_with("parameter${PiiSaltParameterName}")))
            });
            if !reads_salt {
                problems.push(format!("{rid}: no ssm:GetParameter on the PII salt parameter only"));
            }
        }
    }
    problems
}

fn log_group_id(v: &Value) -> &str {
    v.get("Ref").and_then(Value::as_str).unwrap_or("<none>")
}

fn check_alarms(t: &Value) -> Vec<String> {
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
    // Each threshold that stops the line alarms at the value the code fails at (config::VARIABLES' default).
    let default_of = |name: &str| {
        moovitamix::config::VARIABLES
            .iter()
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

fn check_bucket(t: &Value) -> Vec<String> {
    let mut problems = vec![];
    let Some(bucket) = resources(t).get("DataBucket") else { return vec!["no DataBucket resource".into()] };
    let p = &bucket["Properties"];
    let mut expect = |ok: bool, what: &str| {
        if !ok {
            problems.push(format!("DataBucket: {what}"));
        }
    };
    expect(bucket["Condition"] == "CreateDataBucket", "not conditioned on CreateDataBucket (ExistingBucketName empty)");
    expect(p["NotificationConfiguration"]["EventBridgeConfiguration"]["EventBridgeEnabled"] == true, "EventBridge notifications off");
    let block = &p["PublicAccessBlockConfiguration"];
    expect(
        ["BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"].iter().all(|k| block[k] == true),
        "public access not fully blocked",
    );
    expect(p["VersioningConfiguration"]["Status"] == "Enabled", "versioning off");
    expect(!p["BucketEncryption"]["ServerSideEncryptionConfiguration"].is_null(), "no default encryption");
    let rules = as_list(&p["LifecycleConfiguration"]["Rules"]);
    let rule_for = |prefix: &str| rules.iter().find(|r| r["Prefix"] == prefix || r["Filter"]["Prefix"] == prefix).copied();
    expect(rule_for("raw/").is_some_and(|r| !r["Transitions"].is_null()), "raw/ never moves to a colder class");
    expect(rule_for("quarantine/").is_some_and(|r| !r["ExpirationInDays"].is_null()), "quarantine/ never expires");
    expect(
        rule_for("raw/users/").is_some_and(|r| r["Status"] == "Enabled" && refers_to(&r["ExpirationInDays"], "RawUsersExpirationDays")),
        "raw/users/ (personal data as served) does not expire after RawUsersExpirationDays",
    );
    expect(rules.iter().any(|r| !r["NoncurrentVersionExpiration"].is_null()), "noncurrent versions never expire");
    let denies_plain_http = of_type(t, "AWS::S3::BucketPolicy").into_iter().any(|(_, bp)| {
        refers_to(&bp["Properties"]["Bucket"], "DataBucket")
            && as_list(&bp["Properties"]["PolicyDocument"]["Statement"])
                .iter()
                .any(|s| s["Effect"] == "Deny" && s["Condition"]["Bool"]["aws:SecureTransport"] == "false")
    });
    expect(denies_plain_http, "no bucket policy denying aws:SecureTransport false");
    problems
}

fn check_dashboard(t: &Value) -> Vec<String> {
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

fn check_query_layer(t: &Value) -> Vec<String> {
    let mut problems = vec![];
    let columns = |list: &[(&str, &str)]| list.iter().map(|(n, ty)| (n.to_string(), ty.to_string())).collect::<Vec<_>>();
    let scd2 = [
        ("created_at", "timestamp"),
        ("updated_at", "timestamp"),
        ("valid_from", "timestamp"),
        ("valid_to", "timestamp"),
        ("is_current", "boolean"),
        ("row_hash", "string"),
        ("ingested_at", "timestamp"),
        ("carried_forward", "boolean"),
    ];
    let tracks: Vec<(&str, &str)> = [
        ("id", "bigint"),
        ("name", "string"),
        ("artist", "string"),
        ("songwriters", "string"),
        ("duration", "string"),
        ("duration_seconds", "int"),
        ("genres", "string"),
        ("genres_normalized", "string"),
        ("album", "string"),
    ]
    .into_iter()
    .chain(scd2)
    .collect();
    let users: Vec<(&str, &str)> = [
        ("id", "bigint"),
        ("first_name", "string"),
        ("last_name", "string"),
        ("email_hash", "string"),
        ("email_key_id", "string"),
        ("gender", "string"),
        ("favorite_genres", "string"),
        ("favorite_genres_normalized", "string"),
    ]
    .into_iter()
    .chain(scd2)
    .collect();
    let expected = [
        ("tracks", "curated/tracks", columns(&tracks)),
        ("users", "curated/users", columns(&users)),
        (
            "listen_events",
            "curated/listen_events",
            columns(&[
                ("user_id", "bigint"),
                ("track_id", "bigint"),
                ("position", "int"),
                ("created_at", "timestamp"),
                ("updated_at", "timestamp"),
                ("is_new", "boolean"),
                ("carried_forward", "boolean"),
            ]),
        ),
        (
            "recommendations",
            "recommendations",
            columns(&[
                ("user_id", "bigint"),
                ("rank", "int"),
                ("track_id", "bigint"),
                ("score", "double"),
                ("model_version", "string"),
                ("reason", "string"),
            ]),
        ),
    ];
    let tables = of_type(t, "AWS::Glue::Table");
    for (name, prefix, want) in expected {
        let Some((id, table)) = tables.iter().find(|(_, tb)| tb["Properties"]["TableInput"]["Name"] == name) else {
            problems.push(format!("no Glue table {name}"));
            continue;
        };
        let input = &table["Properties"]["TableInput"];
        let got: Vec<(String, String)> = as_list(&input["StorageDescriptor"]["Columns"])
            .iter()
            .map(|c| (c["Name"].as_str().unwrap_or_default().to_owned(), c["Type"].as_str().unwrap_or_default().to_owned()))
            .collect();
        if got != want {
            problems.push(format!("{id}: columns {got:?}, expected {want:?}"));
        }
        let params = &input["Parameters"];
        let template = text_of(&params["storage.location.template"]).unwrap_or_default();
        if params["projection.enabled"] != "true"
            || params["projection.dt.type"] != "date"
            || params["projection.dt.format"] != "yyyy-MM-dd"
            || !text_of(&params["projection.dt.range"]).is_some_and(|r| r.ends_with(",NOW"))
            || !template.ends_with(&format!("/{prefix}/_symlink_format_manifest/dt=${{!dt}}/"))
        {
            problems.push(format!("{id}: partition projection on dt is not date yyyy-MM-dd up to NOW over {prefix}/_symlink_format_manifest/dt=${{dt}}/"));
        }
        // Queries read only the committed run's files, which the symlink manifest lists.
        if input["StorageDescriptor"]["InputFormat"] != "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat" {
            problems.push(format!("{id}: not read through symlink manifests (SymlinkTextInputFormat): a query would see runs in flight"));
        }
        let location = text_of(&input["StorageDescriptor"]["Location"]).unwrap_or_default();
        if !location.ends_with(&format!("/{prefix}/_symlink_format_manifest/")) {
            problems.push(format!("{id}: location {location} is not {prefix}/_symlink_format_manifest/"));
        }
        if strings(&as_list(&input["PartitionKeys"]).iter().map(|k| k["Name"].clone()).collect::<Value>()) != ["dt"] {
            problems.push(format!("{id}: the partition key is not dt"));
        }
        if input["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"] != "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe" {
            problems.push(format!("{id}: not the Parquet SerDe"));
        }
    }
    let enforced = of_type(t, "AWS::Athena::WorkGroup").into_iter().any(|(_, w)| {
        let c = &w["Properties"]["WorkGroupConfiguration"];
        c["EnforceWorkGroupConfiguration"] == true && !c["ResultConfiguration"]["EncryptionConfiguration"]["EncryptionOption"].is_null()
    });
    if !enforced {
        problems.push("no Athena workgroup with enforced configuration and encrypted results".into());
    }
    problems
}

fn check_outputs(t: &Value) -> Vec<String> {
    let outputs = &t["Outputs"];
    let mut problems = vec![];
    for (output, target) in [
        ("DataBucketName", "DataBucket"),
        ("FetchFunctionName", "FetchFunction"),
        ("TransformFunctionName", "TransformFunction"),
        ("RecommendFunctionName", "RecommendFunction"),
        ("AlarmTopicArn", "AlarmTopic"),
        ("DashboardUrl", "Dashboard"),
    ] {
        if !refers_to(&outputs[output]["Value"], target) {
            problems.push(format!("output {output} does not give {target}"));
        }
    }
    problems
}

fn all_problems(text: &str) -> Vec<String> {
    let t = parse(text);
    [
        check_long_form(text),
        check_parameters(&t),
        check_functions(&t),
        check_triggers(&t),
        check_roles(&t),
        check_alarms(&t),
        check_bucket(&t),
        check_dashboard(&t),
        check_query_layer(&t),
        check_outputs(&t),
    ]
    .concat()
}

fn assert_clean(problems: Vec<String>) {
    assert!(problems.is_empty(), "infra/template.yaml:\n  - {}", problems.join("\n  - "));
}

// ------------------------------------------------------------------------------------------------
// The template as it is
// ------------------------------------------------------------------------------------------------

#[test]
fn the_template_is_long_form_yaml() {
    assert_clean(check_long_form(&template_text()));
}

#[test]
fn parameters_have_the_agreed_defaults() {
    assert_clean(check_parameters(&parse(&template_text())));
}

#[test]
fn functions_are_arm64_cargo_lambda_builds_with_logs_config_and_failure_destinations() {
    assert_clean(check_functions(&parse(&template_text())));
}

#[test]
fn every_function_has_its_trigger() {
    assert_clean(check_triggers(&parse(&template_text())));
}

#[test]
fn each_role_reaches_only_its_own_prefixes_and_namespace() {
    assert_clean(check_roles(&parse(&template_text())));
}

#[test]
fn every_alarm_mails_the_topic_and_the_expected_alarms_exist() {
    assert_clean(check_alarms(&parse(&template_text())));
}

#[test]
fn the_data_bucket_is_hardened_and_sends_events() {
    assert_clean(check_bucket(&parse(&template_text())));
}

#[test]
fn the_dashboard_is_json_and_shows_the_pipeline_metrics() {
    assert_clean(check_dashboard(&parse(&template_text())));
}

#[test]
fn the_query_layer_matches_the_curated_tables() {
    assert_clean(check_query_layer(&parse(&template_text())));
}

#[test]
fn outputs_name_what_an_operator_needs() {
    assert_clean(check_outputs(&parse(&template_text())));
}

// ------------------------------------------------------------------------------------------------
// Each check catches a broken wiring (mutations of a copy of the template)
// ------------------------------------------------------------------------------------------------

fn mutated(edit: impl FnOnce(&mut Value)) -> Value {
    let mut t = parse(&template_text());
    edit(&mut t);
    t
}

fn assert_caught(problems: Vec<String>, what: &str, expected_words: &str) {
    assert!(
        problems.iter().any(|p| p.contains(expected_words)),
        "breaking {what} was not caught (wanted a problem mentioning {expected_words:?}); problems: {problems:#?}"
    );
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

#[test]
fn raw_users_kept_forever_is_caught() {
    let t = mutated(|t| {
        let rules = t["Resources"]["DataBucket"]["Properties"]["LifecycleConfiguration"]["Rules"].as_array_mut().unwrap();
        rules.retain(|r| r["Prefix"] != "raw/users/");
    });
    assert_caught(check_bucket(&t), "the raw users expiry", "raw/users/");
}

#[test]
fn a_role_writing_the_whole_bucket_is_caught() {
    let t = mutated(|t| {
        let statements = t["Resources"]["FetchRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].as_array_mut().unwrap();
        let rw = statements.iter_mut().find(|s| s["Sid"] == "ReadWriteRawAndQuarantine").unwrap();
        rw["Resource"][0]["Fn::Sub"][0] = json!("arn:${AWS::Partition}:s3:::${Bucket}/*");
    });
    assert_caught(check_roles(&t), "fetch's object resources", "the whole bucket");
}

#[test]
fn a_role_writing_another_stages_prefix_is_caught() {
    let t = mutated(|t| {
        let statements = t["Resources"]["TransformRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].as_array_mut().unwrap();
        let erase = statements.iter_mut().find(|s| s["Sid"] == "EraseRaw").unwrap();
        erase["Resource"]["Fn::Sub"][0] = json!("arn:${AWS::Partition}:s3:::${Bucket}/models/*");
    });
    assert_caught(check_roles(&t), "transform writing models/", "writes");
}

#[test]
fn an_unconditioned_listing_or_metric_permission_is_caught() {
    let t = mutated(|t| {
        let statements = t["Resources"]["RecommendRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"].as_array_mut().unwrap();
        for s in statements.iter_mut() {
            if s["Sid"] == "ListOwnPrefixes" || s["Sid"] == "PipelineMetricsOnly" {
                s.as_object_mut().unwrap().remove("Condition");
            }
        }
    });
    let problems = check_roles(&t);
    assert_caught(problems.clone(), "recommend's ListBucket condition", "without a StringLike s3:prefix");
    assert_caught(problems, "recommend's PutMetricData condition", "cloudwatch:namespace");
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
fn short_form_tags_and_a_broken_dashboard_are_caught() {
    assert_caught(check_long_form("Value: !Ref Foo\n"), "long form", "short-form tag !Ref");
    let t = mutated(|t| {
        let body = t["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"].as_str().unwrap().replace("RowsFetched", "RowFetched");
        t["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"] = json!(body);
    });
    assert_caught(check_dashboard(&t), "a dashboard metric name", "RowFetched is not one the pipeline emits");
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

#[test]
fn the_whole_template_is_clean() {
    assert_clean(all_problems(&template_text()));
}
