//! The data bucket: hardened (no public access, encryption, versioning, TLS only), lifecycle
//! rules (raw users expire), events to EventBridge; and the outputs an operator needs.

use super::{assert_clean, assert_caught, mutated};
use moovitamix_tests::cloudformation::*;
use serde_json::Value;

pub fn check_bucket(t: &Value) -> Vec<String> {
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
        rule_for("curated/listen_events/").is_some_and(|r| {
            r["Status"] == "Enabled"
                && as_list(&r["Transitions"]).iter().any(|tr| refers_to(&tr["StorageClass"], "CuratedListensColdStorageClass") && refers_to(&tr["TransitionInDays"], "CuratedListensTransitionDays"))
        }),
        "curated/listen_events/ (a full copy every date) never moves to CuratedListensColdStorageClass",
    );
    let prefix_of = |r: &Value| r["Prefix"].as_str().or(r["Filter"]["Prefix"].as_str()).unwrap_or("").to_owned();
    let reaches_curated = |r: &Value| prefix_of(r).starts_with("curated/") || "curated/".starts_with(&prefix_of(r));
    expect(
        !rules.iter().any(|r| reaches_curated(r) && !r["ExpirationInDays"].is_null()),
        "a rule expires curated/ objects (history is kept)",
    );
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

pub fn check_outputs(t: &Value) -> Vec<String> {
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

#[test]
fn the_data_bucket_is_hardened_and_sends_events() {
    assert_clean(check_bucket(&parse(&template_text())));
}

#[test]
fn outputs_name_what_an_operator_needs() {
    assert_clean(check_outputs(&parse(&template_text())));
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
fn curated_listens_kept_in_standard_storage_or_expired_are_caught() {
    let rules = |t: &mut Value| t["Resources"]["DataBucket"]["Properties"]["LifecycleConfiguration"]["Rules"].as_array_mut().unwrap().clone();
    let t = mutated(|t| {
        let kept: Vec<Value> = rules(t).into_iter().filter(|r| r["Prefix"] != "curated/listen_events/").collect();
        t["Resources"]["DataBucket"]["Properties"]["LifecycleConfiguration"]["Rules"] = Value::Array(kept);
    });
    assert_caught(check_bucket(&t), "the curated listens transition", "curated/listen_events/");
    let t = mutated(|t| {
        let mut all = rules(t);
        all.push(serde_json::json!({"Id": "x", "Status": "Enabled", "Prefix": "curated/", "ExpirationInDays": 400}));
        t["Resources"]["DataBucket"]["Properties"]["LifecycleConfiguration"]["Rules"] = Value::Array(all);
    });
    assert_caught(check_bucket(&t), "an expiry of curated history", "expires curated/");
}
