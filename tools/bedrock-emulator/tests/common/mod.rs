//! The SDK's view of a local emulator, shared by the control-plane and runtime tests:
//! its endpoint, a Region, static test credentials and plain HTTP.

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_bedrock::config::{Credentials, SharedCredentialsProvider};
use ferry_bedrock_emulator::Emulator;

pub fn sdk_config(emulator: &Emulator) -> SdkConfig {
    SdkConfig::builder()
        .endpoint_url(emulator.endpoint())
        .region(Region::new("us-east-1"))
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            "testing", "testing", None, None, "test",
        )))
        .behavior_version(BehaviorVersion::latest())
        .http_client(aws_smithy_http_client::Builder::new().build_http())
        .build()
}
