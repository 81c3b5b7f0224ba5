//! The importer Lambda (research account): S3 events in, one validated, queued Bedrock
//! import per folder content out. Wiring only; the logic is `ferry_core::import`.

use ferry_aws::AwsConnect;
use ferry_core::import::{handle, ImporterConfig};
use lambda_runtime::{run, service_fn, tracing, Error, LambdaEvent};
use serde_json::Value;

fn main() -> Result<(), Error> {
    // Before the runtime's threads start: validation's large buffers go back to the
    // system when freed (the function has 128 MB).
    ferry_aws::memory::return_large_frees_to_the_system();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(serve())
}

async fn serve() -> Result<(), Error> {
    tracing::init_default_subscriber();
    // Every problem at once, at cold start, before any event is taken.
    let config = ImporterConfig::from_env(|name| std::env::var(name).ok())?;
    let connect = AwsConnect::from_env(&config).await;
    let (config, connect) = (&config, &connect);
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let outcome = handle(&event.payload, connect, config).await;
        ferry_aws::api_calls::emit_metrics();
        outcome.map_err(Error::from)
    }))
    .await
}
