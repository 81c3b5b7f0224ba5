//! One place that builds AWS clients: the standard credential/region chain, endpoint
//! overrides (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`), and one rustls+ring
//! HTTPS client for all of them ([`crate::https`]; the SDK's default pulls in
//! aws-lc-sys, a long C build).

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};

use crate::api_calls::ApiCallCounter;
use crate::https::OneTlsClient;
use crate::request_log::{self, RequestLog};

/// Every client's interceptors: the call counter, and the request record when a test
/// turns it on (`FERRY_REQUEST_LOG`).
macro_rules! intercepted {
    ($builder:expr) => {{
        let builder = $builder.interceptor(ApiCallCounter::process());
        if request_log::enabled() {
            builder.interceptor(RequestLog)
        } else {
            builder
        }
    }};
}

/// Loads the shared SDK configuration from the environment, as the AWS CLI does. The
/// HTTPS connector its clients use is built now, once (see [`crate::https`]).
pub async fn load_sdk_config() -> SdkConfig {
    let https = OneTlsClient::from_env();
    let config = loader_with(&https).load().await;
    https.prepare_for(&config);
    config
}

/// The loader behind [`load_sdk_config`], for callers that set more (tests point it
/// at moto with static credentials). Its connector is built on the first request.
pub fn config_loader() -> ConfigLoader {
    loader_with(&OneTlsClient::from_env())
}

fn loader_with(https: &Arc<OneTlsClient>) -> ConfigLoader {
    aws_config::defaults(BehaviorVersion::latest()).http_client(https.shared())
}

/// An S3 client. With an endpoint override (moto, MinIO, LocalStack) requests use
/// path-style addressing: `bucket.127.0.0.1` does not resolve.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let overridden = config.endpoint_url().is_some()
        || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some()
        || std::env::var_os("AWS_ENDPOINT_URL").is_some();
    let s3_config =
        intercepted!(aws_sdk_s3::config::Builder::from(config).force_path_style(overridden))
            .build();
    aws_sdk_s3::Client::from_conf(s3_config)
}

/// A client of one service whose calls the process's [`ApiCallCounter`] counts.
macro_rules! counted_client {
    ($(#[$doc:meta])* $name:ident, $sdk:ident) => {
        $(#[$doc])*
        pub fn $name(config: &SdkConfig) -> $sdk::Client {
            $sdk::Client::from_conf(intercepted!($sdk::config::Builder::from(config)).build())
        }
    };
}

counted_client!(sts_client, aws_sdk_sts);
counted_client!(bedrock_client, aws_sdk_bedrock);
counted_client!(dynamodb_client, aws_sdk_dynamodb);
counted_client!(sns_client, aws_sdk_sns);
counted_client!(iam_client, aws_sdk_iam);
counted_client!(organizations_client, aws_sdk_organizations);
counted_client!(cloudwatch_client, aws_sdk_cloudwatch);

/// A KMS client, in `region` when given (GetKeyPolicy is regional).
pub fn kms_client(config: &SdkConfig, region: Option<&str>) -> aws_sdk_kms::Client {
    let mut builder = intercepted!(aws_sdk_kms::config::Builder::from(config));
    if let Some(region) = region {
        builder = builder.region(aws_sdk_kms::config::Region::new(region.to_owned()));
    }
    aws_sdk_kms::Client::from_conf(builder.build())
}

counted_client!(eventbridge_client, aws_sdk_eventbridge);
counted_client!(ssm_client, aws_sdk_ssm);

/// One smoke call's whole budget, the SDK's retries of ModelNotReadyException included:
/// a sweep waits for at most this long on one model.
pub const INVOKE_TIMEOUT: Duration = Duration::from_secs(60);
/// One HTTP attempt of it (a 16-token answer takes well under a second once warm).
pub const INVOKE_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(25);

/// A bedrock-runtime client whose InvokeModel gives up after [`INVOKE_TIMEOUT`], with
/// the SDK's default retries (they cover a short ModelNotReadyException).
pub fn bedrock_runtime_client(config: &SdkConfig) -> aws_sdk_bedrockruntime::Client {
    let timeouts = config
        .timeout_config()
        .map(|t| t.to_builder())
        .unwrap_or_default()
        .operation_timeout(INVOKE_TIMEOUT)
        .operation_attempt_timeout(INVOKE_ATTEMPT_TIMEOUT)
        .build();
    let builder = aws_sdk_bedrockruntime::config::Builder::from(config).timeout_config(timeouts);
    aws_sdk_bedrockruntime::Client::from_conf(intercepted!(builder).build())
}

/// A client built on its first use and shared by every clone: a port that most
/// invocations never call costs the cold start nothing. The configuration it is built
/// from goes with the first use.
#[derive(Clone)]
pub struct OnFirstUse<C>(Arc<LazyLock<C, Build<C>>>);

type Build<C> = Box<dyn FnOnce() -> C + Send>;

impl<C> OnFirstUse<C> {
    /// A client `build` makes from `config` when first asked for.
    pub fn new(config: &SdkConfig, build: fn(&SdkConfig) -> C) -> Self
    where
        C: 'static,
    {
        let config = config.clone();
        Self(Arc::new(LazyLock::new(Box::new(move || build(&config)))))
    }

    /// A client built already (tests' mock clients).
    pub fn ready(client: C) -> Self
    where
        C: Send + 'static,
    {
        Self(Arc::new(LazyLock::new(Box::new(move || client))))
    }

    /// The client, built now if this is its first use.
    pub fn get(&self) -> &C {
        &self.0
    }
}
