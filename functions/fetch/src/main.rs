//! The fetch Lambda: a thin adapter over `moovitamix::fetch`.
//!
//! Configuration, clients and the metrics sink are built once per container; each invocation
//! parses its event (schedule, Scheduler input, or `{"date": "YYYY-MM-DD"}`), runs the fetch job,
//! and answers its summary, or fails with a stable error type so that Lambda's `Errors` alarms fire.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use moovitamix::aws::AwsConfig;
use moovitamix::config::Config;
use moovitamix::fetch::Fetcher;
use moovitamix::job::{Classified, Invocation};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    moovitamix::telemetry::init();
    match start().await {
        Ok(fetcher) => lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| handler(&fetcher, event))).await,
        // Answer every invocation with why, rather than exit: Lambda reports either the same way
        // (an error per invocation), but a local emulator (`cargo lambda watch`) relays an answer
        // and would wait forever for a function that exited before asking for work.
        Err(why) => {
            tracing::error!(error = %why, "the function cannot start; every invocation fails with this");
            let refusal = Diagnostic { error_type: "Permanent.Configuration".into(), error_message: format!("fetch cannot start: {why}") };
            lambda_runtime::run(service_fn(|_: LambdaEvent<Value>| {
                let refusal = refusal.clone();
                async move { Err::<Value, _>(refusal) }
            }))
            .await
        }
    }
}

/// What every invocation of the container shares: the configuration, the AWS configuration, and the job built from them.
async fn start() -> Result<Fetcher, String> {
    let config = Config::from_env().map_err(|e| e.to_string())?;
    // One AWS configuration (loaded at first use) for the store, the metrics and SSM.
    Fetcher::from_config(&config, &AwsConfig::new()).await.map_err(|e| e.to_string())
}

async fn handler(fetcher: &Fetcher, event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    match fetcher.handle(&event.payload, Invocation::lambda(event.context.deadline)).await {
        Ok(summary) => Ok(serde_json::to_value(summary).expect("a summary serialises")),
        Err(e) => Err(Diagnostic { error_type: e.error_type().to_owned(), error_message: e.to_string() }),
    }
}
