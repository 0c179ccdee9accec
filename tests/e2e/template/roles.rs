//! Roles: each function reaches only its own prefixes of the data bucket (the zones of
//! `moovitamix::storage::ACCESS`, which its store enforces), lists only under conditions, and
//! puts metrics only in the pipeline's namespace.

use super::{FUNCTIONS, assert_clean, assert_caught, mutated};
use moovitamix::partition::Zone;
use moovitamix_tests::cloudformation::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;

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

pub fn check_roles(t: &Value) -> Vec<String> {
    let mut problems = vec![];
    for name in FUNCTIONS {
        let Some(fid) = function_id(t, name) else { continue };
        let role_ref = &resources(t)[fid]["Properties"]["Role"];
        let Some((rid, role)) = of_type(t, "AWS::IAM::Role").into_iter().find(|(rid, _)| refers_to(role_ref, rid)) else {
            problems.push(format!("{name}: Role is not a role of this template"));
            continue;
        };
        let log_group = &resources(t)[fid]["Properties"]["LoggingConfig"]["LogGroup"];
        // The code's table of each function's zones: its store refuses the others (ScopedStore).
        let expected = moovitamix::storage::access(name);
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
        let as_set = |v: &[Zone]| v.iter().map(|z| z.as_str().to_owned()).collect::<BTreeSet<String>>();
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

#[test]
fn each_role_reaches_only_its_own_prefixes_and_namespace() {
    assert_clean(check_roles(&parse(&template_text())));
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
