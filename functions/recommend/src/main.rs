//! The recommend Lambda: a thin adapter over `moovitamix::recommend`.
//!
//! Configuration, clients and the metrics sink are built once per container, by the first
//! invocation that can (`moovitamix::job::Startup`: a failed start is tried again by the next); each invocation
//! parses its event (score a date, train, roll the champion back or unpin it; see
//! `moovitamix::recommend::request`), runs the job, and answers its summary, or fails with a
//! stable error type so that Lambda's `Errors` alarms fire. `{"fanout": ...}` is a step of the
//! scoring fan-out state machine (`moovitamix::recommend::fanout`).

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use moovitamix::aws::AwsConfig;
use moovitamix::config::Config;
use moovitamix::recommend::Recommender;
use moovitamix::job::{Classified, Invocation, StartError, Startup};
use serde_json::Value;

const STAGE: &str = "recommend";

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    moovitamix::telemetry::init();
    let recommender = Startup::default();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| handler(&recommender, event))).await
}

/// What every invocation of the container shares: the configuration, the AWS configuration, and the job built from them.
async fn start() -> Result<Recommender, StartError> {
    let config = Config::from_env().map_err(|e| StartError::configuration(STAGE, e))?;
    // One AWS configuration (loaded at first use) for the store, the metrics and SSM.
    Ok(Recommender::from_config(&config, &AwsConfig::new()).await)
}

async fn handler(recommender: &Startup<Recommender>, event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    let recommender = recommender.get(start).await.map_err(|e| Diagnostic { error_type: e.error_type.to_owned(), error_message: e.to_string() })?;
    let invocation = Invocation::lambda(event.context.deadline);
    // A step of the scoring state machine (`{"fanout": ...}`: plan, one bucket, commit).
    if let Some(step) = recommender.handle_step(&event.payload, invocation.clone()).await {
        return step.map_err(|e| Diagnostic { error_type: e.error_type().to_owned(), error_message: e.to_string() });
    }
    match recommender.handle(&event.payload, invocation).await {
        Ok(outcome) => Ok(serde_json::to_value(outcome).expect("a summary serialises")),
        Err(e) => Err(Diagnostic { error_type: e.error_type().to_owned(), error_message: e.to_string() }),
    }
}
