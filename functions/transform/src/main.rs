//! The transform Lambda: a thin adapter over `moovitamix::transform`.
//!
//! Configuration, the PII salt (SSM, read once), clients and the metrics sink are built once per
//! container; each invocation parses its event (`{"date": "YYYY-MM-DD"}` or the S3 "Object
//! Created" event of fetch's run manifest), runs the transform job, and answers its summary, or
//! fails with a stable error type so that Lambda's `Errors` alarms fire.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use moovitamix::config::Config;
use moovitamix::transform::Transformer;
use moovitamix::job::{Classified, Invocation};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    moovitamix::telemetry::init();
    let config = Config::from_env()?;
    let transformer = Transformer::from_config(&config).await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| handler(&transformer, event))).await
}

async fn handler(transformer: &Transformer, event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    match transformer.handle(&event.payload, Invocation::lambda(event.context.deadline)).await {
        Ok(summary) => Ok(serde_json::to_value(summary).expect("a summary serialises")),
        Err(e) => Err(Diagnostic { error_type: e.error_type().to_owned(), error_message: e.to_string() }),
    }
}
