//! The importer Lambda (research account): S3 events in, one validated, queued Bedrock
//! import per folder content out. Wiring only; the logic is `ferry_core::import`, the
//! error types Lambda reports are `ferry_lambda::ErrorType`.

use ferry_aws::AwsConnect;
use ferry_core::import::{handle, ImporterConfig, ImporterEvent};
use ferry_lambda::{fail_init, print_metrics, FunctionError};
use lambda_runtime::{run_concurrent, service_fn, tracing, LambdaEvent};

fn main() -> Result<(), lambda_runtime::Error> {
    // Before the runtime's threads start: validation's large buffers go back to the
    // system when freed (the function has 128 MB).
    ferry_aws::memory::return_large_frees_to_the_system();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve())
}

async fn serve() -> Result<(), lambda_runtime::Error> {
    tracing::init_default_subscriber();
    // Every problem at once, at cold start, before any event is taken; reported to the
    // Runtime API's init/error as Ferry.InvalidConfig.
    let config = match ImporterConfig::from_env(|name| std::env::var(name).ok()) {
        Ok(config) => config,
        Err(problems) => return Err(fail_init(FunctionError::config(problems)).await.into()),
    };
    let connect = AwsConnect::from_env(&config).await;
    // Lives as long as the process (a warm container): every invocation borrows it.
    let state: &'static (ImporterConfig, AwsConnect) = Box::leak(Box::new((config, connect)));
    // run_concurrent, not run: `cargo lambda watch` (AWS_LAMBDA_MAX_CONCURRENCY=1) and
    // Lambda Managed Instances set AWS_LAMBDA_MAX_CONCURRENCY, and `run` warns that it
    // ignores it. Unset or 1 (classic Lambda, the templates), one invocation at a time;
    // above 1, that many at once, which the importer allows: the ledger's conditional
    // writes and start lease arbitrate between invocations as between processes, and
    // the API-call counter's lines still add up (a call is counted in some line once,
    // though not always in its own invocation's). Validation's memory bounds hold per
    // invocation: N at once need N times the memory (the templates give 128 MB for one).
    // ImporterEvent never fails to deserialize from JSON: a malformed event is reported by the
    // handler, as Ferry.MalformedEvent with the field at fault.
    run_concurrent(service_fn(
        move |event: LambdaEvent<ImporterEvent>| async move {
            let (config, connect) = state;
            // Boxed: the handler's future nests deeply (validation, the access check,
            // the start path); behind a pointer, the runtime's own future stays shallow
            // enough for the compiler's layout queries.
            let outcome = Box::pin(handle(event.payload, connect, config)).await;
            let answer = outcome.map(|outcome| {
                print_metrics(&outcome.metrics, ferry_aws::clock::now_secs());
                outcome.answer
            });
            ferry_aws::api_calls::emit_metrics();
            answer.map_err(FunctionError::from)
        },
    ))
    .await
}
