//! The recommend Lambda: a thin adapter over `moovitamix::recommend`.
//!
//! Configuration, clients and the metrics sink are built once per container; each invocation
//! parses its event (score a date, train, roll the champion back or unpin it; see
//! `moovitamix::recommend::request`), runs the job, and answers its summary, or fails with a
//! stable error type so that Lambda's `Errors` alarms fire.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use moovitamix::aws::AwsConfig;
use moovitamix::config::Config;
use moovitamix::recommend::Recommender;
use moovitamix::job::{Classified, Invocation};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    moovitamix::telemetry::init();
    match start().await {
        Ok(recommender) => lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| handler(&recommender, event))).await,
        // Answer every invocation with why, rather than exit: Lambda reports either the same way
        // (an error per invocation), but a local emulator (`cargo lambda watch`) relays an answer
        // and would wait forever for a function that exited before asking for work.
        Err(why) => {
            tracing::error!(error = %why, "the function cannot start; every invocation fails with this");
            let refusal = Diagnostic { error_type: "Permanent.Configuration".into(), error_message: format!("recommend cannot start: {why}") };
            lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| {
                let refusal = refusal.clone();
                async move { Err::<Value, _>(refusal) }
            }))
            .await
        }
    }
}

/// What every invocation of the container shares: the configuration, the AWS configuration, and the job built from them.
async fn start() -> Result<Recommender, String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    // One AWS configuration (loaded at first use) for the store, the metrics and SSM.
    Ok::<_, String>(Recommender::from_config(&config, &AwsConfig::new()).await)
}

async fn handler(recommender: &Recommender, event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    match recommender.handle(&event.payload, Invocation::lambda(event.context.deadline)).await {
        Ok(outcome) => Ok(serde_json::to_value(outcome).expect("a summary serialises")),
        Err(e) => Err(Diagnostic { error_type: e.error_type().to_owned(), error_message: e.to_string() }),
    }
}
