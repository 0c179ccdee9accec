//! Parameters and functions: the agreed defaults; arm64 cargo-lambda builds with their logging
//! configuration and failure destinations.

use super::{FUNCTIONS, assert_clean};
use crate::triggers::{cron_fields, is_daily};
use moovitamix_tests::cloudformation::*;
use serde_json::{Value, json};

pub fn check_parameters(t: &Value) -> Vec<String> {
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

pub fn check_functions(t: &Value) -> Vec<String> {
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
        if name == "recommend" {
            // Bounded training is opt-in: by default the deployed model trains on every listen, as locally.
            expect(
                refers_to(&env["ALS_MAX_TRACKS_PER_USER"], "AlsMaxTracksPerUser")
                    && number(&t["Parameters"]["AlsMaxTracksPerUser"]["Default"]) == Some(0.0),
                "ALS_MAX_TRACKS_PER_USER is not the AlsMaxTracksPerUser parameter with default 0",
            );
            expect(
                refers_to(&env["ALS_TRAIN_USER_SHARE"], "AlsTrainUserShare")
                    && number(&t["Parameters"]["AlsTrainUserShare"]["Default"]) == Some(1.0),
                "ALS_TRAIN_USER_SHARE is not the AlsTrainUserShare parameter with default 1 (everyone)",
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

#[test]
fn parameters_have_the_agreed_defaults() {
    assert_clean(check_parameters(&parse(&template_text())));
}

#[test]
fn functions_are_arm64_cargo_lambda_builds_with_logs_config_and_failure_destinations() {
    assert_clean(check_functions(&parse(&template_text())));
}
