//! The recommend Lambda: a thin adapter over `moovitamix::recommend`.
//!
//! Configuration, clients and the metrics sink are built once per container; each invocation
//! parses its event (score a date, train, roll the champion back or unpin it; see
//! `moovitamix::recommend::request`), runs the job, and answers its summary, or fails with a
//! stable error type so that Lambda's `Errors` alarms fire.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use moovitamix::config::Config;
use moovitamix::recommend::Recommender;
use moovitamix::job::{Classified, Invocation};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    moovitamix::telemetry::init();
    let config = Config::from_env()?;
    let recommender = Recommender::from_config(&config).await;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| handler(&recommender, event))).await
}

async fn handler(recommender: &Recommender, event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    match recommender.handle(&event.payload, Invocation::lambda(event.context.deadline)).await {
        Ok(outcome) => Ok(serde_json::to_value(outcome).expect("a summary serialises")),
        Err(e) => Err(Diagnostic { error_type: e.error_type().to_owned(), error_message: e.to_string() }),
    }
}
