//! The fetch Lambda: a thin adapter over `moovitamix::fetch`.
//!
//! Configuration, clients and the metrics sink are built once per container, by the first
//! invocation that can (`moovitamix::job::Startup`: a failed start is tried again by the next); each invocation
//! parses its event (schedule, Scheduler input, or `{"date": "YYYY-MM-DD"}`), runs the fetch job,
//! and answers its summary, or fails with a stable error type so that Lambda's `Errors` alarms fire.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use moovitamix::aws::AwsConfig;
use moovitamix::config::Config;
use moovitamix::fetch::Fetcher;
use moovitamix::job::{Classified, Invocation, StartError, Startup};
use serde_json::Value;

const STAGE: &str = "fetch";

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    moovitamix::telemetry::init();
    let fetcher = Startup::default();
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| handler(&fetcher, event))).await
}

/// What every invocation of the container shares: the configuration, the AWS configuration, and the job built from them.
async fn start() -> Result<Fetcher, StartError> {
    let config = Config::from_env().map_err(|e| StartError::configuration(STAGE, e))?;
    // One AWS configuration (loaded at first use) for the store, the metrics and SSM.
    Fetcher::from_config(&config, &AwsConfig::new()).await.map_err(|e| StartError::configuration(STAGE, e))
}

async fn handler(fetcher: &Startup<Fetcher>, event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    let fetcher = fetcher.get(start).await.map_err(|e| Diagnostic { error_type: e.error_type.to_owned(), error_message: e.to_string() })?;
    match fetcher.handle(&event.payload, Invocation::lambda(event.context.deadline)).await {
        Ok(summary) => Ok(serde_json::to_value(summary).expect("a summary serialises")),
        Err(e) => Err(Diagnostic { error_type: e.error_type().to_owned(), error_message: e.to_string() }),
    }
}
