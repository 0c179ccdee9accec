//! infra/template.yaml wires what matters: every function has its trigger, every alarm mails the
//! topic, each role reaches only its own prefixes of the data bucket, heartbeats treat silence as
//! failure, metrics can only go to the pipeline's namespace, and the query layer matches the
//! curated tables.
//!
//! Each check returns the problems it finds; the `*_is_caught` tests break a copy of the template
//! on purpose and assert that the check notices, so a check that passes vacuously fails here.
//! The template is read with `moovitamix_tests::cloudformation`; one file per family of checks.

mod alarms;
mod bucket;
mod functions;
mod query_layer;
mod roles;
mod triggers;

use moovitamix::metrics::Metric;
use moovitamix_tests::cloudformation::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;

pub(crate) const FUNCTIONS: [&str; 3] = ["fetch", "transform", "recommend"];

/// Every metric name the pipeline emits in its own namespace, from the code.
pub(crate) fn known_metrics() -> BTreeSet<&'static str> {
    Metric::ALL.iter().map(|m| m.name()).collect()
}

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

fn all_problems(text: &str) -> Vec<String> {
    let t = parse(text);
    [
        check_long_form(text),
        functions::check_parameters(&t),
        functions::check_functions(&t),
        triggers::check_triggers(&t),
        roles::check_roles(&t),
        alarms::check_alarms(&t),
        bucket::check_bucket(&t),
        alarms::check_dashboard(&t),
        query_layer::check_query_layer(&t),
        bucket::check_outputs(&t),
    ]
    .concat()
}

pub(crate) fn assert_clean(problems: Vec<String>) {
    assert!(problems.is_empty(), "infra/template.yaml:\n  - {}", problems.join("\n  - "));
}

pub(crate) fn mutated(edit: impl FnOnce(&mut Value)) -> Value {
    let mut t = parse(&template_text());
    edit(&mut t);
    t
}

pub(crate) fn assert_caught(problems: Vec<String>, what: &str, expected_words: &str) {
    assert!(
        problems.iter().any(|p| p.contains(expected_words)),
        "breaking {what} was not caught (wanted a problem mentioning {expected_words:?}); problems: {problems:#?}"
    );
}

#[test]
fn the_template_is_long_form_yaml() {
    assert_clean(check_long_form(&template_text()));
}

#[test]
fn short_form_tags_and_a_broken_dashboard_are_caught() {
    assert_caught(check_long_form("Value: !Ref Foo\n"), "long form", "short-form tag !Ref");
    let t = mutated(|t| {
        let body = t["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"].as_str().unwrap().replace("RowsFetched", "RowFetched");
        t["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"] = json!(body);
    });
    assert_caught(alarms::check_dashboard(&t), "a dashboard metric name", "RowFetched is not one the pipeline emits");
}

#[test]
fn the_whole_template_is_clean() {
    assert_clean(all_problems(&template_text()));
}
