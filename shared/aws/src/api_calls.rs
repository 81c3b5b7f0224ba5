//! Counts the AWS API calls Ferry's own clients make, by service and operation, with
//! an SDK interceptor on every client `crate::config` builds. The functions print the
//! counts as EMF after each invocation (`emit_metrics`); the benchmarks read them back.
//! Calls the SDK's credential providers make themselves (SSO, a profile's AssumeRole,
//! instance metadata) go through their own clients and are not counted.

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard};

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use ferry_core::track::metrics::ApiCallCount;

/// (service, operation) → (calls, attempts).
type Tally = BTreeMap<(String, String), (u64, u64)>;

/// A tally of calls (one per operation the code asked for) and attempts (one per HTTP
/// request, retries included). Clones share the tally.
#[derive(Debug, Clone, Default)]
pub struct ApiCallCounter {
    tally: Arc<Mutex<Tally>>,
}

/// The process's counter: every client built by `crate::config` reports to it.
static PROCESS: LazyLock<ApiCallCounter> = LazyLock::new(ApiCallCounter::default);

impl ApiCallCounter {
    /// The counter the process's clients share.
    pub fn process() -> ApiCallCounter {
        PROCESS.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Tally> {
        // A panic elsewhere cannot corrupt counts; keep counting.
        self.tally.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn record(&self, cfg: &ConfigBag, call: bool) {
        let (service, operation) = operation(cfg);
        let mut tally = self.lock();
        let entry = tally.entry((service, operation)).or_default();
        if call {
            entry.0 += 1;
        } else {
            entry.1 += 1;
        }
    }

    /// The counts so far, sorted by service and operation, and a fresh start.
    pub fn take(&self) -> Vec<ApiCallCount> {
        std::mem::take(&mut *self.lock())
            .into_iter()
            .map(|((service, operation), (calls, attempts))| ApiCallCount {
                service,
                operation,
                calls,
                attempts,
            })
            .collect()
    }
}

/// The (service, operation) of the call `cfg` configures, as the SDK names them
/// (`S3`, `GetObject`).
pub(crate) fn operation(cfg: &ConfigBag) -> (String, String) {
    match cfg.load::<Metadata>() {
        Some(m) => (m.service().to_owned(), m.name().to_owned()),
        None => ("unknown".to_owned(), "unknown".to_owned()),
    }
}

impl Intercept for ApiCallCounter {
    fn name(&self) -> &'static str {
        "FerryApiCallCounter"
    }

    // Once per execution; unlike `read_before_execution`, a client interceptor sees the
    // operation's configuration (its `Metadata`) here.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.record(cfg, true);
        Ok(())
    }

    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.record(cfg, false);
        Ok(())
    }
}

/// The `Function` dimension: the Lambda function's name, so two deployments in one
/// account keep their own series.
static FUNCTION: LazyLock<String> = LazyLock::new(|| {
    std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "ferry".to_owned())
});

/// Prints the process's counts since the last call as EMF lines (one per operation,
/// dimensions Function, Service, Operation) and starts counting afresh. Called by each
/// function after every invocation; no line when no call was made.
pub fn emit_metrics() {
    let counts = ApiCallCounter::process().take();
    let now_ms = crate::clock::now_secs() * 1000;
    for line in ferry_core::track::metrics::api_call_lines(&FUNCTION, &counts, now_ms) {
        println!("{line}");
    }
}
