//! One place that builds AWS clients: the standard credential/region chain, endpoint
//! overrides (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_<SERVICE>`), and a rustls+ring
//! HTTPS client (the SDK's default pulls in aws-lc-sys, a long C build).

use aws_config::{BehaviorVersion, ConfigLoader, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

/// Loads the shared SDK configuration from the environment, as the AWS CLI does.
pub async fn load_sdk_config() -> SdkConfig {
    config_loader().load().await
}

/// The loader behind [`load_sdk_config`], for callers that set more (tests point it
/// at moto with static credentials).
pub fn config_loader() -> ConfigLoader {
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest()).http_client(http_client)
}

/// An S3 client. With an endpoint override (moto, MinIO, LocalStack) requests use
/// path-style addressing: `bucket.127.0.0.1` does not resolve.
pub fn s3_client(config: &SdkConfig) -> aws_sdk_s3::Client {
    let overridden = config.endpoint_url().is_some()
        || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some()
        || std::env::var_os("AWS_ENDPOINT_URL").is_some();
    let s3_config = aws_sdk_s3::config::Builder::from(config)
        .force_path_style(overridden)
        .build();
    aws_sdk_s3::Client::from_conf(s3_config)
}
