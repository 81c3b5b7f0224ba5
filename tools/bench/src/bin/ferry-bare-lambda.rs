//! A bare `lambda_runtime` function: Ferry's runtime features, the same tokio runtime,
//! no AWS SDK and no configuration. The bench measures the functions' cold starts
//! against it in the same run: the floor a Rust Lambda cannot go under.

use lambda_runtime::{run_concurrent, service_fn, tracing, Error, LambdaEvent};

fn main() -> Result<(), Error> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async {
            tracing::init_default_subscriber();
            run_concurrent(service_fn(
                |event: LambdaEvent<serde_json::Value>| async move { Ok::<_, Error>(event.payload) },
            ))
            .await
        })
}
