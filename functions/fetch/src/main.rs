//! The fetch Lambda: a thin adapter over `moovitamix::fetch`.
//!
//! Configuration, clients and the metrics sink are built once per container; each invocation
//! parses its event (schedule, Scheduler input, or `{"date": "YYYY-MM-DD"}`), runs the fetch job,
//! and answers its summary, or fails with a stable error type so that Lambda's `Errors` alarms fire.

use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use moovitamix::config::Config;
use moovitamix::fetch::Fetcher;
use moovitamix::job::{Classified, Invocation};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    moovitamix::telemetry::init();
    let config = Config::from_env()?;
    let fetcher = Fetcher::from_config(&config).await?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| handler(&fetcher, event))).await
}

async fn handler(fetcher: &Fetcher, event: LambdaEvent<Value>) -> Result<Value, Diagnostic> {
    match fetcher.handle(&event.payload, Invocation::lambda(event.context.deadline)).await {
        Ok(summary) => Ok(serde_json::to_value(summary).expect("a summary serialises")),
        Err(e) => Err(Diagnostic { error_type: e.error_type().to_owned(), error_message: e.to_string() }),
    }
}
