//! The fan-outs in `infra/template.yaml` (transform's and scoring's), checked statically: each
//! state machine's every state (resource, payload, timeout, retry, catch), the Distributed Map
//! (mode, failure threshold, concurrency against the workers' reserved concurrency), the trigger
//! that starts it only with fan-out, the IAM of each role, the alarms; and that the payloads are
//! steps the transform and recommend functions' code accepts.

use moovitamix::config::{Config, Secret};
use moovitamix::job::{Classified, Invocation};
use moovitamix::metrics::{MemorySink, Metrics};
use moovitamix::recommend::Recommender;
use moovitamix::storage::{MemoryStore, Store};
use moovitamix::transform::Transformer;
use moovitamix::transform::pii::Pii;
use serde_json::{Map, Value, json};
use std::sync::Arc;

fn template() -> Value {
    let path = moovitamix_tests::events::workspace_root().join("infra/template.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_yaml_ng::from_str(&text).unwrap()
}

fn resource<'a>(t: &'a Value, id: &str) -> &'a Value {
    let r = &t["Resources"][id];
    assert!(r.is_object(), "no resource {id}");
    r
}

/// True when `v` refers to `id` (`Ref`, `Fn::GetAtt`, `${id...}` in `Fn::Sub`), however nested.
fn refers_to(v: &Value, id: &str) -> bool {
    match v {
        Value::Object(m) => {
            if m.get("Ref").and_then(Value::as_str) == Some(id) {
                return true;
            }
            if let Some(Value::Array(a)) = m.get("Fn::GetAtt")
                && a.first().and_then(Value::as_str) == Some(id)
            {
                return true;
            }
            m.values().any(|x| refers_to(x, id))
        }
        Value::Array(a) => a.iter().any(|x| refers_to(x, id)),
        Value::String(s) => s.contains(&format!("${{{id}}}")) || s.contains(&format!("${{{id}.")),
        _ => false,
    }
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().flat_map(strings).collect(),
        _ => vec![],
    }
}

/// Every state of a definition, the Map's own states included, by name.
fn all_states(states: &Map<String, Value>, out: &mut Vec<(String, Value)>) {
    for (name, state) in states {
        out.push((name.clone(), state.clone()));
        if let Some(inner) = state["ItemProcessor"]["States"].as_object() {
            all_states(inner, out);
        }
    }
}

fn statements(role: &Value) -> Vec<Value> {
    role["Properties"]["Policies"].as_array().unwrap().iter().flat_map(|p| p["PolicyDocument"]["Statement"].as_array().unwrap().clone()).collect()
}

/// One stage's fan-out, as the template names its resources (`<prefix>StateMachine`, ...).
struct Fanned {
    prefix: &'static str,
    /// The program the workers run.
    binary: &'static str,
    /// The state machine's name after the stack's.
    machine: &'static str,
    /// The zone whose commit (its run manifest) starts it.
    upstream: &'static str,
    /// The stage's own retryable error types, which every step retries beside Lambda's.
    retried: &'static [&'static str],
}

const FANNED: [Fanned; 2] = [
    Fanned { prefix: "Transform", binary: "transform", machine: "-transform-fanout", upstream: "raw", retried: &["Retryable.RawMidCommit", "Retryable.DateBusy", "Retryable.LeaseLost"] },
    Fanned { prefix: "Recommend", binary: "recommend", machine: "-score-fanout", upstream: "curated", retried: &["Retryable.CuratedMidCommit", "Retryable.DateBusy", "Retryable.LeaseLost", "Retryable.ChampionMoved"] },
];

impl Fanned {
    fn id(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }
}

#[test]
fn each_state_machine_maps_its_workers_over_the_buckets_and_commits_once() {
    for stage in &FANNED {
        maps_the_workers_over_the_buckets_and_commits_once(stage);
    }
}

fn maps_the_workers_over_the_buckets_and_commits_once(stage: &Fanned) {
    let t = template();
    let machine = resource(&t, &stage.id("StateMachine"));
    assert_eq!(machine["Type"], "AWS::StepFunctions::StateMachine");
    let p = &machine["Properties"];
    assert_eq!(p["StateMachineType"], "STANDARD", "a Distributed Map needs a standard workflow");
    assert!(refers_to(&p["DefinitionSubstitutions"]["Workers"], &stage.id("WorkersFunction")));
    assert!(p["TracingConfiguration"]["Enabled"] == true && refers_to(&p["LoggingConfiguration"], &stage.id("FanoutLogGroup")));
    let definition = &p["Definition"];
    assert!(definition["TimeoutSeconds"].as_u64().is_some_and(|s| s > 0 && s <= 24 * 3600), "the execution has a timeout");

    let workers = resource(&t, &stage.id("WorkersFunction"));
    assert_eq!(workers["Metadata"]["BuildProperties"]["Binary"], stage.binary, "the workers run the stage's program");
    assert!(refers_to(&workers["Properties"]["Role"], &stage.id("Role")), "the workers have the stage's role, no more");
    let function = &resource(&t, &stage.id("Function"))["Properties"];
    assert_eq!(workers["Properties"]["Environment"], function["Environment"], "the workers are configured as the stage's function");
    let reserved = workers["Properties"]["ReservedConcurrentExecutions"].as_u64().expect("a reserved concurrency");
    let timeout = t["Parameters"][stage.id("Timeout")]["MaxValue"].as_u64().unwrap();

    let mut states = Vec::new();
    all_states(definition["States"].as_object().unwrap(), &mut states);
    let names: Vec<&str> = states.iter().map(|(n, _)| n.as_str()).collect();
    for expected in ["Plan", "Fanned", "Whole", "Buckets", "Bucket", "Commit", "Failed"] {
        assert!(names.contains(&expected), "no state {expected}: {names:?}");
    }
    let top = definition["States"].as_object().unwrap();
    for (name, state) in &states {
        for next in [&state["Next"], &state["Default"]].into_iter().chain(state["Choices"].as_array().into_iter().flatten().map(|c| &c["Next"])) {
            if let Some(next) = next.as_str() {
                assert!(names.contains(&next), "{name}: Next {next} is no state");
            }
        }
        if state["Type"] == "Task" {
            assert_eq!(state["Resource"], "arn:aws:states:::lambda:invoke", "{name}");
            assert_eq!(state["Parameters"]["FunctionName"], "${Workers}", "{name} invokes the workers");
            let task_timeout = state["TimeoutSeconds"].as_u64().unwrap_or(0);
            assert!(task_timeout > timeout, "{name}: a timeout above the function's longest: a step timed out has ended, and a retry never runs beside it");
            let retried: Vec<String> = state["Retry"].as_array().into_iter().flatten().flat_map(|r| strings(&r["ErrorEquals"])).collect();
            for error in ["Lambda.TooManyRequestsException", "Lambda.ServiceException", "Retryable.Storage", "States.Timeout"].iter().chain(stage.retried) {
                assert!(retried.iter().any(|r| r == error), "{name} does not retry {error}");
            }
            assert!(!retried.iter().any(|e| e.starts_with("Permanent.") || e == "States.ALL"), "{name} retries what cannot succeed: {retried:?}");
            // A top-level step that fails for good fails the execution (and its alarm).
            if top.contains_key(name) {
                let caught = state["Catch"].as_array().into_iter().flatten().any(|c| strings(&c["ErrorEquals"]) == ["States.ALL"] && top[c["Next"].as_str().unwrap()]["Type"] == "Fail");
                assert!(caught, "{name}: a failure does not end in the Fail state");
            }
        }
    }
    assert_eq!(top["Plan"]["Parameters"]["Payload"], json!({"fanout": "plan", "event.$": "$"}));
    assert_eq!(top["Commit"]["Parameters"]["Payload"], json!({"fanout": "commit", "date.$": "$.date", "run_id.$": "$.run_id"}));
    assert_eq!(top["Whole"]["Parameters"]["Payload"], json!({"date.$": "$.date"}), "one bucket: the whole stage in one invocation");
    assert_eq!(top["Fanned"]["Choices"][0]["Variable"], "$.fanned");
    assert_eq!(top["Buckets"]["Next"], "Commit", "the commit comes after every bucket");

    let map = &top["Buckets"];
    assert_eq!(map["ItemProcessor"]["ProcessorConfig"]["Mode"], "DISTRIBUTED");
    assert_eq!(map["ItemsPath"], "$.buckets");
    assert_eq!(map["ToleratedFailurePercentage"], 0, "one failed bucket fails the date");
    assert_eq!(map["ResultPath"], Value::Null, "the buckets' answers are not kept in the state");
    let bucket = &map["ItemProcessor"]["States"]["Bucket"];
    assert_eq!(bucket["Parameters"]["Payload.$"], "$", "each item is a bucket step event");
    assert_eq!(
        map["ItemSelector"],
        json!({"fanout": "bucket", "date.$": "$.date", "run_id.$": "$.run_id", "bucket.$": "$$.Map.Item.Value", "buckets.$": "$.count"}),
        "a bucket step event from each item (a bucket index) and the plan's answer"
    );
    assert_eq!(map["MaxConcurrency"].as_u64(), Some(reserved), "the Map runs as many buckets at once as the workers may");
}

#[test]
fn each_fan_out_is_started_by_the_upstream_commit_only_with_several_buckets_and_alarms() {
    let t = template();
    assert_eq!(t["Parameters"]["ListenBuckets"]["Default"], 1, "no fan-out by default");
    assert_eq!(t["Conditions"]["FanOut"], json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "ListenBuckets"}, "1"]}]}));
    let fetch_env = &resource(&t, "FetchFunction")["Properties"]["Environment"]["Variables"];
    assert!(refers_to(&fetch_env["LISTEN_BUCKETS"], "ListenBuckets"), "fetch writes the buckets the parameter says");
    for stage in &FANNED {
        started_by_the_upstream_commit_only_with_several_buckets_and_alarms(&t, stage);
    }
}

fn started_by_the_upstream_commit_only_with_several_buckets_and_alarms(t: &Value, stage: &Fanned) {
    for id in ["StateMachine", "WorkersFunction", "StateMachineRole", "TriggerRole", "FanoutFailedAlarm", "FanoutTimedOutAlarm", "FanoutLogGroup"].map(|s| stage.id(s)) {
        assert_eq!(resource(t, &id)["Condition"], "FanOut", "{id} exists only with fan-out");
    }

    let rule = &resource(t, &stage.id("TriggerRule"))["Properties"];
    let pattern = &rule["EventPattern"]["detail"]["object"]["key"][0]["wildcard"];
    assert_eq!(pattern, &json!(format!("{}/_run/dt=*/_manifest.json", stage.upstream)), "started by the commit of {}", stage.upstream);
    let target = &rule["Targets"][0];
    assert_eq!(target["Arn"], json!({"Fn::If": ["FanOut", {"Ref": stage.id("StateMachine")}, {"Fn::GetAtt": [stage.id("Function"), "Arn"]}]}));
    assert!(refers_to(&target["RoleArn"], &stage.id("TriggerRole")));

    // IAM: each role does its one thing.
    let machine_role = resource(t, &stage.id("StateMachineRole"));
    assert_eq!(machine_role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"], "states.amazonaws.com");
    for s in statements(machine_role) {
        let actions = strings(&s["Action"]);
        if actions.iter().any(|a| a == "lambda:InvokeFunction") {
            assert!(refers_to(&s["Resource"], &stage.id("WorkersFunction")) && !refers_to(&s["Resource"], &stage.id("Function")), "{s}");
        }
        if actions.iter().any(|a| a.starts_with("states:")) {
            let text = s["Resource"].to_string();
            assert!(text.contains(&format!("${{AWS::StackName}}{}", stage.machine)), "the Map's child executions are its own: {s}");
            if actions.iter().any(|a| a == "states:DescribeExecution") {
                // A Distributed Map's child execution ARN is `execution:<machine>/<label>:<id>`.
                assert!(text.contains(&format!("execution:${{AWS::StackName}}{}/*", stage.machine)), "the Map's child executions are covered: {s}");
            }
        }
        assert!(!actions.iter().any(|a| a.starts_with("s3:") || a == "*" || a.ends_with(":*")), "{s}");
    }
    let name = &resource(t, &stage.id("StateMachine"))["Properties"]["StateMachineName"];
    assert_eq!(name, &json!({"Fn::Sub": format!("${{AWS::StackName}}{}", stage.machine)}));
    let trigger_role = resource(t, &stage.id("TriggerRole"));
    assert_eq!(trigger_role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Principal"]["Service"], "events.amazonaws.com");
    let trigger = statements(trigger_role);
    assert_eq!(trigger.len(), 1);
    assert_eq!(strings(&trigger[0]["Action"]), ["states:StartExecution"]);
    assert!(refers_to(&trigger[0]["Resource"], &stage.id("StateMachine")));

    // A failed or timed-out execution (a failed or timed-out bucket fails it) mails the topic.
    for (id, metric) in [(stage.id("FanoutFailedAlarm"), "ExecutionsFailed"), (stage.id("FanoutTimedOutAlarm"), "ExecutionsTimedOut")] {
        let a = &resource(t, &id)["Properties"];
        assert_eq!((&a["Namespace"], &a["MetricName"]), (&json!("AWS/States"), &json!(metric)), "{id}");
        assert!(a["Dimensions"].as_array().unwrap().iter().any(|d| d["Name"] == "StateMachineArn" && refers_to(&d["Value"], &stage.id("StateMachine"))), "{id}");
        assert_eq!((&a["Threshold"], &a["ComparisonOperator"]), (&json!(0), &json!("GreaterThanThreshold")), "{id}");
        assert!(refers_to(&a["AlarmActions"], "AlarmTopic"), "{id}");
    }
}

/// The transform job on an empty in-memory store, as the workers function builds it.
fn transformer() -> Transformer {
    let config = Config::from_lookup(|_| None).unwrap();
    Transformer {
        store: Arc::new(MemoryStore::default()) as Arc<dyn Store>,
        metrics: Metrics::new("transform", "MooVitamix/Test", Arc::new(MemorySink::default())),
        pii: Pii::new(Secret::new("salt"), false),
        config: config.transform,
        commit: moovitamix::commit::CommitSettings::default(),
    }
}

#[tokio::test]
async fn the_state_machines_payloads_are_steps_the_code_accepts() {
    let t = template();
    let top = &t["Resources"]["TransformStateMachine"]["Properties"]["Definition"]["States"];
    // The payloads with the state machine's paths filled as an execution fills them.
    let plan = json!({"fanout": top["Plan"]["Parameters"]["Payload"]["fanout"], "event": {"date": "2026-11-21"}});
    let commit = json!({"fanout": top["Commit"]["Parameters"]["Payload"]["fanout"], "date": "2026-11-21", "run_id": "r1"});
    let bucket = json!({"fanout": "bucket", "date": "2026-11-21", "run_id": "r1", "bucket": 0, "buckets": 4});
    let job = transformer();
    let now = chrono::NaiveDate::from_ymd_opt(2026, 11, 21).unwrap().and_hms_opt(7, 0, 0).unwrap().and_utc();
    let error_type = async |event: &Value| {
        let answer = job.handle_step(event, Invocation::new().at(now)).await.expect("a fan-out step");
        answer.map(|_| ()).map_err(|e| e.error_type()).unwrap_err()
    };
    // Understood, and refused for what is missing in the empty store, not for their shape.
    assert_eq!(error_type(&plan).await, "Permanent.RawNotCommitted");
    assert_eq!(error_type(&bucket).await, "Permanent.FanoutIncomplete");
    assert_eq!(error_type(&commit).await, "Permanent.FanoutIncomplete");
    for bad in [json!({"fanout": "shuffle"}), json!({"fanout": "bucket", "date": "2026-11-21", "run_id": "a/b", "bucket": 0, "buckets": 4}), json!({"fanout": "bucket", "date": "2026-11-21", "run_id": "r", "bucket": 4, "buckets": 4})] {
        assert_eq!(error_type(&bad).await, "Permanent.BadEvent", "{bad}");
    }
    assert!(job.handle_step(&json!({"date": "2026-11-21"}), Invocation::new()).await.is_none(), "not a step: the plain transform event");

    // The scoring state machine's payloads, to the recommend function's code.
    let top = &t["Resources"]["RecommendStateMachine"]["Properties"]["Definition"]["States"];
    let plan = json!({"fanout": top["Plan"]["Parameters"]["Payload"]["fanout"], "event": {"date": "2026-11-21"}});
    let commit = json!({"fanout": top["Commit"]["Parameters"]["Payload"]["fanout"], "date": "2026-11-21", "run_id": "r1"});
    let job = recommender();
    let error_type = async |event: &Value| {
        let answer = job.handle_step(event, Invocation::new().at(now)).await.expect("a fan-out step");
        answer.map(|_| ()).map_err(|e| e.error_type()).unwrap_err()
    };
    assert_eq!(error_type(&plan).await, "Permanent.CuratedNotCommitted");
    assert_eq!(error_type(&bucket).await, "Permanent.FanoutIncomplete");
    assert_eq!(error_type(&commit).await, "Permanent.FanoutIncomplete");
    let train = json!({"fanout": "plan", "event": {"mode": "train"}});
    for bad in [json!({"fanout": "shuffle"}), json!({"fanout": "bucket", "date": "2026-11-21", "run_id": "a/b", "bucket": 0, "buckets": 4}), train] {
        assert_eq!(error_type(&bad).await, "Permanent.BadEvent", "{bad}");
    }
    assert!(job.handle_step(&json!({"date": "2026-11-21"}), Invocation::new()).await.is_none(), "not a step: the plain score event");
}

/// The recommend job on an empty in-memory store, as the workers function builds it.
fn recommender() -> Recommender {
    let config = Config::from_lookup(|_| None).unwrap();
    Recommender {
        store: Arc::new(MemoryStore::default()) as Arc<dyn Store>,
        metrics: Metrics::new("recommend", "MooVitamix/Test", Arc::new(MemorySink::default())),
        config: config.recommend,
        commit: moovitamix::commit::CommitSettings::default(),
    }
}
