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
use moovitamix::config::Config;
use moovitamix::transform::Transformer;
use moovitamix::job::{Classified, Invocation};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    moovitamix::telemetry::init();
    match start().await {
        Ok(transformer) => lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| handler(&transformer, event))).await,
        // Answer every invocation with why, rather than exit: Lambda reports either the same way
        // (an error per invocation), but a local emulator (`cargo lambda watch`) relays an answer
        // and would wait forever for a function that exited before asking for work.
        Err(why) => {
            tracing::error!(error = %why, "the function cannot start; every invocation fails with this");
            let refusal = Diagnostic { error_type: "Permanent.Configuration".into(), error_message: format!("transform cannot start: {why}") };
            lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| {
                let refusal = refusal.clone();
                async move { Err::<Value, _>(refusal) }
            }))
            .await
        }
    }
}

/// What every invocation of the container shares: the configuration and the job built from it.
async fn start() -> Result<Transformer, String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    Transformer::from_config(&config).await.map_err(|e| e.to_string())
}

async fn handler(transformer: &Transformer, event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
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
