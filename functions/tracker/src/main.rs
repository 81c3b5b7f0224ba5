//! The tracker Lambda (hosting account): EventBridge schedules and operators' calls in;
//! jobs followed, the queue started, alerts and cleanup out. Wiring only; the logic is
//! `ferry_core::track`, the error types Lambda reports are `ferry_lambda::ErrorType`.

use ferry_aws::{aws_tracker, AwsTracker};
use ferry_core::track::{handle, TrackerConfig, TrackerEvent};
use ferry_lambda::{fail_init, print_metrics, FunctionError};
use lambda_runtime::{run_concurrent, service_fn, tracing, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing::init_default_subscriber();
    // Every problem at once, at cold start, before any event is taken; reported to the
    // Runtime API's init/error as Ferry.InvalidConfig.
    let env = |name: &str| std::env::var(name).ok();
    let config = match TrackerConfig::from_env(env) {
        Ok(config) => config,
        Err(problems) => return Err(fail_init(FunctionError::config(problems)).await.into()),
    };
    let sdk = ferry_aws::load_sdk_config().await;
    let tracker = aws_tracker(&sdk, &config);
    // Lives as long as the process (a warm container): every invocation borrows it.
    let state: &'static (TrackerConfig, AwsTracker) = Box::leak(Box::new((config, tracker)));
    // run_concurrent, not run: see the importer's main. Overlapping sweeps are safe (every
    // ledger update is conditional), in one process as across processes.
    // TrackerEvent never fails to deserialize from JSON: a payload that is not an action is
    // reported by the handler, as Ferry.MalformedEvent with Ferry's message.
    run_concurrent(service_fn(
        move |event: LambdaEvent<TrackerEvent>| async move {
            let (config, tracker) = state;
            let now = ferry_aws::clock::now_secs();
            let outcome = handle(event.payload, tracker, config, now).await;
            print_metrics(&outcome.metrics, now);
            ferry_aws::api_calls::emit_metrics();
            outcome.result.map_err(FunctionError::from)
        },
    ))
    .await
}
