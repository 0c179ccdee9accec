//! The transform Lambda: a thin adapter over `moovitamix::transform`.
//!
//! Configuration, the PII salt (SSM, read once), clients and the metrics sink are built once per
//! container; each invocation parses its event (`{"date": "YYYY-MM-DD"}` or the S3 "Object
//! Created" event of fetch's run manifest), runs the transform job, and answers its summary, or
//! fails with a stable error type so that Lambda's `Errors` alarms fire. `{"erase_user_id": N}`
//! runs the erasure of that user's personal data instead (`moovitamix::erase`): this function's
//! role is the one that reads and writes raw, quarantine and curated. `{"fanout": ...}` is a step
//! of the fan-out state machine (`moovitamix::transform::fanout`).

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use moovitamix::aws::AwsConfig;
use moovitamix::config::Config;
use moovitamix::transform::Transformer;
use moovitamix::job::{Classified, Invocation, StartError, Startup};
use serde_json::Value;

const STAGE: &str = "transform";

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    moovitamix::telemetry::init();
    let transformer = Startup::default();
    // Boxed: the handler's future nests the erasure, the fan-out steps and the transform job, and
    // inline its layout is deeper than rustc's default query depth.
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| Box::pin(handler(&transformer, event)))).await
}

/// What every invocation of the container shares: the configuration, the AWS configuration, and the job built from them.
async fn start() -> Result<Transformer, StartError> {
    let config = Config::from_env().map_err(|e| StartError::configuration(STAGE, e))?;
    // One AWS configuration (loaded at first use) for the store, the metrics and SSM.
    Transformer::from_config(&config, &AwsConfig::new()).await.map_err(|e| StartError::classified(STAGE, e))
}

async fn handler(transformer: &Startup<Transformer>, event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    let transformer = transformer.get(start).await.map_err(|e| Diagnostic { error_type: e.error_type.to_owned(), error_message: e.to_string() })?;
    let invocation = Invocation::lambda(event.context.deadline);
    if let Some(request) = moovitamix::erase::parse_event(&event.payload) {
        let erased = match request {
            Ok(user_id) => transformer.eraser().erase(&[user_id], invocation).await,
            Err(e) => Err(e),
        };
        return erased.map(|summary| serde_json::to_value(summary).expect("a summary serialises")).map_err(diagnostic);
    }
    // A step of the fan-out state machine (`{"fanout": ...}`: plan, one bucket, commit).
    if let Some(step) = transformer.handle_step(&event.payload, invocation.clone()).await {
        return step.map_err(diagnostic);
    }
    match transformer.handle(&event.payload, invocation).await {
        Ok(summary) => Ok(serde_json::to_value(summary).expect("a summary serialises")),
        Err(e) => Err(diagnostic(e)),
    }
}

fn diagnostic(e: impl Classified) -> Diagnostic {
    Diagnostic { error_type: e.error_type().to_owned(), error_message: e.to_string() }
}
