//! The tracker Lambda (hosting account): EventBridge schedules and operators' calls in;
//! jobs followed, the queue started, alerts and cleanup out. Wiring only; the logic is
//! `ferry_core::track`.

use ferry_aws::aws_tracker;
use ferry_core::track::{handle, TrackerConfig};
use lambda_runtime::{run, service_fn, tracing, Error, LambdaEvent};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    // Every problem at once, at cold start, before any event is taken.
    let config = TrackerConfig::from_env(|name| std::env::var(name).ok())?;
    let sdk = ferry_aws::load_sdk_config().await;
    let tracker = aws_tracker(&sdk, &config);
    let (config, tracker) = (&config, &tracker);
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let outcome = handle(
            &event.payload,
            tracker,
            config,
            ferry_core::time::now_secs(),
        )
        .await;
        ferry_aws::api_calls::emit_metrics();
        outcome.map_err(Error::from)
    }))
    .await
}
